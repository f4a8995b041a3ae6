package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/engine/spec"
	"github.com/devorch/devorch/engine/stack"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
)

// StackRun is run on a Swarm: a one-off container of a service on the
// node stack.RunNode picks (beside the service's tasks, so that it sees
// their volumes' data; else where its constraints hold; the manager's
// first), with the service's configuration and run's overrides, on the
// stack's overlay networks (attachable for this) and its named volumes
// there. The stack must be up: its networks are the services'. The
// container carries the stack's label, so down removes it.
func (e *Engine) StackRun(ctx context.Context, p *compose.Project, o RunOptions, st Streams) (int, error) {
	s, err := runService(p, o, st)
	if err != nil {
		return 1, err
	}
	t, err := e.openStack(ctx)
	if err != nil {
		return 1, err
	}
	on, err := stack.RunNode(ctx, t, p.Name, o.Service)
	if err != nil {
		return 1, err
	}
	h := e.Pool.Get(on)
	nets := map[string]netctl.Ref{}
	if s.NetworkMode == "" {
		// The manager lists every overlay; a worker only those its
		// tasks use.
		have, err := t.API.NetworkList(ctx, network.ListOptions{})
		if err != nil {
			return 1, fmt.Errorf("list networks on host %q: %w", t.Manager, err)
		}
		for key := range s.Networks {
			name := p.Networks[key].Name
			i := slices.IndexFunc(have, func(n network.Summary) bool { return n.Name == name })
			if i < 0 {
				return 1, fmt.Errorf("network %s of service %q is not on the Swarm: devorch --target swarm up first", name, o.Service)
			}
			nets[key] = netctl.Ref{Name: name, ID: have[i].ID}
		}
	}
	vols, err := stackRunVolumes(ctx, h.Client, p, s)
	if err != nil {
		return 1, err
	}
	// The image on the node: copied from another node that has it (a
	// node that pulled it from a registry has it by digest only).
	node := []images.Host{{Name: h.Name, API: h.Client}}
	pool := images.Pool{Hosts: node, Sink: e.imageEvent}
	for _, n := range t.Nodes {
		if src := e.Pool.Get(n.Host); src != nil && src != h && n.State == "ready" {
			pool.Hosts = append(pool.Hosts, images.Host{Name: src.Name, API: src.Client})
		}
	}
	ids, err := images.Ensure(ctx, pool, p, map[string][]images.Host{o.Service: node}, o.Images)
	if err != nil {
		return 1, err
	}
	name := runName(p.Name, o)
	runProject := withService(p, o.Service, s)
	cs, err := spec.Build(spec.Input{
		Project: runProject, Service: s, Replica: 1, Name: name, Host: h.Name,
		Image: ImageRef(p, s), ImageID: ids[o.Service][h.Name], Version: Version,
		Networks: nets, Volumes: vols, OneOff: true,
	})
	if err != nil {
		return 1, err
	}
	cs.Config.Labels[labels.StackNamespace] = p.Name
	return e.startOneOff(ctx, h, cs, name, s, o, st)
}

// volumeAPI is what stackRunVolumes asks of the node's daemon.
type volumeAPI interface {
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
}

// stackRunVolumes makes the service's named volumes present on the node,
// labelled as the Swarm's tasks make them (so down -v finds them), and
// maps their keys to their names.
func stackRunVolumes(ctx context.Context, api volumeAPI, p *compose.Project, s types.ServiceConfig) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume || v.Source == "" {
			continue
		}
		cfg := p.Volumes[v.Source]
		out[v.Source] = cfg.Name
		if bool(cfg.External) {
			continue
		}
		have, err := api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", cfg.Name))})
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		if slices.ContainsFunc(have.Volumes, func(x *volume.Volume) bool { return x.Name == cfg.Name }) {
			continue
		}
		l := map[string]string{labels.StackNamespace: p.Name, labels.Project: p.Name, labels.Volume: v.Source}
		if _, err := api.VolumeCreate(ctx, volume.CreateOptions{Name: cfg.Name, Driver: cfg.Driver, DriverOpts: cfg.DriverOpts, Labels: l}); err != nil {
			return nil, fmt.Errorf("create volume %s: %w", cfg.Name, err)
		}
	}
	return out, nil
}
