package engine

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/labels"
)

// condition is what a dependent waits for.
type condition int

const (
	condStarted condition = iota
	condHealthy
	condCompleted
	condRunningOrHealthy // --wait: healthy when there is a healthcheck, else running
)

// conditionOf is what a depends_on condition makes a dependent wait for.
func conditionOf(dependsOnCondition string) condition {
	switch dependsOnCondition {
	case types.ServiceConditionHealthy:
		return condHealthy
	case types.ServiceConditionCompletedSuccessfully:
		return condCompleted
	}
	return condStarted
}

// depWaits waits, for the services of one run (up, start), until their
// dependencies meet the conditions depends_on asks for. compose.Walk orders
// the services; conditions need Docker, so they are waited for here.
type depWaits struct {
	e    *Engine
	hubs map[string]*dockerev.Hub
	// Several dependents wait on one dependency: say it once.
	announced sync.Map
}

func (e *Engine) newDepWaits(ctx context.Context, project string) *depWaits {
	w := &depWaits{e: e, hubs: map[string]*dockerev.Hub{}}
	for _, h := range e.Pool.Hosts {
		w.hubs[h.Name] = dockerev.Watch(ctx, h, project)
	}
	return w
}

func (w *depWaits) say(c *Container, status string, detail ...string) {
	if _, seen := w.announced.LoadOrStore(c.ID+"/"+status, true); !seen {
		w.e.containerProgress(c, status, strings.Join(detail, " "))
	}
}

// await waits until the containers of s's dependencies (containers gives
// them; none for a service outside the run) meet the conditions s asks
// for. The walk visits s once its required dependencies are started;
// failed holds the optional ones that failed, which s starts without, as
// compose does. A required dependency that does not meet its condition
// fails s with a *compose.DependencyError.
func (w *depWaits) await(ctx context.Context, s types.ServiceConfig, failed map[string]error, containers func(service string) []*Container) error {
	for _, d := range slices.Sorted(maps.Keys(s.DependsOn)) {
		dep := s.DependsOn[d]
		if err := failed[d]; err != nil {
			w.e.warn("service %q: optional dependency %q failed to start: %v", s.Name, d, err)
			continue
		}
		cond := conditionOf(dep.Condition)
		if cond == condStarted {
			continue
		}
		for _, dc := range containers(d) {
			// A container already seen healthy (or done) needs no
			// further look.
			if (cond == condHealthy && dc.Health == "healthy" && dc.State == "running") ||
				(cond == condCompleted && dc.State == "exited" && dc.ExitCode == 0) {
				continue
			}
			w.say(dc, "Waiting")
			if err := waitFor(ctx, w.hubs[dc.HostName()], dc.ID, dc.Name, cond); err != nil {
				w.say(dc, "Error", err.Error())
				if !dep.Required {
					w.e.warn("service %q: optional dependency %q: %v", s.Name, d, err)
					continue
				}
				return &compose.DependencyError{Service: s.Name, Dependency: d, Err: err}
			}
			if cond == condHealthy {
				w.say(dc, "Healthy")
			} else {
				w.say(dc, "Exited", "0")
			}
		}
	}
	return nil
}

// safetyRecheck bounds how long a wait trusts the event stream alone: if an
// event were ever lost, the wait re-reads the state after this long.
const safetyRecheck = 30 * time.Second

// waitFor blocks until container id on hb's host meets cond, or fails with
// a sentence saying why (exited, unhealthy, no healthcheck).
func waitFor(ctx context.Context, hb *dockerev.Hub, id, name string, cond condition) error {
	ch, unsub := hb.Subscribe(id)
	defer unsub()
	select {
	case <-hb.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	var probed <-chan struct{}
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	for {
		insp, err := ctr.Inspect(ctx, hb.Host().Client, id)
		if err != nil {
			// Named with its host: a host that went away shows here first
			// when a dependency's wait is what was running.
			return fmt.Errorf("container %s on host %q: %w", name, hb.Host().Name, err)
		}
		done, err := met(insp, name, cond)
		if done || err != nil {
			return err
		}
		if err := hb.Failed(); err != nil {
			return err
		}
		// Only dependency gates probe early: --wait promises Docker's own
		// healthy status (what ps shows afterwards).
		if probed == nil && cond == condHealthy {
			probed = startProbe(pctx, hb.Host(), insp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-probed:
			return nil
		case <-time.After(safetyRecheck):
		}
	}
}

// defaultProbeEvery is how often devorch runs a starting container's own
// healthcheck when the file sets no start_interval.
const defaultProbeEvery = 200 * time.Millisecond

// startProbe runs a starting container's own healthcheck command through
// exec, every start_interval (default 200 ms), until it first succeeds,
// and then closes the returned channel. Docker's first probe comes one
// full interval after the start (engines before 25.0 have no start_interval:
// devorch refuses the field there, see checkEngines), so
// this is what lets a dependent start as soon as its dependency's check
// passes. Docker's events still report unhealthy and exits.
// DEVORCH_FAST_HEALTH=0 turns it off. It returns nil when there is no
// check to run.
func startProbe(ctx context.Context, h *hosts.Host, insp container.InspectResponse) <-chan struct{} {
	if os.Getenv("DEVORCH_FAST_HEALTH") == "0" || insp.Config == nil || insp.Config.Healthcheck == nil || insp.State == nil || insp.State.Health == nil {
		return nil
	}
	hc := insp.Config.Healthcheck
	var cmd []string
	switch {
	case len(hc.Test) >= 2 && hc.Test[0] == "CMD":
		cmd = hc.Test[1:]
	case len(hc.Test) == 2 && hc.Test[0] == "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", hc.Test[1]}
	default:
		return nil
	}
	every := defaultProbeEvery
	if hc.StartInterval > 0 {
		every = hc.StartInterval
	}
	timeout := hc.Timeout
	if timeout <= 0 || timeout > 5*time.Second {
		timeout = 5 * time.Second
	}
	ok := make(chan struct{})
	go func() {
		for {
			code, err := ctr.Exec(ctx, h.Client, insp.ID, ctr.ExecRequest{Cmd: cmd, Timeout: timeout, MustExit: true})
			if err == nil && code == 0 {
				close(ok)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return ok
}

func met(insp container.InspectResponse, name string, cond condition) (bool, error) {
	st := insp.State
	if st == nil {
		return false, nil
	}
	exited := !st.Running && !st.Restarting && (st.Status == "exited" || st.Status == "dead")
	switch cond {
	case condStarted:
		if st.Running || exited || st.Restarting {
			return true, nil
		}
	case condCompleted:
		if exited {
			if st.ExitCode != 0 {
				return false, fmt.Errorf("service %q didn't complete successfully: container %s exited with code %d", insp.Config.Labels[labels.Service], name, st.ExitCode)
			}
			return true, nil
		}
	case condHealthy, condRunningOrHealthy:
		if st.Health == nil {
			if cond == condHealthy {
				return false, fmt.Errorf("container %s has no healthcheck configured", name)
			}
			if st.Running {
				return true, nil
			}
		} else {
			switch st.Health.Status {
			case container.Healthy:
				return true, nil
			case container.Unhealthy:
				return false, fmt.Errorf("container %s is unhealthy%s", name, lastProbe(st.Health))
			}
		}
		if exited {
			return false, fmt.Errorf("container %s exited (%d)", name, st.ExitCode)
		}
	}
	return false, nil
}

func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	out := strings.TrimSpace(h.Log[len(h.Log)-1].Output)
	if out == "" {
		return fmt.Sprintf(": last check exited %d", h.Log[len(h.Log)-1].ExitCode)
	}
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	return ": " + out
}
