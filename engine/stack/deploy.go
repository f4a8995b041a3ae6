package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/internal/labels"
)

// SpecHashLabel holds, on a service devorch deployed, the SpecHash of the
// spec it converted: the next up compares it, not the spec Docker stored
// (which Docker normalises), and an unchanged service gets no update.
const SpecHashLabel = labels.Prefix + "spec-hash"

// Event is what Deploy and Remove report: a resource (Service, Network,
// Config, Secret, Volume) and what happened to it, or a warning.
type Event struct {
	Resource, Name, Node, Status string
	Warning                      string
}

// DeployOptions says what to deploy and how.
type DeployOptions struct {
	// Images says what each service's tasks run (see Image).
	Images map[string]Image
	// Pull says the images are in a registry every node pulls from
	// (by digest): nodes devorch has no endpoint for then run tasks too.
	// RegistryAuth is the X-Registry-Auth the nodes pull with ("" for
	// none).
	Pull         bool
	RegistryAuth string
	// Hashes are the services' devorch config hashes.
	Hashes map[string]string
	// NoIPVS: see Options.NoIPVS.
	NoIPVS bool
	// RemoveOrphans removes the namespace's services the file no longer
	// has; otherwise they are named in a warning. Partial says the project
	// holds only some of the file's services (up SERVICE...): orphans are
	// then not looked for.
	RemoveOrphans, Partial bool
	// Force updates every service even when unchanged (restart).
	Force bool
	// DryRun plans without changing anything: what would be created is
	// named, not made.
	DryRun bool
	Sink   func(Event)
}

// Plan is what a deploy would do to each service: Create, Update,
// Unchanged, Remove (orphans), with the constraints devorch added.
type Plan struct {
	Services map[string]swarm.ServiceSpec
	Actions  map[string]string
	Existing map[string]swarm.Service
	Orphans  []swarm.Service
	Warnings []string
	// Notes say why devorch placed a service as it did (a named volume's
	// data on one node).
	Notes []string
	// Networks are the project's networks: compose key → Swarm name, and
	// whether this deploy creates it.
	Networks map[string]PlannedNetwork
	// Nodes are the Swarm's nodes, for the dry run's header.
	Nodes   []Node
	Manager string
}

// PlannedNetwork is one of the project's networks in a plan.
type PlannedNetwork struct {
	Name              string
	External, Created bool
}

// Deploy converges the Swarm to the project: networks and configs and
// secrets first, then one create per new service, one update per changed
// one and none for an unchanged one, in parallel (Swarm has no start
// order: depends_on is reported as ignored by the conversion).
func Deploy(ctx context.Context, t *Target, p *types.Project, o DeployOptions) (*Plan, error) {
	sink := o.Sink
	if sink == nil {
		sink = func(Event) {}
	}
	planned, err := ensureNetworks(ctx, t, p, o.DryRun, sink)
	if err != nil {
		return nil, err
	}
	nets := map[string]string{}
	for key, n := range planned {
		nets[key] = n.Name
	}
	configs, configIDs, err := ensureFiles(ctx, t, p, "config", o.DryRun, sink)
	if err != nil {
		return nil, err
	}
	secrets, secretIDs, err := ensureFiles(ctx, t, p, "secret", o.DryRun, sink)
	if err != nil {
		return nil, err
	}
	conv := Options{
		Namespace: p.Name, Images: o.Images, Networks: nets,
		Configs: configs, Secrets: secrets, ConfigIDs: configIDs, SecretIDs: secretIDs,
		Hashes: o.Hashes, NoIPVS: o.NoIPVS,
	}
	pl, err := PlanDeploy(ctx, t, p, conv, o)
	if err != nil {
		return nil, err
	}
	pl.Networks = planned
	if o.DryRun {
		return pl, nil
	}
	for _, w := range pl.Warnings {
		sink(Event{Warning: w})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range slices.Sorted(maps.Keys(pl.Services)) {
		spec := pl.Services[name]
		g.Go(func() error {
			switch pl.Actions[name] {
			case "Create":
				sink(Event{Resource: "Service", Name: spec.Name, Status: "Creating"})
				if _, err := t.API.ServiceCreate(gctx, spec, swarm.ServiceCreateOptions{QueryRegistry: false, EncodedRegistryAuth: o.RegistryAuth}); err != nil {
					return fmt.Errorf("create service %s: %w", spec.Name, err)
				}
				sink(Event{Resource: "Service", Name: spec.Name, Status: "Created"})
			case "Update":
				cur := pl.Existing[name]
				sink(Event{Resource: "Service", Name: spec.Name, Status: "Updating"})
				if o.Force {
					spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate + 1
				}
				resp, err := t.API.ServiceUpdate(gctx, cur.ID, cur.Version, spec, swarm.ServiceUpdateOptions{QueryRegistry: false, EncodedRegistryAuth: o.RegistryAuth})
				if err != nil {
					return fmt.Errorf("update service %s: %w", spec.Name, err)
				}
				for _, w := range resp.Warnings {
					sink(Event{Warning: fmt.Sprintf("service %s: %s", spec.Name, w)})
				}
				sink(Event{Resource: "Service", Name: spec.Name, Status: "Updated"})
			default:
				sink(Event{Resource: "Service", Name: spec.Name, Status: "Unchanged"})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return pl, err
	}
	if len(pl.Orphans) > 0 {
		if !o.RemoveOrphans {
			var names []string
			for _, s := range pl.Orphans {
				names = append(names, s.Spec.Name)
			}
			sink(Event{Warning: fmt.Sprintf("Found orphan services (%s) for this project. If you removed or renamed a service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))})
		} else {
			for _, s := range pl.Orphans {
				if err := t.API.ServiceRemove(ctx, s.ID); err != nil && !errdefs.IsNotFound(err) {
					return pl, fmt.Errorf("remove orphan service %s: %w", s.Spec.Name, err)
				}
				sink(Event{Resource: "Service", Name: s.Spec.Name, Status: "Removed"})
			}
		}
	}
	if !o.Partial {
		pruneFiles(ctx, t, p.Name, pl)
	}
	return pl, nil
}

// PlanDeploy converts the project and compares each service with what the
// Swarm runs. Unless the nodes pull from a registry (o.Pull), nodes devorch
// has no endpoint for are excluded by constraint: it cannot give them the
// images (a node would otherwise try a registry, of which there may be
// none).
func PlanDeploy(ctx context.Context, t *Target, p *types.Project, conv Options, o DeployOptions) (*Plan, error) {
	specs, warnings, err := Services(p, conv)
	if err != nil {
		return nil, err
	}
	var unknown []Node
	if !o.Pull {
		unknown = t.unknownNodes()
	}
	if len(unknown) > 0 {
		var names []string
		for _, n := range unknown {
			names = append(names, n.Name())
		}
		warnings = append(warnings, fmt.Sprintf("Swarm node(s) %s are not among devorch's hosts: no task is placed there, as devorch cannot give them the images (declare them with --host, DEVORCH_HOSTS or x-devorch hosts)", strings.Join(names, ", ")))
	}
	// The services and the nodes' volumes, read at once.
	var existing []swarm.Service
	var held map[string][]Node
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		existing, err = t.API.ServiceList(gctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+p.Name))})
		if err != nil {
			return fmt.Errorf("list the project's services on host %q: %w", t.Manager, err)
		}
		return nil
	})
	g.Go(func() (err error) {
		held, err = volumeNodes(gctx, t, p.Name)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	pl := &Plan{Services: map[string]swarm.ServiceSpec{}, Actions: map[string]string{}, Existing: map[string]swarm.Service{}, Warnings: warnings, Nodes: t.Nodes, Manager: t.Manager}
	for _, s := range existing {
		name := s.Spec.Labels[labels.Service]
		if _, ok := specs[name]; ok {
			pl.Existing[name] = s
		} else if !o.Partial {
			pl.Orphans = append(pl.Orphans, s)
		}
	}
	slices.SortFunc(pl.Orphans, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	for name, spec := range specs {
		if spec.TaskTemplate.Placement == nil {
			spec.TaskTemplate.Placement = &swarm.Placement{}
		}
		for _, n := range unknown {
			spec.TaskTemplate.Placement.Constraints = append(spec.TaskTemplate.Placement.Constraints, "node.id!="+n.ID)
		}
		h := hashOf(spec)
		spec.Labels[SpecHashLabel] = h
		// After the hash: a volume's data found on a node pins the
		// service there from its next change on, and an unchanged
		// service, whose task made that data there, is not rolled
		// for it.
		if c, note := volumeConstraint(name, spec, held, t); c != "" {
			spec.TaskTemplate.Placement.Constraints = append(spec.TaskTemplate.Placement.Constraints, c)
			pl.Notes = append(pl.Notes, note)
		}
		pl.Services[name] = spec
		cur, ok := pl.Existing[name]
		switch {
		case !ok:
			pl.Actions[name] = "Create"
		case o.Force || cur.Spec.Labels[SpecHashLabel] != h:
			pl.Actions[name] = "Update"
		default:
			pl.Actions[name] = "Unchanged"
		}
	}
	slices.Sort(pl.Notes)
	return pl, nil
}

// hashOf is SpecHash without the configs' and secrets' IDs: their names
// are content-addressed already, and a dry run does not know the IDs of
// those it would create.
func hashOf(spec swarm.ServiceSpec) string {
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil && (len(cs.Configs) > 0 || len(cs.Secrets) > 0) {
		c := *cs
		c.Configs = make([]*swarm.ConfigReference, len(cs.Configs))
		for i, r := range cs.Configs {
			x := *r
			x.ConfigID = ""
			c.Configs[i] = &x
		}
		c.Secrets = make([]*swarm.SecretReference, len(cs.Secrets))
		for i, r := range cs.Secrets {
			x := *r
			x.SecretID = ""
			c.Secrets[i] = &x
		}
		spec.TaskTemplate.ContainerSpec = &c
	}
	return SpecHash(spec)
}

// volumeNodes lists, for each of the project's named volumes, the nodes
// devorch reaches that hold it.
func volumeNodes(ctx context.Context, t *Target, project string) (map[string][]Node, error) {
	f := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))
	lists := make([][]*volume.Volume, len(t.Nodes))
	g, gctx := errgroup.WithContext(ctx)
	for i, n := range t.Nodes {
		h, ok := t.Hosts[n.ID]
		if !ok || h.API == nil {
			continue
		}
		g.Go(func() error {
			vs, err := h.API.VolumeList(gctx, volume.ListOptions{Filters: f})
			if err != nil {
				return fmt.Errorf("list volumes on node %s: %w", n.Name(), err)
			}
			lists[i] = vs.Volumes
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := map[string][]Node{}
	for i, vs := range lists {
		for _, v := range vs {
			out[v.Name] = append(out[v.Name], t.Nodes[i])
		}
	}
	return out, nil
}

// volumeConstraint pins a service to the one node that holds the data of
// its named volumes, and says so; "" when its volumes are nowhere yet, or
// in several places (then the note says which).
func volumeConstraint(service string, spec swarm.ServiceSpec, held map[string][]Node, t *Target) (string, string) {
	if spec.TaskTemplate.ContainerSpec == nil {
		return "", ""
	}
	var node Node
	var vols []string
	for _, m := range spec.TaskTemplate.ContainerSpec.Mounts {
		if m.Type != "volume" || m.Source == "" {
			continue
		}
		on := held[m.Source]
		if len(on) != 1 {
			continue
		}
		if node.ID != "" && node.ID != on[0].ID {
			return "", ""
		}
		node = on[0]
		vols = append(vols, m.Source)
	}
	if node.ID == "" {
		return "", ""
	}
	return "node.id==" + node.ID, fmt.Sprintf("service %q runs on node %s: the data of its volume(s) %s is there", service, node.Name(), strings.Join(vols, ", "))
}

// ensureNetworks creates the overlay of every network a service uses that
// the Swarm does not have yet, and returns compose key → network name.
func ensureNetworks(ctx context.Context, t *Target, p *types.Project, dry bool, sink func(Event)) (map[string]PlannedNetwork, error) {
	used := map[string]bool{}
	for _, s := range p.Services {
		if s.NetworkMode == "" {
			for key := range s.Networks {
				used[key] = true
			}
		}
	}
	out := map[string]PlannedNetwork{}
	have, err := t.API.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks on host %q: %w", t.Manager, err)
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		cfg, ok := p.Networks[key]
		if !ok {
			return nil, fmt.Errorf("network %q is used but not declared", key)
		}
		name := cfg.Name
		if name == "" {
			name = p.Name + "_" + key
		}
		if bool(cfg.External) {
			out[key] = PlannedNetwork{Name: name, External: true}
			continue
		}
		out[key] = PlannedNetwork{Name: name}
		if i := slices.IndexFunc(have, func(n network.Summary) bool { return n.Name == name }); i >= 0 {
			if have[i].Driver != "overlay" || have[i].Scope != "swarm" {
				return nil, fmt.Errorf("network %s exists on host %q as a %s network (%s scope), not a Swarm overlay: was the project run without --target swarm? devorch down it first", name, t.Manager, have[i].Driver, have[i].Scope)
			}
			continue
		}
		opts, err := Network(p.Name, key, cfg)
		if err != nil {
			return nil, err
		}
		out[key] = PlannedNetwork{Name: name, Created: true}
		if dry {
			continue
		}
		if _, err := t.API.NetworkCreate(ctx, name, opts); err != nil {
			return nil, fmt.Errorf("create network %s on host %q: %w", name, t.Manager, err)
		}
		sink(Event{Resource: "Network", Name: name, Status: "Created"})
	}
	return out, nil
}

// fileObject is what configs and secrets have in common.
type fileObject struct {
	id, name string
	labels   map[string]string
}

// ensureFiles creates the Swarm configs (kind "config") or secrets of the
// project's services, named <project>_<key>_<content digest> so that a
// changed content is a new object, which rolls the services that use it.
// It returns compose key → name, and name → ID.
func ensureFiles(ctx context.Context, t *Target, p *types.Project, kind string, dry bool, sink func(Event)) (map[string]string, map[string]string, error) {
	used := map[string]bool{}
	for _, s := range p.Services {
		if kind == "config" {
			for _, c := range s.Configs {
				used[c.Source] = true
			}
		} else {
			for _, c := range s.Secrets {
				used[c.Source] = true
			}
		}
	}
	if len(used) == 0 {
		return nil, nil, nil
	}
	have, err := listFiles(ctx, t.API, kind, p.Name)
	if err != nil {
		return nil, nil, err
	}
	names, ids := map[string]string{}, map[string]string{}
	for _, o := range have {
		ids[o.name] = o.id
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		var def types.FileObjectConfig
		if kind == "config" {
			c, ok := p.Configs[key]
			if !ok {
				return nil, nil, fmt.Errorf("config %q is used but not declared", key)
			}
			def = types.FileObjectConfig(c)
		} else {
			c, ok := p.Secrets[key]
			if !ok {
				return nil, nil, fmt.Errorf("secret %q is used but not declared", key)
			}
			def = types.FileObjectConfig(c)
		}
		if bool(def.External) {
			continue
		}
		data, err := fileContent(p, kind, key, def)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(data)
		name := p.Name + "_" + key + "_" + hex.EncodeToString(sum[:])[:10]
		names[key] = name
		if ids[name] != "" || dry {
			continue
		}
		l := map[string]string{labels.StackNamespace: p.Name, labels.Project: p.Name}
		for k, v := range def.Labels {
			l[k] = v
		}
		ann := swarm.Annotations{Name: name, Labels: l}
		var id string
		if kind == "config" {
			r, err := t.API.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: ann, Data: data})
			if err != nil {
				return nil, nil, fmt.Errorf("create config %s: %w", name, err)
			}
			id = r.ID
		} else {
			r, err := t.API.SecretCreate(ctx, swarm.SecretSpec{Annotations: ann, Data: data})
			if err != nil {
				return nil, nil, fmt.Errorf("create secret %s: %w", name, err)
			}
			id = r.ID
		}
		ids[name] = id
		sink(Event{Resource: strings.ToUpper(kind[:1]) + kind[1:], Name: name, Status: "Created"})
	}
	return names, ids, nil
}

// fileContent reads a config's or secret's content: its file, its inline
// content, or the environment variable it names.
func fileContent(p *types.Project, kind, key string, def types.FileObjectConfig) ([]byte, error) {
	switch {
	case def.File != "":
		b, err := os.ReadFile(def.File)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, key, err)
		}
		return b, nil
	case def.Environment != "":
		v, ok := p.Environment[def.Environment]
		if !ok {
			return nil, fmt.Errorf("%s %q comes from environment variable %s, which is not set", kind, key, def.Environment)
		}
		return []byte(v), nil
	default:
		return []byte(def.Content), nil
	}
}

func listFiles(ctx context.Context, api API, kind, project string) ([]fileObject, error) {
	f := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))
	var out []fileObject
	if kind == "config" {
		cs, err := api.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
		if err != nil {
			return nil, fmt.Errorf("list configs: %w", err)
		}
		for _, c := range cs {
			out = append(out, fileObject{c.ID, c.Spec.Name, c.Spec.Labels})
		}
		return out, nil
	}
	ss, err := api.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range ss {
		out = append(out, fileObject{s.ID, s.Spec.Name, s.Spec.Labels})
	}
	return out, nil
}

// pruneFiles removes the project's configs and secrets no service refers
// to any more (earlier contents). One still in use by a task that is
// shutting down stays, and goes with a later up or down.
func pruneFiles(ctx context.Context, t *Target, project string, pl *Plan) {
	inUse := map[string]bool{}
	for _, s := range pl.Services {
		if s.TaskTemplate.ContainerSpec == nil {
			continue
		}
		for _, c := range s.TaskTemplate.ContainerSpec.Configs {
			inUse[c.ConfigName] = true
		}
		for _, c := range s.TaskTemplate.ContainerSpec.Secrets {
			inUse[c.SecretName] = true
		}
	}
	var wg sync.WaitGroup
	for _, kind := range []string{"config", "secret"} {
		objs, err := listFiles(ctx, t.API, kind, project)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if inUse[o.name] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if kind == "config" {
					_ = t.API.ConfigRemove(ctx, o.id)
				} else {
					_ = t.API.SecretRemove(ctx, o.id)
				}
			}()
		}
	}
	wg.Wait()
}
