package logstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/event"
	"github.com/devorch/devorch/engine/plan"
)

// fake is one container's inspect and logs.
type fake struct {
	mu      sync.Mutex
	tty     bool
	state   *container.State
	inspErr error
	logs    []byte                  // what every ContainerLogs returns
	asked   []container.LogsOptions // what each ContainerLogs was asked
}

func (f *fake) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inspErr != nil {
		return container.InspectResponse{}, f.inspErr
	}
	r := container.InspectResponse{Config: &container.Config{Tty: f.tty}}
	r.ContainerJSONBase = &container.ContainerJSONBase{ID: id, State: f.state}
	return r, nil
}

func (f *fake) ContainerLogs(_ context.Context, _ string, o container.LogsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, o)
	return io.NopCloser(bytes.NewReader(f.logs)), nil
}

// muxed is Docker's multiplexed stream of writes to stdout (1) and stderr (2).
func muxed(t *testing.T, writes ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	out, errw := stdcopy.NewStdWriter(&b, stdcopy.Stdout), stdcopy.NewStdWriter(&b, stdcopy.Stderr)
	for i := 0; i < len(writes); i += 2 {
		w := out
		if writes[i].(int) == 2 {
			w = errw
		}
		if _, err := w.Write([]byte(writes[i+1].(string))); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestLineWriterSplitsPartialLines(t *testing.T) {
	var got []string
	w := NewLineWriter(func(s string) { got = append(got, s) })
	for _, p := range []string{"he", "llo\nwor", "ld\r\n", "\n", "tail"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if want := []string{"hello", "world", ""}; !reflect.DeepEqual(got, want) {
		t.Fatalf("before Close: %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // nothing left: no second "tail"
		t.Fatal(err)
	}
	if want := []string{"hello", "world", "", "tail"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after Close: %q, want %q", got, want)
	}
}

func TestSplitTimestamp(t *testing.T) {
	stamp := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	ts, text := SplitTimestamp("2024-05-06T07:08:09.123456789Z hello world")
	if !ts.Equal(stamp) || text != "hello world" {
		t.Fatalf("stamped line: %v %q", ts, text)
	}
	for _, line := range []string{"no stamp here", "", " leading space", "2024-13-99T00:00:00Z bad"} {
		before := time.Now()
		ts, text := SplitTimestamp(line)
		if text != line || ts.Before(before) || ts.After(time.Now()) {
			t.Errorf("SplitTimestamp(%q) = %v %q, want the line dated now", line, ts, text)
		}
	}
}

type streamed struct{ stream, text string }

func collect(t *testing.T, f *fake) ([]streamed, error) {
	t.Helper()
	var got []streamed
	err := Stream(context.Background(), f, plan.Container{ID: "c1", Name: "app-web-1"}, container.LogsOptions{}, func(stream, text string) {
		got = append(got, streamed{stream, text})
	})
	return got, err
}

func TestStreamDemuxesStdoutAndStderr(t *testing.T) {
	f := &fake{logs: muxed(t, 1, "out 1\nout", 2, "err 1\n", 1, " 2\n", 2, "err 2")}
	got, err := collect(t, f)
	if err != nil {
		t.Fatal(err)
	}
	// Each stream's lines in order; a partial line waits for its end (or
	// for the stream's close).
	want := []streamed{{"stdout", "out 1"}, {"stderr", "err 1"}, {"stdout", "out 2"}, {"stderr", "err 2"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStreamOfATTYIsAllStdout(t *testing.T) {
	f := &fake{tty: true, logs: []byte("raw\r\nbytes")}
	got, err := collect(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []streamed{{"stdout", "raw"}, {"stdout", "bytes"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStreamInspectErrorNamesTheContainer(t *testing.T) {
	cause := errors.New("boom")
	_, err := collect(t, &fake{inspErr: cause})
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "inspect container app-web-1") {
		t.Fatalf("err = %v", err)
	}
}

// sink records the events emitted.
type sink struct {
	mu  sync.Mutex
	evs []event.Event
}

func (s *sink) emit(ev event.Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

func (s *sink) all() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.evs...)
}

func TestFollowerResumesJustAfterTheLastLineShown(t *testing.T) {
	f := &fake{logs: muxed(t, 1, "2024-05-06T07:08:09.000000005Z first\n2024-05-06T07:08:10.5Z second\n")}
	var s sink
	fl := newFollower(Docker{Client: func(*plan.Container) API { return f }}, Options{Tail: "10", Since: "1h"}, s.emit)
	c := plan.Container{ID: "c1", Name: "app-web-1", Service: "web", Replica: 1}
	for range 2 {
		var g errgroup.Group
		fl.start(context.Background(), &g, c, "")
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.asked) != 2 {
		t.Fatalf("asked %d times", len(f.asked))
	}
	if o := f.asked[0]; o.Since != "1h" || o.Tail != "10" || !o.Timestamps {
		t.Errorf("first stream asked %+v, want the caller's Since and Tail, with timestamps", o)
	}
	if o := f.asked[1]; o.Since != "1714979290.500000001" || o.Tail != "" {
		t.Errorf("second stream asked Since %q Tail %q, want just after the last line and no tail", o.Since, o.Tail)
	}
	evs := s.all()
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	// Without Timestamps the stamp is the event's time, not in the line.
	if ev := evs[1]; ev.Kind != event.KindLog || ev.Line != "second" || ev.Stream != "stdout" || ev.Service != "web" || ev.Replica != 1 || ev.ID != "c1" ||
		!ev.Time.Equal(time.Date(2024, 5, 6, 7, 8, 10, 5e8, time.UTC)) {
		t.Errorf("event %+v", ev)
	}
}

func TestAttacherTracksExits(t *testing.T) {
	f := &fake{state: &container.State{Running: true}}
	var s sink
	a := NewAttacher(context.Background(), Docker{Client: func(*plan.Container) API { return f }}, time.Minute, s.emit)
	defer a.Close()
	web := plan.Container{ID: "w1", Name: "app-web-1", Service: "web", Replica: 1}
	db := plan.Container{ID: "d1", Name: "app-db-1", Service: "db", Replica: 1}
	a.Add(web, true)
	a.Add(db, true)

	die := func(id, code string) events.Message {
		return events.Message{Action: events.ActionDie, Actor: events.Actor{ID: id, Attributes: map[string]string{"exitCode": code}}}
	}
	// Restarted by its policy before the inspect: reported, not an exit.
	f.mu.Lock()
	f.state = &container.State{Restarting: true}
	f.mu.Unlock()
	a.onEvent(nil, die("w1", "2"))
	// Stopped for good, twice over (the die event and Wait's first look):
	// one exit.
	f.mu.Lock()
	f.state = &container.State{Status: "exited", ExitCode: 3}
	f.mu.Unlock()
	a.onEvent(nil, die("w1", "3"))
	res := a.Wait(context.Background(), true)
	if res.First == nil || res.First.ID != "w1" || res.ExitCode != 3 {
		t.Fatalf("Wait = %+v, want web first with 3", res)
	}
	// db's die event arriving after Wait's first look saw it stopped.
	a.onEvent(nil, die("d1", "3"))
	var exits []string
	for _, ev := range s.all() {
		if ev.Kind == event.KindExit {
			exits = append(exits, ev.Name+" "+ev.Status)
		}
	}
	// Wait's first look also finds db stopped (the fake says so for every
	// container): db's exit is reported once too.
	want := []string{"app-web-1 restarting", "app-web-1 exited", "app-db-1 exited"}
	if !reflect.DeepEqual(exits, want) {
		t.Fatalf("exits %q, want %q", exits, want)
	}
	if res.Codes["web"] != 3 || res.Codes["db"] != 3 {
		t.Errorf("codes %v", res.Codes)
	}
}
