package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

// RemoveOptions says what Remove removes besides services, networks,
// configs and secrets.
type RemoveOptions struct {
	// Volumes removes the project's named volumes on every node devorch
	// reaches.
	Volumes bool
	// Services limits the removal to these compose services (their Swarm
	// services only).
	Services []string
	Sink     func(Event)
}

// gone bounds how long Remove waits for the tasks' containers to leave the
// nodes, and for Swarm to let go of a network or a config they used.
const gone = 90 * time.Second

// Remove takes the project off the Swarm, as docker stack rm does, and then
// some: services first; then, once their containers have left the nodes
// devorch reaches, the networks, configs and secrets (Swarm refuses them
// while a task still uses them), and with Volumes the named volumes on
// every reachable node.
func Remove(ctx context.Context, t *Target, project string, o RemoveOptions) error {
	sink := o.Sink
	if sink == nil {
		sink = func(Event) {}
	}
	ns := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))
	svcs, err := t.API.ServiceList(ctx, swarm.ServiceListOptions{Filters: ns})
	if err != nil {
		return fmt.Errorf("list the project's services on host %q: %w", t.Manager, err)
	}
	slices.SortFunc(svcs, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	var errs []error
	removed := map[string]bool{}
	for _, s := range svcs {
		if len(o.Services) > 0 && !slices.Contains(o.Services, s.Spec.Labels[labels.Service]) {
			continue
		}
		sink(Event{Resource: "Service", Name: s.Spec.Name, Status: "Removing"})
		if err := t.API.ServiceRemove(ctx, s.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
			continue
		}
		removed[s.ID] = true
		sink(Event{Resource: "Service", Name: s.Spec.Name, Status: "Removed"})
	}
	if len(o.Services) > 0 {
		return errors.Join(errs...)
	}
	wctx, cancel := context.WithTimeout(ctx, gone)
	defer cancel()
	errs = append(errs, removeOneOffs(ctx, t, project, sink)...)
	// A removed service's tasks leave the Swarm once their nodes have shut
	// them down; until then a task may still be creating its container.
	if err := tasksGone(wctx, t.API, removed); err != nil {
		errs = append(errs, err)
	}
	if err := goneFromNodes(wctx, t, "task containers", func(h Host) (int, error) {
		cs, err := h.API.ContainerList(wctx, container.ListOptions{All: true, Filters: ns})
		return len(cs), err
	}); err != nil {
		errs = append(errs, err)
	}
	nets, err := t.API.NetworkList(ctx, network.ListOptions{Filters: ns})
	if err != nil {
		errs = append(errs, fmt.Errorf("list the project's networks on host %q: %w", t.Manager, err))
	}
	for _, n := range nets {
		if err := retryInUse(wctx, func() error { return t.API.NetworkRemove(ctx, n.ID) }); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		sink(Event{Resource: "Network", Name: n.Name, Status: "Removed"})
	}
	// A worker drops its copy of an overlay a moment after the manager
	// removed it: down is done when no node lists it.
	if err := goneFromNodes(wctx, t, "networks", func(h Host) (int, error) {
		ns, err := h.API.NetworkList(wctx, network.ListOptions{Filters: ns})
		return len(ns), err
	}); err != nil {
		errs = append(errs, err)
	}
	for _, kind := range []string{"config", "secret"} {
		objs, err := listFiles(ctx, t.API, kind, project)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range objs {
			rm := t.API.ConfigRemove
			if kind == "secret" {
				rm = t.API.SecretRemove
			}
			if err := retryInUse(wctx, func() error { return rm(ctx, f.id) }); err != nil {
				errs = append(errs, fmt.Errorf("remove %s %s: %w", kind, f.name, err))
				continue
			}
			sink(Event{Resource: strings.ToUpper(kind[:1]) + kind[1:], Name: f.name, Status: "Removed"})
		}
	}
	if o.Volumes {
		errs = append(errs, removeVolumes(ctx, t, project, sink)...)
	}
	return errors.Join(errs...)
}

// tasksGone waits until the Swarm lists no task of the removed services.
// (A task filter naming a removed service is refused, so all are read.)
func tasksGone(ctx context.Context, api API, removed map[string]bool) error {
	if len(removed) == 0 {
		return nil
	}
	for {
		tasks, err := api.TaskList(ctx, swarm.TaskListOptions{})
		if err == nil && !slices.ContainsFunc(tasks, func(t swarm.Task) bool { return removed[t.ServiceID] }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the removed services' tasks are still in the Swarm after %s", gone)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// goneFromNodes waits until count finds none of the project's what on
// every ready node devorch reaches.
func goneFromNodes(ctx context.Context, t *Target, what string, count func(Host) (int, error)) error {
	for _, n := range t.Nodes {
		h, ok := t.Hosts[n.ID]
		if !ok || n.State != string(swarm.NodeStateReady) {
			continue
		}
		for {
			left, err := count(h)
			if err == nil && left == 0 {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("the project's %s are still on node %s after %s", what, n.Name(), gone)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// retryInUse calls rm until Swarm stops refusing it because a task still
// uses the object (its container leaves a moment after the task), or ctx
// ends.
func retryInUse(ctx context.Context, rm func() error) error {
	for {
		err := rm()
		if err == nil || errdefs.IsNotFound(err) {
			return nil
		}
		msg := err.Error()
		if !strings.Contains(msg, "in use") && !strings.Contains(msg, "active endpoints") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// removeVolumes removes the project's named volumes on every node devorch
// reaches, and says which nodes it could not look at.
func removeVolumes(ctx context.Context, t *Target, project string, sink func(Event)) []error {
	var errs []error
	f := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))
	for _, n := range t.Nodes {
		h, ok := t.Hosts[n.ID]
		if !ok {
			sink(Event{Warning: fmt.Sprintf("node %s is not among devorch's hosts: the project's volumes there, if any, are left", n.Name())})
			continue
		}
		vs, err := h.API.VolumeList(ctx, volume.ListOptions{Filters: f})
		if err != nil {
			errs = append(errs, fmt.Errorf("list volumes on node %s: %w", n.Name(), err))
			continue
		}
		for _, v := range vs.Volumes {
			if err := h.API.VolumeRemove(ctx, v.Name, false); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s on node %s: %w", v.Name, n.Name(), err))
				continue
			}
			sink(Event{Resource: "Volume", Name: v.Name, Node: n.Name(), Status: "Removed"})
		}
	}
	return errs
}

// removeOneOffs removes the containers `devorch run` made on the nodes
// devorch reaches (they are no task's, Swarm leaves them).
func removeOneOffs(ctx context.Context, t *Target, project string, sink func(Event)) []error {
	var errs []error
	f := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project), filters.Arg("label", labels.OneOff+"=true"))
	for _, n := range t.Nodes {
		h, ok := t.Hosts[n.ID]
		if !ok {
			continue
		}
		cs, err := h.API.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			errs = append(errs, fmt.Errorf("list one-off containers on node %s: %w", n.Name(), err))
			continue
		}
		for _, c := range cs {
			if err := h.API.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s on node %s: %w", strings.TrimPrefix(c.Names[0], "/"), n.Name(), err))
				continue
			}
			sink(Event{Resource: "Container", Name: strings.TrimPrefix(c.Names[0], "/"), Node: n.Name(), Status: "Removed"})
		}
	}
	return errs
}
