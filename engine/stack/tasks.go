package stack

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// TaskRow is one line of `devorch ps` on a Swarm: one task.
type TaskRow struct {
	// Service is the compose service's name.
	Service string
	// Name is <service>.<slot>, or <service>.<short node ID> for a global
	// service's task, as docker service ps names them.
	Name string
	Slot int
	// Node is the display name of the task's node; empty while unassigned.
	Node string
	// Image is what the task runs: the human-readable tag devorch keeps
	// in the service's labels.ImageTag label when the task runs that
	// spec's image, else the task's own image reference.
	Image                      string
	DesiredState, CurrentState string
	// Since is when the task entered its current state.
	Since time.Time
	// Err is Swarm's error for the task, if any.
	Err string
	// Ports are the task's published ports, "0.0.0.0:8080->80/tcp".
	Ports []string
	ID    string
	// History marks an earlier task of the same slot or node, kept because
	// it failed; it follows that slot's current task.
	History bool
}

// Rows lists the tasks of services for `devorch ps`, sorted by service,
// then slot (global services: node name), each slot's current task first.
// The current tasks are those Swarm wants running (desired state running
// or ready, or complete for a job), or, in a slot with none, the newest
// one, so that a service that stopped still shows how. Earlier tasks of
// the slot follow only if they failed or were rejected, newest first, as
// the reason a slot restarted; the shut-down tasks a rolling update left
// behind are dropped, unlike docker stack ps. Tasks of services not in
// services are skipped.
//
// A task's ports are the host-mode ports it published (its PortStatus)
// and, while it is meant to run, the service's ingress ports, which every
// node publishes.
func Rows(services []swarm.Service, tasks []swarm.Task, nodes map[string]string) []TaskRow {
	byID := make(map[string]swarm.Service, len(services))
	for _, s := range services {
		byID[s.ID] = s
	}
	// Group by service and slot (or node for global services).
	type group struct {
		service, node string
		slot          int
		tasks         []swarm.Task
	}
	type key struct{ service, slot string }
	groups := map[key]*group{}
	for _, t := range tasks {
		svc, ok := byID[t.ServiceID]
		if !ok {
			continue
		}
		k := key{svc.ID, strconv.Itoa(t.Slot)}
		if globalMode(svc.Spec.Mode) {
			k.slot = t.NodeID
		}
		g := groups[k]
		if g == nil {
			g = &group{service: composeName(svc), slot: t.Slot}
			if globalMode(svc.Spec.Mode) {
				g.node = nodeName(nodes, t.NodeID) + "\x00" + t.NodeID
			}
			groups[k] = g
		}
		g.tasks = append(g.tasks, t)
	}
	ordered := make([]*group, 0, len(groups))
	for _, g := range groups {
		ordered = append(ordered, g)
	}
	sort.Slice(ordered, func(i, j int) bool {
		a, b := ordered[i], ordered[j]
		if a.service != b.service {
			return a.service < b.service
		}
		if a.slot != b.slot {
			return a.slot < b.slot
		}
		return a.node < b.node
	})

	var rows []TaskRow
	for _, g := range ordered {
		svc := byID[g.tasks[0].ServiceID]
		ts := g.tasks
		sort.Slice(ts, func(i, j int) bool {
			ci, cj := currentTask(svc, ts[i]), currentTask(svc, ts[j])
			if ci != cj {
				return ci
			}
			if !ts[i].CreatedAt.Equal(ts[j].CreatedAt) {
				return ts[i].CreatedAt.After(ts[j].CreatedAt)
			}
			return ts[i].ID < ts[j].ID
		})
		for i, t := range ts {
			history := i > 0 && !currentTask(svc, t)
			if history && t.Status.State != swarm.TaskStateFailed && t.Status.State != swarm.TaskStateRejected {
				continue
			}
			row := taskRow(svc, t, nodes)
			row.History = history
			rows = append(rows, row)
		}
	}
	return rows
}

// currentTask says whether Swarm wants t to run (or, for a job, to complete).
func currentTask(svc swarm.Service, t swarm.Task) bool {
	switch t.DesiredState {
	case swarm.TaskStateRunning, swarm.TaskStateReady:
		return true
	case swarm.TaskStateComplete:
		return svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil
	}
	return false
}

func globalMode(m swarm.ServiceMode) bool { return m.Global != nil || m.GlobalJob != nil }

func taskRow(svc swarm.Service, t swarm.Task, nodes map[string]string) TaskRow {
	name := composeName(svc)
	r := TaskRow{
		Service:      name,
		Name:         name + "." + strconv.Itoa(t.Slot),
		Slot:         t.Slot,
		Image:        taskImage(svc, t),
		DesiredState: string(t.DesiredState),
		CurrentState: string(t.Status.State),
		Since:        t.Status.Timestamp,
		Err:          t.Status.Err,
		ID:           t.ID,
	}
	if t.NodeID != "" {
		r.Node = nodeName(nodes, t.NodeID)
	}
	if globalMode(svc.Spec.Mode) && t.NodeID != "" {
		r.Name = name + "." + shortID(t.NodeID)
	}
	seen := map[string]bool{}
	add := func(p swarm.PortConfig) {
		s := publishedPort(p)
		if !seen[s] {
			seen[s] = true
			r.Ports = append(r.Ports, s)
		}
	}
	for _, p := range t.Status.PortStatus.Ports {
		add(p)
	}
	if t.DesiredState == swarm.TaskStateRunning {
		for _, p := range svc.Endpoint.Ports {
			if p.PublishedPort != 0 && p.PublishMode != swarm.PortConfigPublishModeHost {
				add(p)
			}
		}
	}
	sort.Strings(r.Ports)
	return r
}

// taskImage names what t runs. The image-tag label belongs to a spec, so
// it names the task's image only if the task runs that spec's image; a
// task of the previous spec (mid-update, or a failed one) takes the
// previous spec's label. Otherwise the reference shows without its digest
// (as docker service ps does), and an image ID shortened.
func taskImage(svc swarm.Service, t swarm.Task) string {
	var img string
	if t.Spec.ContainerSpec != nil {
		img = t.Spec.ContainerSpec.Image
	}
	specs := []*swarm.ServiceSpec{&svc.Spec, svc.PreviousSpec}
	for _, s := range specs {
		if s == nil || s.TaskTemplate.ContainerSpec == nil {
			continue
		}
		if tag := s.Labels[labels.ImageTag]; tag != "" && (img == "" || img == s.TaskTemplate.ContainerSpec.Image) {
			return tag
		}
	}
	if img == "" && svc.Spec.TaskTemplate.ContainerSpec != nil {
		img = svc.Spec.TaskTemplate.ContainerSpec.Image
	}
	if hex, ok := strings.CutPrefix(img, "sha256:"); ok {
		return "sha256:" + shortID(hex)
	}
	if i := strings.Index(img, "@sha256:"); i > 0 {
		return img[:i]
	}
	return img
}

// publishedPort reads like docker ps: "0.0.0.0:8080->80/tcp".
func publishedPort(p swarm.PortConfig) string {
	proto := string(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	target := strconv.FormatUint(uint64(p.TargetPort), 10) + "/" + proto
	if p.PublishedPort == 0 {
		return target
	}
	return "0.0.0.0:" + strconv.FormatUint(uint64(p.PublishedPort), 10) + "->" + target
}
