package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
	"github.com/devorch/devorch/volumes"
)

// UpOptions are `devorch up`'s choices.
type UpOptions struct {
	Services      []string
	NoDeps        bool
	Images        ImageOptions
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	Scale         map[string]int
	// Timeout is the stop timeout for containers being replaced; nil uses
	// each service's stop_grace_period.
	Timeout *time.Duration
	// Wait waits for every service to be running or healthy.
	Wait        bool
	WaitTimeout time.Duration
	// LockTimeout bounds the wait for another devorch on the same project.
	LockTimeout time.Duration
	DryRun      bool
	// NoStart creates containers without starting them (`devorch create`).
	NoStart bool
	// OnStart is called for every container this run started, and for
	// every container it kept running (fresh=false), so an attached run can
	// follow their logs.
	OnStart func(c Container, fresh bool)
}

// UpResult says what Up did.
type UpResult struct {
	Plan       *Plan
	Containers []Container
}

// Up converges the project: it validates everything it can first, makes
// images present, creates networks and volumes, then creates, recreates and
// starts containers in dependency order, touching nothing that is already
// as the model wants it.
func (e *Engine) Up(ctx context.Context, p *compose.Project, o UpOptions) (*UpResult, error) {
	if err := compose.CheckServices(p.Project, o.Services); err != nil {
		return nil, err
	}
	// The CLI validates before it calls Up; a model reloaded by the TUI or
	// hot reload comes here directly.
	if err := compose.Validate(p); err != nil {
		return nil, err
	}
	for name, n := range o.Scale {
		if _, ok := p.Services[name]; !ok {
			return nil, fmt.Errorf("--scale: no such service: %q", name)
		}
		if n < 0 {
			return nil, fmt.Errorf("--scale %s=%d: replicas cannot be negative", name, n)
		}
	}
	set := o.Services
	if len(set) == 0 {
		set = p.ServiceNames()
	} else if !o.NoDeps {
		set = compose.WithDependencies(p.Project, set)
	}
	sort.Strings(set)
	for _, w := range p.Warnings {
		e.warn("%s", w)
	}
	if !o.DryRun {
		unlock, err := e.Lock(ctx, p.Name, o.LockTimeout)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	views := e.probeHosts(ctx)
	var down []string
	for _, h := range e.Pool.Hosts {
		if v := views[h.Name]; !v.reachable {
			down = append(down, h.Name)
			if e.Pool.Single() {
				return nil, v.err
			}
			e.warn("host %q is unreachable (%v): its services move to the other hosts; nothing on it is touched", h.Name, v.err)
		}
	}
	if len(down) == len(e.Pool.Hosts) {
		return nil, fmt.Errorf("no host is reachable: %s", strings.Join(down, ", "))
	}
	if !o.DryRun {
		defer e.watchHosts(ctx, views)()
	}
	world, err := e.observe(ctx, p.Name, views)
	if err != nil {
		return nil, err
	}
	pl, err := e.place(ctx, p, set, o.Scale, world, views, o.DryRun)
	if err != nil {
		return nil, err
	}
	var couldNotMove []string
	if len(pl.failed) > 0 {
		keep := set[:0:0]
		for _, n := range set {
			if _, bad := pl.failed[n]; bad {
				couldNotMove = append(couldNotMove, n)
				continue
			}
			keep = append(keep, n)
		}
		set = keep
	}
	placement := func(service string, replica int) string { return pl.host(service, replica) }
	var lk links
	if !e.Pool.Single() {
		lk, err = e.crossHostLinks(p, set, func(service string) []string {
			var hs []string
			if _, ok := p.Services[service]; ok && containsStr(set, service) {
				for r := 1; r <= desiredScale(p.Services[service], o.Scale); r++ {
					if h := placement(service, r); h != "" && !contains(hs, h) {
						hs = append(hs, h)
					}
				}
				return hs
			}
			for _, c := range world.project {
				if c.Service == service && c.Running() && !c.OneOff && !contains(hs, c.HostName()) {
					hs = append(hs, c.HostName())
				}
			}
			return hs
		}, func(service, host string) int {
			if _, ok := p.Services[service]; ok && containsStr(set, service) {
				for r := 1; r <= desiredScale(p.Services[service], o.Scale); r++ {
					if placement(service, r) == host {
						return r
					}
				}
				return 0
			}
			lowest := 0
			for _, c := range world.project {
				if c.Service == service && c.Running() && !c.OneOff && c.HostName() == host && (lowest == 0 || c.Replica < lowest) {
					lowest = c.Replica
				}
			}
			return lowest
		})
		if err != nil {
			return nil, err
		}
	}
	// Which hosts need which images: where replicas are or will be.
	need := map[string][]*hosts.Host{}
	for _, name := range set {
		s := p.Services[name]
		n := desiredScale(s, o.Scale)
		seen := map[string]bool{}
		for r := 1; r <= n; r++ {
			h := placement(name, r)
			if h != "" && !seen[h] {
				seen[h] = true
				need[name] = append(need[name], e.Pool.Get(h))
			}
		}
	}
	force := map[string]bool{}
	if o.ForceRecreate {
		named := o.Services
		if len(named) == 0 {
			named = set
		}
		for _, n := range named {
			force[n] = true
		}
	}
	planFor := func(images map[string]map[string]string) (*Plan, error) {
		return makePlan(planInput{
			project: p, services: set, existing: world.serviceContainers(), images: images,
			scale: o.Scale, force: force, noRecreate: o.NoRecreate, place: placement,
			linkSig: func(service, host string, replica int) string { return lk.get(service, host, replica).signature() },
			why: func(service string, replica int) string {
				return pl.why[schedule.ReplicaKey{Service: service, Replica: replica}]
			},
		})
	}
	// Validate what does not depend on images before building or pulling.
	plan0, err := planFor(nil)
	if err != nil {
		return nil, err
	}
	if err := e.validate(ctx, p, plan0, world); err != nil {
		return nil, err
	}
	if err := e.checkEngines(ctx, p, plan0, views); err != nil {
		return nil, err
	}
	var images map[string]map[string]string
	if o.DryRun {
		images = map[string]map[string]string{}
	} else {
		images, err = e.ensureImages(ctx, p, need, o.Images)
		if err != nil {
			return nil, err
		}
		if err := e.checkHealthGates(ctx, p, set, images); err != nil {
			return nil, err
		}
	}
	plan, err := planFor(images)
	if err != nil {
		return nil, err
	}
	if err := e.validate(ctx, p, plan, world); err != nil {
		return nil, err
	}
	if err := e.checkEngines(ctx, p, plan, views); err != nil {
		return nil, err
	}
	plan.Placement = pl
	if o.DryRun {
		return &UpResult{Plan: plan}, nil
	}
	res := &UpResult{Plan: plan}
	if e.hooks.planned != nil {
		e.hooks.planned(plan)
	}
	// From here on resources are created: a refused run is rolled back
	// (rollback.go).
	was, err := e.snapshot(ctx, p.Name, world, views)
	if err != nil {
		return res, err
	}
	led := &ledger{}
	ctx = withLedger(ctx, led)
	nets, vols, err := e.ensureNetworksVolumes(ctx, p, set, plan)
	if err != nil {
		return res, e.settle(ctx, p, was, led, refusal(err))
	}
	cs, err := e.converge(ctx, p, set, plan, images, nets, vols, lk, o)
	res.Containers = cs
	if err := e.settle(ctx, p, was, led, err); err != nil {
		return res, err
	}
	if len(plan.Orphans) > 0 {
		if o.RemoveOrphans {
			if err := e.removeContainers(ctx, plan.Orphans, o.Timeout); err != nil {
				return res, err
			}
		} else {
			var names []string
			for _, c := range plan.Orphans {
				names = append(names, c.Name)
			}
			e.warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))
		}
	}
	if o.Wait && !o.NoStart {
		if err := e.waitServices(ctx, p, set, res.Containers, o.WaitTimeout); err != nil {
			return res, err
		}
	}
	if len(couldNotMove) > 0 {
		var lines []string
		for _, n := range couldNotMove {
			lines = append(lines, fmt.Sprintf("service %q could not move off unreachable host(s) %s: %s", n, strings.Join(down, ", "), firstLine(pl.failed[n])))
		}
		return res, errors.New(strings.Join(lines, "\n"))
	}
	return res, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " " + strings.Join(strings.Fields(s[i:]), " ")
	}
	return s
}

// world is what Docker has, read once per run.
type world struct {
	project []Container                 // the project's containers, all hosts
	all     map[string][]Container      // every container per host (for name and port clashes)
	volumes map[string][]*volume.Volume // the project's volumes per host
}

func (w *world) serviceContainers() []Container {
	var out []Container
	for _, c := range w.project {
		if !c.OneOff {
			out = append(out, c)
		}
	}
	return out
}

func (e *Engine) pingAll(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range e.Pool.Hosts {
		g.Go(func() error { return h.Ping(gctx) })
	}
	return g.Wait()
}

// observe lists every container on every host once: the project's are
// picked out by label, the rest are kept for clash checks.
func (e *Engine) observe(ctx context.Context, project string, views map[string]*hostView) (*world, error) {
	w := &world{all: map[string][]Container{}}
	var reachable []*hosts.Host
	for _, h := range e.Pool.Hosts {
		if v := views[h.Name]; v == nil || v.reachable {
			reachable = append(reachable, h)
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range reachable {
		g.Go(func() error {
			list, err := h.Client.ContainerList(gctx, container.ListOptions{All: true})
			if err != nil {
				return fmt.Errorf("list containers on host %q (%s): %w", h.Name, h.Endpoint, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range list {
				c := fromSummary(h, s)
				w.all[h.Name] = append(w.all[h.Name], c)
				if s.Labels[labelProject] == project {
					w.project = append(w.project, c)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sortContainers(w.project)
	vols, err := volumes.ListAll(ctx, volumeHosts(reachable), project)
	if err != nil {
		return nil, err
	}
	w.volumes = vols
	return w, nil
}

// ensureNetworksVolumes creates the networks and volumes the services use,
// on every host that runs one of them.
func (e *Engine) ensureNetworksVolumes(ctx context.Context, p *compose.Project, set []string, plan *Plan) (map[string]map[string]networkRef, map[string]map[string]string, error) {
	netsOn := map[string]map[string]bool{} // host → network keys
	volsOn := map[string]map[string]bool{}
	for _, st := range plan.Steps {
		if st.Action == ActRemove {
			continue
		}
		s := p.Services[st.Service]
		if netsOn[st.Host] == nil {
			netsOn[st.Host] = map[string]bool{}
			volsOn[st.Host] = map[string]bool{}
		}
		if s.NetworkMode == "" {
			for k := range s.Networks {
				netsOn[st.Host][k] = true
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				volsOn[st.Host][v.Source] = true
			}
		}
	}
	nets := map[string]map[string]networkRef{} // host → key → network
	vols := map[string]map[string]string{}
	subnets, err := e.allocateSubnets(ctx, p, netsOn)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, hostName := range sortedKeys(netsOn) {
		h := e.Pool.Get(hostName)
		nets[hostName] = map[string]networkRef{}
		vols[hostName] = map[string]string{}
		for _, key := range sortedKeys(netsOn[hostName]) {
			cfg, ok := p.Networks[key]
			if !ok {
				return nil, nil, fmt.Errorf("network %q is used but not declared", key)
			}
			g.Go(func() error {
				name := cfg.Name
				if name == "" {
					name = p.Name + "_" + key
				}
				// Uncancelled, as container creates: a create cut short
				// when a sibling fails may still happen in the daemon,
				// after the rollback has looked.
				res, err := e.ensureNetwork(uncancelled(gctx), h, netctl.Request{Project: p.Name, Key: key, Config: cfg, Host: hostName, Subnet: subnets[hostName][key]}, subnets)
				if err != nil {
					return err
				}
				if res.Warning != "" {
					e.warn("%s", res.Warning)
				}
				if res.Created {
					e.progress(ResNetwork, res.Name, hostName, "Created")
				}
				mu.Lock()
				nets[hostName][key] = networkRef{name: res.Name, id: res.ID}
				mu.Unlock()
				return nil
			})
		}
		for _, key := range sortedKeys(volsOn[hostName]) {
			cfg, ok := p.Volumes[key]
			if !ok {
				return nil, nil, fmt.Errorf("volume %q is used but not declared", key)
			}
			g.Go(func() error {
				res, err := volumes.Ensure(uncancelled(gctx), h.Client, volumes.Request{Project: p.Name, Key: key, Config: cfg, Host: hostName})
				if err != nil {
					return err
				}
				if res.Warning != "" {
					e.warn("%s", res.Warning)
				}
				if res.Created {
					e.progress(ResVolume, res.Name, hostName, "Created")
				}
				mu.Lock()
				vols[hostName][key] = res.Name
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return nets, vols, nil
}

// svcRun tracks one service through convergence.
type svcRun struct {
	created    chan struct{} // closed when its containers exist (or it failed)
	started    chan struct{} // closed when its containers are started (or it failed)
	err        error
	containers []*Container
	changed    bool
}

// converge applies the plan: every service in its own goroutine, creating
// as soon as the services whose namespaces it joins exist, starting as soon
// as its dependencies meet their conditions. Docker calls are bounded by
// e.Parallel; waits are not.
func (e *Engine) converge(ctx context.Context, p *compose.Project, set []string, plan *Plan, images map[string]map[string]string, nets map[string]map[string]networkRef, vols map[string]map[string]string, lk links, o UpOptions) ([]Container, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limit := newSem(e.Parallel)
	hubs := map[string]*hub{}
	for _, h := range e.Pool.Hosts {
		hubs[h.Name] = watchHost(ctx, h, p.Name)
	}
	// Several dependents wait on one dependency: say it once.
	var announced sync.Map
	once := func(c *Container, status string, detail ...string) {
		if _, seen := announced.LoadOrStore(c.ID+"/"+status, true); !seen {
			e.containerProgress(c, status, strings.Join(detail, " "))
		}
	}
	runs := map[string]*svcRun{}
	for _, n := range set {
		runs[n] = &svcRun{created: make(chan struct{}), started: make(chan struct{})}
	}
	inSet := map[string]bool{}
	for _, n := range set {
		inSet[n] = true
	}
	var wg sync.WaitGroup
	for _, name := range set {
		r := runs[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			createdClosed := false
			defer func() {
				if !createdClosed {
					close(r.created)
				}
				close(r.started)
			}()
			fail := func(err error) {
				r.err = err
				if isRefusal(err) {
					cancel() // the run is rolled back: stop the rest of it
				}
			}
			s := p.Services[name]
			// 1. Wait for namespace targets to exist.
			targets := map[string]string{}
			for _, t := range compose.NamespaceTargets(s) {
				tr, ok := runs[t]
				if !ok {
					// Not converged in this run: use its existing replica 1.
					continue
				}
				select {
				case <-tr.created:
				case <-ctx.Done():
					fail(ctx.Err())
					return
				}
				if tr.err != nil {
					fail(fmt.Errorf("dependency %s failed: %w", t, tr.err))
					return
				}
				if len(tr.containers) > 0 {
					targets[t] = tr.containers[0].ID
				}
			}
			if err := e.fillTargets(ctx, p, s, targets); err != nil {
				fail(err)
				return
			}
			// 2. Create, recreate and remove.
			steps := plan.ServiceSteps(name)
			cs, changed, err := e.applyCreate(ctx, limit, p, s, steps, images[name], nets, vols, targets, lk, o)
			r.containers, r.changed = cs, changed
			if err != nil {
				fail(err)
				return
			}
			close(r.created)
			createdClosed = true
			if o.NoStart {
				return
			}
			// 3. Wait for dependencies' conditions.
			for _, d := range sortedKeys(s.DependsOn) {
				dep := s.DependsOn[d]
				dr, ok := runs[d]
				if !ok {
					continue
				}
				select {
				case <-dr.started:
				case <-ctx.Done():
					fail(ctx.Err())
					return
				}
				if dr.err != nil {
					if !dep.Required {
						e.warn("service %q: optional dependency %q failed to start: %v", name, d, dr.err)
						continue
					}
					fail(fmt.Errorf("dependency failed to start: %w", dr.err))
					return
				}
				cond := condStarted
				switch dep.Condition {
				case types.ServiceConditionHealthy:
					cond = condHealthy
				case types.ServiceConditionCompletedSuccessfully:
					cond = condCompleted
				}
				if cond == condStarted {
					continue
				}
				for _, dc := range dr.containers {
					// A kept container already listed healthy (or done) needs
					// no further look.
					if (cond == condHealthy && dc.Health == "healthy" && dc.State == "running") ||
						(cond == condCompleted && dc.State == "exited" && dc.ExitCode == 0) {
						continue
					}
					once(dc, "Waiting")
					err := hubs[dc.HostName()].waitFor(ctx, dc.ID, dc.Name, cond)
					if err != nil {
						once(dc, "Error", err.Error())
						if !dep.Required {
							e.warn("service %q: optional dependency %q: %v", name, d, err)
							continue
						}
						fail(fmt.Errorf("dependency failed to start: %w", err))
						return
					}
					if cond == condHealthy {
						once(dc, "Healthy")
					} else {
						once(dc, "Exited", "0")
					}
				}
			}
			// 4. Start.
			again := func(ctx context.Context, st Step) (*Container, error) {
				return e.createGone(ctx, limit, p, s, st, images[name], nets, vols, targets, lk)
			}
			if err := e.applyStart(ctx, limit, steps, r.containers, again, o); err != nil {
				fail(err)
				return
			}
		}()
	}
	wg.Wait()
	var out []Container
	var errs []error
	for _, name := range set {
		r := runs[name]
		for _, c := range r.containers {
			out = append(out, *c)
		}
		if r.err != nil && !isDependencyErr(r.err) {
			errs = append(errs, r.err)
		}
	}
	if len(errs) == 0 {
		for _, name := range set {
			if runs[name].err != nil {
				errs = append(errs, runs[name].err)
				break
			}
		}
	}
	sortContainers(out)
	return out, convergeErrors(parent, errs)
}

func isDependencyErr(err error) bool {
	return strings.HasPrefix(err.Error(), "dependency failed to start") || strings.HasPrefix(err.Error(), "dependency ")
}

// fillTargets resolves service:x references to services not converged in
// this run (for example with --no-deps) to their existing replica 1.
func (e *Engine) fillTargets(ctx context.Context, p *compose.Project, s types.ServiceConfig, targets map[string]string) error {
	for _, t := range compose.NamespaceTargets(s) {
		if _, ok := targets[t]; ok {
			continue
		}
		cs, err := e.list(ctx, p.Name, listOptions{all: true, oneOff: &no, services: []string{t}})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Replica == 1 {
				targets[t] = c.ID
			}
		}
		if _, ok := targets[t]; !ok {
			return fmt.Errorf("service %q needs a container of service %q, which has none; run up without --no-deps", s.Name, t)
		}
	}
	return nil
}

// applyCreate creates, recreates and removes a service's replicas. It
// returns the service's containers after the change.
func (e *Engine) applyCreate(ctx context.Context, limit sem, p *compose.Project, s types.ServiceConfig, steps []Step, images map[string]string, nets map[string]map[string]networkRef, vols map[string]map[string]string, targets map[string]string, lk links, o UpOptions) ([]*Container, bool, error) {
	var mu sync.Mutex
	var out []*Container
	changed := false
	// Removals first: a duplicate left by an interrupted recreate must be
	// gone before the kept container takes its name.
	var removals []Container
	for _, st := range steps {
		if st.Action == ActRemove {
			removals = append(removals, *st.Existing)
		}
	}
	if len(removals) > 0 {
		if err := e.removeContainers(ctx, removals, o.Timeout); err != nil {
			return nil, false, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range steps {
		st := steps[i]
		if st.Action == ActRemove {
			continue
		}
		g.Go(func() error {
			var c *Container
			var err error
			switch st.Action {
			case ActKeep, ActStart, ActRestart:
				c = st.Existing
				if st.Rename {
					if err := limit.acquire(gctx); err != nil {
						return err
					}
					err = c.Host.Client.ContainerRename(uncancelled(gctx), c.ID, st.Name)
					limit.release()
					switch {
					case errdefs.IsNotFound(err):
						if c, err = e.createGone(gctx, limit, p, s, st, images, nets, vols, targets, lk); err != nil {
							return err
						}
						mu.Lock()
						changed = true
						mu.Unlock()
					case err != nil:
						return fmt.Errorf("rename container %s to %s: %w", c.Name, st.Name, err)
					default:
						c.Name = st.Name
					}
				}
			case ActCreate:
				c, err = e.createReplica(gctx, limit, p, s, st, images, nets, vols, targets, lk, st.Name)
				if err != nil {
					return refusal(err)
				}
			case ActRecreate:
				c, err = e.recreateReplica(gctx, limit, p, s, st, images, nets, vols, targets, lk, o.Timeout)
				if err != nil {
					return err
				}
			}
			mu.Lock()
			out = append(out, c)
			if st.Action == ActCreate || st.Action == ActRecreate {
				changed = true
			}
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out, changed, err
}

func (e *Engine) createReplica(ctx context.Context, limit sem, p *compose.Project, s types.ServiceConfig, st Step, images map[string]string, nets map[string]map[string]networkRef, vols map[string]map[string]string, targets map[string]string, lk links, name string) (*Container, error) {
	h, err := e.hostByName(st.Host)
	if err != nil {
		return nil, err
	}
	c := &Container{Host: h, Name: st.Name, Service: s.Name, Replica: st.Replica, Hash: p.Hashes[s.Name]}
	e.containerProgress(c, "Creating", "")
	link := lk.get(s.Name, h.Name, st.Replica)
	spec, err := buildSpec(specInput{
		project: p, svc: s, replica: st.Replica, name: st.Name, host: h.Name,
		image: ImageRef(p, s), imageID: images[h.Name],
		networks: nets[h.Name], volumes: vols[h.Name], targets: targets,
		extraHosts: link.extraHosts, publish: link.publish,
	})
	if err != nil {
		return nil, err
	}
	if sig := link.signature(); sig != "" {
		spec.config.Labels[labelLinks] = sig
	}
	if st.Why != "" {
		spec.config.Labels[labelPlacement] = st.Why
	}
	if cpu, mem := reservations(s); cpu > 0 || mem > 0 {
		spec.config.Labels[labelReserveCPUs] = strconv.FormatInt(cpu, 10)
		spec.config.Labels[labelReserveMem] = strconv.FormatInt(mem, 10)
	}
	files, err := inlineFiles(p, s)
	if err != nil {
		return nil, err
	}
	id, err := e.createContainer(ctx, limit, h, spec, name, s.Platform)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := copyInlineFiles(uncancelled(ctx), h, id, files); err != nil {
		return nil, fmt.Errorf("service %q: copy secrets and configs into %s: %w", s.Name, name, err)
	}
	c.ID, c.State, c.Labels, c.ImageID = id, "created", spec.config.Labels, images[h.Name]
	e.containerProgress(c, "Created", "")
	return c, nil
}

// createContainer creates the container, connects its further networks and
// copies in content-based secrets and configs.
func (e *Engine) createContainer(ctx context.Context, limit sem, h *hosts.Host, spec *containerSpec, name, platform string) (string, error) {
	if err := limit.acquire(ctx); err != nil {
		return "", err
	}
	defer limit.release()
	resp, err := h.Client.ContainerCreate(uncancelled(ctx), spec.config, spec.host, spec.networking, nil, name)
	if err != nil && errdefs.IsConflict(err) && removeStaleCreate(uncancelled(ctx), h, name, spec.config.Labels) {
		resp, err = h.Client.ContainerCreate(uncancelled(ctx), spec.config, spec.host, spec.networking, nil, name)
	}
	if err != nil {
		if errdefs.IsConflict(err) {
			return "", fmt.Errorf("create container %s on host %q: the name is already in use (remove the other container, or use another project name with -p): %w", name, h.Name, err)
		}
		return "", fmt.Errorf("create container %s on host %q: %w", name, h.Name, err)
	}
	for _, ln := range spec.later {
		if err := h.Client.NetworkConnect(uncancelled(ctx), ln.id, resp.ID, ln.settings); err != nil {
			return resp.ID, fmt.Errorf("connect container %s to network %q on host %q: %w", name, ln.key, h.Name, err)
		}
	}
	return resp.ID, nil
}

// removeStaleCreate removes the container holding name when it is the same
// replica of the same project, never started: what a run killed while its
// create request was in flight leaves behind after this run listed the
// project. Anything else keeps the name and the conflict is reported.
func removeStaleCreate(ctx context.Context, h *hosts.Host, name string, want map[string]string) bool {
	// While that create is still running the name is taken but no
	// container answers to it yet: wait for it (bounded).
	var insp container.InspectResponse
	var err error
	for try := 0; ; try++ {
		insp, err = h.Client.ContainerInspect(ctx, name)
		if err == nil || !errdefs.IsNotFound(err) || try == 50 {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil || insp.State == nil || insp.State.Status != "created" || insp.Config == nil {
		return false
	}
	for _, k := range []string{labels.Project, labels.Service, labels.Replica, labels.OneOff} {
		if insp.Config.Labels[k] != want[k] {
			return false
		}
	}
	return h.Client.ContainerRemove(ctx, insp.ID, container.RemoveOptions{Force: true}) == nil
}

// recreateReplica replaces a container as compose does: create the new one
// under a temporary name, stop the old one, rename the new one. The old
// one is set aside (park) rather than removed until the run's changes
// stand, so that a run Docker refuses puts it back. An interrupted
// recreate leaves at most two containers for the replica; the next run
// keeps the up-to-date one.
func (e *Engine) recreateReplica(ctx context.Context, limit sem, p *compose.Project, s types.ServiceConfig, st Step, images map[string]string, nets map[string]map[string]networkRef, vols map[string]map[string]string, targets map[string]string, lk links, timeout *time.Duration) (*Container, error) {
	old := st.Existing
	e.containerProgress(old, "Recreate", st.Reason)
	tmp := fmt.Sprintf("%s_%s", shortID(old.ID), st.Name)
	c, err := e.createReplica(ctx, limit, p, s, Step{Service: st.Service, Replica: st.Replica, Host: st.Host, Name: st.Name, Action: ActCreate, Why: st.Why}, images, nets, vols, targets, lk, tmp)
	if err != nil {
		return nil, refusal(err)
	}
	if err := e.park(ctx, limit, old, timeout); err != nil {
		return nil, err
	}
	if err := limit.acquire(ctx); err != nil {
		return nil, err
	}
	err = c.Host.Client.ContainerRename(uncancelled(ctx), c.ID, st.Name)
	limit.release()
	if err != nil {
		return nil, fmt.Errorf("rename container %s to %s: %w", tmp, st.Name, err)
	}
	e.containerProgress(c, "Recreated", "")
	return c, nil
}

// createGone creates again the replica of a step whose existing container
// went away after the run listed it (removed by hand, or by the daemon when
// the create of a devorch killed meanwhile failed): the run converges to
// the replica, as a new plan would, instead of failing on "No such
// container".
func (e *Engine) createGone(ctx context.Context, limit sem, p *compose.Project, s types.ServiceConfig, st Step, images map[string]string, nets map[string]map[string]networkRef, vols map[string]map[string]string, targets map[string]string, lk links) (*Container, error) {
	if st.Existing != nil {
		e.warn("container %s on host %q went away after this run planned to %s it: creating it again", st.Existing.Name, st.Host, st.Action)
	}
	st.Action, st.Existing, st.Rename = ActCreate, nil, false
	c, err := e.createReplica(ctx, limit, p, s, st, images, nets, vols, targets, lk, st.Name)
	if err != nil {
		return nil, refusal(err)
	}
	return c, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// applyStart starts what the plan says must run. A container gone since
// the plan is created again (again) and started.
func (e *Engine) applyStart(ctx context.Context, limit sem, steps []Step, cs []*Container, again func(context.Context, Step) (*Container, error), o UpOptions) error {
	byReplica := map[int]int{} // replica → index in cs
	for i, c := range cs {
		byReplica[c.Replica] = i
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, st := range steps {
		i, ok := byReplica[st.Replica]
		if !ok || st.Action == ActRemove {
			continue
		}
		c := cs[i]
		g.Go(func() error {
			act := st.Action
			if st.Existing != nil && c.ID != st.Existing.ID && (act == ActKeep || act == ActRestart) {
				act = ActStart // applyCreate created it again: it was gone
			}
			if act == ActRestart {
				e.containerProgress(c, "Restarting", st.Reason)
				leave, err := e.leaving(gctx, c)
				if err != nil {
					return err
				}
				if err := limit.acquire(gctx); err != nil {
					leave()
					return err
				}
				err = c.Host.Client.ContainerRestart(uncancelled(gctx), c.ID, container.StopOptions{Timeout: seconds(o.Timeout)})
				limit.release()
				leave()
				if !errdefs.IsNotFound(err) {
					if err != nil {
						return fmt.Errorf("restart container %s: %w", c.Name, err)
					}
					c.State, c.Health = "running", ""
					e.containerProgress(c, "Restarted", "")
					return nil
				}
				// Gone since the plan: created again and started below.
			}
			if act == ActKeep {
				e.containerProgress(c, "Running", "")
				if o.OnStart != nil {
					o.OnStart(*c, false)
				}
				return nil
			}
			e.containerProgress(c, "Starting", "")
			if err := limit.acquire(gctx); err != nil {
				return err
			}
			err := c.Host.Client.ContainerStart(uncancelled(gctx), c.ID, container.StartOptions{})
			limit.release()
			if errdefs.IsNotFound(err) {
				nc, cerr := again(gctx, Step{Service: st.Service, Replica: st.Replica, Host: st.Host, Name: st.Name, Action: act, Why: st.Why, Existing: c})
				if cerr != nil {
					return cerr
				}
				cs[i], c = nc, nc
				if err := limit.acquire(gctx); err != nil {
					return err
				}
				err = c.Host.Client.ContainerStart(uncancelled(gctx), c.ID, container.StartOptions{})
				limit.release()
			}
			if err != nil {
				e.containerProgress(c, "Error", err.Error())
				return fmt.Errorf("start container %s on host %q: %w", c.Name, c.HostName(), refusal(explainStartError(err)))
			}
			c.State, c.Health = "running", ""
			e.containerProgress(c, "Started", "")
			if o.OnStart != nil {
				// After the start: logs asked for before it, of a
				// created container, come back empty. From the
				// container's beginning, so no line is lost.
				o.OnStart(*c, true)
			}
			return nil
		})
	}
	return g.Wait()
}

// explainStartError adds what a developer should do to Docker's terse
// errors for the common cases.
func explainStartError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "port is already allocated"), strings.Contains(msg, "address already in use"):
		return fmt.Errorf("%w (a published port is taken: stop what holds it or change ports:)", err)
	}
	return err
}

func seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(d.Seconds())
	return &s
}

// waitServices waits until every container of the services is running, or
// healthy when it has a healthcheck; one-shot services that others wait on
// with service_completed_successfully must have exited 0.
func (e *Engine) waitServices(ctx context.Context, p *compose.Project, set []string, cs []Container, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	completed := map[string]bool{}
	for _, s := range p.Services {
		for d, dep := range s.DependsOn {
			if dep.Condition == types.ServiceConditionCompletedSuccessfully {
				completed[d] = true
			}
		}
	}
	hubs := map[string]*hub{}
	for _, h := range e.Pool.Hosts {
		hubs[h.Name] = watchHost(ctx, h, p.Name)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error {
			cond := condRunningOrHealthy
			if completed[c.Service] {
				cond = condCompleted
			}
			e.containerProgress(&c, "Waiting", "")
			if err := hubs[c.HostName()].waitFor(gctx, c.ID, c.Name, cond); err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
					return fmt.Errorf("container %s did not become ready within %s", c.Name, timeout)
				}
				e.containerProgress(&c, "Error", err.Error())
				return err
			}
			status := "Healthy"
			if cond == condCompleted {
				status = "Exited"
			}
			e.containerProgress(&c, status, "")
			return nil
		})
	}
	return g.Wait()
}

func containsStr(list []string, s string) bool { return contains(list, s) }
