package usage

import (
	"maps"
	"sync"
	"time"
)

// Recorder collects one run's readings per service (the replicas of a
// service feed one history) and adds them to the project's stored
// history when saved.
type Recorder struct {
	store   *Store
	project string

	mu   sync.Mutex
	hist map[Key]*History
}

// NewRecorder records project's usage into store.
func NewRecorder(store *Store, project string) *Recorder {
	return &Recorder{store: store, project: project, hist: map[Key]*History{}}
}

// Add records one reading of a container of service (configuration hash
// hash): CPU in percent of one CPU, memory in bytes.
func (r *Recorder) Add(service, hash string, t time.Time, cpuPercent float64, mem, memLimit uint64, throttled bool) {
	if service == "" || t.IsZero() {
		return
	}
	k := Key{Project: r.project, Service: service, ConfigHash: hash}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hist[k]
	if h == nil {
		h = NewHistory()
		r.hist[k] = h
	}
	h.Add(t, cpuPercent, mem, memLimit, throttled)
}

// Samples is how many readings the run recorded, and of how many
// services.
func (r *Recorder) Samples() (samples, services int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for k, h := range r.hist {
		samples += h.Samples()
		seen[k.Service] = true
	}
	return samples, len(seen)
}

// Save adds the run's readings to the stored history: it loads the file
// again (another devorch may have saved meanwhile), merges, and writes it.
// The warnings are the stored file's, if it was unusable.
func (r *Recorder) Save() ([]string, error) {
	r.mu.Lock()
	run := maps.Clone(r.hist)
	r.mu.Unlock()
	if len(run) == 0 {
		return nil, nil
	}
	stored, warnings := r.store.Load(r.project)
	for k, h := range run {
		if s := stored[k]; s != nil {
			s.Merge(h)
		} else {
			stored[k] = h.Clone()
		}
	}
	return warnings, r.store.Save(r.project, stored)
}

// Snapshot is a copy of what the run has recorded so far, for a reader
// (the TUI's recommendation) that must not hold the Recorder's lock or see
// later readings change its numbers while it computes.
func (r *Recorder) Snapshot() map[Key]*History {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[Key]*History, len(r.hist))
	for k, h := range r.hist {
		out[k] = h.Clone()
	}
	return out
}
