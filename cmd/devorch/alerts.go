package main

import (
	"context"
	"time"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
)

// followAlerts runs a monitor (no log following) beside an attached up and
// prints its alerts as lines in the plain stream: unhealthy, restart
// loops, OOM kills, non-zero exits, and x-devorch threshold rules (for
// which it samples the resources of the services that have rules).
func followAlerts(ctx context.Context, e *engine.Engine, p *compose.Project, pr *printer) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	bus := engine.NewBus()
	// An attached up feeds the usage history (devorch tune) while it runs.
	record, _, save := usageRecorder(p.Name, func(w string) { pr.sink(engine.Event{Kind: engine.KindWarning, Detail: w}) })
	mon, err := e.NewMonitor(ctx, p.Name, p, bus, engine.MonitorOptions{NoLogs: true, Record: record})
	if err != nil {
		cancel()
		return nil, err
	}
	ch, unsub := bus.Subscribe(256)
	ruled := map[string]bool{}
	for name, s := range p.Services {
		if len(compose.ServiceX(s).Alerts) > 0 {
			ruled[name] = true
		}
	}
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range ch {
			if ev.Kind == engine.KindAlert {
				pr.sink(ev)
			}
		}
	}()
	if len(ruled) > 0 {
		go func() {
			t := time.NewTicker(3 * time.Second)
			defer t.Stop()
			for {
				var ids []string
				for _, c := range mon.Containers() {
					if ruled[c.Service] && c.Running() {
						ids = append(ids, c.ID)
					}
				}
				mon.WantStats(ids)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return func() {
		// Let the last exits raise their alerts before the stream ends:
		// the monitor follows Docker's events on its own stream, which
		// may lag the attacher's, so wait (bounded) until it has seen
		// every container stop, let it finish what it is handling, and
		// print what it published.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && anyRunning(mon.Containers()) {
			time.Sleep(20 * time.Millisecond)
		}
		mon.Settle(2 * time.Second)
		cancel()
		mon.Close()
		unsub()
		<-printed
		save()
	}, nil
}

func anyRunning(cs []engine.ContainerState) bool {
	for _, c := range cs {
		if c.Running() {
			return true
		}
	}
	return false
}
