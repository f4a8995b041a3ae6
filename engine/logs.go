package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/internal/labels"
)

// LogsOptions are `devorch logs`'s choices.
type LogsOptions struct {
	Services   []string
	Follow     bool
	Tail       string // "all" or a number
	Since      string
	Until      string
	Timestamps bool
	// Index selects one replica (0: all).
	Index int
}

// Logs emits the log lines of the project's containers as KindLog events.
// With Follow it keeps going, also for containers that start later, until
// ctx ends.
func (e *Engine) Logs(ctx context.Context, project string, o LogsOptions) error {
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: o.Services})
	if err != nil {
		return err
	}
	if len(o.Services) > 0 {
		seen := map[string]bool{}
		for _, c := range cs {
			seen[c.Service] = true
		}
		for _, s := range o.Services {
			if !seen[s] {
				return fmt.Errorf("no container found for service %q", s)
			}
		}
	}
	f := newFollower(e, o)
	var hubs []*dockerev.Hub
	if o.Follow {
		for _, h := range e.Pool.Hosts {
			hubs = append(hubs, dockerev.Watch(ctx, h, project))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		if o.Index > 0 && c.Replica != o.Index {
			continue
		}
		f.start(gctx, g, c, "")
	}
	if o.Follow {
		want := map[string]bool{}
		for _, s := range o.Services {
			want[s] = true
		}
		for _, hb := range hubs {
			ch, unsub := hb.SubscribeAll(64)
			g.Go(func() error {
				defer unsub()
				for {
					select {
					case <-gctx.Done():
						return nil
					case m := <-ch:
						if m.Action != events.ActionStart {
							continue
						}
						svc := m.Actor.Attributes[labels.Service]
						if len(want) > 0 && !want[svc] || m.Actor.Attributes[labels.OneOff] == "true" {
							continue
						}
						cs, err := listHost(gctx, hb.Host(), project, listOptions{all: true, services: []string{svc}})
						if err != nil {
							continue
						}
						for _, c := range cs {
							if c.ID == m.Actor.ID {
								f.start(gctx, g, c, strconv.FormatInt(m.Time, 10))
							}
						}
					}
				}
			})
		}
	}
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// follower streams container logs into events, once per container run.
type follower struct {
	e         *Engine
	opts      LogsOptions
	mu        sync.Mutex
	following map[string]bool
	// last is the Docker timestamp of the last line shown per container: a
	// stream started again (after a restart, or a second Add) resumes just
	// after it, so no line is lost or shown twice.
	last map[string]time.Time
}

func newFollower(e *Engine, o LogsOptions) *follower {
	return &follower{e: e, opts: o, following: map[string]bool{}, last: map[string]time.Time{}}
}

// start follows (or reads) a container's logs from since ("" = from the
// start, or the caller's Since), or from just after the last line already
// shown; a container already being followed is left alone.
func (f *follower) start(ctx context.Context, g *errgroup.Group, c Container, since string) {
	f.mu.Lock()
	if f.following[c.ID] {
		f.mu.Unlock()
		return
	}
	f.following[c.ID] = true
	last, resume := f.last[c.ID]
	f.mu.Unlock()
	o := f.opts
	lo := container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail,
		Since: since, Until: o.Until, Timestamps: true,
	}
	switch {
	case resume:
		t := last.Add(time.Nanosecond)
		lo.Since, lo.Tail = fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), ""
	case lo.Since == "":
		lo.Since = o.Since
	}
	// Lines carry Docker's timestamp (always asked for, to know where a
	// stream stopped); it is shown only with Timestamps.
	sub := &Engine{Pool: f.e.Pool, Sink: func(ev Event) {
		if ev.Kind == KindLog {
			ts, text := splitTimestamp(ev.Line)
			f.mu.Lock()
			if ts.After(f.last[c.ID]) {
				f.last[c.ID] = ts
			}
			f.mu.Unlock()
			if !o.Timestamps {
				ev.Line = text
			}
			ev.Time = ts
		}
		f.e.emit(ev)
	}}
	g.Go(func() error {
		defer func() {
			f.mu.Lock()
			delete(f.following, c.ID)
			f.mu.Unlock()
		}()
		return sub.streamLogs(ctx, c, lo)
	})
}

// streamLogs reads one container's logs and emits a KindLog event per line.
func (e *Engine) streamLogs(ctx context.Context, c Container, o container.LogsOptions) error {
	insp, err := ctr.Inspect(ctx, c.Host.Client, c.ID)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", c.Name, err)
	}
	rc, err := ctr.Logs(ctx, c.Host.Client, c.ID, o)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", c.Name, err)
	}
	defer rc.Close()
	emit := func(stream string) io.WriteCloser {
		return newLineWriter(func(line string) {
			e.emit(Event{Kind: KindLog, Resource: ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, Stream: stream, Line: line})
		})
	}
	stdout, stderr := emit("stdout"), emit("stderr")
	defer stdout.Close()
	defer stderr.Close()
	if insp.Config != nil && insp.Config.Tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil && err != io.EOF {
		return fmt.Errorf("logs of container %s: %w", c.Name, err)
	}
	return nil
}

// lineWriter calls fn for every complete line written to it; Close flushes
// a last partial line.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func(string)
}

func newLineWriter(fn func(string)) *lineWriter { return &lineWriter{fn: fn} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf.Next(i + 1))
		w.fn(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.fn(strings.TrimRight(w.buf.String(), "\r\n"))
		w.buf.Reset()
	}
	return nil
}

// splitTimestamp splits a line Docker stamped (Timestamps: true) into its
// time and its text; a line without a stamp is dated now.
func splitTimestamp(line string) (time.Time, string) {
	if i := strings.IndexByte(line, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, line[:i]); err == nil {
			return t, line[i+1:]
		}
	}
	return time.Now(), line
}

// sinceNow is a Docker "since" value for the current second.
func sinceNow() string { return strconv.FormatInt(time.Now().Unix(), 10) }
