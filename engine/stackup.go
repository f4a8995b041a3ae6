package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/system"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/engine/stack"
)

// StackOptions says how StackUp deploys a project to a Swarm.
type StackOptions struct {
	Images        ImageOptions
	RemoveOrphans bool
	// Partial: the project holds only the services named on the command
	// line (and what they need); orphans are not looked for.
	Partial bool
	// Force updates every service even when unchanged (restart).
	Force       bool
	Wait        bool
	WaitTimeout time.Duration
	LockTimeout time.Duration
	// DryRun plans without changing anything (images are looked for on
	// the nodes, not made or copied).
	DryRun bool
	// Registry, when set (host[:port][/path]), is where the images go:
	// made on the manager's host, pushed there, and pulled by digest by
	// every node, including those devorch has no endpoint for.
	Registry string
}

// openStack opens the Swarm the default host manages (the target of
// --target swarm), with every devorch host that is one of its nodes. The
// hosts are pinged in parallel (an unreachable one is left out, with a
// warning); docker info, which a busy daemon is slow to answer, is read
// only of a host whose node its declared address does not name.
func (e *Engine) openStack(ctx context.Context) (*stack.Target, error) {
	mgr := e.Pool.Hosts[0]
	tctx, cancel := context.WithTimeout(ctx, hostTimeout())
	defer cancel()
	errs := make([]error, len(e.Pool.Hosts))
	var wg sync.WaitGroup
	for i, h := range e.Pool.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Ping(tctx)
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		return nil, fmt.Errorf("host %q is unreachable: %w", mgr.Name, errs[0])
	}
	var hs []stack.Host
	for i, h := range e.Pool.Hosts {
		if errs[i] != nil {
			e.warn("host %q is unreachable (%v): its node gets no images and is not looked at", h.Name, errs[i])
			continue
		}
		hs = append(hs, stack.Host{Name: h.Name, API: h.Client, Address: h.Address, Info: func(ctx context.Context) (*system.Info, error) {
			return h.Info(ctx, infoAge)
		}})
	}
	return stack.Open(tctx, mgr.Name, mgr.Client, hs)
}

// StackUp deploys the project to the Swarm the default host manages: the
// images onto every node devorch reaches (by ID, so that no node asks a
// registry), then stack.Deploy, then, with Wait, stack.Wait.
func (e *Engine) StackUp(ctx context.Context, p *compose.Project, o StackOptions) (*stack.Plan, error) {
	if !o.DryRun {
		unlock, err := e.Lock(ctx, p.Name, o.LockTimeout)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	start := time.Now()
	t, err := e.openStack(ctx)
	if err != nil {
		return nil, err
	}
	noIPVS := !stack.HasIPVS()
	if noIPVS {
		e.warn("the kernel has no IPVS: Swarm's virtual IPs and routing mesh do not work here, so services use endpoint_mode dnsrr and publish their ports in host mode")
	}
	var imgs map[string]stack.Image
	var notes []string
	var auth string
	switch {
	case o.Registry != "":
		if auth, err = images.RegistryAuth(o.Registry); err != nil {
			return nil, err
		}
		imgs, notes, err = e.stackPush(ctx, p, t, o)
	case o.DryRun:
		imgs, notes, err = e.stackImagesPresent(ctx, p, t)
	default:
		imgs, err = e.stackImages(ctx, p, t, o.Images)
	}
	if err != nil {
		return nil, err
	}
	pl, err := stack.Deploy(ctx, t, p.Project, stack.DeployOptions{
		Images: imgs, Pull: o.Registry != "", RegistryAuth: auth, Hashes: p.Hashes, NoIPVS: noIPVS,
		RemoveOrphans: o.RemoveOrphans, Partial: o.Partial, Force: o.Force,
		DryRun: o.DryRun, Sink: e.stackEvent,
	})
	if pl != nil {
		pl.Notes = append(notes, pl.Notes...)
	}
	if err != nil || !o.Wait || o.DryRun {
		return pl, err
	}
	wctx := ctx
	if o.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.WaitTimeout)
		defer cancel()
	}
	return pl, stack.Wait(wctx, t.API, stack.WaitOptions{
		Namespace: p.Name, Services: slices.Sorted(maps.Keys(p.Services)), Since: start, Nodes: t.NodeNames(),
		Report: func(pr stack.Progress) {
			status := fmt.Sprintf("%d/%d running", pr.Running, pr.Desired)
			if pr.Done {
				status = "Running"
			}
			e.progress(ResService, stack.ServiceName(p.Name, pr.Service), "", status)
		},
	})
}

// stackImages makes every service's image present on every node devorch
// reaches (built or pulled once, copied to the rest, as with several
// hosts) and names it by ID, which is the same on every node.
func (e *Engine) stackImages(ctx context.Context, p *compose.Project, t *stack.Target, o ImageOptions) (map[string]stack.Image, error) {
	var nodes []*hosts.Host
	for _, n := range t.Nodes {
		if n.Host != "" && n.State == "ready" {
			if h := e.Pool.Get(n.Host); h != nil {
				nodes = append(nodes, h)
			}
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no node of the Swarm host %q manages is among devorch's hosts and ready: devorch cannot give any the images", t.Manager)
	}
	// The nodes answered openStack's ping just now: no need to ask them
	// again whether they are alive.
	pool := images.Pool{Sink: e.imageEvent}
	for _, h := range nodes {
		pool.Hosts = append(pool.Hosts, images.Host{Name: h.Name, API: h.Client})
	}
	need := map[string][]images.Host{}
	for name := range p.Services {
		need[name] = pool.Hosts
	}
	ids, err := images.Ensure(ctx, pool, p, need, o)
	if err != nil {
		return nil, err
	}
	out := map[string]stack.Image{}
	for name, s := range p.Services {
		ref := images.Ref(p, s)
		var id string
		var differ []string
		for _, h := range nodes {
			hid := ids[name][h.Name]
			if id == "" {
				id = hid
			}
			if hid != id {
				differ = append(differ, fmt.Sprintf("%s on %s", shortImage(hid), h.Name))
			}
		}
		if len(differ) > 0 {
			return nil, fmt.Errorf("service %q: image %s is %s on %s but %s: every node must run the same image (remove the others with docker image rm, and devorch copies it)", name, ref, shortImage(id), nodes[0].Name, strings.Join(differ, ", "))
		}
		out[name] = stack.Image{Ref: id, Tag: ref}
	}
	return out, nil
}

// stackPush makes every service's image present on the manager's host
// (built or pulled there, or copied from another node) and pushes each
// once to the registry; the services name it by digest, so that no node
// resolves a tag. A dry run makes and pushes nothing: it names the digest
// an earlier push recorded, or says what would be pushed.
func (e *Engine) stackPush(ctx context.Context, p *compose.Project, t *stack.Target, o StackOptions) (map[string]stack.Image, []string, error) {
	mgr := e.Pool.Get(t.Manager)
	on := images.Host{Name: mgr.Name, API: mgr.Client}
	refs := map[string]string{} // service → image reference
	for name, s := range p.Services {
		refs[name] = images.Ref(p, s)
	}
	pushed := map[string]string{} // image reference → name by digest
	var notes []string
	if o.DryRun {
		for _, ref := range slices.Sorted(maps.Values(refs)) {
			if _, ok := pushed[ref]; ok {
				continue
			}
			d, err := images.PushedRef(ctx, mgr.Client, ref, o.Registry)
			if err != nil {
				return nil, nil, err
			}
			if d == "" {
				notes = append(notes, fmt.Sprintf("image %s would be pushed to %s from host %q, and the nodes pull it", ref, o.Registry, mgr.Name))
				d = ref
			}
			pushed[ref] = d
		}
	} else {
		// The manager needs every image; the other nodes devorch
		// reaches are sources to copy from.
		pool := images.Pool{Sink: e.imageEvent, Hosts: []images.Host{on}}
		for _, n := range t.Nodes {
			if h := e.Pool.Get(n.Host); h != nil && n.Host != mgr.Name && n.State == "ready" {
				pool.Hosts = append(pool.Hosts, images.Host{Name: h.Name, API: h.Client})
			}
		}
		need := map[string][]images.Host{}
		for name := range p.Services {
			need[name] = []images.Host{on}
		}
		if _, err := images.Ensure(ctx, pool, p, need, o.Images); err != nil {
			return nil, nil, err
		}
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		for _, ref := range slices.Compact(slices.Sorted(maps.Values(refs))) {
			g.Go(func() error {
				d, err := images.Push(gctx, mgr.Name, mgr.Client, ref, o.Registry, e.imageEvent)
				mu.Lock()
				pushed[ref] = d
				mu.Unlock()
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
	}
	out := map[string]stack.Image{}
	for name, ref := range refs {
		out[name] = stack.Image{Ref: pushed[ref], Tag: ref}
	}
	return out, notes, nil
}

// stackImagesPresent is stackImages for a dry run: each service's image
// as the nodes have it, and notes for what up would copy or make.
func (e *Engine) stackImagesPresent(ctx context.Context, p *compose.Project, t *stack.Target) (map[string]stack.Image, []string, error) {
	out := map[string]stack.Image{}
	var notes []string
	// Services share images: each is looked for once per node.
	type found struct {
		id   string
		lack []string
	}
	seen := map[string]found{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		ref := images.Ref(p, p.Services[name])
		f, ok := seen[ref]
		if !ok {
			for _, n := range t.Nodes {
				h := e.Pool.Get(n.Host)
				if n.Host == "" || h == nil || n.State != "ready" {
					continue
				}
				ii, err := h.Client.ImageInspect(ctx, ref)
				if err != nil {
					f.lack = append(f.lack, n.Host)
					continue
				}
				if f.id == "" {
					f.id = ii.ID
				}
			}
			seen[ref] = f
		}
		id, lack := f.id, f.lack
		switch {
		case id == "":
			notes = append(notes, fmt.Sprintf("service %q: image %s is on no node: up builds or pulls it, then copies it to every node", name, ref))
			id = ref
		case len(lack) > 0:
			notes = append(notes, fmt.Sprintf("service %q: image %s would be copied to %s", name, ref, strings.Join(lack, ", ")))
		}
		out[name] = stack.Image{Ref: id, Tag: ref}
	}
	return out, notes, nil
}

// StackDown removes the project from the Swarm (stack.Remove), then, with
// rmi ("local" or "all", as down --rmi), its images from every node
// devorch reaches, once their tasks are gone (p may be nil: see
// images.Remove).
func (e *Engine) StackDown(ctx context.Context, project string, p *compose.Project, o stack.RemoveOptions, rmi string) error {
	t, err := e.openStack(ctx)
	if err != nil {
		return err
	}
	o.Sink = e.stackEvent
	if err := stack.Remove(ctx, t, project, o); err != nil || rmi == "" {
		return err
	}
	var nodes []*hosts.Host
	for _, n := range t.Nodes {
		if h := e.Pool.Get(n.Host); h != nil {
			nodes = append(nodes, h)
		}
	}
	return images.Remove(ctx, imageHosts(nodes), project, p, rmi, e.imageEvent)
}

// StackPs lists the project's tasks.
func (e *Engine) StackPs(ctx context.Context, project string) ([]stack.TaskRow, error) {
	t, err := e.openStack(ctx)
	if err != nil {
		return nil, err
	}
	return stack.Ps(ctx, t, project)
}

// stackEvent reports what the Swarm target did as the engine's events.
func (e *Engine) stackEvent(ev stack.Event) {
	if ev.Warning != "" {
		e.warn("%s", ev.Warning)
		return
	}
	e.progress(ev.Resource, ev.Name, ev.Node, ev.Status)
}

// shortImage is an image ID as docker images shows it.
func shortImage(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// StackLogs streams the project's Swarm services' logs (stack.Logs) as the
// engine's log events: a task shows as its service and slot (a global
// service's task as its service and node).
func (e *Engine) StackLogs(ctx context.Context, project string, o stack.LogOptions) error {
	t, err := e.openStack(ctx)
	if err != nil {
		return err
	}
	return stack.Logs(ctx, t, project, o, func(l stack.LogLine) {
		name := fmt.Sprintf("%s-%d", l.Service, l.Slot)
		if l.Slot == 0 {
			name = l.Service + "-" + l.Node
		}
		line := l.Text
		if o.Timestamps {
			line = l.Time.Format(time.RFC3339Nano) + " " + line
		}
		e.emit(Event{Time: l.Time, Kind: KindLog, Resource: ResContainer, Name: name, Host: l.Node, Service: l.Service, Replica: l.Slot, Stream: l.Stream, Line: line})
	})
}

// StackScale, StackRestart, StackStop and StackStart are scale, restart,
// stop and start on a Swarm (see the stack package's functions).
func (e *Engine) StackScale(ctx context.Context, project string, replicas map[string]int) error {
	return e.onStack(ctx, func(t *stack.Target) error { return stack.Scale(ctx, t, project, replicas, e.stackEvent) })
}

// StackRestart: see StackScale.
func (e *Engine) StackRestart(ctx context.Context, project string, services []string) error {
	return e.onStack(ctx, func(t *stack.Target) error { return stack.Restart(ctx, t, project, services, e.stackEvent) })
}

// StackStop: see StackScale.
func (e *Engine) StackStop(ctx context.Context, project string, services []string) error {
	return e.onStack(ctx, func(t *stack.Target) error { return stack.Stop(ctx, t, project, services, e.stackEvent) })
}

// StackStart: see StackScale.
func (e *Engine) StackStart(ctx context.Context, project string, services []string) error {
	return e.onStack(ctx, func(t *stack.Target) error { return stack.Start(ctx, t, project, services, e.stackEvent) })
}

func (e *Engine) onStack(ctx context.Context, do func(*stack.Target) error) error {
	t, err := e.openStack(ctx)
	if err != nil {
		return err
	}
	return do(t)
}

// StackExec is exec on a Swarm: in the container of a service's task, on
// its node, which must be one of devorch's hosts.
func (e *Engine) StackExec(ctx context.Context, project string, o ExecOptions, st Streams) (int, error) {
	if len(o.Cmd) == 0 {
		return 1, errors.New("exec needs a command")
	}
	var tc stack.TaskContainer
	if err := e.onStack(ctx, func(t *stack.Target) (err error) {
		tc, err = stack.FindTask(ctx, t, project, o.Service, o.Index)
		return err
	}); err != nil {
		return 1, err
	}
	code, err := ctr.Exec(ctx, e.Pool.Get(tc.Host).Client, tc.ID, ctr.ExecRequest{
		Cmd: o.Cmd, User: o.User, WorkDir: o.WorkDir, Env: o.Env, Privileged: o.Privileged,
		Streams: st, Detach: o.Detach,
	})
	if errors.As(err, new(ctr.ExecCallError)) {
		err = fmt.Errorf("exec in task %s: %w", tc.Name, err)
	}
	return code, err
}
