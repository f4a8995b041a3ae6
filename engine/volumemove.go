package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/volumes"
)

// VolumeEntry is one of the project's volumes on one host.
type VolumeEntry struct {
	Name   string   `json:"Name"`
	Key    string   `json:"Key"` // the compose volume key
	Host   string   `json:"Host"`
	Driver string   `json:"Driver"`
	Size   int64    `json:"Size"` // bytes of data, -1 when the host does not say
	UsedBy []string `json:"UsedBy,omitempty"`
}

// VolumeList reports which host holds each of the project's volumes and
// how much data it holds.
func (e *Engine) VolumeList(ctx context.Context, project string) ([]VolumeEntry, error) {
	onHost := map[string][]*volume.Volume{}
	users := map[string]map[string][]string{} // host → volume → containers
	for _, h := range e.Pool.Hosts {
		hctx, cancel := context.WithTimeout(ctx, 30*hostTimeout())
		vs, err := volumes.Usage(hctx, h.Client, project)
		cancel()
		if err != nil {
			if e.Pool.Single() {
				return nil, fmt.Errorf("volumes on host %q: %w", h.Name, err)
			}
			e.warn("host %q is unreachable: %v; its volumes are not listed", h.Name, err)
			continue
		}
		onHost[h.Name] = vs
		users[h.Name] = map[string][]string{}
		cs, _ := listHost(ctx, h, project, listOptions{all: true})
		for _, c := range cs {
			insp, err := ctr.Inspect(ctx, h.Client, c.ID)
			if err != nil {
				continue
			}
			for _, m := range insp.Mounts {
				if m.Type == mount.TypeVolume {
					users[h.Name][m.Name] = append(users[h.Name][m.Name], c.Name)
				}
			}
		}
	}
	var out []VolumeEntry
	for _, l := range volumes.Where(project, onHost).All {
		out = append(out, VolumeEntry{Name: l.Name, Key: l.Key, Host: l.Host, Driver: l.Driver, Size: l.Size, UsedBy: users[l.Host][l.Name]})
	}
	return out, nil
}

// VolumeMove moves a volume's data to another host: volumes.Copy copies
// and verifies it, then the stopped containers that used it and the source
// go. The services using it must be stopped; their next up follows the
// data.
func (e *Engine) VolumeMove(ctx context.Context, project, name, to string) error {
	dst := e.Pool.Get(to)
	if dst == nil {
		return fmt.Errorf("no host %q in the pool (hosts: %s)", to, strings.Join(e.Pool.Names(), ", "))
	}
	list, err := e.VolumeList(ctx, project)
	if err != nil {
		return err
	}
	v, err := volumeToMove(list, project, name, to)
	if err != nil {
		return err
	}
	src := e.Pool.Get(v.Host)
	cs, err := listHost(ctx, src, project, listOptions{all: true})
	if err != nil {
		return err
	}
	users := volumeUsers(cs, v.UsedBy)
	if err := refuseRunningUsers(v, users); err != nil {
		return err
	}
	err = volumes.Copy(ctx, v.Name, volumes.Side{Host: v.Host, API: src.Client}, volumes.Side{Host: to, API: dst.Client},
		func(host, status string) { e.progress(ResVolume, v.Name, host, status) })
	if err != nil {
		return err
	}
	if err := e.removeVolumeUsers(ctx, src, v, users); err != nil {
		return err
	}
	return e.removeMovedSource(ctx, src, v, to)
}

// volumeToMove picks the one volume named name (its full name or its
// compose key) and checks it may move to host to.
func volumeToMove(list []VolumeEntry, project, name, to string) (VolumeEntry, error) {
	var found []VolumeEntry
	for _, v := range list {
		if v.Name == name || v.Key == name {
			found = append(found, v)
		}
	}
	switch {
	case len(found) == 0:
		return VolumeEntry{}, fmt.Errorf("project %q has no volume %q on a reachable host", project, name)
	case len(found) > 1:
		return VolumeEntry{}, fmt.Errorf("volume %q exists on several hosts (%s %s); remove the stale one first", name, found[0].Host, found[1].Host)
	}
	v := found[0]
	if v.Host == to {
		return VolumeEntry{}, fmt.Errorf("volume %s is already on host %q", v.Name, to)
	}
	return v, nil
}

// volumeUsers is the containers, in listing order, whose names usedBy
// holds; a name listed twice (a volume mounted twice) counts twice.
func volumeUsers(cs []Container, usedBy []string) []Container {
	var out []Container
	for _, c := range cs {
		for _, u := range usedBy {
			if u == c.Name {
				out = append(out, c)
			}
		}
	}
	return out
}

// refuseRunningUsers refuses the move while a user of the volume runs: a
// running service could write while the data is copied, and its container
// is removed afterwards.
func refuseRunningUsers(v VolumeEntry, users []Container) error {
	var running []string
	for _, c := range users {
		if c.Running() {
			running = append(running, c.Service)
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("volume %s is in use by running service(s) %s on host %q; stop them first (devorch stop %s)", v.Name, strings.Join(running, ", "), v.Host, strings.Join(running, " "))
	}
	return nil
}

// removeVolumeUsers removes the stopped containers on the old host: they
// still reference the volume, so it could not be removed while they stay.
func (e *Engine) removeVolumeUsers(ctx context.Context, src *hosts.Host, v VolumeEntry, users []Container) error {
	for _, c := range users {
		if err := ctr.Remove(ctx, src.Client, c.ID, false); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s (it used the moved volume) on host %q: %w", c.Name, v.Host, err)
		}
		e.progress(ResContainer, c.Name, v.Host, "Removed")
	}
	return nil
}

// removeMovedSource removes the source volume once its data is verified
// on host to.
func (e *Engine) removeMovedSource(ctx context.Context, src *hosts.Host, v VolumeEntry, to string) error {
	if err := volumes.Remove(ctx, src.Client, v.Name); err != nil {
		return errors.Join(fmt.Errorf("the data is on host %q and verified, but removing the old volume on host %q failed", to, v.Host), err)
	}
	e.progress(ResVolume, v.Name, v.Host, "Removed")
	e.progress(ResVolume, v.Name, to, "Moved from "+v.Host)
	return nil
}

// volumeHosts hands package volumes the hosts it is to work on.
func volumeHosts(hs []*hosts.Host) []volumes.Host {
	out := make([]volumes.Host, len(hs))
	for i, h := range hs {
		out[i] = volumes.Host{Name: h.Name, API: h.Client}
	}
	return out
}
