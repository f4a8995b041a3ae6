package tui

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

func logEvent(i int, svc string) engine.Event {
	return engine.Event{Kind: engine.KindLog, Resource: engine.ResContainer, Name: "dvt-" + svc + "-1", Service: svc, Replica: 1,
		Stream: "stdout", Line: fmt.Sprintf("line %d", i), Time: fixedNow.Add(time.Duration(i) * time.Millisecond)}
}

func TestBatchDrainsWhatIsQueued(t *testing.T) {
	ch := make(chan engine.Event, 10000)
	for i := 0; i < 5000; i++ {
		ch <- logEvent(i, "api")
	}
	// A window far longer than the test: the batches end at the cap and
	// at the end of the stream, never because a busy machine descheduled
	// the reader for longer than the real 16 ms window.
	cmd := waitEvents(ch, batchMax, time.Hour)
	first := cmd().(eventsMsg)
	if len(first.events) != batchMax || first.closed {
		t.Fatalf("first batch %d events (closed %v), want the cap %d", len(first.events), first.closed, batchMax)
	}
	close(ch)
	second := cmd().(eventsMsg)
	if len(second.events) != 5000-batchMax || !second.closed {
		t.Fatalf("second batch %d events (closed %v), want the rest %d and the end", len(second.events), second.closed, 5000-batchMax)
	}
	if first.events[0].Line != "line 0" || second.events[len(second.events)-1].Line != "line 4999" {
		t.Fatal("events keep their order")
	}
	if msg := cmd().(eventsMsg); !msg.closed || len(msg.events) != 0 {
		t.Fatalf("a closed subscription says so: %+v", msg)
	}
}

// TestBatchCoalescesAStream: 5,000 lines a second arriving one by one
// become about one message per 16 ms frame, not 5,000.
func TestBatchCoalescesAStream(t *testing.T) {
	ch := make(chan engine.Event, 8192)
	const total = 2500 // half a second at 5,000/s
	go func() {
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for i := 0; i < total; i++ {
			if i%5 == 0 {
				<-tk.C // 5 lines a millisecond
			}
			ch <- logEvent(i, "api")
		}
		close(ch)
	}()
	cmd := waitEvents(ch, batchMax, batchWindow)
	msgs, events := 0, 0
	start := time.Now()
	for {
		msg := cmd().(eventsMsg)
		if len(msg.events) > 0 {
			msgs++
		}
		events += len(msg.events)
		if msg.closed {
			break
		}
	}
	if events != total {
		t.Fatalf("%d events delivered, want %d", events, total)
	}
	// About one message per 16 ms window however fast lines come (the
	// ticker may run slower than asked on a loaded machine).
	elapsed := time.Since(start)
	if limit := int(elapsed/batchWindow) + 5; msgs > limit || msgs > total/10 {
		t.Fatalf("%d messages for %d events in %s, want at most about one per %s", msgs, total, elapsed, batchWindow)
	}
	t.Logf("%d events in %d messages over %s", events, msgs, elapsed)
}

// TestBatchEndsAtTheWindow drives the window by hand: a batch ends when
// its window does (not when more events come), gathers what arrives
// before, ends at max without the window, and the window is one frame.
func TestBatchEndsAtTheWindow(t *testing.T) {
	ev := func(i int) engine.Event { return engine.Event{Kind: engine.KindState, Replica: i} }
	run := func(cmd tea.Cmd) <-chan eventsMsg {
		out := make(chan eventsMsg, 1)
		go func() { out <- cmd().(eventsMsg) }()
		return out
	}
	wait := func(out <-chan eventsMsg) eventsMsg {
		t.Helper()
		select {
		case m := <-out:
			return m
		case <-time.After(30 * time.Second):
			t.Fatal("the batch never ended")
			return eventsMsg{}
		}
	}

	// A lone event: the window opens after it, and its end ends the batch.
	ch := make(chan engine.Event, 10)
	opened, end := make(chan struct{}), make(chan time.Time)
	out := run(gather(ch, batchMax, func() <-chan time.Time { close(opened); return end }))
	ch <- ev(1)
	<-opened
	ch <- ev(2) // within the window: gathered
	ch <- ev(3)
	// The window ends only once both were read (the channel is then empty).
	for deadline := time.Now().Add(30 * time.Second); len(ch) > 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("events sent within the window were never read")
		}
	}
	select {
	case end <- time.Time{}:
	case m := <-out:
		t.Fatalf("the batch ended before its window: %+v", m)
	}
	if m := wait(out); len(m.events) != 3 || m.events[2].Replica != 3 || m.closed {
		t.Fatalf("batch %+v, want events 1-3", m)
	}

	// max ends a batch whose window never ends.
	ch = make(chan engine.Event, 10)
	out = run(gather(ch, 4, func() <-chan time.Time { return nil }))
	for i := range 6 {
		ch <- ev(i)
	}
	if m := wait(out); len(m.events) != 4 {
		t.Fatalf("%d events, want max 4", len(m.events))
	}

	// A closed stream ends the batch with what it has.
	ch = make(chan engine.Event, 10)
	ch <- ev(1)
	close(ch)
	if m := wait(run(gather(ch, batchMax, func() <-chan time.Time { return nil }))); len(m.events) != 1 || !m.closed {
		t.Fatalf("closed stream: %+v", m)
	}

	// One frame at 60 Hz at most: the TUI must not look slower than the
	// events it shows.
	if batchWindow > time.Second/60 {
		t.Fatalf("batchWindow %s is longer than a frame", batchWindow)
	}
}

// TestSubscriptionReissued: the model re-issues the read after every
// batch, and stops when the stream ends.
func TestSubscriptionReissued(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	press(t, m, "2")
	n := m.logs.ring.n
	_, cmd := m.Update(eventsMsg{events: []engine.Event{logEvent(1, "api"), logEvent(2, "web")}})
	if cmd == nil {
		t.Fatal("a batch must re-issue the subscription read")
	}
	if m.logs.ring.n != n+2 {
		t.Fatalf("the batch's lines are in the view: %d, want %d", m.logs.ring.n, n+2)
	}
	fb.events <- logEvent(3, "db")
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			if c == nil {
				continue
			}
			done := make(chan tea.Msg, 1)
			go func() { done <- c() }()
			select {
			case msg = <-done:
			case <-time.After(100 * time.Millisecond):
				continue
			}
			if _, ok := msg.(eventsMsg); ok {
				break
			}
		}
	}
	em, ok := msg.(eventsMsg)
	if !ok || len(em.events) != 1 || em.events[0].Line != "line 3" {
		t.Fatalf("re-issued read returned %#v", msg)
	}
	_, cmd = m.Update(eventsMsg{closed: true})
	if cmd != nil {
		t.Fatal("no read after the stream ended")
	}
	if !m.hasStatus("event stream ended") {
		t.Fatal("an ended stream is reported")
	}
}
