package engine

import (
	"bytes"
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
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/spec"
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
	for _, queue := range batchJobs(rules, b.Changes) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range queue {
				files, deleted := 0, 0
				for _, c := range j.changes {
					if c.Deleted {
						deleted++
					} else if !c.Dir {
						files++
					}
				}
				err := e.runRule(ctx, p, j.r, j.changes, warned)
				e.report(WatchReport{Service: j.r.Service, Action: string(j.r.Trigger.Action), Files: files + deleted, Deleted: deleted, Took: time.Since(b.Started), Err: err})
			}
		}()
	}
	wg.Wait()
}

// watchJob is one rule's action on the changes of a batch it covers.
type watchJob struct {
	r       watch.Rule
	changes []watch.Change
}

// batchJobs gives each changed path to each service's first rule that
// covers it, and returns one queue per service (in the order services
// first appear), its jobs ordered by how much they disturb the
// containers: sync, sync+exec, sync+restart, restart, rebuild; rules of
// one kind in file order.
func batchJobs(rules []watch.Rule, changes []watch.Change) [][]*watchJob {
	var services []string
	queues := map[string][]*watchJob{}
	byRule := map[int]*watchJob{}
	for _, c := range changes {
		taken := map[string]bool{}
		for i, r := range rules {
			if taken[r.Service] || !r.Covers(c.Path, c.Dir) {
				continue
			}
			taken[r.Service] = true
			j := byRule[i]
			if j == nil {
				j = &watchJob{r: r}
				byRule[i] = j
				if queues[r.Service] == nil {
					services = append(services, r.Service)
				}
				queues[r.Service] = append(queues[r.Service], j)
			}
			j.changes = append(j.changes, c)
		}
	}
	out := make([][]*watchJob, 0, len(services))
	for _, s := range services {
		q := queues[s]
		slices.SortStableFunc(q, func(a, b *watchJob) int {
			return disturbance(a.r.Trigger.Action) - disturbance(b.r.Trigger.Action)
		})
		out = append(out, q)
	}
	return out
}

// disturbance ranks watch actions by what they do to running containers.
func disturbance(a types.WatchAction) int {
	switch a {
	case types.WatchActionSync:
		return 0
	case types.WatchActionSyncExec:
		return 1
	case types.WatchActionSyncRestart:
		return 2
	case types.WatchActionRestart:
		return 3
	}
	return 4 // rebuild
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
		return e.execHook(ctx, p, r.Service, t.Exec)
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
	cs, err := e.list(ctx, p.Name, listOptions{skipOneOffs: true, services: []string{r.Service}})
	if err != nil {
		return err
	}
	var running []Container
	for _, c := range cs {
		if c.State == "running" {
			running = append(running, c)
		}
	}
	if len(running) == 0 {
		return fmt.Errorf("service %q has no running container to sync into", r.Service)
	}
	sy, err := watch.PackSync(r, changes)
	if err != nil {
		return err
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if sy.Files > 0 {
				err = ctr.CopyTo(ctx, c.Host.Client, c.ID, "/", bytes.NewReader(sy.Tar))
			}
			if err == nil && len(sy.Deletes) > 0 {
				err = e.removeIn(ctx, c, sy.Deletes, warned)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("sync into %s: %w", c.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removeIn deletes paths in a container with its rm, as compose does; an
// image without rm gets one clear warning.
func (e *Engine) removeIn(ctx context.Context, c Container, paths []string, warned *sync.Map) error {
	code, err := ctr.Exec(ctx, c.Host.Client, c.ID, ctr.ExecRequest{Cmd: append([]string{"rm", "-rf"}, paths...)})
	if err != nil || code == 126 || code == 127 {
		if _, seen := warned.LoadOrStore(c.Service, true); !seen {
			e.warn("service %q: cannot delete synced files: the image has no rm (%v); deleted files stay in the container until it is recreated", c.Service, errOrCode(err, code))
		}
		return nil
	}
	if code != 0 {
		return fmt.Errorf("rm in %s exited %d", c.Name, code)
	}
	return nil
}

func errOrCode(err error, code int) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exit %d", code)
}

// execHook runs a sync+exec rule's command in every running replica.
func (e *Engine) execHook(ctx context.Context, p *compose.Project, service string, h types.ServiceHook) error {
	cs, err := e.list(ctx, p.Name, listOptions{skipOneOffs: true, services: []string{service}})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if c.State != "running" {
			continue
		}
		var out bytes.Buffer
		code, err := ctr.Exec(ctx, c.Host.Client, c.ID, ctr.ExecRequest{
			Cmd: h.Command, User: h.User, Privileged: h.Privileged, Env: spec.Env(h.Environment),
			Streams: Streams{Out: &out, Err: &out},
		})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("exec in %s: %w", c.Name, err))
		case code != 0:
			errs = append(errs, fmt.Errorf("exec %v in %s exited %d: %s", []string(h.Command), c.Name, code, strings.TrimSpace(out.String())))
		}
	}
	return errors.Join(errs...)
}

// initialSync copies every file under the rule's path that is not ignored.
func (e *Engine) initialSync(ctx context.Context, p *compose.Project, r watch.Rule) error {
	var changes []watch.Change
	err := filepath.WalkDir(r.Trigger.Path, func(pth string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if pth != r.Trigger.Path && r.Matcher.Ignored(pth, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			changes = append(changes, watch.Change{Path: pth})
		}
		return nil
	})
	if err != nil {
		return err
	}
	start := time.Now()
	err = e.syncChanges(ctx, p, r, changes, &sync.Map{})
	e.report(WatchReport{Service: r.Service, Action: "initial sync", Files: len(changes), Took: time.Since(start), Err: err})
	return err
}
