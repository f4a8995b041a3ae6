package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
	"github.com/devorch/devorch/volumes"
)

// DownOptions are `devorch down`'s choices.
type DownOptions struct {
	RemoveOrphans bool
	Volumes       bool   // -v: remove named volumes and anonymous ones
	RemoveImages  string // "", "local" (images devorch built without an image: name) or "all"
	Timeout       *time.Duration
	LockTimeout   time.Duration
}

// Down stops and removes the project's containers (dependents before what
// they depend on, in parallel), then its networks, and with the options its
// volumes and images. p may be nil: then everything labelled with the
// project is removed, found from the labels alone.
func (e *Engine) Down(ctx context.Context, project string, p *compose.Project, o DownOptions) error {
	unlock, err := e.Lock(ctx, project, o.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	defer e.watchPool(ctx)()
	cs, err := e.list(ctx, project, listOptions{all: true})
	if err != nil {
		return err
	}
	var remove, orphans []Container
	for _, c := range cs {
		if p != nil && !o.RemoveOrphans && !c.OneOff {
			if _, ok := p.Services[c.Service]; !ok {
				if _, ok := p.DisabledServices[c.Service]; !ok {
					orphans = append(orphans, c)
					continue
				}
			}
		}
		remove = append(remove, c)
	}
	if len(orphans) > 0 {
		var names []string
		for _, c := range orphans {
			names = append(names, c.Name)
		}
		e.warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))
	}
	// A host lost on the way keeps what was on it; the others are cleaned.
	stopErr := e.stopInOrder(ctx, remove, o.Timeout, true, o.Volumes)
	if stopErr != nil && !errors.Is(stopErr, hosts.ErrHostLost) {
		return stopErr
	}
	// With several hosts, one that does not answer is left as it is (its
	// containers were not listed either); the rest is cleaned.
	hs := e.answering(ctx)
	errs := []error{stopErr}
	if len(orphans) == 0 {
		errs = append(errs, netctl.RemoveAll(ctx, e.netPool(hs), project))
	}
	if o.Volumes {
		errs = append(errs, volumes.RemoveAll(ctx, volumeHosts(hs), project, func(name, host, status string) {
			e.progress(ResVolume, name, host, status)
		}))
	}
	if o.RemoveImages != "" {
		errs = append(errs, images.Remove(ctx, imageHosts(hs), project, p, o.RemoveImages, e.imageEvent))
	}
	return errors.Join(errs...)
}

// stopInOrder stops containers so that a service stops only after every
// service that depends on it (read from the dev.devorch.depends-on label,
// so it works without the compose file), in parallel, removing each one
// right after it stops when remove is set.
func (e *Engine) stopInOrder(ctx context.Context, cs []Container, timeout *time.Duration, remove, removeVolumes bool) error {
	if len(cs) == 0 {
		return nil
	}
	bySvc := byService(cs)
	g := compose.Graph{}
	for svc, list := range bySvc {
		g[svc] = map[string]bool{}
		for _, d := range strings.Split(list[0].Labels[labels.DependsOn], ",") {
			if d != "" && d != svc {
				g[svc][d] = true
			}
		}
	}
	if _, err := compose.Order(g, compose.Down); err != nil {
		// Containers made from different versions of the file can
		// disagree into a cycle: stop them all at once rather than none.
		for svc := range g {
			g[svc] = nil
		}
	}
	limit := newSem(e.Parallel * 2)
	// The walk is not bounded: stops wait for their networks' lanes, and
	// the Docker calls are bounded by limit.
	err := compose.Walk(ctx, g, compose.Down, 0, func(ctx context.Context, svc string, _ map[string]error) error {
		list := bySvc[svc]
		var g errgroup.Group
		for i := range list {
			c := &list[i]
			g.Go(func() error {
				if remove {
					return e.stopRemove(ctx, limit, c, timeout, removeVolumes)
				}
				return e.stop(ctx, limit, c, timeout)
			})
		}
		return g.Wait()
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// stop stops a container gracefully (see ctr.Stop).
func (e *Engine) stop(ctx context.Context, limit sem, c *Container, timeout *time.Duration) error {
	return ctr.Stop(ctx, c.Host.Client, e.lanes, limit, e.progressOf, c, timeout)
}

// leaving waits for the lanes of the networks c is about to leave.
func (e *Engine) leaving(ctx context.Context, c *Container) (func(), error) {
	return ctr.Leaving(ctx, e.lanes, c)
}

// stopRemove stops a container gracefully, then removes it (see
// ctr.StopRemove).
func (e *Engine) stopRemove(ctx context.Context, limit sem, c *Container, timeout *time.Duration, removeVolumes bool) error {
	return ctr.StopRemove(ctx, c.Host.Client, e.lanes, limit, e.progressOf, c, timeout, removeVolumes)
}

// progressOf is containerProgress without a detail, as ctr reports it.
func (e *Engine) progressOf(c *Container, status string) { e.containerProgress(c, status, "") }

// removeContainers stops and removes containers, dependents first.
func (e *Engine) removeContainers(ctx context.Context, cs []Container, timeout *time.Duration) error {
	return e.stopInOrder(ctx, cs, timeout, true, false)
}

// answering returns the hosts that answer; with several hosts the others
// are reported and left alone (with one, its error surfaces where used).
func (e *Engine) answering(ctx context.Context) []*hosts.Host {
	if e.Pool.Single() {
		return e.Pool.Hosts
	}
	var out []*hosts.Host
	for _, h := range e.Pool.Hosts {
		if _, err := h.Info(ctx, 2*time.Second); err != nil {
			e.warn("host %q is unreachable (%v): nothing of the project is removed there", h.Name, err)
			continue
		}
		out = append(out, h)
	}
	return out
}
