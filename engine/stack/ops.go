package stack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// StoppedReplicas holds, on a service `devorch stop` scaled to 0, the
// replicas it had, which `devorch start` gives back.
const StoppedReplicas = labels.Prefix + "stopped-replicas"

// stoppedHash keeps the spec-hash label of a stopped service: up then
// sees a change (and starts it), start puts it back (nothing changed).
const stoppedHash = labels.Prefix + "stopped-spec-hash"

// services returns the project's Swarm services by compose name, only
// those named (all when none is), and an error naming one it lacks.
func services(ctx context.Context, t *Target, project string, names []string) (map[string]swarm.Service, error) {
	svcs, err := t.API.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))})
	if err != nil {
		return nil, fmt.Errorf("list the project's services on host %q: %w", t.Manager, err)
	}
	out := map[string]swarm.Service{}
	for _, s := range svcs {
		name := s.Spec.Labels[labels.Service]
		if len(names) == 0 || slices.Contains(names, name) {
			out[name] = s
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("no Swarm service for service %q in project %q (devorch --target swarm up first)", n, project)
		}
	}
	return out, nil
}

// update applies change to each service and updates those it changed.
// A change away from the file's spec drops the spec-hash label, so that
// the next up converges the service back to the file.
func update(ctx context.Context, t *Target, svcs map[string]swarm.Service, sink func(Event), status string, change func(name string, spec *swarm.ServiceSpec) (bool, error)) error {
	if sink == nil {
		sink = func(Event) {}
	}
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		s := svcs[name]
		spec := s.Spec
		spec.Labels = maps.Clone(spec.Labels)
		changed, err := change(name, &spec)
		if err != nil {
			return err
		}
		if !changed {
			continue
		}
		if _, err := t.API.ServiceUpdate(ctx, s.ID, s.Version, spec, swarm.ServiceUpdateOptions{}); err != nil {
			return fmt.Errorf("update service %s: %w", spec.Name, err)
		}
		sink(Event{Resource: "Service", Name: spec.Name, Status: status})
	}
	return nil
}

// replicas is a replicated service's replicas; an error for a global
// service, whose tasks follow the nodes.
func replicas(name string, spec *swarm.ServiceSpec) (*uint64, error) {
	if spec.Mode.Replicated == nil {
		return nil, fmt.Errorf("service %q is not replicated (global or job): it cannot be scaled or stopped; devorch down removes it", name)
	}
	if spec.Mode.Replicated.Replicas == nil {
		one := uint64(1)
		spec.Mode.Replicated.Replicas = &one
	}
	return spec.Mode.Replicated.Replicas, nil
}

// Scale sets services' replicas, one update each.
func Scale(ctx context.Context, t *Target, project string, want map[string]int, sink func(Event)) error {
	svcs, err := services(ctx, t, project, slices.Collect(maps.Keys(want)))
	if err != nil {
		return err
	}
	return update(ctx, t, svcs, sink, "Scaled", func(name string, spec *swarm.ServiceSpec) (bool, error) {
		r, err := replicas(name, spec)
		if err != nil {
			return false, err
		}
		if *r == uint64(want[name]) {
			return false, nil
		}
		n := uint64(want[name])
		spec.Mode.Replicated.Replicas = &n
		delete(spec.Labels, SpecHashLabel)
		delete(spec.Labels, StoppedReplicas)
		delete(spec.Labels, stoppedHash)
		return true, nil
	})
}

// Restart restarts services' tasks as a rolling update (Swarm's force
// update), per their update_config.
func Restart(ctx context.Context, t *Target, project string, names []string, sink func(Event)) error {
	svcs, err := services(ctx, t, project, names)
	if err != nil {
		return err
	}
	return update(ctx, t, svcs, sink, "Restarted", func(_ string, spec *swarm.ServiceSpec) (bool, error) {
		spec.TaskTemplate.ForceUpdate++
		return true, nil
	})
}

// Stop scales services to 0, keeping their replicas in a label for Start;
// a service already stopped is left alone.
func Stop(ctx context.Context, t *Target, project string, names []string, sink func(Event)) error {
	svcs, err := services(ctx, t, project, names)
	if err != nil {
		return err
	}
	return update(ctx, t, svcs, sink, "Stopped", func(name string, spec *swarm.ServiceSpec) (bool, error) {
		if spec.Mode.Replicated == nil && len(names) == 0 {
			return false, nil // a global service keeps running when all stop
		}
		r, err := replicas(name, spec)
		if err != nil {
			return false, err
		}
		if *r == 0 {
			return false, nil
		}
		spec.Labels[StoppedReplicas] = strconv.FormatUint(*r, 10)
		if h, ok := spec.Labels[SpecHashLabel]; ok {
			spec.Labels[stoppedHash] = h
			delete(spec.Labels, SpecHashLabel)
		}
		zero := uint64(0)
		spec.Mode.Replicated.Replicas = &zero
		return true, nil
	})
}

// Start gives stopped services back the replicas Stop kept.
func Start(ctx context.Context, t *Target, project string, names []string, sink func(Event)) error {
	svcs, err := services(ctx, t, project, names)
	if err != nil {
		return err
	}
	return update(ctx, t, svcs, sink, "Started", func(_ string, spec *swarm.ServiceSpec) (bool, error) {
		kept, ok := spec.Labels[StoppedReplicas]
		if !ok || spec.Mode.Replicated == nil {
			return false, nil
		}
		n, err := strconv.ParseUint(kept, 10, 64)
		if err != nil {
			return false, fmt.Errorf("service %s: label %s=%q is not a number", spec.Name, StoppedReplicas, kept)
		}
		spec.Mode.Replicated.Replicas = &n
		delete(spec.Labels, StoppedReplicas)
		if h, ok := spec.Labels[stoppedHash]; ok {
			spec.Labels[SpecHashLabel] = h
			delete(spec.Labels, stoppedHash)
		}
		return true, nil
	})
}

// TaskContainer is where a running task's container is: the devorch host
// of its node and the container's ID.
type TaskContainer struct {
	Host, ID, Name string
}

// FindTask finds the running task of a service's slot (1 when slot is 0;
// for a global service, the first running task), and the devorch host its
// node is; an error says why there is none, or that devorch cannot reach
// its node.
func FindTask(ctx context.Context, t *Target, project, service string, slot int) (TaskContainer, error) {
	svcs, err := services(ctx, t, project, []string{service})
	if err != nil {
		return TaskContainer{}, err
	}
	s := svcs[service]
	tasks, err := t.API.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", s.ID), filters.Arg("desired-state", "running"))})
	if err != nil {
		return TaskContainer{}, fmt.Errorf("list the tasks of service %s: %w", s.Spec.Name, err)
	}
	if slot <= 0 && s.Spec.Mode.Replicated != nil {
		slot = 1
	}
	slices.SortFunc(tasks, func(a, b swarm.Task) int { return a.Slot - b.Slot })
	for _, task := range tasks {
		if slot > 0 && task.Slot != slot {
			continue
		}
		name := fmt.Sprintf("%s.%d", service, task.Slot)
		if task.Status.State != swarm.TaskStateRunning || task.Status.ContainerStatus == nil {
			return TaskContainer{}, fmt.Errorf("task %s of service %q is %s, not running", name, service, task.Status.State)
		}
		h, ok := t.Hosts[task.NodeID]
		if !ok {
			return TaskContainer{}, fmt.Errorf("task %s of service %q runs on node %s, which is not among devorch's hosts: declare it (--host, DEVORCH_HOSTS or x-devorch hosts) to reach its containers", name, service, t.NodeNames()[task.NodeID])
		}
		return TaskContainer{Host: h.Name, ID: task.Status.ContainerStatus.ContainerID, Name: name}, nil
	}
	if slot > 0 {
		return TaskContainer{}, fmt.Errorf("service %q has no running task in slot %d", service, slot)
	}
	return TaskContainer{}, fmt.Errorf("service %q has no running task", service)
}

// RunNode is the devorch host a one-off container of service runs on
// (devorch run): beside the service's running tasks, where their volumes'
// data is and their constraints hold, the manager's node first among
// them. A service with no running task follows its placement constraints
// (node.id, the one devorch adds for a volume's data, among them), the
// manager first.
func RunNode(ctx context.Context, t *Target, project, service string) (string, error) {
	svcs, err := services(ctx, t, project, []string{service})
	if err != nil {
		return "", err
	}
	s := svcs[service]
	tasks, err := t.API.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", s.ID), filters.Arg("desired-state", "running"))})
	if err != nil {
		return "", fmt.Errorf("list the tasks of service %s: %w", s.Spec.Name, err)
	}
	slices.SortFunc(tasks, func(a, b swarm.Task) int { return a.Slot - b.Slot })
	var on []string // nodes running a task, the manager's first
	for _, task := range tasks {
		if task.Status.State != swarm.TaskStateRunning || slices.Contains(on, task.NodeID) {
			continue
		}
		if h, ok := t.Hosts[task.NodeID]; ok && h.Name == t.Manager {
			return t.Manager, nil
		}
		on = append(on, task.NodeID)
	}
	if len(on) > 0 {
		names := t.NodeNames()
		var unknown []string
		for _, id := range on {
			if h, ok := t.Hosts[id]; ok {
				return h.Name, nil
			}
			unknown = append(unknown, names[id])
		}
		return "", fmt.Errorf("service %q runs only on node(s) %s, which are not among devorch's hosts: declare one (--host, DEVORCH_HOSTS or x-devorch hosts) to run beside its tasks", service, strings.Join(unknown, ", "))
	}
	var cons []string
	if pl := s.Spec.TaskTemplate.Placement; pl != nil {
		cons = pl.Constraints
	}
	nodes := slices.Clone(t.Nodes)
	slices.SortStableFunc(nodes, func(a, b Node) int { return boolInt(b.Host == t.Manager) - boolInt(a.Host == t.Manager) })
	for _, n := range nodes {
		if n.Host != "" && n.State == string(swarm.NodeStateReady) && meets(n, cons) {
			return n.Host, nil
		}
	}
	return "", fmt.Errorf("service %q has no running task, and no ready node among devorch's hosts meets its constraints %s", service, strings.Join(cons, ", "))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// meets says whether node n meets the placement constraints, as SwarmKit
// compares them: values ignore case, and a label the node lacks fails
// "==" and meets "!=". A key SwarmKit would refuse is not checked.
func meets(n Node, cons []string) bool {
	for _, c := range cons {
		eq := true
		key, val, ok := strings.Cut(c, "==")
		if !ok {
			if key, val, ok = strings.Cut(c, "!="); !ok {
				continue
			}
			eq = false
		}
		key = strings.TrimSpace(key)
		have, known := "", true
		switch lk := strings.ToLower(key); {
		case lk == "node.id":
			have = n.ID
		case lk == "node.hostname":
			have = n.Hostname
		case lk == "node.role":
			have = n.Role
		case lk == "node.platform.os":
			have = n.OS
		case lk == "node.platform.arch":
			have = n.Arch
		case strings.HasPrefix(lk, "node.labels."):
			have, known = n.Labels[key[len("node.labels."):]]
		case strings.HasPrefix(lk, "engine.labels."):
			have, known = n.EngineLabels[key[len("engine.labels."):]]
		default:
			continue
		}
		if (known && strings.EqualFold(have, strings.TrimSpace(val))) != eq {
			return false
		}
	}
	return true
}
