package usage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// DefaultOverride is the override file's name when none is given, as
// `devorch tune --write` names it.
const DefaultOverride = "compose.tune.yaml"

// Combine is service's histories in stored and run together, keyed as
// Recorder.Save would store them: a run's history is merged into a copy of
// the stored one under the same key. Neither map is changed, so a caller
// may combine again as the run goes on.
func Combine(stored, run map[Key]*History, project, service string) map[Key]*History {
	out := map[Key]*History{}
	for k, h := range stored {
		if k.Project == project && k.Service == service && h != nil {
			out[k] = h.Clone()
		}
	}
	for k, h := range run {
		if k.Project != project || k.Service != service || h == nil {
			continue
		}
		if s := out[k]; s != nil {
			s.Merge(h)
		} else {
			out[k] = h.Clone()
		}
	}
	return out
}

// ServiceSpec is what a recommendation needs from the compose file: the
// service's config hash (which history is its current one) and what it
// declares today (for the warnings).
type ServiceSpec struct {
	Hash     string
	Declared Declared
}

// SpecsFrom reads the ServiceSpec of every service of a compose model;
// hashes are its config hashes by service name.
func SpecsFrom(services types.Services, hashes map[string]string) map[string]ServiceSpec {
	out := make(map[string]ServiceSpec, len(services))
	for name, s := range services {
		out[name] = ServiceSpec{Hash: hashes[name], Declared: DeclaredFrom(s)}
	}
	return out
}

// Live recommends from the stored history merged with what a Recorder has
// recorded so far, so that a recommendation watched in the TUI improves
// while the stack runs; what `devorch tune` says after the run is saved is
// the same. The stored history is read once, when Live is made: Recommend
// does no IO and may be called from a UI's update loop.
type Live struct {
	project  string
	dir      string
	services map[string]ServiceSpec
	stored   map[Key]*History
	run      *Recorder
}

// NewLive reads project's stored history from store (nil: none) and
// follows run (nil: nothing recorded in this run). dir is where Write puts
// a relative override file (the project's working directory). The warnings
// are the store's, if its file was unusable.
func NewLive(store *Store, run *Recorder, project, dir string, services map[string]ServiceSpec) (*Live, []string) {
	l := &Live{project: project, dir: dir, services: services, stored: map[Key]*History{}, run: run}
	var warnings []string
	if store != nil {
		l.stored, warnings = store.Load(project)
	}
	return l, warnings
}

// Recommend is service's recommendation from its current configuration's
// history, else (said in a warning) its latest earlier one's; false for a
// service the compose file does not have.
func (l *Live) Recommend(service string) (Recommendation, bool) {
	spec, ok := l.services[service]
	if !ok {
		return Recommendation{}, false
	}
	var run map[Key]*History
	if l.run != nil {
		run = l.run.Snapshot()
	}
	h, _, fallback := Find(Combine(l.stored, run, l.project, service), l.project, service, spec.Hash)
	r := Recommend(service, h, spec.Declared)
	if fallback {
		r.Warnings = append([]string{"no history of its current configuration: these numbers are its latest earlier one's"}, r.Warnings...)
	}
	return r, true
}

// Write writes the override file DefaultOverride in the project's
// directory with the recommendations of services (none: every service)
// that have enough history, and returns its path. It refuses an unknown
// service, and writes nothing when none has enough history, so that a
// usable override is never replaced by an empty one.
func (l *Live) Write(services []string) (string, error) {
	names := slices.Clone(services)
	if len(names) == 0 {
		for name := range l.services {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var recs []Recommendation
	for _, name := range names {
		r, ok := l.Recommend(name)
		if !ok {
			return "", fmt.Errorf("no service %q in the compose file", name)
		}
		recs = append(recs, r)
	}
	path := filepath.Join(l.dir, DefaultOverride)
	if err := WriteOverride(path, recs); err != nil {
		return "", err
	}
	return path, nil
}

// WriteOverride writes recs that have enough history as a compose
// override file at path (OverrideYAML). It writes nothing when none has,
// so that a usable override is never replaced by an empty one.
func WriteOverride(path string, recs []Recommendation) error {
	if !slices.ContainsFunc(recs, func(r Recommendation) bool { return r.Enough }) {
		return fmt.Errorf("nothing to write to %s: no service has enough usage history yet (need ≥ %d readings over ≥ %s: devorch stats --record 40s records them)",
			path, MinSamples, fmtDuration(MinSpan))
	}
	b, err := OverrideYAML(recs)
	if err != nil {
		return err
	}
	// 0644 as a compose file: it is the user's to read, commit or share.
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
