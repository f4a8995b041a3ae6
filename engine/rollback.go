package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/netctl"
	"github.com/devorch/devorch/volumes"
)

// A run of up that Docker refuses half way — a container, network or
// volume it will not create, a container it will not start — must not
// leave a half-made stack. Everything that can be checked without side
// effects is checked before the first resource is created (validate,
// checkEngines); what only Docker can refuse is undone here: the run's new
// containers, networks and volumes are removed, and the containers it had
// stopped or set aside are put back as they were. So a refused cold up
// leaves nothing, and a refused up of a running stack leaves the previous
// containers running under their names.
//
// Other failures are not undone, as in compose: a container that exits, a
// health check that never passes, --wait timing out, an interrupted run,
// a host that stops answering. What they leave is what the developer
// inspects; the next up converges from it (it keeps what is up to date,
// recreates what is not, removes duplicates) and down removes it all.

// refusedError marks a failure Docker (or the client library, before the
// call) reported for a create or start: a configuration it will not run.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// refusal marks err as a refusal unless it is an interruption, a lost
// connection or a host that stopped answering: those say nothing about the
// configuration.
func refusal(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		client.IsErrConnectionFailed(err) || errors.Is(err, hosts.ErrHostLost) {
		return err
	}
	var r *refusedError
	if errors.As(err, &r) {
		return err
	}
	return &refusedError{err}
}

func isRefusal(err error) bool {
	var r *refusedError
	return errors.As(err, &r)
}

// convergeErrors joins what the services of one converge failed with. A
// refusal cancels the others (its run is rolled back): their cancellation
// is its consequence, not another failure, unless the run itself was
// interrupted.
func convergeErrors(parent context.Context, errs []error) error {
	refused := false
	for _, err := range errs {
		refused = refused || isRefusal(err)
	}
	if !refused || parent.Err() != nil {
		return errors.Join(errs...)
	}
	var out []error
	for _, err := range errs {
		if isRefusal(err) {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// before is what the project had on its reachable hosts when the run
// started: a refused run removes anything of the project that is not in
// it, and puts what is in it back in its state. Listing beats recording
// each creation: a create whose answer was lost (cancelled, timed out)
// may still have happened.
type before struct {
	hosts      []string                   // the hosts listed
	containers map[string]Container       // by ID: the project's service containers
	networks   map[string]map[string]bool // host → network IDs
	volumes    map[string]map[string]bool // host → volume names
}

// snapshot records the project's resources before anything is created;
// containers and volumes come from the run's world, networks are listed.
func (e *Engine) snapshot(ctx context.Context, project string, w *world, views map[string]*hostView) (*before, error) {
	b := &before{containers: map[string]Container{}, networks: map[string]map[string]bool{}, volumes: map[string]map[string]bool{}}
	for _, c := range w.project {
		if !c.OneOff {
			b.containers[c.ID] = c
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range e.Pool.Hosts {
		if v := views[h.Name]; v == nil || !v.reachable {
			continue
		}
		b.hosts = append(b.hosts, h.Name)
		vols := map[string]bool{}
		for _, v := range w.volumes[h.Name] {
			vols[v.Name] = true
		}
		b.volumes[h.Name] = vols
		g.Go(func() error {
			list, err := netctl.List(gctx, h.Client, project)
			if err != nil {
				return fmt.Errorf("list networks on host %q: %w", h.Name, err)
			}
			ids := map[string]bool{}
			for _, n := range list {
				ids[n.ID] = true
			}
			mu.Lock()
			b.networks[h.Name] = ids
			mu.Unlock()
			return nil
		})
	}
	return b, g.Wait()
}

// ledger records the containers a run set aside while recreating them, so
// that they are removed once the run's changes stand, or put back when
// Docker refused the run. It travels in the run's context.
type ledger struct {
	mu     sync.Mutex
	parked []parkedContainer
}

// parkedContainer is an old container a recreate stopped and renamed out
// of the way of its replacement.
type parkedContainer struct {
	c    Container // as it was: its name, its state
	name string    // the name it is parked under ("" until renamed)
}

type ledgerKey struct{}

func withLedger(ctx context.Context, l *ledger) context.Context {
	return context.WithValue(ctx, ledgerKey{}, l)
}

func ledgerOf(ctx context.Context) *ledger {
	l, _ := ctx.Value(ledgerKey{}).(*ledger)
	return l
}

// park stops the old container of a recreate and renames it out of the
// way: removing it waits until the run's changes stand (settle).
func (e *Engine) park(ctx context.Context, limit sem, old *Container, timeout *time.Duration) error {
	l := ledgerOf(ctx)
	if l == nil {
		// No run to settle it (not reached through Up): replace at once.
		return e.stopRemove(ctx, limit, old, timeout, false)
	}
	l.mu.Lock()
	i := len(l.parked)
	l.parked = append(l.parked, parkedContainer{c: *old})
	l.mu.Unlock()
	if err := e.stop(ctx, limit, old, timeout); err != nil {
		return err
	}
	name := fmt.Sprintf("%s_replaced_%s", old.Name, old.ShortID())
	if err := limit.acquire(ctx); err != nil {
		return err
	}
	err := ctr.Rename(uncancelled(ctx), old.Host.Client, old.ID, name)
	limit.release()
	if errdefs.IsNotFound(err) {
		return nil // gone since the plan: nothing to set aside
	}
	if err != nil {
		return fmt.Errorf("rename container %s to %s: %w", old.Name, name, err)
	}
	l.mu.Lock()
	l.parked[i].name = name
	l.mu.Unlock()
	return nil
}

// settle ends a run: after a refusal it rolls the run back and returns the
// refusal (with what the rollback could not undo); otherwise the
// containers recreates set aside are removed and err is returned as is.
func (e *Engine) settle(ctx context.Context, p *compose.Project, b *before, l *ledger, err error) error {
	// The run may be interrupted; what settles it must still happen.
	ctx, cancel := context.WithTimeout(uncancelled(ctx), 2*time.Minute)
	defer cancel()
	if err != nil && isRefusal(err) && b != nil {
		e.warn("Docker refused the change: removing what this run created and putting back what it replaced")
		if rerr := e.rollback(ctx, p, b); rerr != nil {
			return fmt.Errorf("%w\nthe rollback was incomplete (the next up or down finishes it): %v", err, rerr)
		}
		return err
	}
	if l == nil {
		return err
	}
	l.mu.Lock()
	parked := append([]parkedContainer(nil), l.parked...)
	l.mu.Unlock()
	limit := newSem(e.Parallel)
	g, gctx := errgroup.WithContext(ctx)
	for _, pc := range parked {
		if pc.name == "" {
			continue // not set aside: the next up sorts it out
		}
		c := pc.c
		c.Name, c.State = pc.name, "exited"
		g.Go(func() error { return e.stopRemove(gctx, limit, &c, nil, false) })
	}
	if rerr := g.Wait(); rerr != nil {
		if err == nil {
			return fmt.Errorf("remove replaced container: %w", rerr)
		}
		e.warn("remove replaced container: %v", rerr)
	}
	return err
}

// rollback removes the project's containers, networks and volumes that
// were not there before the run, and puts the containers that were back
// under their names and in their state (running or not).
func (e *Engine) rollback(ctx context.Context, p *compose.Project, b *before) error {
	project := p.Name
	limit := newSem(e.Parallel)
	// Containers are started again in dependency order: one sharing
	// another's namespace cannot start before it.
	rank := map[string]int{}
	if order, err := compose.Order(compose.NewGraph(p.Project, p.ServiceNames()), compose.Up); err == nil {
		for i, n := range order {
			rank[n] = i + 1
		}
	}
	var mu sync.Mutex
	var errs []error
	report := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for _, hostName := range b.hosts {
		h := e.Pool.Get(hostName)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, hostTimeout())
			now, err := listHost(hctx, h, project, listOptions{all: true, skipOneOffs: true})
			cancel()
			if err != nil {
				report(fmt.Errorf("list containers on host %q: %w", h.Name, err))
				return
			}
			// 1. What this run created goes, with its anonymous volumes.
			var kept []Container
			var removing errgroup.Group
			for _, c := range now {
				if _, ok := b.containers[c.ID]; ok {
					kept = append(kept, c)
					continue
				}
				removing.Go(func() error {
					e.containerProgress(&c, "Removing", "")
					if c.Running() {
						// A forced removal stops it: one network leave
						// at a time (netctl.Lanes).
						leave, err := e.leaving(ctx, &c)
						if err != nil {
							return err
						}
						defer leave()
					}
					if err := limit.acquire(ctx); err != nil {
						return err
					}
					defer limit.release()
					err := ctr.Remove(ctx, h.Client, c.ID, true)
					if err != nil && !errdefs.IsNotFound(err) && !ctr.IsRemovalInProgress(err) {
						return fmt.Errorf("remove container %s on host %q: %w", c.Name, h.Name, err)
					}
					e.containerProgress(&c, "Removed", "")
					return nil
				})
			}
			report(removing.Wait())
			// 2. What was there gets its name back, then its state, in
			// dependency order (services no longer in the file last).
			var renaming errgroup.Group
			for i := range kept {
				renaming.Go(func() error { return e.rename(ctx, limit, &kept[i], b.containers[kept[i].ID].Name) })
			}
			report(renaming.Wait())
			sort.SliceStable(kept, func(i, j int) bool {
				ri, rj := rank[kept[i].Service], rank[kept[j].Service]
				if ri == 0 || rj == 0 {
					return ri != 0 && rj == 0
				}
				return ri < rj
			})
			for _, c := range kept {
				report(e.restoreState(ctx, limit, c, b.containers[c.ID]))
			}
			// 3. Networks and volumes this run created, now unused.
			nets, err := netctl.List(ctx, h.Client, project)
			if err != nil {
				report(fmt.Errorf("list networks on host %q: %w", h.Name, err))
			}
			for _, n := range nets {
				if b.networks[h.Name][n.ID] {
					continue
				}
				e.progress(ResNetwork, n.Name, h.Name, "Removing")
				if err := netctl.Remove(ctx, h.Client, n.ID); err != nil {
					report(fmt.Errorf("remove network %s on host %q: %w", n.Name, h.Name, err))
					continue
				}
				e.progress(ResNetwork, n.Name, h.Name, "Removed")
			}
			vols, err := volumes.List(ctx, h.Client, project)
			if err != nil {
				report(fmt.Errorf("list volumes on host %q: %w", h.Name, err))
			}
			for _, v := range vols {
				if b.volumes[h.Name][v.Name] {
					continue
				}
				e.progress(ResVolume, v.Name, h.Name, "Removing")
				if err := volumes.Remove(ctx, h.Client, v.Name); err != nil {
					report(fmt.Errorf("remove volume %s on host %q: %w", v.Name, h.Name, err))
					continue
				}
				e.progress(ResVolume, v.Name, h.Name, "Removed")
			}
		}()
	}
	wg.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// rename gives a container that was there before the run its name back
// (a recreate set it aside under another).
func (e *Engine) rename(ctx context.Context, limit sem, c *Container, name string) error {
	if c.Name == name {
		return nil
	}
	if err := limit.acquire(ctx); err != nil {
		return err
	}
	err := ctr.Rename(ctx, c.Host.Client, c.ID, name)
	limit.release()
	if err != nil {
		return fmt.Errorf("rename container %s back to %s on host %q: %w", c.Name, name, c.HostName(), err)
	}
	c.Name = name
	return nil
}

// restoreState gives a container that was there before the run its state
// back: one a recreate stopped is started again, one this run started is
// stopped again.
func (e *Engine) restoreState(ctx context.Context, limit sem, now, was Container) error {
	h := now.Host
	switch {
	case was.Running() && !now.Running():
		e.containerProgress(&now, "Starting", "")
		if err := limit.acquire(ctx); err != nil {
			return err
		}
		err := ctr.Start(ctx, h.Client, now.ID)
		limit.release()
		if err != nil {
			return fmt.Errorf("start container %s again on host %q: %w", now.Name, h.Name, err)
		}
		e.containerProgress(&now, "Started", "")
	case !was.Running() && now.Running():
		if err := e.stop(ctx, limit, &now, nil); err != nil {
			return fmt.Errorf("stop container %s again on host %q: %w", now.Name, h.Name, err)
		}
	}
	return nil
}
