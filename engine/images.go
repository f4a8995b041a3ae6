package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
)

// ImageOptions controls how images are made present.
type ImageOptions struct {
	Build   bool   // --build: build every service with a build section
	NoBuild bool   // --no-build: never build; a missing image is an error
	Pull    string // --pull: always, missing, never, build; "" follows each service's pull_policy
	NoCache bool
	Quiet   bool
}

// ensureImages makes every needed image present on the host that needs it,
// building or pulling as the options and pull policies say, before any
// container is created. It returns the image ID per service and host.
func (e *Engine) ensureImages(ctx context.Context, p *compose.Project, need map[string][]*hosts.Host, o ImageOptions) (map[string]map[string]string, error) {
	present, err := e.inspectImages(ctx, p, need)
	if err != nil {
		return nil, err
	}
	wants := imageWants(p, need)
	plan, err := planImages(wants, present, e.Pool.Names(), o)
	if err != nil {
		return nil, err
	}
	on := hostsByName(e.Pool.Hosts, need)
	made := &madeImages{m: map[imageKey]string{}}
	if err := e.buildAndPull(ctx, p, plan, on, o, made); err != nil {
		return nil, err
	}
	// Copies come after the builds they may copy from.
	if err := e.copyImages(ctx, plan.copies, on, made); err != nil {
		return nil, err
	}
	return resolveImageIDs(wants, plan.use, made.m), nil
}

// inspectImages finds the IDs of the needed images already on each host.
// With several hosts it looks on every reachable one: an image present on
// one host is copied to another rather than pulled or built again. Only a
// host that needs the image has to answer.
func (e *Engine) inspectImages(ctx context.Context, p *compose.Project, need map[string][]*hosts.Host) (map[imageKey]string, error) {
	present := map[imageKey]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	seen := map[imageKey]bool{}
	for _, name := range slices.Sorted(maps.Keys(need)) {
		ref := ImageRef(p, p.Services[name])
		look := need[name]
		if !e.Pool.Single() {
			look = e.reachableHosts()
		}
		for _, h := range look {
			k := imageKey{h.Name, ref}
			if seen[k] {
				continue
			}
			seen[k] = true
			required := containsHost(need[name], h)
			g.Go(func() error {
				insp, err := h.Client.ImageInspect(gctx, ref)
				if err != nil {
					if errdefs.IsNotFound(err) || !required {
						return nil
					}
					return fmt.Errorf("inspect image %s on host %q: %w", ref, h.Name, err)
				}
				mu.Lock()
				present[k] = insp.ID
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return present, nil
}

// imageWants lists, by service name, each service's image and the names of
// the hosts that need it.
func imageWants(p *compose.Project, need map[string][]*hosts.Host) []imageWant {
	var wants []imageWant
	for _, name := range slices.Sorted(maps.Keys(need)) {
		s := p.Services[name]
		w := imageWant{service: name, svc: s, ref: ImageRef(p, s)}
		for _, h := range need[name] {
			w.hosts = append(w.hosts, h.Name)
		}
		wants = append(wants, w)
	}
	return wants
}

// hostsByName indexes the pool and the hosts that need images by name, for
// running a plan that names them.
func hostsByName(pool []*hosts.Host, need map[string][]*hosts.Host) map[string]*hosts.Host {
	on := map[string]*hosts.Host{}
	for _, h := range pool {
		on[h.Name] = h
	}
	for _, hs := range need {
		for _, h := range hs {
			on[h.Name] = h
		}
	}
	return on
}

// madeImages collects the IDs of the images built, pulled or copied in
// this run, from several goroutines.
type madeImages struct {
	mu sync.Mutex
	m  map[imageKey]string
}

func (r *madeImages) set(host, ref, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[imageKey{host, ref}] = id
}

// buildAndPull runs the plan's pulls in parallel and its builds two at a
// time: the daemons do the work.
func (e *Engine) buildAndPull(ctx context.Context, p *compose.Project, pl imagePlan, on map[string]*hosts.Host, o ImageOptions, made *madeImages) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range pl.pulls {
		g.Go(func() error {
			id, err := e.pull(gctx, on[j.host], j.ref, j.svc.Platform, o.Quiet)
			if err != nil {
				return &PullError{fmt.Errorf("service %q: %w", j.svc.Name, err)}
			}
			made.set(j.host, j.ref, id)
			return nil
		})
	}
	bsem := newSem(2)
	for _, j := range pl.builds {
		g.Go(func() error {
			if err := bsem.acquire(gctx); err != nil {
				return err
			}
			defer bsem.release()
			id, err := e.build(gctx, p, j.svc, on[j.host], o.NoCache)
			if err != nil {
				return &BuildError{err}
			}
			made.set(j.host, j.ref, id)
			return nil
		})
	}
	return g.Wait()
}

// copyImages streams each image of copies from the host that has it to the
// host that needs it, in parallel.
func (e *Engine) copyImages(ctx context.Context, copies []imageJob, on map[string]*hosts.Host, made *madeImages) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range copies {
		g.Go(func() error {
			id, err := e.copyImage(gctx, on[c.from], on[c.host], c.ref)
			if err != nil {
				return fmt.Errorf("service %q: %w", c.svc.Name, err)
			}
			made.set(c.host, c.ref, id)
			return nil
		})
	}
	return g.Wait()
}

// pull pulls ref on host h, reporting progress, and returns the image ID.
func (e *Engine) pull(ctx context.Context, h *hosts.Host, ref, platform string, quiet bool) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	named = reference.TagNameOnly(named)
	auth, err := registryAuth(reference.Domain(named))
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ref, Host: h.Name, Status: "Pulling"})
	rc, err := h.Client.ImagePull(ctx, named.String(), image.PullOptions{Platform: platform, RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pull %s on host %q: %w%s", ref, h.Name, err, loginHint(auth, reference.Domain(named), err.Error()))
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	layers := map[string]*jsonmessage.JSONProgress{}
	lastPct := -1
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				break
			}
			return "", fmt.Errorf("pull %s on host %q: %w", ref, h.Name, err)
		}
		if m.Error != nil {
			return "", fmt.Errorf("pull %s on host %q: %s%s", ref, h.Name, m.Error.Message, loginHint(auth, reference.Domain(named), m.Error.Message))
		}
		if m.ID != "" && m.Progress != nil && m.Progress.Total > 0 {
			layers[m.ID] = m.Progress
		}
		var cur, total int64
		for _, p := range layers {
			cur += p.Current
			total += p.Total
		}
		if total > 0 && !quiet {
			pct := int(cur * 100 / total)
			if pct/10 != lastPct/10 {
				lastPct = pct
				e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ref, Host: h.Name, Status: "Pulling", Detail: fmt.Sprintf("%d%%", pct)})
			}
		}
	}
	insp, err := h.Client.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("pull %s on host %q: image not found after pull: %w", ref, h.Name, err)
	}
	e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ref, Host: h.Name, Status: "Pulled"})
	return insp.ID, nil
}

// copyImage streams an image from one host to another (docker save |
// docker load through the API). For the images of a development stack this
// is far faster than building or pulling again (6 MB: about 0.1 s here,
// against 1-2 s for a cached classic build).
func (e *Engine) copyImage(ctx context.Context, from, to *hosts.Host, ref string) (string, error) {
	e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ref, Host: to.Name, Status: "Copying", Detail: "from " + from.Name})
	rc, err := from.Client.ImageSave(ctx, []string{ref})
	if err != nil {
		return "", fmt.Errorf("save image %s on host %q: %w", ref, from.Name, err)
	}
	defer rc.Close()
	resp, err := to.Client.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
	if err != nil {
		return "", fmt.Errorf("load image %s on host %q: %w", ref, to.Name, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	insp, err := to.Client.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("image %s not on host %q after copying it from %q: %w", ref, to.Name, from.Name, err)
	}
	e.emit(Event{Kind: KindProgress, Resource: ResImage, Name: ref, Host: to.Name, Status: "Copied", Detail: "from " + from.Name})
	return insp.ID, nil
}

func containsHost(list []*hosts.Host, h *hosts.Host) bool {
	for _, x := range list {
		if x == h {
			return true
		}
	}
	return false
}

// reachableHosts returns the hosts that answered recently.
func (e *Engine) reachableHosts() []*hosts.Host {
	var out []*hosts.Host
	for _, h := range e.Pool.Hosts {
		if _, err := h.Info(context.Background(), 10*time.Second); err == nil {
			out = append(out, h)
		}
	}
	return out
}
