package usage

import (
	"testing"
	"time"
)

// A run's readings are added to what was stored, per service and hash,
// replicas into one history.
func TestRecorderSavesMerged(t *testing.T) {
	st := Open(t.TempDir())
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for run := 0; run < 2; run++ {
		r := NewRecorder(st, "p")
		for i := 0; i < 10; i++ {
			ts := t0.Add(time.Duration(run*100+i) * time.Second)
			r.Add("api", "h1", ts, 50, 100<<20, 0, false)
			r.Add("api", "h1", ts, 30, 80<<20, 0, false) // another replica
			r.Add("db", "h2", ts, 5, 300<<20, 0, false)
		}
		if n, s := r.Samples(); n != 30 || s != 2 {
			t.Fatalf("run %d: %d samples of %d services", run, n, s)
		}
		if w, err := r.Save(); err != nil || len(w) > 0 {
			t.Fatalf("save: %v %v", w, err)
		}
	}
	m, w := st.Load("p")
	if len(w) > 0 {
		t.Fatal(w)
	}
	if h := m[Key{"p", "api", "h1"}]; h == nil || h.Samples() != 40 || h.Span() != 109*time.Second {
		t.Errorf("api: %+v", h)
	}
	if h := m[Key{"p", "db", "h2"}]; h == nil || h.Samples() != 20 || h.MemPeak() < 290<<20 {
		t.Errorf("db: %+v", h)
	}
	// Nothing recorded: nothing written.
	if _, err := NewRecorder(Open(t.TempDir()), "q").Save(); err != nil {
		t.Error(err)
	}
}
