package engine

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/health"
)

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
		cond := health.ConditionOf(dep.Condition)
		if cond == health.Started {
			continue
		}
		for _, dc := range containers(d) {
			// A container already seen healthy (or done) needs no
			// further look.
			if (cond == health.Healthy && dc.Health == "healthy" && dc.State == "running") ||
				(cond == health.Completed && dc.State == "exited" && dc.ExitCode == 0) {
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
			if cond == health.Healthy {
				w.say(dc, "Healthy")
			} else {
				w.say(dc, "Exited", "0")
			}
		}
	}
	return nil
}

// waitFor blocks until container id on hb's host meets cond, or fails with
// a sentence saying why (health.Wait); a dependency gate runs the
// container's healthcheck early through exec.
func waitFor(ctx context.Context, hb *dockerev.Hub, id, name string, cond health.Condition) error {
	h := hb.Host()
	return health.Wait(ctx, health.Host{Name: h.Name, Events: hb, API: h.Client,
		Exec: func(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, error) {
			return ctr.Exec(ctx, h.Client, id, ctr.ExecRequest{Cmd: cmd, Timeout: timeout, MustExit: true})
		}}, id, name, cond)
}
