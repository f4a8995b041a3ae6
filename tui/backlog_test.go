package tui

import (
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/devorch/devorch/engine"
)

// logAt is a log line of svc stamped at second s after fixedNow.
func logAt(svc, text string, s float64, backlog bool) engine.Event {
	return engine.Event{Kind: engine.KindLog, Resource: engine.ResContainer, Name: "dvt-" + svc + "-1", Service: svc, Replica: 1,
		Stream: "stdout", Line: text, Time: fixedNow.Add(time.Duration(s * float64(time.Second))), Backlog: backlog}
}

func windowTexts(v *logsView) []string {
	var out []string
	for seq := v.ring.first; seq < v.ring.next; seq++ {
		out = append(out, v.ring.at(seq).text)
	}
	return out
}

// logsModel is a model on the logs view with an empty window.
func logsModel(t *testing.T, window int) *Model {
	t.Helper()
	fb := newFake()
	fb.logs = nil
	m := newModel(fb, config{theme: testTheme(), now: testNow, logWindow: window})
	t.Cleanup(m.close)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	press(t, m, "2")
	if m.logs.loading || m.logs.ring.n != 0 {
		t.Fatalf("logs view not ready: loading=%v, %d lines", m.logs.loading, m.logs.ring.n)
	}
	return m
}

// TestLogsMergeBacklogsByTime: containers' backlogs, each arriving as one
// block, are merged by Docker's timestamps with what the window holds;
// live lines stay in arrival order, even one stamped earlier (a host whose
// clock is behind).
func TestLogsMergeBacklogsByTime(t *testing.T) {
	m := logsModel(t, 100)
	press(t, m, "/", "api", "enter") // a search, whose matches follow the moved lines
	m.Update(eventsMsg{events: []engine.Event{
		logAt("web", "web live 100", 100, false),
		logAt("api", "api 1", 1, true), logAt("api", "api 3", 3, true), logAt("api", "api 5", 5, true),
	}})
	press(t, m, "g", "down") // paused, "api 3" at the top
	if got := m.logs.ring.at(m.logs.top).text; got != "api 3" {
		t.Fatalf("top is %q, want api 3", got)
	}
	m.Update(eventsMsg{events: []engine.Event{
		logAt("db", "db 2", 2, true), logAt("db", "db 4", 4, true), logAt("db", "db 6", 6, true),
	}})
	if got := m.logs.ring.at(m.logs.top).text; got != "api 3" {
		t.Errorf("after the merge the paused screen's top is %q, want api 3 still", got)
	}
	m.Update(eventsMsg{events: []engine.Event{logAt("cache", "cache live, clock behind", 0, false)}})
	want := []string{"api 1", "db 2", "api 3", "db 4", "api 5", "db 6", "web live 100", "cache live, clock behind"}
	if got := windowTexts(&m.logs); !reflect.DeepEqual(got, want) {
		t.Fatalf("window\n got %q\nwant %q", got, want)
	}
	var matched []string
	for _, seq := range m.logs.matches {
		matched = append(matched, m.logs.ring.at(seq).text)
	}
	if want := []string{"api 1", "api 3", "api 5"}; !reflect.DeepEqual(matched, want) {
		t.Errorf("matches %q, want %q", matched, want)
	}
	screen := m.View()
	if i, j := strings.Index(screen, "│ db 2"), strings.Index(screen, "│ api 3"); i < 0 || j < 0 || i > j {
		t.Errorf("screen does not show db 2 above api 3:\n%s", screen)
	}

	// A full window keeps the newest lines by time: a backlog line older
	// than all of them is dropped, one in between evicts the oldest.
	m = logsModel(t, 5)
	var live []engine.Event
	for i := 10; i < 15; i++ {
		live = append(live, logAt("web", "web "+string(rune('a'+i-10)), float64(i), false))
	}
	m.Update(eventsMsg{events: live})
	m.Update(eventsMsg{events: []engine.Event{logAt("api", "api old", 1, true), logAt("api", "api 12.5", 12.5, true)}})
	want = []string{"web b", "web c", "api 12.5", "web d", "web e"}
	if got := windowTexts(&m.logs); !reflect.DeepEqual(got, want) {
		t.Fatalf("full window\n got %q\nwant %q", got, want)
	}
}

// BenchmarkLogsBacklogMerge: the worst case of a stack coming up with the
// logs view open: ten containers' backlogs of 500 lines each, arriving one
// container per batch, each spread over the whole time range, so that every
// batch moves most of the default 5,000-line window. One op is all ten.
func BenchmarkLogsBacklogMerge(b *testing.B) {
	svcs := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}
	batches := make([][]engine.Event, len(svcs))
	for k, svc := range svcs {
		for i := 0; i < 500; i++ {
			batches[k] = append(batches[k], logAt(svc, "line", float64(i*len(svcs)+k)/100, true))
		}
	}
	for b.Loop() {
		m := newModel(newFake(), config{theme: testTheme(), now: testNow})
		m.view = viewLogs
		for _, evs := range batches {
			m.handleEvents(evs)
		}
		if m.logs.ring.n != 5000 {
			b.Fatalf("%d lines", m.logs.ring.n)
		}
		m.close()
	}
}
