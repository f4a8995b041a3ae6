package main

import (
	"fmt"
	"os"

	"github.com/devorch/devorch/engine"
	usagehist "github.com/devorch/devorch/engine/usage"
)

// usageStore is the per-user store of usage histories
// ($XDG_STATE_HOME/devorch, else ~/.local/state/devorch); nil when neither
// is known.
func usageStore() *usagehist.Store {
	dir := usagehist.StateDir(os.Getenv)
	if dir == "" {
		return nil
	}
	return usagehist.Open(dir)
}

// usageRecorder is a monitor's Record hook that feeds project's usage
// history, and save, which stores what it recorded (a failure is a
// warning: history is advice). Without a store both are no-ops.
func usageRecorder(project string, warn func(string)) (record func(engine.ContainerState, engine.Sample), rec *usagehist.Recorder, save func()) {
	st := usageStore()
	if st == nil {
		return nil, nil, func() {}
	}
	rec = usagehist.NewRecorder(st, project)
	record = func(c engine.ContainerState, s engine.Sample) {
		rec.Add(c.Service, c.Hash, s.Time, s.CPUPercent, s.MemUsage, s.MemLimit, s.Throttled)
	}
	save = func() {
		warnings, err := rec.Save()
		for _, w := range warnings {
			warn(w)
		}
		if err != nil {
			warn(fmt.Sprintf("usage history not saved: %v", err))
		}
	}
	return record, rec, save
}
