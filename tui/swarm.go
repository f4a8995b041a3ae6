package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/stack"
	"github.com/devorch/devorch/engine/usage"
	"github.com/devorch/devorch/internal/labels"
)

// SwarmOps is what the Swarm backend asks of the engine (*engine.Engine
// has them all).
type SwarmOps interface {
	StackScale(ctx context.Context, project string, replicas map[string]int) error
	StackRestart(ctx context.Context, project string, services []string) error
	StackStop(ctx context.Context, project string, services []string) error
	StackStart(ctx context.Context, project string, services []string) error
	StackExec(ctx context.Context, project string, o engine.ExecOptions, st engine.Streams) (int, error)
	StackLogLines(ctx context.Context, project string, o stack.LogOptions, emit func(stack.LogLine)) error
}

// SwarmSource is the project's state on the Swarm, followed from its
// events (a *stack.Monitor).
type SwarmSource interface {
	Snapshot() stack.Snapshot
	Changes() <-chan struct{}
}

// swarmLogLines bounds each task's log ring, as the container monitor's.
const swarmLogLines = 2000

// swarmLogTail is how many lines of each service the logs view starts with.
const swarmLogTail = "200"

// SwarmBackend implements Backend for a project deployed as Swarm
// services: each current task is a row (its slot the replica, its node
// the host), nodes are the hosts, logs come from the service logs, and
// actions update the services. It reads only the monitor's snapshots.
type SwarmBackend struct {
	ops     SwarmOps
	src     SwarmSource
	bus     *engine.Bus
	p       *compose.Project
	project string
	// Exe and GlobalArgs build the shell command, as EngineBackend's.
	Exe        string
	GlobalArgs []string

	mu         sync.Mutex
	at         time.Time // the snapshot the fields below were made from
	containers []engine.ContainerState
	hosts      []engine.HostState
	states     map[string]stack.ServiceState
	images     map[string]string // service → image the spec runs
	logs       map[string]*lineRing
	logsCancel context.CancelFunc
	logsGen    int

	// Alerts: a task that failed or was rejected after the backend
	// started, once each.
	since     time.Time
	alerts    []engine.Alert
	alerted   map[string]bool
	nextAlert int
}

// NewSwarmBackend reads src and publishes a state and a host event on bus
// each time it changes, until src's Changes closes. p may be nil (the
// services then come from the Swarm alone). Actions report their progress
// through ops's own sink, which should publish to bus too.
func NewSwarmBackend(ops SwarmOps, src SwarmSource, bus *engine.Bus, p *compose.Project, project string) *SwarmBackend {
	b := &SwarmBackend{ops: ops, src: src, bus: bus, p: p, project: project, Exe: os.Args[0], logs: map[string]*lineRing{}, since: time.Now(), alerted: map[string]bool{}}
	b.sync()
	go func() {
		for range src.Changes() {
			for _, a := range b.sync() {
				bus.Publish(engine.Event{Time: a.Time, Kind: engine.KindAlert, Name: a.Container, Service: a.Service, Status: a.Kind, Detail: a.Message})
			}
			now := time.Now()
			if err := src.Snapshot().Err; err != nil {
				bus.Publish(engine.Event{Time: now, Kind: engine.KindWarning, Detail: "the Swarm's state is stale: " + err.Error()})
			}
			bus.Publish(engine.Event{Time: now, Kind: engine.KindState})
			bus.Publish(engine.Event{Time: now, Kind: engine.KindHost})
		}
	}()
	return b
}

// sync rebuilds the views of the latest snapshot, once per snapshot, and
// returns the alerts it raised.
func (b *SwarmBackend) sync() []engine.Alert {
	s := b.src.Snapshot()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() && s.At.Equal(b.at) {
		return nil
	}
	raised := b.taskAlerts(s)
	b.at = s.At
	b.containers = swarmContainers(s)
	b.hosts = swarmHosts(s)
	b.states = map[string]stack.ServiceState{}
	for _, st := range s.States() {
		b.states[st.Name] = st
	}
	b.images = map[string]string{}
	for _, svc := range s.Services {
		name := svc.Spec.Labels[labels.Service]
		if tag := svc.Spec.Labels[labels.ImageTag]; tag != "" {
			b.images[name] = tag
		} else if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			b.images[name] = cs.Image
		}
	}
	return raised
}

// taskAlerts raises an alert for each task that failed or was rejected
// since the backend started (Swarm keeps earlier ones as history), once;
// the caller holds b.mu.
func (b *SwarmBackend) taskAlerts(s stack.Snapshot) []engine.Alert {
	svcName := map[string]string{}
	for _, svc := range s.Services {
		svcName[svc.ID] = svc.Spec.Labels[labels.Service]
	}
	nodes := map[string]string{}
	for _, n := range s.Nodes {
		nodes[n.ID] = n.Name()
	}
	var raised []engine.Alert
	for _, t := range s.Tasks {
		st := t.Status.State
		if (st != swarm.TaskStateFailed && st != swarm.TaskStateRejected) || b.alerted[t.ID] || t.Status.Timestamp.Before(b.since) {
			continue
		}
		b.alerted[t.ID] = true
		b.nextAlert++
		name := fmt.Sprintf("%s.%d", svcName[t.ServiceID], t.Slot)
		why := t.Status.Err
		if why == "" {
			why = t.Status.Message
		}
		where := ""
		if n := nodes[t.NodeID]; n != "" {
			where = " on " + n
		}
		a := engine.Alert{ID: b.nextAlert, Time: t.Status.Timestamp, Service: svcName[t.ServiceID], Container: name, Kind: string(st),
			Message: fmt.Sprintf("task %s%s %s: %s", name, where, st, why)}
		b.alerts = append(b.alerts, a)
		raised = append(raised, a)
	}
	return raised
}

// swarmContainers makes a row of each slot's current task (for a global
// service, each node's): stack.Rows picks it, and the earlier failed
// tasks of the slot it lists become the row's restarts and events.
func swarmContainers(s stack.Snapshot) []engine.ContainerState {
	names := make(map[string]string, len(s.Nodes))
	for _, n := range s.Nodes {
		names[n.ID] = n.Name()
	}
	byTask := make(map[string]swarm.Task, len(s.Tasks))
	for _, t := range s.Tasks {
		byTask[t.ID] = t
	}
	bySvc := make(map[string]swarm.Service, len(s.Services))
	for _, svc := range s.Services {
		bySvc[svc.ID] = svc
	}
	var out []engine.ContainerState
	cur := map[string]int{}     // slot key → index in out
	globals := map[string]int{} // service → global tasks numbered so far
	for _, r := range stack.Rows(s.Services, s.Tasks, names) {
		key := r.Service + "/" + strconv.Itoa(r.Slot)
		if r.Slot == 0 {
			key = r.Service + "/" + r.Node
		}
		t := byTask[r.ID]
		if i, ok := cur[key]; ok {
			if r.History {
				c := &out[i]
				c.RestartCount++
				ev := fmt.Sprintf("%s task %s %s", r.Since.Format("15:04:05"), shortTaskID(r.ID), r.CurrentState)
				if r.Node != "" {
					ev += " on " + r.Node
				}
				if e := taskError(t.Status); e != "" {
					ev += ": " + e
				}
				c.Events = append(c.Events, ev)
			}
			continue // a second current task (start-first update): the newest shows
		}
		cur[key] = len(out)
		replica, name := r.Slot, r.Service+"."+strconv.Itoa(r.Slot)
		if r.Slot == 0 {
			globals[r.Service]++
			replica, name = globals[r.Service], r.Service+"."+r.Node
		}
		out = append(out, taskState(r, t, bySvc[t.ServiceID], replica, name))
	}
	// History was listed newest first; events read oldest first.
	for i := range out {
		ev := out[i].Events
		for a, z := 0, len(ev)-1; a < z; a, z = a+1, z-1 {
			ev[a], ev[z] = ev[z], ev[a]
		}
	}
	return out
}

// taskState is one task as the views show a container.
func taskState(r stack.TaskRow, t swarm.Task, svc swarm.Service, replica int, name string) engine.ContainerState {
	c := engine.ContainerState{Container: engine.Container{
		ID: t.ID, Name: name, Image: r.Image, Service: r.Service, Replica: replica,
		State: r.CurrentState, Status: taskError(t.Status), Created: t.CreatedAt,
		Labels:   map[string]string{labels.Host: r.Node},
		Networks: map[string]string{},
	}}
	if t.Status.ContainerStatus != nil {
		c.ExitCode = t.Status.ContainerStatus.ExitCode
	}
	switch t.Status.State {
	case swarm.TaskStateRunning:
		c.StartedAt = t.Status.Timestamp
	case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateShutdown, swarm.TaskStateRejected, swarm.TaskStateOrphaned:
		c.FinishedAt = t.Status.Timestamp
	}
	if cs := t.Spec.ContainerSpec; cs != nil {
		// devorch deploys images by ID; a digest pins one too.
		if strings.HasPrefix(cs.Image, "sha256:") {
			c.ImageID = cs.Image
		} else if _, digest, ok := strings.Cut(cs.Image, "@"); ok {
			c.ImageID = digest
		}
		c.Env, c.Cmd, c.Entrypoint = cs.Env, cs.Args, cs.Command
		for _, m := range cs.Mounts {
			s := fmt.Sprintf("%s %s → %s", m.Type, m.Source, m.Target)
			if m.ReadOnly {
				s += " (ro)"
			}
			c.Mounts = append(c.Mounts, s)
		}
	}
	if res := t.Spec.Resources; res != nil {
		if l := res.Limits; l != nil {
			c.CPULimit, c.MemLimitSet = float64(l.NanoCPUs)/1e9, uint64(l.MemoryBytes)
		}
		if rv := res.Reservations; rv != nil {
			c.ReservedNanoCPUs, c.ReservedMemory = rv.NanoCPUs, rv.MemoryBytes
		}
	}
	c.NetworkKinds = map[string]string{}
	for _, a := range t.NetworksAttachments {
		n := a.Network.Spec.Name
		addr := ""
		if len(a.Addresses) > 0 {
			addr, _, _ = strings.Cut(a.Addresses[0], "/")
		}
		c.Networks[n] = addr
		c.NetworkKinds[n] = a.Network.DriverState.Name
	}
	seen := map[swarm.PortConfig]bool{}
	add := func(p swarm.PortConfig) {
		if p.PublishedPort == 0 || seen[p] {
			return
		}
		seen[p] = true
		proto := string(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		c.Ports = append(c.Ports, container.Port{PublicPort: uint16(p.PublishedPort), PrivatePort: uint16(p.TargetPort), Type: proto})
	}
	for _, p := range t.Status.PortStatus.Ports {
		add(p)
	}
	if t.DesiredState == swarm.TaskStateRunning {
		for _, p := range svc.Endpoint.Ports {
			if p.PublishMode != swarm.PortConfigPublishModeHost {
				add(p)
			}
		}
	}
	c.Placement = "Swarm's scheduler"
	if pl := t.Spec.Placement; pl != nil && len(pl.Constraints) > 0 {
		c.Placement += " (" + strings.Join(pl.Constraints, ", ") + ")"
	}
	return c
}

// taskError is why a task is not running as wanted: Swarm's error, else a
// failed container's exit code.
func taskError(s swarm.TaskStatus) string {
	switch {
	case s.Err != "":
		return s.Err
	case s.State == swarm.TaskStateFailed && s.ContainerStatus != nil && s.ContainerStatus.ExitCode != 0:
		return "exit code " + strconv.Itoa(s.ContainerStatus.ExitCode)
	}
	return ""
}

func shortTaskID(id string) string {
	if len(id) > 10 {
		return id[:10]
	}
	return id
}

// swarmHosts makes a host of each node.
func swarmHosts(s stack.Snapshot) []engine.HostState {
	out := make([]engine.HostState, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		h := engine.HostState{
			Name: n.Name(), Endpoint: n.Addr, Reachable: n.State == string(swarm.NodeStateReady),
			CPUs: int((n.NanoCPUs + 5e8) / 1e9), Memory: n.MemoryBytes, Checked: s.At,
			Role: n.Role, Availability: n.Availability, NodeState: n.State,
		}
		if !h.Reachable {
			h.Err = "node " + n.State
		}
		out = append(out, h)
	}
	return out
}

// Project implements Backend.
func (b *SwarmBackend) Project() string { return b.project }

// Services implements Backend: the compose model's services (else the
// Swarm's), each with its running and desired tasks and update status.
func (b *SwarmBackend) Services() []ServiceInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	infos := map[string]ServiceInfo{}
	if b.p != nil {
		for name, s := range b.p.Services {
			si := ServiceInfo{Name: name, Image: s.Image, HasBuild: s.Build != nil, Scale: s.GetScale()}
			if s.Deploy != nil && s.Deploy.Resources.Reservations != nil {
				r := s.Deploy.Resources.Reservations
				si.ReservedCPUs = float64(r.NanoCPUs)
				si.ReservedMemory = int64(r.MemoryBytes)
			}
			infos[name] = si
		}
	}
	for name, st := range b.states {
		si, ok := infos[name]
		if !ok {
			si = ServiceInfo{Name: name, Image: b.images[name]}
		}
		si.Scale, si.Running, si.Update = st.Desired, st.Running, st.Update
		infos[name] = si
	}
	out := make([]ServiceInfo, 0, len(infos))
	for _, si := range infos {
		si.Swarm = true
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Containers implements Backend: the current tasks.
func (b *SwarmBackend) Containers() []engine.ContainerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]engine.ContainerState(nil), b.containers...)
}

// Hosts implements Backend: the Swarm's nodes.
func (b *SwarmBackend) Hosts() []engine.HostState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]engine.HostState(nil), b.hosts...)
}

// WantStats implements Backend: a Swarm's tasks are not sampled.
func (b *SwarmBackend) WantStats([]string) {}

// StatsEvery implements Backend.
func (b *SwarmBackend) StatsEvery(time.Duration) {}

// Alerts implements Backend: the tasks that failed or were rejected while
// the TUI was open, not yet acknowledged (all with all=true).
func (b *SwarmBackend) Alerts(all bool) []engine.Alert {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []engine.Alert
	for _, a := range b.alerts {
		if all || !a.Acked {
			out = append(out, a)
		}
	}
	return out
}

// Ack implements Backend (id 0: all).
func (b *SwarmBackend) Ack(id int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.alerts {
		if id == 0 || b.alerts[i].ID == id {
			b.alerts[i].Acked = true
		}
	}
}

// Subscribe implements Backend.
func (b *SwarmBackend) Subscribe(buffer int) (<-chan engine.Event, func()) {
	return b.bus.Subscribe(buffer)
}

// Placement implements Backend.
func (b *SwarmBackend) Placement(c engine.ContainerState) string { return c.Placement }

// Images implements Backend: what each current task runs, from the
// service specs (nothing is asked of the nodes).
func (b *SwarmBackend) Images(context.Context) ([]engine.ImageEntry, error) {
	var out []engine.ImageEntry
	for _, c := range b.Containers() {
		repo, tag := c.Image, ""
		if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
			repo, tag = repo[:i], repo[i+1:]
		}
		out = append(out, engine.ImageEntry{Container: c.Name, Host: c.HostName(), Repository: repo, Tag: tag, ID: c.ImageID, Created: c.Created})
	}
	return out, nil
}

// Restart implements Backend: a rolling restart (Swarm's force update).
func (b *SwarmBackend) Restart(ctx context.Context, service string) error {
	return b.ops.StackRestart(ctx, b.project, []string{service})
}

// Stop implements Backend: the service is scaled to 0.
func (b *SwarmBackend) Stop(ctx context.Context, service string) error {
	return b.ops.StackStop(ctx, b.project, []string{service})
}

// Start implements Backend.
func (b *SwarmBackend) Start(ctx context.Context, service string) error {
	return b.ops.StackStart(ctx, b.project, []string{service})
}

// Recreate implements Backend: on a Swarm, replacing the tasks is a
// forced rolling update, as Restart.
func (b *SwarmBackend) Recreate(ctx context.Context, service string) error {
	return b.ops.StackRestart(ctx, b.project, []string{service})
}

// errSwarmRebuild says why the TUI does not rebuild on a Swarm: the image
// must reach every node, which up does.
var errSwarmRebuild = errors.New("rebuild on a Swarm: run devorch --target swarm up -d --build")

// Rebuild implements Backend.
func (b *SwarmBackend) Rebuild(context.Context, string) error { return errSwarmRebuild }

// Scale implements Backend.
func (b *SwarmBackend) Scale(ctx context.Context, service string, replicas int) error {
	return b.ops.StackScale(ctx, b.project, map[string]int{service: replicas})
}

// SetWatch implements Backend.
func (b *SwarmBackend) SetWatch(on bool) (bool, error) {
	if on {
		return false, errors.New("hot reload is not supported on a Swarm")
	}
	return false, nil
}

// errSwarmTune says why a Swarm has no recommendations: devorch samples
// the containers it runs itself, not a Swarm's tasks.
var errSwarmTune = errors.New("tune is not supported on a Swarm: its tasks are not sampled, so there is no usage history")

// Recommendation implements Backend: none on a Swarm (errSwarmTune).
func (b *SwarmBackend) Recommendation(string) (usage.Recommendation, bool) {
	return usage.Recommendation{}, false
}

// WriteTune implements Backend: errSwarmTune.
func (b *SwarmBackend) WriteTune(context.Context, []string) (string, error) { return "", errSwarmTune }

// Shell implements Backend: devorch --target swarm exec in the slot's
// task, on its node, after checking it has sh.
func (b *SwarmBackend) Shell(ctx context.Context, service string, replica int) (*exec.Cmd, error) {
	slot := replica
	for _, c := range b.Containers() {
		if c.Service == service && c.Replica == replica && !strings.HasSuffix(c.Name, "."+strconv.Itoa(replica)) {
			return nil, fmt.Errorf("%s is a global service's task: open a shell with devorch --target swarm exec on its node", c.Name)
		}
	}
	return shellCommand(ctx, b.ops.StackExec, b.Exe, append(append([]string(nil), b.GlobalArgs...), "--target", "swarm", "-p", b.project), b.project, service, slot)
}

// WantLogs implements Backend: while on, the services' logs stream from
// the Swarm (each service's last swarmLogTail lines first) into a ring per
// task, and each line is published.
func (b *SwarmBackend) WantLogs(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !on {
		if b.logsCancel != nil {
			b.logsCancel()
			b.logsCancel = nil
		}
		return
	}
	if b.logsCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.logsCancel = cancel
	b.logs = map[string]*lineRing{}
	b.logsGen++
	gen, started := b.logsGen, time.Now()
	go func() {
		err := b.ops.StackLogLines(ctx, b.project, stack.LogOptions{Follow: true, Tail: swarmLogTail}, func(l stack.LogLine) {
			b.logLine(gen, started, l)
		})
		if err != nil && ctx.Err() == nil {
			b.bus.Publish(engine.Event{Time: time.Now(), Kind: engine.KindWarning, Detail: "service logs: " + err.Error()})
		}
	}()
}

// logLine keeps and publishes one line; a line of an earlier stream
// (logs turned off and on again) is dropped.
func (b *SwarmBackend) logLine(gen int, started time.Time, l stack.LogLine) {
	name := l.Service + "." + strconv.Itoa(l.Slot)
	if l.Slot == 0 {
		name = l.Service + "." + l.Node
	}
	b.mu.Lock()
	if gen != b.logsGen {
		b.mu.Unlock()
		return
	}
	replica := l.Slot
	for i := range b.containers {
		if b.containers[i].Name == name {
			replica = b.containers[i].Replica
		}
	}
	ll := engine.LogLine{Time: l.Time, Container: name, Service: l.Service, Replica: replica, Stream: l.Stream, Text: l.Text}
	r := b.logs[name]
	if r == nil {
		r = &lineRing{max: swarmLogLines}
		b.logs[name] = r
	}
	r.add(ll)
	b.mu.Unlock()
	b.bus.Publish(engine.Event{Time: l.Time, Kind: engine.KindLog, Resource: engine.ResContainer, Name: name, Host: l.Node,
		Service: l.Service, Replica: replica, Stream: l.Stream, Line: l.Text, Backlog: l.Time.Before(started)})
}

// Logs implements Backend: the kept lines of the tasks with these IDs (all
// when none), oldest first, the last max.
func (b *SwarmBackend) Logs(ids []string, max int) []engine.LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []engine.LogLine
	if len(ids) == 0 {
		for _, r := range b.logs {
			out = append(out, r.lines()...)
		}
	} else {
		for _, id := range ids {
			for i := range b.containers {
				if c := &b.containers[i]; c.ID == id && b.logs[c.Name] != nil {
					out = append(out, b.logs[c.Name].lines()...)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if max > 0 && len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// lineRing keeps a task's last max lines.
type lineRing struct {
	max   int
	buf   []engine.LogLine
	start int
}

func (r *lineRing) add(l engine.LogLine) {
	if len(r.buf) < r.max {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.start] = l
	r.start = (r.start + 1) % r.max
}

func (r *lineRing) lines() []engine.LogLine {
	out := make([]engine.LogLine, 0, len(r.buf))
	out = append(out, r.buf[r.start:]...)
	return append(out, r.buf[:r.start]...)
}
