package usage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// addRun adds n readings a second apart from start, as a monitor would.
func addRun(r *Recorder, service, hash string, start time.Time, n int, cpu float64, mem uint64) {
	for i := range n {
		r.Add(service, hash, start.Add(time.Duration(i)*time.Second), cpu, mem, 0, false)
	}
}

func TestCombineMergesTheRunIntoCopies(t *testing.T) {
	stored := map[Key]*History{
		{"p", "api", "h1"}: uniform(20, 10, 20, 50*mib, 60*mib),
		{"p", "db", "h2"}:  uniform(20, 1, 2, 200*mib, 210*mib),
		{"q", "api", "h1"}: uniform(5, 1, 2, mib, 2*mib),
	}
	run := NewRecorder(nil, "p")
	addRun(run, "api", "h1", t0.Add(time.Hour), 15, 30, 70*mib)
	addRun(run, "api", "h3", t0.Add(time.Hour), 10, 30, 70*mib)
	snap := run.Snapshot()

	got := Combine(stored, snap, "p", "api")
	if len(got) != 2 {
		t.Fatalf("%d histories, want api's two: %v", len(got), got)
	}
	if n := got[Key{"p", "api", "h1"}].Samples(); n != 35 {
		t.Errorf("api/h1: %d samples, want 20 stored + 15 run", n)
	}
	if n := got[Key{"p", "api", "h3"}].Samples(); n != 10 {
		t.Errorf("api/h3: %d samples, want the run's 10", n)
	}
	// Combining again as the run goes on must not count anything twice.
	if n := stored[Key{"p", "api", "h1"}].Samples(); n != 20 {
		t.Errorf("stored history changed: %d samples", n)
	}
	if n := snap[Key{"p", "api", "h1"}].Samples(); n != 15 {
		t.Errorf("run history changed: %d samples", n)
	}
	// The snapshot is a copy: later readings do not reach it.
	addRun(run, "api", "h1", t0.Add(2*time.Hour), 5, 30, 70*mib)
	if n := snap[Key{"p", "api", "h1"}].Samples(); n != 15 {
		t.Errorf("snapshot follows the recorder: %d samples", n)
	}
}

func TestLiveRecommendationImprovesWhileRecording(t *testing.T) {
	st := Open(t.TempDir())
	if err := st.Save("p", map[Key]*History{{"p", "api", "h1"}: uniform(20, 10, 20, 50*mib, 60*mib)}); err != nil {
		t.Fatal(err)
	}
	run := NewRecorder(st, "p")
	specs := map[string]ServiceSpec{"api": {Hash: "h1"}, "db": {Hash: "h2", Declared: Declared{ReserveCPUs: 2}}}
	l, warn := NewLive(st, run, "p", t.TempDir(), specs)
	if len(warn) > 0 {
		t.Fatal(warn)
	}

	r, ok := l.Recommend("api")
	if !ok || r.Enough || r.Samples != 20 || !strings.HasPrefix(r.Why, "too little history") {
		t.Fatalf("before the run: ok %v %+v", ok, r)
	}
	addRun(run, "api", "h1", t0.Add(time.Minute), 20, 15, 55*mib)
	r, ok = l.Recommend("api")
	if !ok || !r.Enough || r.Samples != 40 || r.ReserveCPUs == 0 || r.LimitMemory == 0 {
		t.Fatalf("with the run: ok %v %+v", ok, r)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q", r.Warnings)
	}

	if _, ok := l.Recommend("nope"); ok {
		t.Error("a service the compose file lacks has a recommendation")
	}
	// db has no history at all: a recommendation that says so.
	if r, ok := l.Recommend("db"); !ok || r.Enough || r.Samples != 0 {
		t.Errorf("db: ok %v %+v", ok, r)
	}
}

func TestLiveSaysWhenItFallsBackToAnEarlierConfiguration(t *testing.T) {
	run := NewRecorder(nil, "p")
	addRun(run, "api", "old", t0, 40, 15, 55*mib)
	l, _ := NewLive(nil, run, "p", t.TempDir(), map[string]ServiceSpec{"api": {Hash: "new"}})
	r, ok := l.Recommend("api")
	if !ok || !r.Enough || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "earlier") {
		t.Fatalf("ok %v %+v", ok, r)
	}
}

func TestLiveWrite(t *testing.T) {
	dir := t.TempDir()
	run := NewRecorder(nil, "p")
	specs := map[string]ServiceSpec{"api": {Hash: "h1"}, "db": {Hash: "h2"}}
	l, _ := NewLive(nil, run, "p", dir, specs)
	want := filepath.Join(dir, DefaultOverride)

	// Nothing has enough history: no file, rather than an empty override.
	addRun(run, "db", "h2", t0, 5, 1, 200*mib)
	if _, err := l.Write(nil); err == nil || !strings.Contains(err.Error(), "nothing to write") {
		t.Fatalf("err %v, want nothing to write", err)
	}
	if _, err := os.Stat(want); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file was written: %v", err)
	}

	addRun(run, "api", "h1", t0, 40, 15, 55*mib)
	path, err := l.Write(nil)
	if err != nil || path != want {
		t.Fatalf("path %q err %v, want %q", path, err, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "  api:\n") || strings.Contains(s, "db:") || !strings.Contains(s, "reservations:") {
		t.Errorf("override:\n%s", s)
	}

	if _, err := l.Write([]string{"db"}); err == nil {
		t.Error("wrote db, which has too little history")
	}
	if _, err := l.Write([]string{"api", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown service: err %v", err)
	}
}
