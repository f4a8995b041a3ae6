package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// TestLogsBoundedMemory: however many lines arrive, the view keeps at
// most its window, and so do its matches and its pending lines.
func TestLogsBoundedMemory(t *testing.T) {
	fb := newFake()
	m := newModel(fb, config{theme: testTheme(), now: testNow, logWindow: 1000})
	t.Cleanup(m.close)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	press(t, m, "2", "/", "line", "enter", "f") // a search that matches everything, following
	svcs := []string{"api", "web", "db"}
	for b := 0; b < 100; b++ {
		evs := make([]engine.Event, 1000)
		for i := range evs {
			evs[i] = logEvent(b*1000+i, svcs[i%3])
		}
		m.Update(eventsMsg{events: evs})
		_ = m.View()
		if m.logs.ring.n > 1000 || len(m.logs.ring.buf) > 1000 || cap(m.logs.ring.buf) > 1000 {
			t.Fatalf("batch %d: ring holds %d lines (buf %d/%d), window 1000", b, m.logs.ring.n, len(m.logs.ring.buf), cap(m.logs.ring.buf))
		}
		if len(m.logs.matches) > 1000 || cap(m.logs.matches) > 4000 {
			t.Fatalf("batch %d: %d matches (cap %d)", b, len(m.logs.matches), cap(m.logs.matches))
		}
	}
	if got := m.logs.ring.at(m.logs.ring.next - 1).text; got != "line 99999" {
		t.Fatalf("newest line %q", got)
	}
	if m.logs.ring.at(m.logs.ring.first).text != "line 99000" {
		t.Fatal("the oldest kept line is the 1000th from the end")
	}
	// A paused view whose top was evicted moves to the oldest kept line.
	press(t, m, "g")
	top := m.logs.top
	m.Update(eventsMsg{events: []engine.Event{logEvent(100000, "api"), logEvent(100001, "api")}})
	v := m.View()
	if m.logs.shownTop < m.logs.ring.first || m.logs.shownTop <= top && top < m.logs.ring.first {
		t.Fatalf("shown top %d, oldest %d", m.logs.shownTop, m.logs.ring.first)
	}
	if !strings.Contains(v, fmt.Sprintf("line %d", 99002)) {
		t.Fatalf("the oldest kept line should be on screen:\n%s", v)
	}
	// While a reload is in flight, pending lines are bounded too.
	m.logs.loading = true
	for i := 0; i < 5000; i++ {
		ev := logEvent(200000+i, "api")
		m.logs.ingest(&ev)
	}
	if len(m.logs.pending) > 1000 {
		t.Fatalf("%d pending lines", len(m.logs.pending))
	}
}

// TestLogsReloadKeepsLinesArrivingMeanwhile: lines that arrive while the
// window is being read from the engine are added once.
func TestLogsReloadKeepsLinesArrivingMeanwhile(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 80, 24)
	_, cmd := m.Update(keyMsg("2"))
	if !m.logs.loading {
		t.Fatal("entering the logs view reads the buffers")
	}
	last := fb.logs[len(fb.logs)-1]
	dup := engine.Event{Kind: engine.KindLog, Resource: engine.ResContainer, Name: last.Container, Service: last.Service, Replica: last.Replica, Line: last.Text, Time: last.Time}
	fresh := logEvent(999, "api")
	fresh.Name, fresh.Time = "dvt-api-1", fixedNow.Add(time.Second)
	m.Update(eventsMsg{events: []engine.Event{dup, fresh}})
	drain(t, m, cmd)
	if m.logs.loading || m.logs.ring.n != len(fb.logs)+1 {
		t.Fatalf("%d lines after the reload, want %d", m.logs.ring.n, len(fb.logs)+1)
	}
	// Build output (image logs) never shows as a container's log.
	m.Update(eventsMsg{events: []engine.Event{{Kind: engine.KindLog, Resource: engine.ResImage, Name: "dvt/api", Line: "Step 1/3"}}})
	if m.logs.ring.n != len(fb.logs)+1 {
		t.Fatal("image build lines are not container logs")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		"\x1b[31mred\x1b[0m text": "red text",
		"a\tb":                    "a    b",
		"bell\a and \r return":    "bell and  return",
		"ünïcode ✓":               "ünïcode ✓",
		"\x1b]0;title\x07visible": "visible",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
