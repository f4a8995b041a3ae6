package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/watch"
)

// WatchOptions are `devorch watch`'s choices.
type WatchOptions struct {
	Services []string // empty: every service with develop.watch rules
	// Reload loads the compose model again after the compose file or its
	// .env changed; nil disables reloading.
	Reload func(ctx context.Context) (*compose.Project, error)
	// Up converges after a reload (the caller's up options).
	Up UpOptions
	// Batching overrides the watcher's batching (zero: defaults).
	Batching watch.Options
	// Ready is called once everything is watched.
	Ready func(watched int)
}

// WatchReport is one batch's outcome, also published as a KindWatch event.
type WatchReport struct {
	Service string
	Action  string // sync, rebuild, restart, sync+restart, sync+exec, reload
	Files   int
	Deleted int
	Took    time.Duration // from the first file event to done
	Err     error
}

// Watch follows the services' develop.watch rules until ctx ends: file
// changes are synced into running containers, or trigger a rebuild, a
// restart or a command, as each rule says. Editing the compose file or its
// .env reloads the model and converges the stack.
func (e *Engine) Watch(ctx context.Context, p *compose.Project, o WatchOptions) error {
	for {
		next, err := e.watchOnce(ctx, p, o)
		if err != nil || next == nil {
			return err
		}
		p = next
	}
}

// watchOnce watches with one model; it returns the next model after a
// reload, or nil when ctx ended.
func (e *Engine) watchOnce(ctx context.Context, p *compose.Project, o WatchOptions) (*compose.Project, error) {
	rules, err := watch.Rules(p.Project, o.Services)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 && o.Reload == nil {
		return nil, errors.New("none of the selected services has develop.watch rules")
	}
	configFiles := map[string]bool{}
	if o.Reload != nil {
		for _, f := range p.ComposeFiles {
			configFiles[f] = true
		}
		configFiles[filepath.Join(p.WorkingDir, ".env")] = true
	}
	rootsSet := map[string]bool{}
	for _, r := range rules {
		rootsSet[r.Trigger.Path] = true
	}
	for f := range configFiles {
		if _, err := os.Stat(f); err == nil {
			rootsSet[filepath.Dir(f)] = true
		}
	}
	roots := slices.Sorted(maps.Keys(rootsSet))
	bo := o.Batching
	bo.Ignore = watch.Ignore(rules, configFiles)
	w, err := watch.New(roots, bo)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	for _, r := range rules {
		if r.Trigger.InitialSync && strings.HasPrefix(string(r.Trigger.Action), "sync") {
			if err := e.initialSync(ctx, p, r); err != nil {
				e.warn("service %q: initial sync of %s: %v", r.Service, r.Trigger.Path, err)
			}
		}
	}
	if o.Ready != nil {
		o.Ready(w.Watched())
	}
	warned := &sync.Map{}
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case err := <-w.Errors():
			e.warn("watch: %v", err)
		case b, ok := <-w.Batches():
			if !ok {
				return nil, nil
			}
			reload := false
			for _, c := range b.Changes {
				if configFiles[c.Path] {
					reload = true
				}
			}
			if reload {
				start := time.Now()
				next, err := o.Reload(ctx)
				if err != nil {
					e.report(WatchReport{Action: "reload", Took: time.Since(b.Started), Err: err})
					continue
				}
				up := o.Up
				up.Services = nil
				_, err = e.Up(ctx, next, up)
				e.report(WatchReport{Action: "reload", Files: 1, Took: time.Since(start), Err: err})
				if err == nil {
					return next, nil
				}
				continue
			}
			e.applyBatch(ctx, p, rules, b, warned)
		}
	}
}

func (e *Engine) report(r WatchReport) {
	ev := Event{Kind: KindWatch, Service: r.Service, Status: r.Action, Err: r.Err,
		Detail: fmt.Sprintf("%d files (%d deleted) in %dms", r.Files, r.Deleted, r.Took.Milliseconds())}
	if r.Err != nil {
		ev.Detail += ": " + r.Err.Error()
	}
	ev.ExitCode = r.Files
	e.emit(ev)
}

// applyBatch runs each service's first matching rule for every changed
// path: one action per (service, rule). Services go in parallel; one
// service's actions go one after the other, those that restart or
// recreate its containers last, so that a restart never kills another
// rule's sync or exec in flight.
func (e *Engine) applyBatch(ctx context.Context, p *compose.Project, rules []watch.Rule, b watch.Batch, warned *sync.Map) {
	var wg sync.WaitGroup
	for _, queue := range watch.Jobs(rules, b.Changes) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range queue {
				files, deleted := j.Count()
				err := e.runRule(ctx, p, j.Rule, j.Changes, warned)
				e.report(WatchReport{Service: j.Rule.Service, Action: string(j.Rule.Trigger.Action), Files: files, Deleted: deleted, Took: time.Since(b.Started), Err: err})
			}
		}()
	}
	wg.Wait()
}

func (e *Engine) runRule(ctx context.Context, p *compose.Project, r watch.Rule, changes []watch.Change, warned *sync.Map) error {
	t := r.Trigger
	switch t.Action {
	case types.WatchActionRebuild:
		return e.rebuildService(ctx, p, r.Service)
	case types.WatchActionRestart:
		return e.Restart(ctx, p.Name, []string{r.Service}, nil)
	}
	if err := e.syncChanges(ctx, p, r, changes, warned); err != nil {
		return err
	}
	switch t.Action {
	case types.WatchActionSyncRestart:
		return e.Restart(ctx, p.Name, []string{r.Service}, nil)
	case types.WatchActionSyncExec:
		replicas, err := e.runningReplicas(ctx, p.Name, r.Service)
		if err != nil {
			return err
		}
		return watch.ExecHook(ctx, replicas, t.Exec)
	}
	return nil
}

// rebuildService builds the service's image and recreates the service if
// the image changed, with the services that share its namespaces or
// restart with it. A failed build leaves the running containers alone.
func (e *Engine) rebuildService(ctx context.Context, p *compose.Project, service string) error {
	set := []string{service}
	for _, s := range p.Services {
		follows := false
		for _, t := range compose.NamespaceTargets(s) {
			follows = follows || t == service
		}
		if dep, ok := s.DependsOn[service]; follows || (ok && dep.Restart) {
			set = append(set, s.Name)
		}
	}
	_, err := e.Up(ctx, p, UpOptions{Services: set, NoDeps: true, Images: ImageOptions{Build: true}})
	return err
}

// syncChanges copies changed files into every running replica of the
// service in one tar stream, and deletes deleted ones with rm.
func (e *Engine) syncChanges(ctx context.Context, p *compose.Project, r watch.Rule, changes []watch.Change, warned *sync.Map) error {
	replicas, err := e.runningReplicas(ctx, p.Name, r.Service)
	if err != nil {
		return err
	}
	return watch.SyncInto(ctx, replicas, r, changes, warned, e.warn)
}

// runningReplicas are the service's running containers (one-offs left
// out), where hot reload syncs and runs hooks.
func (e *Engine) runningReplicas(ctx context.Context, project, service string) ([]watch.Replica, error) {
	cs, err := e.list(ctx, project, listOptions{skipOneOffs: true, services: []string{service}})
	if err != nil {
		return nil, err
	}
	var running []watch.Replica
	for _, c := range cs {
		if c.State == "running" {
			running = append(running, watch.Replica{API: c.Host.Client, ID: c.ID, Name: c.Name})
		}
	}
	return running, nil
}

// initialSync copies every file under the rule's path that is not ignored.
func (e *Engine) initialSync(ctx context.Context, p *compose.Project, r watch.Rule) error {
	changes, err := watch.InitialChanges(r)
	if err != nil {
		return err
	}
	start := time.Now()
	err = e.syncChanges(ctx, p, r, changes, &sync.Map{})
	e.report(WatchReport{Service: r.Service, Action: "initial sync", Files: len(changes), Took: time.Since(start), Err: err})
	return err
}
