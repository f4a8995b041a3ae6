package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// EventAPI is a daemon's event stream.
type EventAPI interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// Snapshot is what a Monitor last read of a project on the Swarm.
type Snapshot struct {
	Services []swarm.Service
	Tasks    []swarm.Task
	// Nodes are every node of the Swarm, by Name.
	Nodes []Node
	// At is when it was read.
	At time.Time
	// Err is why the latest read failed (the lists are then the read
	// before it); nil when it succeeded.
	Err error
}

// MonitorOptions tune a Monitor; the zero value is the defaults.
type MonitorOptions struct {
	// Debounce gathers a burst of events into one read (default 100ms):
	// a rolling update of ten tasks is dozens of events.
	Debounce time.Duration
	// Backoff is the first wait before subscribing again to a broken
	// event stream (default 500ms), doubled on each failure up to
	// MaxBackoff (default 15s).
	Backoff, MaxBackoff time.Duration
	// Settle is how long after a read that found tasks on their way
	// (being scheduled, prepared, started, health-checked, stopped) the
	// monitor reads again (default 1s). A node's container event reaches
	// devorch before the node's report reaches the manager, so the read
	// it triggers may still see the task's previous state; these reads
	// last only while something moves.
	Settle time.Duration

	// after is the debounce's clock (tests drive it).
	after func(time.Duration) <-chan time.Time
}

// Monitor keeps the latest Snapshot of a project on a Swarm. It reads the
// manager's lists again only when an event says something changed: the
// manager's service and node events, and, since Swarm emits no task
// events, the container events of the project on every node devorch
// reaches. There is no polling loop: only while tasks are on their way
// does a read that saw them ask for one more (Settle).
type Monitor struct {
	t       *Target
	project string
	o       MonitorOptions
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	kick    chan struct{}
	changes chan struct{}
	stop    sync.Once

	mu   sync.Mutex
	snap Snapshot
}

// NewMonitor reads the project's services, tasks and nodes once and
// follows the event streams until Stop. t.API must have an event stream
// (EventAPI); a node host whose API has none is not followed, so that
// node's task changes show with the next service or node event.
func NewMonitor(ctx context.Context, t *Target, project string, o MonitorOptions) (*Monitor, error) {
	mgr, ok := t.API.(EventAPI)
	if !ok {
		return nil, fmt.Errorf("host %q: its client has no event stream", t.Manager)
	}
	if o.Debounce <= 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(15*time.Second, o.Backoff)
	}
	if o.after == nil {
		o.after = time.After
	}
	if o.Settle <= 0 {
		o.Settle = time.Second
	}
	m := &Monitor{t: t, project: project, o: o, kick: make(chan struct{}, 1), changes: make(chan struct{}, 1)}
	m.snap = m.read(ctx)
	if m.snap.Err != nil {
		return nil, m.snap.Err
	}
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	swarmEvents := filters.NewArgs(filters.Arg("type", string(events.ServiceEventType)), filters.Arg("type", string(events.NodeEventType)))
	m.follow(ctx, "host "+t.Manager, mgr, swarmEvents)
	for _, id := range slices.Sorted(maps.Keys(t.Hosts)) {
		h := t.Hosts[id]
		if api, ok := h.API.(EventAPI); ok {
			f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", labels.StackNamespace+"="+project))
			m.follow(ctx, "host "+h.Name, api, f)
		}
	}
	m.wg.Add(1)
	go m.refresh(ctx)
	return m, nil
}

// Snapshot is the latest read.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap
}

// Changes receives a value after each read (several reads between two
// receives are one value); it is closed by Stop. It has one reader.
func (m *Monitor) Changes() <-chan struct{} { return m.changes }

// Stop ends the event streams and closes Changes; later calls do nothing.
func (m *Monitor) Stop() {
	m.stop.Do(func() {
		m.cancel()
		m.wg.Wait()
		close(m.changes)
	})
}

// follow reads one event stream and kicks a read for every event. When
// the stream breaks it subscribes again, after a backoff that grows while
// the stream keeps failing, and then reads once, since events were lost.
func (m *Monitor) follow(ctx context.Context, who string, api EventAPI, f filters.Args) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		wait := m.o.Backoff
		for first := true; ; first = false {
			msgs, errs := api.Events(ctx, events.ListOptions{Filters: f})
			if !first {
				m.poke()
			}
			got := false
		stream:
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-msgs:
					if !ok {
						break stream
					}
					got = true
					m.poke()
				case <-errs:
					break stream
				}
			}
			if got {
				wait = m.o.Backoff
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, m.o.MaxBackoff)
		}
	}()
}

// poke asks for a read; pokes before it happens are one.
func (m *Monitor) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// refresh reads after each poke, once the burst it starts has had
// Debounce to gather.
func (m *Monitor) refresh(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-m.o.after(m.o.Debounce):
		}
		// This read sees whatever the pokes of the window announced.
		select {
		case <-m.kick:
		default:
		}
		s := m.read(ctx)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		if s.Err != nil {
			s.Services, s.Tasks, s.Nodes = m.snap.Services, m.snap.Tasks, m.snap.Nodes
		}
		m.snap = s
		m.mu.Unlock()
		select {
		case m.changes <- struct{}{}:
		default:
		}
		if s.Err == nil && moving(s.Tasks) {
			settle := m.o.after(m.o.Settle)
			go func() {
				select {
				case <-ctx.Done():
				case <-settle:
					m.poke()
				}
			}()
		}
	}
}

// moving says whether some task is on its way to the state Swarm wants
// for it: scheduled, prepared, started or health-checked, or stopping. A
// task pending with a reason (no suitable node) waits for a change that
// an event announces, and is not moving.
func moving(tasks []swarm.Task) bool {
	for _, t := range tasks {
		switch t.DesiredState {
		case swarm.TaskStateRunning, swarm.TaskStateReady:
			switch t.Status.State {
			case swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStateAssigned, swarm.TaskStateAccepted,
				swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting:
				return true
			case swarm.TaskStatePending:
				if t.Status.Err == "" {
					return true
				}
			}
		case swarm.TaskStateShutdown, swarm.TaskStateRemove:
			if t.Status.State == swarm.TaskStateRunning || t.Status.State == swarm.TaskStateStarting {
				return true
			}
		}
	}
	return false
}

// read lists the project's services, their tasks and the Swarm's nodes.
func (m *Monitor) read(ctx context.Context) Snapshot {
	s := Snapshot{At: time.Now()}
	api := m.t.API
	svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+m.project))})
	if err != nil {
		s.Err = fmt.Errorf("list the project's services on host %q: %w", m.t.Manager, err)
		return s
	}
	slices.SortFunc(svcs, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	s.Services = svcs
	if len(svcs) > 0 {
		tf := filters.NewArgs()
		for _, sv := range svcs {
			tf.Add("service", sv.ID)
		}
		if s.Tasks, err = api.TaskList(ctx, swarm.TaskListOptions{Filters: tf}); err != nil {
			s.Err = fmt.Errorf("list the project's tasks on host %q: %w", m.t.Manager, err)
			return s
		}
	}
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		s.Err = fmt.Errorf("list the Swarm's nodes on host %q: %w", m.t.Manager, err)
		return s
	}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, nodeOf(n, m.t.Hosts[n.ID].Name))
	}
	slices.SortFunc(s.Nodes, func(a, b Node) int { return strings.Compare(a.Name(), b.Name()) })
	return s
}

// nodeOf is a Swarm node as the target sees it; host is the devorch host
// that is it, if any.
func nodeOf(n swarm.Node, host string) Node {
	return Node{
		ID: n.ID, Host: host, Hostname: n.Description.Hostname, Role: string(n.Spec.Role),
		Availability: string(n.Spec.Availability), State: string(n.Status.State), Addr: n.Status.Addr,
		NanoCPUs: n.Description.Resources.NanoCPUs, MemoryBytes: n.Description.Resources.MemoryBytes,
		Labels: n.Spec.Labels, EngineLabels: n.Description.Engine.Labels,
		OS: n.Description.Platform.OS, Arch: n.Description.Platform.Architecture,
	}
}

// ServiceState is one service of a Snapshot as a UI shows it.
type ServiceState struct {
	// Name is the compose service's name.
	Name             string
	Running, Desired int
	// Update is a rolling update's status: "updating 2/3" (tasks of the
	// new spec running, of those desired), "rolling back 1/3", "update
	// paused: <why>", "rollback paused: <why>", "rolled back: <why>"; ""
	// when no update is under way and the last one did not roll back.
	Update string
}

// States evaluates every service of the snapshot (see Evaluate), sorted by
// name.
func (s Snapshot) States() []ServiceState {
	names := make(map[string]string, len(s.Nodes))
	active := 0
	for _, n := range s.Nodes {
		names[n.ID] = n.Name()
		if n.State == string(swarm.NodeStateReady) && n.Availability == string(swarm.NodeAvailabilityActive) {
			active++
		}
	}
	out := make([]ServiceState, 0, len(s.Services))
	for _, svc := range s.Services {
		p := Evaluate(svc, s.Tasks, names, active, time.Time{})
		out = append(out, ServiceState{Name: p.Service, Running: p.Running, Desired: p.Desired, Update: updateText(svc, s.Tasks, p.Desired)})
	}
	slices.SortFunc(out, func(a, b ServiceState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// updateText says where a service's rolling update is.
func updateText(svc swarm.Service, tasks []swarm.Task, desired int) string {
	u := svc.UpdateStatus
	if u == nil {
		return ""
	}
	why := func(s string) string {
		if u.Message != "" {
			return s + ": " + u.Message
		}
		return s
	}
	switch u.State {
	case swarm.UpdateStateUpdating:
		return fmt.Sprintf("updating %d/%d", upToDate(svc, tasks), desired)
	case swarm.UpdateStateRollbackStarted:
		return fmt.Sprintf("rolling back %d/%d", upToDate(svc, tasks), desired)
	case swarm.UpdateStatePaused:
		return why("update paused")
	case swarm.UpdateStateRollbackPaused:
		return why("rollback paused")
	case swarm.UpdateStateRollbackCompleted:
		return why("rolled back")
	}
	return ""
}

// upToDate counts svc's running tasks that run its current spec: Swarm
// copies the service's task template into each task it makes, so a task
// of the spec being rolled out has the same one. (During a rollback the
// service's spec is the previous one again.)
func upToDate(svc swarm.Service, tasks []swarm.Task) int {
	want, err := json.Marshal(svc.Spec.TaskTemplate)
	if err != nil {
		return 0
	}
	n := 0
	for _, t := range tasks {
		if t.ServiceID != svc.ID || t.Status.State != swarm.TaskStateRunning || !wanted(t) {
			continue
		}
		if got, err := json.Marshal(t.Spec); err == nil && string(got) == string(want) {
			n++
		}
	}
	return n
}
