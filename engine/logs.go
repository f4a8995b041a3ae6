package engine

import (
	"context"
	"fmt"

	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/logstream"
)

// Logs emits the log lines of the project's containers as KindLog events.
// With Follow it keeps going, also for containers that start later, until
// ctx ends.
func (e *Engine) Logs(ctx context.Context, project string, o LogsOptions) error {
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: o.Services})
	if err != nil {
		return err
	}
	if len(o.Services) > 0 {
		seen := map[string]bool{}
		for _, c := range cs {
			seen[c.Service] = true
		}
		for _, s := range o.Services {
			if !seen[s] {
				return fmt.Errorf("no container found for service %q", s)
			}
		}
	}
	// A container started later is matched by its start event, which
	// already says whether it is a one-off.
	d := e.logDocker(project, listOptions{all: true})
	return logstream.Logs(ctx, d, cs, o, e.emit)
}

// NewAttacher starts watching the project's containers for an attached
// `up`. Call Add for each container to follow (Up's OnStart does), then
// Wait.
func (e *Engine) NewAttacher(ctx context.Context, project string) *Attacher {
	d := e.logDocker(project, listOptions{all: true, skipOneOffs: true})
	return logstream.NewAttacher(ctx, d, dockerev.SafetyRecheck, e.emit)
}

// logDocker hands logstream the pool's hosts and a listing of one service's
// containers with o.
func (e *Engine) logDocker(project string, o listOptions) logstream.Docker {
	return logstream.Docker{Hosts: e.Pool.Hosts, Project: project, List: func(ctx context.Context, h *hosts.Host, service string) ([]Container, error) {
		o := o
		o.services = []string{service}
		return listHost(ctx, h, project, o)
	}}
}
