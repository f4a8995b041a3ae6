package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/health"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/engine/spec"
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
	set, unlock, err := e.beginUp(ctx, p, o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Observe: which hosts answer, and what every one holds.
	views, down, err := e.observeHosts(ctx)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		defer e.watchHosts(ctx, views)()
	}
	world, err := e.observe(ctx, p.Name, views)
	if err != nil {
		return nil, err
	}
	// Place: what cannot move off an unreachable host leaves the run.
	pl, err := e.place(ctx, p, set, o.Scale, world, views, o.DryRun)
	if err != nil {
		return nil, err
	}
	set, couldNotMove := withoutFailed(set, pl.failed)
	// Plan, validate, make images present, plan and validate again.
	plan, images, lk, err := e.planUp(ctx, p, set, o, world, views, pl)
	if err != nil {
		return nil, err
	}
	res := &UpResult{Plan: plan}
	if o.DryRun {
		return res, nil
	}
	if e.hooks.planned != nil {
		e.hooks.planned(plan)
	}
	// Networks and volumes, then converge. From here on resources are
	// created: a refused run is rolled back (rollback.go).
	ctx, settle, err := e.armRollback(ctx, p, world, views)
	if err != nil {
		return res, err
	}
	if err := e.replaceBridges(ctx, plan); err != nil {
		return res, settle(refusal(err))
	}
	nets, vols, err := e.ensureNetworksVolumes(ctx, p, set, plan)
	if err != nil {
		return res, settle(refusal(err))
	}
	if err := e.probeEncrypted(ctx, p, plan); err != nil {
		return res, settle(refusal(err))
	}
	cs, err := e.converge(ctx, p, set, plan, images, nets, vols, lk, o)
	res.Containers = cs
	if err := settle(err); err != nil {
		return res, err
	}
	if err := e.handleOrphans(ctx, plan.Orphans, o); err != nil {
		return res, err
	}
	if o.Wait && !o.NoStart {
		if err := e.waitServices(ctx, p, set, res.Containers, o.WaitTimeout); err != nil {
			return res, err
		}
	}
	return res, couldNotMoveError(couldNotMove, down, pl.failed)
}

// beginUp checks the run's options, returns the services it converges,
// warns of what the model holds that devorch ignores, and takes the
// project's lock (a dry run takes none): unlock releases it.
func (e *Engine) beginUp(ctx context.Context, p *compose.Project, o UpOptions) (set []string, unlock func(), err error) {
	set, err = runSet(p, o)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range p.Warnings {
		e.warn("%s", w)
	}
	if o.DryRun {
		return set, func() {}, nil
	}
	unlock, err = e.Lock(ctx, p.Name, o.LockTimeout)
	if err != nil {
		return nil, nil, err
	}
	return set, unlock, nil
}

// runSet checks the run's options against the model and returns the
// services it converges, sorted: those named with what they depend on
// (unless NoDeps), or all.
func runSet(p *compose.Project, o UpOptions) ([]string, error) {
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
	return set, nil
}

// observeHosts probes every host and returns what the run knows of each
// and the names of those that do not answer. One host that does not
// answer, or all of them, ends the run; otherwise the others take its
// services.
func (e *Engine) observeHosts(ctx context.Context) (map[string]*hostView, []string, error) {
	views := e.probeHosts(ctx)
	var down []string
	for _, h := range e.Pool.Hosts {
		if v := views[h.Name]; !v.reachable {
			down = append(down, h.Name)
			if e.Pool.Single() {
				return nil, nil, v.err
			}
			e.warn("host %q is unreachable (%v): its services move to the other hosts; nothing on it is touched", h.Name, v.err)
		}
	}
	if len(down) == len(e.Pool.Hosts) {
		return nil, nil, fmt.Errorf("no host is reachable: %s", strings.Join(down, ", "))
	}
	return views, down, nil
}

// withoutFailed splits the run's services into those placed and those
// placement left out (failed: they could not move off an unreachable
// host).
func withoutFailed(set []string, failed map[string]string) (placed, left []string) {
	if len(failed) == 0 {
		return set, nil
	}
	placed = set[:0:0]
	for _, n := range set {
		if _, bad := failed[n]; bad {
			left = append(left, n)
			continue
		}
		placed = append(placed, n)
	}
	return placed, left
}

// couldNotMoveError reports the services placement left out, one line
// each, or nil when there are none.
func couldNotMoveError(services, down []string, failed map[string]string) error {
	if len(services) == 0 {
		return nil
	}
	var lines []string
	for _, n := range services {
		lines = append(lines, fmt.Sprintf("service %q could not move off unreachable host(s) %s: %s", n, strings.Join(down, ", "), firstLine(failed[n])))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// replicaHosts says where a service's replicas are: for a service of the
// run, where placement puts them; for any other, where its containers run.
type replicaHosts struct {
	p       *compose.Project
	set     []string
	scale   map[string]int
	place   func(service string, replica int) string
	project []Container // the project's containers, all hosts
}

func (w replicaHosts) inRun(service string) bool {
	_, ok := w.p.Services[service]
	return ok && slices.Contains(w.set, service)
}

// hosts returns the hosts a service's replicas are on, each once, in
// replica order for a service of the run.
func (w replicaHosts) hosts(service string) []string {
	var hs []string
	if w.inRun(service) {
		for r := 1; r <= plan.DesiredScale(w.p.Services[service], w.scale); r++ {
			if h := w.place(service, r); h != "" && !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
		return hs
	}
	for _, c := range w.project {
		if c.Service == service && c.Running() && !c.OneOff && !slices.Contains(hs, c.HostName()) {
			hs = append(hs, c.HostName())
		}
	}
	return hs
}

// replicaOn returns the lowest replica of a service on a host, 0 if none.
func (w replicaHosts) replicaOn(service, host string) int {
	if w.inRun(service) {
		for r := 1; r <= plan.DesiredScale(w.p.Services[service], w.scale); r++ {
			if w.place(service, r) == host {
				return r
			}
		}
		return 0
	}
	lowest := 0
	for _, c := range w.project {
		if c.Service == service && c.Running() && !c.OneOff && c.HostName() == host && (lowest == 0 || c.Replica < lowest) {
			lowest = c.Replica
		}
	}
	return lowest
}

// links returns the cross-host links the run's containers need: none with
// one host.
func (e *Engine) links(p *compose.Project, set []string, where replicaHosts, overlays map[string]string) (netctl.Links, error) {
	if e.Pool.Single() {
		return nil, nil
	}
	pool := e.netPool(e.Pool.Hosts)
	pool.Overlays = overlays
	return netctl.CrossHostLinks(pool, p.Services, set, where.hosts, where.replicaOn)
}

// imageHosts returns which hosts need which images: where replicas will
// run.
func (e *Engine) imageHosts(set []string, where replicaHosts) map[string][]*hosts.Host {
	need := map[string][]*hosts.Host{}
	for _, name := range set {
		for _, h := range where.hosts(name) {
			need[name] = append(need[name], e.Pool.Get(h))
		}
	}
	return need
}

// forced returns the services --force-recreate recreates: those named, or
// all of the run's.
func forced(o UpOptions, set []string) map[string]bool {
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
	return force
}

// planInput is what planning the run needs but the images' IDs.
func planInput(p *compose.Project, set []string, o UpOptions, w *world, pl *placement, lk netctl.Links) plan.Input {
	return plan.Input{
		Project: p, Services: set, Existing: w.serviceContainers(),
		Scale: o.Scale, Force: forced(o, set), NoRecreate: o.NoRecreate, Place: pl.host,
		LinkSig: func(service, host string, replica int) string { return lk.Get(service, host, replica).Signature() },
		Why: func(service string, replica int) string {
			return pl.why[schedule.ReplicaKey{Service: service, Replica: replica}]
		},
	}
}

// planUp plans the run, validates the plan before images are built or
// pulled, makes them present, and plans and validates again with their
// IDs. It returns the plan, the images (service → host → ID) and the
// cross-host links the plan's containers need.
func (e *Engine) planUp(ctx context.Context, p *compose.Project, set []string, o UpOptions, w *world, views map[string]*hostView, pl *placement) (*Plan, map[string]map[string]string, netctl.Links, error) {
	where := replicaHosts{p: p, set: set, scale: o.Scale, place: pl.host, project: w.project}
	nk, err := e.networkKinds(ctx, p, where, views)
	if err != nil {
		return nil, nil, nil, err
	}
	lk, err := e.links(p, set, where, nk.overlays)
	if err != nil {
		return nil, nil, nil, err
	}
	in := planInput(p, set, o, w, pl, lk)
	in.Replaced = nk.replaced
	if _, err := e.checkedPlan(ctx, p, in, w, views); err != nil {
		return nil, nil, nil, err
	}
	images, err := e.upImages(ctx, p, set, e.imageHosts(set, where), o)
	if err != nil {
		return nil, nil, nil, err
	}
	in.Images = images
	pn, err := e.checkedPlan(ctx, p, in, w, views)
	if err != nil {
		return nil, nil, nil, err
	}
	pn.Placement = pl.summary()
	for _, su := range pl.soft {
		pn.Soft = append(pn.Soft, su.String())
	}
	pn.Networks, pn.Overlays, pn.Replaced = nk.kinds, nk.overlays, nk.replacedOn
	return pn, images, lk, nil
}

// checkedPlan plans the run and checks the plan against what Docker has:
// names and ports free, engines able to run it.
func (e *Engine) checkedPlan(ctx context.Context, p *compose.Project, in plan.Input, w *world, views map[string]*hostView) (*Plan, error) {
	pn, err := plan.Make(in)
	if err != nil {
		return nil, err
	}
	if err := e.validate(ctx, p, pn, w); err != nil {
		return nil, err
	}
	if err := e.checkEngines(ctx, p, pn, views); err != nil {
		return nil, err
	}
	return pn, nil
}

// upImages makes every service's image present on the hosts that need it
// and returns their IDs (service → host → ID); a dry run touches none.
func (e *Engine) upImages(ctx context.Context, p *compose.Project, set []string, need map[string][]*hosts.Host, o UpOptions) (map[string]map[string]string, error) {
	if o.DryRun {
		return map[string]map[string]string{}, nil
	}
	images, err := e.ensureImages(ctx, p, need, o.Images)
	if err != nil {
		return nil, err
	}
	if err := e.checkHealthGates(ctx, p, set, images); err != nil {
		return nil, err
	}
	return images, nil
}

// armRollback records what the project has before the run creates
// anything, and returns the run's context (carrying the ledger of the
// containers recreates set aside) and settle, which ends the run with its
// error: rolled back after a refusal, the set-aside containers removed
// otherwise.
func (e *Engine) armRollback(ctx context.Context, p *compose.Project, w *world, views map[string]*hostView) (context.Context, func(error) error, error) {
	was, err := e.snapshot(ctx, p.Name, w, views)
	if err != nil {
		return ctx, nil, err
	}
	led := &ledger{}
	ctx = withLedger(ctx, led)
	return ctx, func(err error) error { return e.settle(ctx, p, was, led, err) }, nil
}

// handleOrphans removes the containers of services no longer in the model with
// --remove-orphans, and names them otherwise.
func (e *Engine) handleOrphans(ctx context.Context, orphans []Container, o UpOptions) error {
	if len(orphans) == 0 {
		return nil
	}
	if o.RemoveOrphans {
		return e.removeContainers(ctx, orphans, o.Timeout)
	}
	var names []string
	for _, c := range orphans {
		names = append(names, c.Name)
	}
	e.warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))
	return nil
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
			list, err := ctr.ListAll(gctx, h.Client)
			if err != nil {
				return fmt.Errorf("list containers on host %q (%s): %w", h.Name, h.Endpoint, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range list {
				c := fromSummary(h, s)
				w.all[h.Name] = append(w.all[h.Name], c)
				if s.Labels[labels.Project] == project {
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
	preciseDuplicates(ctx, w.project)
	vols, err := volumes.ListAll(ctx, volumeHosts(reachable), project)
	if err != nil {
		return nil, err
	}
	w.volumes = vols
	return w, nil
}

// ensureNetworksVolumes creates the networks and volumes the services use,
// on every host that runs one of them.
func (e *Engine) ensureNetworksVolumes(ctx context.Context, p *compose.Project, set []string, plan *Plan) (map[string]map[string]netctl.Ref, map[string]map[string]string, error) {
	netsOn, volsOn := plan.Uses(p)
	pool := e.netPool(e.Pool.Hosts)
	pool.Overlays = plan.Overlays
	reqs, err := netctl.Requests(ctx, pool, p.Name, p.Networks, netsOn)
	if err != nil {
		return nil, nil, err
	}
	var nets map[string]map[string]netctl.Ref // host → key → network
	vols := map[string]map[string]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		nets, err = netctl.EnsureAll(gctx, pool, reqs)
		return err
	})
	for _, hostName := range slices.Sorted(maps.Keys(volsOn)) {
		h := e.Pool.Get(hostName)
		vols[hostName] = map[string]string{}
		for _, key := range slices.Sorted(maps.Keys(volsOn[hostName])) {
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

// svcRun is one service's part of a converge, written by its own steps.
type svcRun struct {
	err        error // the first error of its steps
	steps      []Step
	targets    map[string]string // namespace target service → container ID
	containers []*Container
	changed    bool
}

// createStep names the step of a converge that creates a service's
// containers; the step named by the service starts them. No service name
// holds a space.
func createStep(service string) string { return service + createSuffix }

const createSuffix = " (create)"

// convergeGraph returns the steps of a converge and what each waits for.
// A service's create waits for the creates of the services whose
// namespaces it joins; its start waits for its own create and for the
// starts of its dependencies. So a service is created as soon as it can
// be, while what it depends on is still starting.
func convergeGraph(p *compose.Project, set []string, noStart bool) compose.Graph {
	deps := compose.NewGraph(p.Project, set)
	g := compose.Graph{}
	for _, n := range set {
		create := map[string]bool{}
		for _, t := range compose.NamespaceTargets(p.Services[n]) {
			if _, ok := deps[t]; ok {
				create[createStep(t)] = true
			}
		}
		g[createStep(n)] = create
		if noStart {
			continue
		}
		// Optional, so that the start step fails with its create's error
		// as it is: that, not a step's, is what dependents are told.
		start := map[string]bool{createStep(n): false}
		for d, required := range deps[n] {
			start[d] = required
		}
		g[n] = start
	}
	return g
}

// convergeRun is what the steps of one converge share: every service's
// run, and what creating and starting replicas needs.
type convergeRun struct {
	p      *compose.Project
	runs   map[string]*svcRun
	limit  sem
	waits  *depWaits
	images map[string]map[string]string // service → host → image ID
	nets   map[string]map[string]netctl.Ref
	vols   map[string]map[string]string
	lk     netctl.Links
	o      UpOptions
}

// converge applies the plan by walking convergeGraph: every service is
// created as soon as the services whose namespaces it joins exist, and
// started as soon as its dependencies meet their conditions. Docker calls
// are bounded by e.Parallel; waits are not.
func (e *Engine) converge(ctx context.Context, p *compose.Project, set []string, plan *Plan, images map[string]map[string]string, nets map[string]map[string]netctl.Ref, vols map[string]map[string]string, lk netctl.Links, o UpOptions) ([]Container, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cr := &convergeRun{p: p, runs: map[string]*svcRun{}, limit: newSem(e.Parallel), waits: e.newDepWaits(ctx, p.Name),
		images: images, nets: nets, vols: vols, lk: lk, o: o}
	for _, n := range set {
		cr.runs[n] = &svcRun{steps: plan.ServiceSteps(n), targets: map[string]string{}}
	}
	// The walk is not bounded: starts wait for their dependencies'
	// conditions.
	err := compose.Walk(ctx, convergeGraph(p, set, o.NoStart), compose.Up, 0, func(ctx context.Context, step string, failed map[string]error) error {
		name, creating := strings.CutSuffix(step, createSuffix)
		var err error
		if creating {
			err = e.createService(ctx, cr, name)
		} else {
			err = e.startService(ctx, cr, name, failed)
		}
		if r := cr.runs[name]; err != nil && r.err == nil {
			r.err = err
		}
		if isRefusal(err) {
			cancel() // the run is rolled back: stop the rest of it
		}
		return err
	})
	var walked *compose.WalkError
	if err != nil && !errors.As(err, &walked) {
		return nil, err // a cycle, which loading the file refuses
	}
	out, errs := convergeOutcome(set, cr.runs, walked)
	return out, convergeErrors(parent, errs)
}

// createService is the create step of a service: its replicas are
// created, recreated and removed once the services whose namespaces it
// joins exist.
func (e *Engine) createService(ctx context.Context, cr *convergeRun, name string) error {
	r, s := cr.runs[name], cr.p.Services[name]
	runTargets(s, cr.runs, r.targets)
	// Targets not converged in this run: their existing replica 1.
	if err := e.fillTargets(ctx, cr.p, s, r.targets); err != nil {
		return err
	}
	cs, changed, err := e.applyCreate(ctx, cr.limit, cr.p, s, r.steps, cr.images[name], cr.nets, cr.vols, r.targets, cr.lk, cr.o)
	r.containers, r.changed = cs, changed
	return err
}

// runTargets resolves the service:x references of s to services converged
// in this run to their first replica.
func runTargets(s types.ServiceConfig, runs map[string]*svcRun, targets map[string]string) {
	for _, t := range compose.NamespaceTargets(s) {
		if tr, ok := runs[t]; ok && len(tr.containers) > 0 {
			targets[t] = tr.containers[0].ID
		}
	}
}

// startService is the start step of a service: once its dependencies meet
// their conditions, its replicas are started as the plan says (failed
// holds the optional dependencies that failed).
func (e *Engine) startService(ctx context.Context, cr *convergeRun, name string, failed map[string]error) error {
	r, s := cr.runs[name], cr.p.Services[name]
	if err := failed[createStep(name)]; err != nil {
		return err // not created
	}
	err := cr.waits.await(ctx, s, toldErrors(cr.runs, failed), func(d string) []*Container {
		if dr, ok := cr.runs[d]; ok {
			return dr.containers
		}
		return nil
	})
	if err != nil {
		return err
	}
	again := func(ctx context.Context, st Step) (*Container, error) {
		return e.createGone(ctx, replicaInput{limit: cr.limit, p: cr.p, s: s, images: cr.images[name], nets: cr.nets, vols: cr.vols, targets: r.targets, lk: cr.lk}, st)
	}
	return e.applyStart(ctx, cr.limit, r.steps, r.containers, again, cr.o)
}

// toldErrors is what a dependent is told each failed optional dependency
// failed with: its create's error before its start's, as it failed first.
func toldErrors(runs map[string]*svcRun, failed map[string]error) map[string]error {
	told := map[string]error{}
	for d, err := range failed {
		if dr, ok := runs[d]; ok && dr.err != nil {
			err = dr.err
		}
		told[d] = err
	}
	return told
}

// convergeOutcome collects the containers of a converge's services and
// what they failed with. A service the walk did not visit failed with why
// (a dependency failed, or the run was cut short). A dependency failure
// is not reported again by its dependents unless nothing else is.
func convergeOutcome(set []string, runs map[string]*svcRun, walked *compose.WalkError) ([]Container, []error) {
	var out []Container
	var errs []error
	for _, name := range set {
		r := runs[name]
		if r.err == nil && walked != nil {
			r.err = cmp.Or(walked.Failed[name], walked.Failed[createStep(name)])
		}
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
	return out, errs
}

func isDependencyErr(err error) bool {
	var de *compose.DependencyError
	return errors.As(err, &de)
}

// fillTargets resolves service:x references to services not converged in
// this run (for example with --no-deps) to their existing replica 1.
func (e *Engine) fillTargets(ctx context.Context, p *compose.Project, s types.ServiceConfig, targets map[string]string) error {
	for _, t := range compose.NamespaceTargets(s) {
		if _, ok := targets[t]; ok {
			continue
		}
		cs, err := e.list(ctx, p.Name, listOptions{all: true, skipOneOffs: true, services: []string{t}})
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
func (e *Engine) applyCreate(ctx context.Context, limit sem, p *compose.Project, s types.ServiceConfig, steps []Step, images map[string]string, nets map[string]map[string]netctl.Ref, vols map[string]map[string]string, targets map[string]string, lk netctl.Links, o UpOptions) ([]*Container, bool, error) {
	in := replicaInput{limit: limit, p: p, s: s, images: images, nets: nets, vols: vols, targets: targets, lk: lk}
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
			c, created, err := e.applyCreateStep(gctx, in, st, o)
			if err != nil {
				return err
			}
			mu.Lock()
			out = append(out, c)
			changed = changed || created
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out, changed, err
}

// applyCreateStep applies the create side of one step and returns the
// replica's container; created says whether it is a new one.
func (e *Engine) applyCreateStep(ctx context.Context, in replicaInput, st Step, o UpOptions) (*Container, bool, error) {
	switch st.Action {
	case ActKeep, ActStart, ActRestart:
		return e.keepReplica(ctx, in, st)
	case ActCreate:
		c, err := e.createReplica(ctx, in, st, st.Name)
		if err != nil {
			return nil, false, refusal(err)
		}
		return c, true, nil
	case ActRecreate:
		c, err := e.recreateReplica(ctx, in, st, o.Timeout)
		if err != nil {
			return nil, false, err
		}
		return c, true, nil
	}
	return nil, false, nil
}

// keepReplica keeps a step's existing container, renaming it when the
// plan says so (Rename). One gone since the plan is created again
// (created is then true).
func (e *Engine) keepReplica(ctx context.Context, in replicaInput, st Step) (c *Container, created bool, err error) {
	c = st.Existing
	if !st.Rename {
		return c, false, nil
	}
	if err := in.limit.acquire(ctx); err != nil {
		return nil, false, err
	}
	err = ctr.Rename(uncancelled(ctx), c.Host.Client, c.ID, st.Name)
	in.limit.release()
	switch {
	case errdefs.IsNotFound(err):
		if c, err = e.createGone(ctx, in, st); err != nil {
			return nil, false, err
		}
		return c, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("rename container %s to %s: %w", c.Name, st.Name, err)
	}
	c.Name = st.Name
	return c, false, nil
}

// replicaInput is what creating any replica of one service needs.
type replicaInput struct {
	limit sem
	p     *compose.Project
	s     types.ServiceConfig
	// images, nets and vols are by host name: the image ID, and the
	// networks and volumes by compose key.
	images  map[string]string
	nets    map[string]map[string]netctl.Ref
	vols    map[string]map[string]string
	targets map[string]string // service:x references: service → container ID
	lk      netctl.Links
}

// createReplica creates the replica of a step under name (st.Name, or a
// temporary name while a recreate keeps the old container).
func (e *Engine) createReplica(ctx context.Context, in replicaInput, st Step, name string) (*Container, error) {
	limit, p, s := in.limit, in.p, in.s
	h, err := e.hostByName(st.Host)
	if err != nil {
		return nil, err
	}
	c := &Container{Host: h, Name: st.Name, Service: s.Name, Replica: st.Replica, Hash: p.Hashes[s.Name]}
	e.containerProgress(c, "Creating", "")
	cs, err := spec.Build(spec.Input{
		Project: p, Service: s, Replica: st.Replica, Name: st.Name, Host: h.Name,
		Image: ImageRef(p, s), ImageID: in.images[h.Name], Version: Version,
		Networks: in.nets[h.Name], Volumes: in.vols[h.Name], Targets: in.targets,
		Link: in.lk.Get(s.Name, h.Name, st.Replica), Placement: st.Why,
	})
	if err != nil {
		return nil, err
	}
	files, err := spec.InlineFiles(p, s)
	if err != nil {
		return nil, err
	}
	id, err := e.createContainer(ctx, limit, h, cs, name, s.Platform)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := copyInlineFiles(uncancelled(ctx), h, id, files); err != nil {
		return nil, fmt.Errorf("service %q: copy secrets and configs into %s: %w", s.Name, name, err)
	}
	c.ID, c.State, c.Labels, c.ImageID = id, "created", cs.Config.Labels, in.images[h.Name]
	e.containerProgress(c, "Created", "")
	return c, nil
}

// createContainer creates the container and connects its further networks;
// createReplica then copies in content-based secrets and configs.
func (e *Engine) createContainer(ctx context.Context, limit sem, h *hosts.Host, cs *spec.Container, name, platform string) (string, error) {
	if err := limit.acquire(ctx); err != nil {
		return "", err
	}
	defer limit.release()
	return ctr.Create(uncancelled(ctx), h.Client, h.Name, cs, name)
}

// recreateReplica replaces a container as compose does: create the new one
// under a temporary name, stop the old one, rename the new one. The old
// one is set aside (park) rather than removed until the run's changes
// stand, so that a run Docker refuses puts it back. An interrupted
// recreate leaves at most two containers for the replica; the next run
// keeps the up-to-date one.
func (e *Engine) recreateReplica(ctx context.Context, in replicaInput, st Step, timeout *time.Duration) (*Container, error) {
	limit, old := in.limit, st.Existing
	e.containerProgress(old, "Recreate", st.Reason)
	tmp := fmt.Sprintf("%s_%s", old.ShortID(), st.Name)
	c, err := e.createReplica(ctx, in, Step{Service: st.Service, Replica: st.Replica, Host: st.Host, Name: st.Name, Action: ActCreate, Why: st.Why}, tmp)
	if err != nil {
		return nil, refusal(err)
	}
	if err := e.park(ctx, limit, old, timeout); err != nil {
		return nil, err
	}
	if err := limit.acquire(ctx); err != nil {
		return nil, err
	}
	err = ctr.Rename(uncancelled(ctx), c.Host.Client, c.ID, st.Name)
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
func (e *Engine) createGone(ctx context.Context, in replicaInput, st Step) (*Container, error) {
	if st.Existing != nil {
		e.warn("container %s on host %q went away after this run planned to %s it: creating it again", st.Existing.Name, st.Host, st.Action)
	}
	st.Action, st.Existing, st.Rename = ActCreate, nil, false
	c, err := e.createReplica(ctx, in, st, st.Name)
	if err != nil {
		return nil, refusal(err)
	}
	return c, nil
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
			act := startAction(st, c)
			if act == ActRestart {
				restarted, err := e.restartReplica(gctx, limit, c, st, o)
				if err != nil || restarted {
					return err
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
			nc, err := e.startReplica(gctx, limit, c, st, act, again, o)
			if nc != c {
				// Only when created again: the create of a service
				// sharing this one's namespace may read cs meanwhile
				// (runTargets).
				cs[i] = nc
			}
			return err
		})
	}
	return g.Wait()
}

// startAction is what starting does with a step's container: what the
// plan says, but a container applyCreate created again (it was gone) is
// started, not kept or restarted.
func startAction(st Step, c *Container) Action {
	if st.Existing != nil && c.ID != st.Existing.ID && (st.Action == ActKeep || st.Action == ActRestart) {
		return ActStart
	}
	return st.Action
}

// restartReplica restarts a replica's container. It reports false, and
// no error, when the container has gone since the plan.
func (e *Engine) restartReplica(ctx context.Context, limit sem, c *Container, st Step, o UpOptions) (bool, error) {
	e.containerProgress(c, "Restarting", st.Reason)
	leave, err := e.leaving(ctx, c)
	if err != nil {
		return false, err
	}
	if err := limit.acquire(ctx); err != nil {
		leave()
		return false, err
	}
	err = ctr.Restart(uncancelled(ctx), c.Host.Client, c.ID, o.Timeout)
	limit.release()
	leave()
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restart container %s: %w", c.Name, err)
	}
	c.State, c.Health = "running", ""
	e.containerProgress(c, "Restarted", "")
	return true, nil
}

// startReplica starts a replica's container, creating it again (again)
// when it has gone since the plan. It returns the container that holds
// the replica: c, or the one created again.
func (e *Engine) startReplica(ctx context.Context, limit sem, c *Container, st Step, act Action, again func(context.Context, Step) (*Container, error), o UpOptions) (*Container, error) {
	e.containerProgress(c, "Starting", "")
	if err := limit.acquire(ctx); err != nil {
		return c, err
	}
	err := ctr.Start(uncancelled(ctx), c.Host.Client, c.ID)
	limit.release()
	if errdefs.IsNotFound(err) {
		nc, cerr := again(ctx, Step{Service: st.Service, Replica: st.Replica, Host: st.Host, Name: st.Name, Action: act, Why: st.Why, Existing: c})
		if cerr != nil {
			return c, cerr
		}
		c = nc
		if err := limit.acquire(ctx); err != nil {
			return c, err
		}
		err = ctr.Start(uncancelled(ctx), c.Host.Client, c.ID)
		limit.release()
	}
	if err != nil {
		e.containerProgress(c, "Error", err.Error())
		return c, fmt.Errorf("start container %s on host %q: %w", c.Name, c.HostName(), refusal(ctr.ExplainStartError(err)))
	}
	c.State, c.Health = "running", ""
	e.containerProgress(c, "Started", "")
	if o.OnStart != nil {
		// After the start: logs asked for before it, of a created
		// container, come back empty. From the container's beginning, so
		// no line is lost.
		o.OnStart(*c, true)
	}
	return c, nil
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
	hubs := map[string]*dockerev.Hub{}
	for _, h := range e.Pool.Hosts {
		hubs[h.Name] = dockerev.Watch(ctx, h, p.Name)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error {
			cond := health.RunningOrHealthy
			if completed[c.Service] {
				cond = health.Completed
			}
			e.containerProgress(&c, "Waiting", "")
			if err := waitFor(gctx, hubs[c.HostName()], c.ID, c.Name, cond); err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
					return fmt.Errorf("container %s did not become ready within %s", c.Name, timeout)
				}
				e.containerProgress(&c, "Error", err.Error())
				return err
			}
			status := "Healthy"
			if cond == health.Completed {
				status = "Exited"
			}
			e.containerProgress(&c, status, "")
			return nil
		})
	}
	return g.Wait()
}
