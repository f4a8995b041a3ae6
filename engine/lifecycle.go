package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/netctl"
)

// selectContainers lists the service containers of the named services (all
// when none), failing for a service that has none.
func (e *Engine) selectContainers(ctx context.Context, project string, services []string, all bool) ([]Container, error) {
	cs, err := e.list(ctx, project, listOptions{all: all, skipOneOffs: true, services: services})
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		seen := map[string]bool{}
		for _, c := range cs {
			seen[c.Service] = true
		}
		for _, s := range services {
			if !seen[s] {
				return nil, fmt.Errorf("no container found for service %q", s)
			}
		}
	}
	return cs, nil
}

// Stop stops the project's containers (of the services, or all),
// dependents first, without removing them.
func (e *Engine) Stop(ctx context.Context, project string, services []string, timeout *time.Duration) error {
	defer e.watchPool(ctx)()
	cs, err := e.selectContainers(ctx, project, services, false)
	if err != nil {
		return err
	}
	return e.stopInOrder(ctx, cs, timeout, false, false)
}

// Start starts existing stopped containers in dependency order, waiting
// for dependencies' conditions as up does. p may be nil (no compose file):
// then containers start in parallel.
func (e *Engine) Start(ctx context.Context, project string, p *compose.Project, services []string) error {
	cs, err := e.selectContainers(ctx, project, services, true)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return errors.New("no containers to start")
	}
	bySvc := map[string][]*Container{}
	for i := range cs {
		bySvc[cs[i].Service] = append(bySvc[cs[i].Service], &cs[i])
	}
	g := compose.Graph{}
	for name := range bySvc {
		g[name] = nil
	}
	if p != nil {
		g = compose.NewGraph(p.Project, slices.Collect(maps.Keys(bySvc)))
	}
	waits := e.newDepWaits(ctx, project)
	limit := newSem(e.Parallel)
	// The walk is not bounded: a service may wait long for its
	// dependencies' conditions; the starts are bounded by limit.
	return compose.Walk(ctx, g, compose.Up, 0, func(ctx context.Context, name string, failed map[string]error) error {
		if p != nil {
			if err := waits.await(ctx, p.Services[name], failed, func(d string) []*Container { return bySvc[d] }); err != nil {
				return err
			}
		}
		var g errgroup.Group
		for _, c := range bySvc[name] {
			if c.Running() {
				continue
			}
			g.Go(func() error {
				e.containerProgress(c, "Starting", "")
				if err := limit.acquire(ctx); err != nil {
					return err
				}
				err := ctr.Start(uncancelled(ctx), c.Host.Client, c.ID)
				limit.release()
				if err != nil {
					return fmt.Errorf("start container %s: %w", c.Name, ctr.ExplainStartError(err))
				}
				// What its dependents wait for is looked at afresh.
				c.State, c.Health = "running", ""
				e.containerProgress(c, "Started", "")
				return nil
			})
		}
		return g.Wait()
	})
}

// Restart restarts the project's containers (running or not).
func (e *Engine) Restart(ctx context.Context, project string, services []string, timeout *time.Duration) error {
	defer e.watchPool(ctx)()
	cs, err := e.selectContainers(ctx, project, services, true)
	if err != nil {
		return err
	}
	return e.forEach(ctx, cs, func(ctx context.Context, c *Container) error {
		e.containerProgress(c, "Restarting", "")
		leave, err := e.leaving(ctx, c)
		if err != nil {
			return err
		}
		defer leave()
		if err := ctr.Restart(ctx, c.Host.Client, c.ID, timeout); err != nil {
			return fmt.Errorf("restart container %s: %w", c.Name, err)
		}
		e.containerProgress(c, "Started", "")
		return nil
	})
}

// Kill sends a signal (default SIGKILL) to the running containers.
func (e *Engine) Kill(ctx context.Context, project string, services []string, signal string) error {
	cs, err := e.selectContainers(ctx, project, services, false)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	return e.forEach(ctx, cs, func(ctx context.Context, c *Container) error {
		e.containerProgress(c, "Killing", "")
		leave, err := e.leaving(ctx, c)
		if err != nil {
			return err
		}
		defer leave()
		if err := ctr.Kill(ctx, c.Host.Client, c.ID, signal); err != nil {
			return fmt.Errorf("kill container %s: %w", c.Name, err)
		}
		// Hold its networks' lanes while it exits and is cleaned up (an
		// inspect waits for the cleanup), at most netctl.LaneGrace.
		wctx, cancel := context.WithTimeout(ctx, netctl.LaneGrace)
		defer cancel()
		waitc, errc := ctr.WaitStopped(wctx, c.Host.Client, c.ID)
		select {
		case <-waitc:
			_, _ = ctr.Inspect(ctx, c.Host.Client, c.ID)
		case <-errc:
		}
		e.containerProgress(c, "Killed", "")
		return nil
	})
}

// RmOptions are `devorch rm`'s choices.
type RmOptions struct {
	Stop    bool // stop running containers first
	Volumes bool // remove anonymous volumes
	Timeout *time.Duration
}

// Rm removes stopped service containers (running ones with Stop).
func (e *Engine) Rm(ctx context.Context, project string, services []string, o RmOptions) ([]string, error) {
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: services})
	if err != nil {
		return nil, err
	}
	var targets []Container
	for _, c := range cs {
		if c.Running() && !o.Stop {
			continue
		}
		targets = append(targets, c)
	}
	var names []string
	for _, c := range targets {
		names = append(names, c.Name)
	}
	if len(targets) == 0 {
		return nil, nil
	}
	return names, e.stopInOrder(ctx, targets, o.Timeout, true, o.Volumes)
}

// Pause and Unpause freeze and thaw running containers.
func (e *Engine) Pause(ctx context.Context, project string, services []string, pause bool) error {
	cs, err := e.selectContainers(ctx, project, services, false)
	if err != nil {
		return err
	}
	return e.forEach(ctx, cs, func(ctx context.Context, c *Container) error {
		if pause {
			if err := ctr.Pause(ctx, c.Host.Client, c.ID); err != nil {
				return fmt.Errorf("pause container %s: %w", c.Name, err)
			}
			e.containerProgress(c, "Paused", "")
			return nil
		}
		if err := ctr.Unpause(ctx, c.Host.Client, c.ID); err != nil {
			return fmt.Errorf("unpause container %s: %w", c.Name, err)
		}
		e.containerProgress(c, "Unpaused", "")
		return nil
	})
}

// forEach runs fn on every container in parallel, bounded. One failure
// (a host lost, a container refusing) does not call off the others: every
// container is tried and the failures are joined.
func (e *Engine) forEach(ctx context.Context, cs []Container, fn func(context.Context, *Container) error) error {
	limit := newSem(e.Parallel)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := range cs {
		c := &cs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := limit.acquire(ctx)
			if err == nil {
				err = fn(ctx, c)
				limit.release()
			}
			if err != nil && !errdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}
