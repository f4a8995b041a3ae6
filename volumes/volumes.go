// Package volumes owns the project's named volumes on a pool of hosts:
// their Docker names, creating them (or reusing what an earlier run created,
// found by label) and checking external ones exist, listing and removing
// them on every host, saying where each volume's data is (Where, read by
// placement and by `volume ls`), and copying a volume's data to another
// host through helper containers, verified file by file (Copy). A host keeps
// one volume per name, so unlike networks there is no duplicate on one host
// to heal; a volume found on several hosts is what Where reports as split.
package volumes

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

// API is the part of the Docker client volumes uses.
type API interface {
	VolumeInspect(ctx context.Context, volumeID string) (volume.Volume, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
}

// Result says what Ensure did.
type Result struct {
	Name    string
	Created bool
	Warning string
}

// Request describes one compose volume to ensure on one host.
type Request struct {
	Project string
	Key     string
	Config  types.VolumeConfig
	Host    string
}

// Name is the Docker name of a compose volume.
func Name(project, key string, cfg types.VolumeConfig) string {
	if cfg.Name != "" {
		return cfg.Name
	}
	return project + "_" + key
}

// Ensure creates the volume if needed.
func Ensure(ctx context.Context, api API, r Request) (Result, error) {
	name := Name(r.Project, r.Key, r.Config)
	v, err := api.VolumeInspect(ctx, name)
	found := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return Result{}, fmt.Errorf("look up volume %q on host %q: %w", name, r.Host, err)
	}
	if bool(r.Config.External) {
		if !found {
			return Result{}, fmt.Errorf("volume %q is declared as external, but could not be found on host %q; create it with `docker volume create %s`", name, r.Host, name)
		}
		return Result{Name: name}, nil
	}
	if found {
		switch p, ok := v.Labels[labels.Project]; {
		case !ok:
			return Result{Name: name, Warning: fmt.Sprintf("volume %q exists on host %q but was not created by devorch; it is used as is (declare it external: true to silence this)", name, r.Host)}, nil
		case p != r.Project:
			return Result{}, fmt.Errorf("volume %q on host %q belongs to devorch project %q, not %q", name, r.Host, p, r.Project)
		}
		return Result{Name: name}, nil
	}
	l := map[string]string{}
	for k, v := range r.Config.Labels {
		l[k] = v
	}
	l[labels.Project] = r.Project
	l[labels.Volume] = r.Key
	l[labels.Host] = r.Host
	_, err = api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: r.Config.Driver, DriverOpts: r.Config.DriverOpts, Labels: l})
	if err != nil {
		return Result{}, fmt.Errorf("create volume %q on host %q: %w", name, r.Host, err)
	}
	return Result{Name: name, Created: true}, nil
}

// List returns the project's volumes on a host, sorted by name.
func List(ctx context.Context, api API, project string) ([]*volume.Volume, error) {
	resp, err := api.VolumeList(ctx, volume.ListOptions{Filters: labels.ProjectFilter(project)})
	if err != nil {
		return nil, err
	}
	sort.Slice(resp.Volumes, func(i, j int) bool { return resp.Volumes[i].Name < resp.Volumes[j].Name })
	return resp.Volumes, nil
}

// Remove removes a volume; one already gone is not an error.
func Remove(ctx context.Context, api API, name string) error {
	err := api.VolumeRemove(ctx, name, false)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// Host is one host of the pool: its devorch name and its Docker API.
type Host struct {
	Name string
	API  API
}

// ListAll returns the project's volumes on each host, read in parallel; a
// host that does not answer fails the whole list.
func ListAll(ctx context.Context, hosts []Host, project string) (map[string][]*volume.Volume, error) {
	out := map[string][]*volume.Volume{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range hosts {
		g.Go(func() error {
			vs, err := List(gctx, h.API, project)
			if err != nil {
				return fmt.Errorf("list volumes on host %q: %w", h.Name, err)
			}
			mu.Lock()
			out[h.Name] = vs
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// RemoveAll removes the project's volumes (external ones carry no label of
// the project, so they stay) on every host, hosts in parallel. progress
// hears of each volume as it goes: "Removing", then "Removed". The first
// failure stops the removal.
func RemoveAll(ctx context.Context, hosts []Host, project string, progress func(name, host, status string)) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range hosts {
		g.Go(func() error {
			vs, err := List(gctx, h.API, project)
			if err != nil {
				return fmt.Errorf("list volumes on host %q: %w", h.Name, err)
			}
			for _, v := range vs {
				progress(v.Name, h.Name, "Removing")
				if err := Remove(gctx, h.API, v.Name); err != nil {
					return fmt.Errorf("remove volume %s on host %q: %w", v.Name, h.Name, err)
				}
				progress(v.Name, h.Name, "Removed")
			}
			return nil
		})
	}
	return g.Wait()
}
