// Package netctl owns devorch's networks on a pool of hosts: their names;
// creating them, or reusing what an earlier run created (found by label,
// two of one name healed), and checking external ones exist; giving each a
// subnet that overlaps nothing on any host; removing them; a container's
// endpoint on each of its networks (aliases, static addresses, priority)
// and connecting it to them; the cross-host links by which a service
// reaches a dependency on another host; and keeping containers from
// leaving one network together (Lanes), which Docker 20.10 miscounts. It
// works over a narrow Docker API and plain data and reports to a Sink, so
// that it needs nothing of the engine.
package netctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

// API is the part of the Docker client netctl uses.
type API interface {
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
}

// Name is the Docker name of a project's network: the file's name:, else
// <project>_<key>, as compose names it.
func Name(project, key string, cfg types.NetworkConfig) string {
	if cfg.Name != "" {
		return cfg.Name
	}
	return project + "_" + key
}

// Result says what Ensure did.
type Result struct {
	Name    string
	ID      string
	Created bool
	// Warning is set when an existing network without devorch's labels is
	// used as is.
	Warning string
}

// Request describes one compose network to ensure on one host.
type Request struct {
	Project string
	Key     string // the compose network key, e.g. "default"
	Config  types.NetworkConfig
	Host    string // devorch host name, recorded as a label
	// Subnet, when set and the file gives none, is the subnet to create the
	// network with (devorch allocates non-overlapping subnets across hosts).
	Subnet string
	// Overlay asks for a Swarm overlay network (attachable), created on
	// Host, a manager of the Swarm, and used on the Span hosts.
	Overlay bool
	Span    []string
}

// Ensure creates the network if it does not exist, or reuses it. Its
// result names the network by ID too: callers refer to it by ID, so that a
// second network of the same name (below) can never make a container
// create fail as "ambiguous".
//
// Docker 20.10 checks a new network's name against the existing ones, but
// not atomically: a create still in flight in the daemon (sent by a run
// that was then killed) and this run's create can both succeed, leaving two
// networks with one name. Ensure therefore looks again after creating, and
// whenever it finds several networks of the project under one name it keeps
// one (see pick) and removes the others that nothing is attached to.
func Ensure(ctx context.Context, api API, r Request) (Result, error) {
	name := Name(r.Project, r.Key, r.Config)
	existing, err := findFor(ctx, api, r, name)
	if err != nil {
		return Result{}, fmt.Errorf("look up network %q on host %q: %w", name, r.Host, err)
	}
	if bool(r.Config.External) {
		if len(existing) == 0 {
			return Result{}, fmt.Errorf("network %q is declared as external, but could not be found on host %q; create it with `docker network create %s`", name, r.Host, name)
		}
		if len(existing) > 1 {
			return Result{}, fmt.Errorf("external network %q is ambiguous on host %q: %d networks have that name (%s); remove all but one", name, r.Host, len(existing), ids(existing))
		}
		return Result{Name: name, ID: existing[0].ID}, nil
	}
	if len(existing) > 0 {
		keep, warning, err := settle(ctx, api, r, name, existing)
		if err != nil {
			return Result{}, err
		}
		switch p, ok := keep.Labels[labels.Project]; {
		case !ok:
			return Result{Name: name, ID: keep.ID, Warning: fmt.Sprintf("network %q exists on host %q but was not created by devorch; it is used as is (declare it external: true to silence this)", name, r.Host)}, nil
		case p != r.Project:
			return Result{}, fmt.Errorf("network %q on host %q belongs to devorch project %q, not %q", name, r.Host, p, r.Project)
		}
		return Result{Name: name, ID: keep.ID, Warning: warning}, nil
	}
	resp, err := api.NetworkCreate(ctx, name, createOptions(r))
	if err != nil {
		if errdefs.IsConflict(err) {
			// Someone else (a parallel run) created it first.
			if again, ferr := findFor(ctx, api, r, name); ferr == nil && len(again) > 0 {
				keep, warning, err := settle(ctx, api, r, name, again)
				if err != nil {
					return Result{}, err
				}
				return Result{Name: name, ID: keep.ID, Warning: warning}, nil
			}
		}
		return Result{}, fmt.Errorf("create network %q on host %q: %w", name, r.Host, err)
	}
	// Look again: a create of the same name still in flight when this run
	// looked may have completed meanwhile.
	again, err := findFor(ctx, api, r, name)
	if err != nil {
		return Result{}, fmt.Errorf("look up network %q on host %q: %w", name, r.Host, err)
	}
	if len(again) > 1 {
		keep, warning, err := settle(ctx, api, r, name, again)
		if err != nil {
			return Result{}, err
		}
		return Result{Name: name, ID: keep.ID, Created: keep.ID == resp.ID, Warning: warning}, nil
	}
	return Result{Name: name, ID: resp.ID, Created: true}, nil
}

func createOptions(r Request) network.CreateOptions {
	l := map[string]string{}
	for k, v := range r.Config.Labels {
		l[k] = v
	}
	l[labels.Project] = r.Project
	l[labels.Network] = r.Key
	l[labels.Host] = r.Host
	opts := network.CreateOptions{
		Driver:     "bridge",
		Internal:   r.Config.Internal,
		Attachable: r.Config.Attachable,
		EnableIPv6: r.Config.EnableIPv6,
		Options:    r.Config.DriverOpts,
		Labels:     l,
	}
	if r.Config.Driver != "" && r.Config.Driver != "default" {
		opts.Driver = r.Config.Driver
	}
	if r.Overlay {
		// Attachable: plain containers (not Swarm services) join it.
		opts.Driver, opts.Attachable = "overlay", true
	}
	ipam := &network.IPAM{Driver: r.Config.Ipam.Driver, Options: r.Config.Ipam.Options}
	for _, pool := range r.Config.Ipam.Config {
		ipam.Config = append(ipam.Config, network.IPAMConfig{
			Subnet: pool.Subnet, Gateway: pool.Gateway, IPRange: pool.IPRange, AuxAddress: pool.AuxiliaryAddresses,
		})
	}
	if len(ipam.Config) == 0 && r.Subnet != "" {
		ipam.Config = []network.IPAMConfig{{Subnet: r.Subnet}}
	}
	if len(ipam.Config) > 0 || ipam.Driver != "" || len(ipam.Options) > 0 {
		opts.IPAM = ipam
	}
	return opts
}

// settle returns the network to use among those named name. With several,
// it keeps the one pick chooses and removes the others that belong to the
// project and have nothing attached; what it cannot remove is said in the
// warning (down removes it with the rest of the project).
func settle(ctx context.Context, api API, r Request, name string, list []network.Summary) (network.Summary, string, error) {
	if len(list) == 1 {
		return list[0], "", nil
	}
	attached := make([]int, len(list))
	for i, n := range list {
		insp, err := api.NetworkInspect(ctx, n.ID, network.InspectOptions{})
		if err != nil && !errdefs.IsNotFound(err) {
			return network.Summary{}, "", fmt.Errorf("inspect network %q (%s) on host %q: %w", name, short(n.ID), r.Host, err)
		}
		attached[i] = len(insp.Containers)
	}
	k := pick(list, attached)
	var kept []string
	for i, n := range list {
		if i == k {
			continue
		}
		if n.Labels[labels.Project] != r.Project || attached[i] > 0 {
			kept = append(kept, fmt.Sprintf("%s (%d containers attached)", short(n.ID), attached[i]))
			continue
		}
		if err := api.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			kept = append(kept, fmt.Sprintf("%s (%v)", short(n.ID), err))
		}
	}
	if len(kept) == 0 {
		return list[k], "", nil
	}
	return list[k], fmt.Sprintf("network %q exists %d times on host %q (a run killed while creating it): using %s, left %s", name, len(list), r.Host, short(list[k].ID), strings.Join(kept, ", ")), nil
}

// pick chooses, among networks of one name, the one to keep: the one with
// the most containers attached (they stay connected), else the oldest,
// else the smallest ID, so that every run picks the same.
func pick(list []network.Summary, attached []int) int {
	best := 0
	for i := 1; i < len(list); i++ {
		a, b := list[i], list[best]
		switch {
		case attached[i] != attached[best]:
			if attached[i] > attached[best] {
				best = i
			}
		case !a.Created.Equal(b.Created):
			if a.Created.Before(b.Created) {
				best = i
			}
		case a.ID < b.ID:
			best = i
		}
	}
	return best
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func ids(list []network.Summary) string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = short(n.ID)
	}
	return strings.Join(out, ", ")
}

// find returns the networks named exactly name (Docker's name filter also
// matches parts of names).
// findFor is find for a request: an overlay request sees only overlays and
// any other only the rest, so that a bridge an overlay replaces keeps its
// name until its containers have moved off it.
func findFor(ctx context.Context, api API, r Request, name string) ([]network.Summary, error) {
	list, err := find(ctx, api, name)
	if err != nil || bool(r.Config.External) {
		return list, err
	}
	wantOverlay := r.Overlay || r.Config.Driver == "overlay"
	var out []network.Summary
	for _, n := range list {
		if (n.Driver == "overlay") == wantOverlay {
			out = append(out, n)
		}
	}
	return out, nil
}

func find(ctx context.Context, api API, name string) ([]network.Summary, error) {
	list, err := api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return nil, err
	}
	var out []network.Summary
	for _, n := range list {
		if n.Name == name {
			out = append(out, n)
		}
	}
	return out, nil
}

// List returns the project's networks on a host, sorted by name.
func List(ctx context.Context, api API, project string) ([]network.Summary, error) {
	list, err := api.NetworkList(ctx, network.ListOptions{Filters: labels.ProjectFilter(project)})
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// ErrStaleEndpoint is what Remove fails with when Docker refuses to remove
// a network for an endpoint no container holds (see Lanes): nothing but a
// daemon restart removes it; the next up reuses the network.
var ErrStaleEndpoint = errors.New("Docker counts an endpoint on it that no container holds (a Docker 20.10 bookkeeping fault)")

// Remove removes one network; a network that is already gone is not an
// error. Docker can still count the endpoint of a container it has just
// removed for a moment ("has active endpoints"): that is retried briefly.
func Remove(ctx context.Context, api API, id string) error {
	var err error
	start := time.Now()
	for try := 0; try < 10 || (isInUseByTask(err) && time.Since(start) < overlayGone); try++ {
		err = api.NetworkRemove(ctx, id)
		// A Swarm manager answers a removed overlay it still lists with a
		// plain "not found".
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err == nil || strings.HasSuffix(err.Error(), " not found") {
			// An overlay leaves the hosts' own lists a moment after
			// the Swarm's, its manager's included: wait until it has.
			if !awaitGone(ctx, api, id, overlayGone) {
				return fmt.Errorf("network %s is still listed %s after its removal", short(id), overlayGone)
			}
			return nil
		}
		// An overlay's manager counts a removed container's attachment
		// ("in use by task") until the Swarm catches up.
		if !strings.Contains(err.Error(), "has active endpoints") && !isInUseByTask(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	if used, ierr := InUse(ctx, api, id); ierr == nil && !used && !isInUseByTask(err) {
		return ErrStaleEndpoint
	}
	return err
}

// isInUseByTask is an overlay's manager refusing a removal for a container
// attachment it still counts.
func isInUseByTask(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is in use by task")
}

// InUse reports whether any container is still attached to the network.
func InUse(ctx context.Context, api API, id string) (bool, error) {
	n, err := api.NetworkInspect(ctx, id, network.InspectOptions{})
	if err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return len(n.Containers) > 0, nil
}
