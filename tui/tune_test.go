package tui

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// T writes the override for every service through the backend, from any
// view, and says where the file is and how to apply it, or why not.
func TestTuneKeyWritesTheOverride(t *testing.T) {
	fb := newFake()
	u := newFakeUsage()
	fb.usage = u
	m := newTestModel(t, fb, 80, 24)
	selectRow(t, m, "web-1")
	press(t, m, "T")
	if got := fb.callList(); !reflect.DeepEqual(got, []string{"tune "}) {
		t.Fatalf("calls %q, want one tune of every service", got)
	}
	if len(u.writes) != 1 || len(u.writes[0]) != 0 {
		t.Fatalf("writes %q, want every service (none named)", u.writes)
	}
	want := "wrote /src/shop/compose.tune.yaml: add -f compose.tune.yaml after your compose files"
	if m.status.kind != statusOK || m.status.text != want {
		t.Fatalf("status %v %q, want %q", m.status.kind, m.status.text, want)
	}

	u.err = errBoom
	press(t, m, "enter", "T")
	if m.status.kind != statusError || m.status.text != "tune: boom: daemon said no" {
		t.Fatalf("status %v %q", m.status.kind, m.status.text)
	}
	if !strings.Contains(m.View(), "✗ tune: boom") {
		t.Fatal("the error should be on screen")
	}
}

// Without recommendations (a Swarm, no history) T is off and not offered.
func TestTuneKeyOnlyWithRecommendations(t *testing.T) {
	fb := newFake()
	m := newTestModel(t, fb, 160, 48)
	press(t, m, "T", "?")
	if calls := fb.callList(); len(calls) != 0 {
		t.Fatalf("T without recommendations called %q", calls)
	}
	if strings.Contains(m.View(), "compose.tune.yaml") {
		t.Fatal("help offers T without recommendations")
	}

	fb = newFake()
	fb.usage = newFakeUsage()
	m = newTestModel(t, fb, 160, 48)
	press(t, m, "?")
	if !strings.Contains(m.View(), "T write compose.tune.yaml (all services)") {
		t.Fatalf("help lacks T:\n%s", m.View())
	}
}

func TestDetailTooLittleHistory(t *testing.T) {
	for _, sz := range goldenSizes {
		fb := newFake()
		fb.usage = newFakeUsage()
		m := newTestModel(t, fb, sz[0], sz[1])
		selectRow(t, m, "web-1")
		press(t, m, "enter")
		v := m.View()
		if !strings.Contains(v, "too little history: 12 readings over 22s (needs 30 over 30s)") {
			t.Errorf("%dx%d:\n%s", sz[0], sz[1], v)
		}
		if strings.Contains(v, "reserve ") {
			t.Errorf("%dx%d: reservations without enough history", sz[0], sz[1])
		}
	}
	// A service without a recommendation shows no block at all.
	fb := newFake()
	fb.usage = newFakeUsage()
	m := newTestModel(t, fb, 160, 48)
	selectRow(t, m, "db-1")
	press(t, m, "enter")
	if v := m.View(); strings.Contains(v, "Resources (") || strings.Contains(v, "recommend ") {
		t.Errorf("db has no recommendation:\n%s", v)
	}
}

func TestBackendsTune(t *testing.T) {
	ctx := context.Background()
	var eb EngineBackend
	if _, ok := eb.Recommendation("api"); ok {
		t.Error("no UsageSource, yet a recommendation")
	}
	if _, err := eb.WriteTune(ctx, nil); err == nil {
		t.Error("no UsageSource, yet a file written")
	}
	u := newFakeUsage()
	eb.Usage = u
	if r, ok := eb.Recommendation("api"); !ok || r.ReserveCPUs != 0.2 {
		t.Errorf("api: %v %+v", ok, r)
	}
	if p, err := eb.WriteTune(ctx, []string{"api"}); err != nil || p != u.path || !reflect.DeepEqual(u.writes, [][]string{{"api"}}) {
		t.Errorf("write: %q %v %q", p, err, u.writes)
	}

	sb, _, _ := newSwarmFake(t)
	if _, ok := sb.Recommendation("api"); ok {
		t.Error("a Swarm has no usage history")
	}
	if _, err := sb.WriteTune(ctx, nil); err == nil || !strings.Contains(err.Error(), "Swarm") {
		t.Errorf("swarm: %v", err)
	}
}
