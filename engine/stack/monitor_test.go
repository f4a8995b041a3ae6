package stack

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// fakeStream is one subscription to a fake event stream: the test sends
// on msgs and errs and sees the filters asked for.
type fakeStream struct {
	who  string
	opts events.ListOptions
	msgs chan events.Message
	errs chan error
	ctx  context.Context
}

// fakeEvents records every subscription on subs.
type fakeEvents struct {
	who  string
	subs chan *fakeStream
}

func (f *fakeEvents) Events(ctx context.Context, o events.ListOptions) (<-chan events.Message, <-chan error) {
	s := &fakeStream{who: f.who, opts: o, msgs: make(chan events.Message), errs: make(chan error, 1), ctx: ctx}
	f.subs <- s
	return s.msgs, s.errs
}

// fakeManager is a Swarm manager with lists the test changes; the API
// methods the monitor does not use are the nil embedded interface's.
type fakeManager struct {
	API
	fakeEvents
	mu       sync.Mutex
	services []swarm.Service
	tasks    []swarm.Task
	nodes    []swarm.Node
	err      error
	reads    int
}

func (f *fakeManager) ServiceList(_ context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return withLabel(f.services, o.Filters), nil
}

func (f *fakeManager) TaskList(_ context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []swarm.Task
	for _, t := range f.tasks {
		if o.Filters.ExactMatch("service", t.ServiceID) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeManager) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]swarm.Node(nil), f.nodes...), nil
}

func (f *fakeManager) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// fakeNode is a node host's daemon: only its event stream is used.
type fakeNode struct {
	NodeAPI
	fakeEvents
}

func svc(id, project, name string, replicas uint64) swarm.Service {
	s := swarm.Service{ID: id}
	s.Spec.Name = project + "_" + name
	s.Spec.Labels = map[string]string{labels.StackNamespace: project, labels.Service: name}
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &replicas}
	s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:" + name}
	return s
}

func task(id, service string, slot int, node string, state swarm.TaskState) swarm.Task {
	t := swarm.Task{ID: id, ServiceID: service, Slot: slot, NodeID: node, DesiredState: swarm.TaskStateRunning}
	t.Status.State = state
	return t
}

func node(id, hostname string) swarm.Node {
	n := swarm.Node{ID: id}
	n.Description.Hostname = hostname
	n.Spec.Role = swarm.NodeRoleWorker
	n.Spec.Availability = swarm.NodeAvailabilityActive
	n.Status.State = swarm.NodeStateReady
	return n
}

const deadline = 5 * time.Second

func waitChange(t *testing.T, m *Monitor) {
	t.Helper()
	select {
	case _, ok := <-m.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
	case <-time.After(deadline):
		t.Fatalf("no change published within %s", deadline)
	}
}

func nextSub(t *testing.T, f *fakeEvents) *fakeStream {
	t.Helper()
	select {
	case s := <-f.subs:
		return s
	case <-time.After(deadline):
		t.Fatalf("%s: no subscription within %s", f.who, deadline)
		return nil
	}
}

// newFakeSwarm is a manager (node n1, host h5) and a worker (n2, host h6)
// with project p's service api (2 replicas) and another project's service.
func newFakeSwarm() (*Target, *fakeManager, *fakeNode) {
	mgr := &fakeManager{fakeEvents: fakeEvents{who: "manager", subs: make(chan *fakeStream, 16)}}
	mgr.services = []swarm.Service{svc("s1", "p", "api", 2), svc("s9", "other", "x", 1)}
	mgr.tasks = []swarm.Task{task("t1", "s1", 1, "n1", swarm.TaskStateRunning), task("t9", "s9", 1, "n1", swarm.TaskStateRunning)}
	mgr.nodes = []swarm.Node{node("n2", "worker-host"), node("n1", "mgr-host")}
	worker := &fakeNode{fakeEvents: fakeEvents{who: "h6", subs: make(chan *fakeStream, 16)}}
	t := &Target{Manager: "h5", API: mgr, Hosts: map[string]Host{"n1": {Name: "h5", API: nil}, "n2": {Name: "h6", API: worker}}}
	return t, mgr, worker
}

func startMonitor(t *testing.T, tg *Target, o MonitorOptions) *Monitor {
	t.Helper()
	m, err := NewMonitor(context.Background(), tg, "p", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func TestMonitorReadsAndFollowsEvents(t *testing.T) {
	tg, mgr, worker := newFakeSwarm()
	m := startMonitor(t, tg, MonitorOptions{Debounce: time.Millisecond})

	s := m.Snapshot()
	if len(s.Services) != 1 || s.Services[0].ID != "s1" {
		t.Fatalf("services %+v, want only project p's s1", s.Services)
	}
	if len(s.Tasks) != 1 || s.Tasks[0].ID != "t1" {
		t.Fatalf("tasks %+v, want only s1's t1", s.Tasks)
	}
	if len(s.Nodes) != 2 || s.Nodes[0].Name() != "h5" || s.Nodes[1].Name() != "h6" || s.Nodes[0].Hostname != "mgr-host" {
		t.Fatalf("nodes %+v, want h5 then h6", s.Nodes)
	}

	ms, ws := nextSub(t, &mgr.fakeEvents), nextSub(t, &worker.fakeEvents)
	if got := ms.opts.Filters.Get("type"); !equalSet(got, "service", "node") {
		t.Errorf("manager subscribed to types %v, want service and node", got)
	}
	if got := ws.opts.Filters.Get("type"); !equalSet(got, "container") {
		t.Errorf("node subscribed to types %v, want container", got)
	}
	if got := ws.opts.Filters.Get("label"); !equalSet(got, labels.StackNamespace+"=p") {
		t.Errorf("node subscribed to labels %v, want the stack namespace", got)
	}

	// A task started on the worker: Swarm says nothing, its container does.
	mgr.mu.Lock()
	mgr.tasks = append(mgr.tasks, task("t2", "s1", 2, "n2", swarm.TaskStateRunning))
	mgr.mu.Unlock()
	ws.msgs <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart}
	waitChange(t, m)
	if s := m.Snapshot(); len(s.Tasks) != 2 {
		t.Fatalf("after the container event: %d tasks, want 2", len(s.Tasks))
	}

	// A service update on the manager.
	mgr.mu.Lock()
	mgr.services[0].Spec.Labels["x"] = "y"
	mgr.mu.Unlock()
	ms.msgs <- events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate}
	waitChange(t, m)
	if s := m.Snapshot(); s.Services[0].Spec.Labels["x"] != "y" {
		t.Fatal("the service event did not re-read the services")
	}
}

func equalSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMonitorDebouncesBursts(t *testing.T) {
	tg, mgr, _ := newFakeSwarm()
	timers := make(chan chan time.Time, 4)
	m := startMonitor(t, tg, MonitorOptions{after: func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}})
	ms := nextSub(t, &mgr.fakeEvents)
	ms.msgs <- events.Message{Type: events.ServiceEventType}
	var timer chan time.Time
	select {
	case timer = <-timers:
	case <-time.After(deadline):
		t.Fatal("the first event started no debounce window")
	}
	for range 9 {
		ms.msgs <- events.Message{Type: events.ServiceEventType}
	}
	if n := mgr.readCount(); n != 1 {
		t.Fatalf("%d reads before the window closed, want 1 (the initial one)", n)
	}
	timer <- time.Now()
	waitChange(t, m)
	// Any later read needs another window, which this test never closes.
	if n := mgr.readCount(); n != 2 {
		t.Fatalf("%d reads after a burst of 10 events, want 2", n)
	}
}

func TestMonitorResubscribesAndRereads(t *testing.T) {
	tg, mgr, _ := newFakeSwarm()
	m := startMonitor(t, tg, MonitorOptions{Debounce: time.Millisecond, Backoff: time.Millisecond})
	ms := nextSub(t, &mgr.fakeEvents)
	before := mgr.readCount()
	ms.errs <- errors.New("unexpected EOF")
	again := nextSub(t, &mgr.fakeEvents)
	if got := again.opts.Filters.Get("type"); !equalSet(got, "service", "node") {
		t.Fatalf("re-subscribed to %v", got)
	}
	waitChange(t, m)
	if mgr.readCount() <= before {
		t.Fatal("no read after re-subscribing, though events may have been lost")
	}
	// The new stream works.
	mgr.mu.Lock()
	mgr.tasks = nil
	mgr.mu.Unlock()
	again.msgs <- events.Message{Type: events.ServiceEventType}
	waitChange(t, m)
	if n := len(m.Snapshot().Tasks); n != 0 {
		t.Fatalf("%d tasks after the event on the new stream, want 0", n)
	}
}

func TestMonitorKeepsLastSnapshotOnError(t *testing.T) {
	tg, mgr, _ := newFakeSwarm()
	m := startMonitor(t, tg, MonitorOptions{Debounce: time.Millisecond})
	ms := nextSub(t, &mgr.fakeEvents)
	mgr.mu.Lock()
	mgr.err = errors.New("manager gone")
	mgr.mu.Unlock()
	ms.msgs <- events.Message{Type: events.NodeEventType}
	waitChange(t, m)
	s := m.Snapshot()
	if s.Err == nil || !strings.Contains(s.Err.Error(), "manager gone") {
		t.Fatalf("Err = %v, want the failed read's error", s.Err)
	}
	if len(s.Services) != 1 || len(s.Tasks) != 1 || len(s.Nodes) != 2 {
		t.Fatalf("the failed read dropped the last lists: %+v", s)
	}
}

func TestMonitorStop(t *testing.T) {
	tg, mgr, worker := newFakeSwarm()
	m, err := NewMonitor(context.Background(), tg, "p", MonitorOptions{Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ms, ws := nextSub(t, &mgr.fakeEvents), nextSub(t, &worker.fakeEvents)
	m.Stop()
	m.Stop() // a second Stop does nothing
	select {
	case _, ok := <-m.Changes():
		if ok {
			t.Fatal("Changes still open after Stop")
		}
	case <-time.After(deadline):
		t.Fatal("Changes not closed by Stop")
	}
	for _, s := range []*fakeStream{ms, ws} {
		if s.ctx.Err() == nil {
			t.Errorf("%s's event stream still subscribed after Stop", s.who)
		}
	}
}

func TestNewMonitorFailsOnFirstRead(t *testing.T) {
	tg, mgr, _ := newFakeSwarm()
	mgr.err = errors.New("denied")
	if _, err := NewMonitor(context.Background(), tg, "p", MonitorOptions{}); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("err = %v, want the list's error", err)
	}
}

func TestSnapshotStates(t *testing.T) {
	api := svc("s1", "p", "api", 3)
	old := api.Spec.TaskTemplate
	api.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:v2"}
	api.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
	newTask := func(id string, slot int) swarm.Task {
		t := task(id, "s1", slot, "n1", swarm.TaskStateRunning)
		t.Spec = api.Spec.TaskTemplate
		return t
	}
	oldTask := task("t3", "s1", 3, "n1", swarm.TaskStateRunning)
	oldTask.Spec = old

	web := svc("s2", "p", "web", 2)
	web.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackPaused, Message: "update rolled back due to failure"}
	pending := task("t5", "s2", 2, "", swarm.TaskStatePending)
	pending.Status.Err = "no suitable node (insufficient resources on 3 nodes)"

	s := Snapshot{
		Services: []swarm.Service{web, api},
		Tasks:    []swarm.Task{newTask("t1", 1), newTask("t2", 2), oldTask, task("t4", "s2", 1, "n1", swarm.TaskStateRunning), pending},
		Nodes:    []Node{{ID: "n1", Host: "h5", State: "ready", Availability: "active"}},
	}
	got := s.States()
	want := []ServiceState{
		{Name: "api", Running: 3, Desired: 3, Update: "updating 2/3"},
		{Name: "web", Running: 1, Desired: 2, Update: "rollback paused: update rolled back due to failure"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("state %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A read that finds a task on its way (here starting its health check)
// asks for one more read after Settle: the node's container event can
// reach devorch before the node's report reaches the manager. Once every
// task is where Swarm wants it, no more reads are asked for.
func TestMonitorSettlesMovingTasks(t *testing.T) {
	tg, mgr, _ := newFakeSwarm()
	mgr.tasks[0].Status.State = swarm.TaskStateStarting
	timers := make(chan chan time.Time, 8)
	m := startMonitor(t, tg, MonitorOptions{after: func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}})
	next := func(what string) chan time.Time {
		t.Helper()
		select {
		case c := <-timers:
			return c
		case <-time.After(deadline):
			t.Fatalf("no %s", what)
			return nil
		}
	}
	ms := nextSub(t, &mgr.fakeEvents)
	ms.msgs <- events.Message{Type: events.ServiceEventType}
	next("debounce window") <- time.Now()
	waitChange(t, m)
	// The read saw t1 starting: a settle read is asked for.
	settle := next("settle timer after a read that saw a starting task")
	mgr.setTaskState("t1", swarm.TaskStateRunning)
	settle <- time.Now()
	next("debounce window of the settle read") <- time.Now()
	waitChange(t, m)
	if s := m.Snapshot(); s.Tasks[0].Status.State != swarm.TaskStateRunning {
		t.Fatalf("after the settle read t1 is %s, want running", s.Tasks[0].Status.State)
	}
	select {
	case <-timers:
		t.Fatal("a settle read was asked for with every task running")
	case <-time.After(200 * time.Millisecond):
	}
}

func (f *fakeManager) setTaskState(id string, st swarm.TaskState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.tasks {
		if f.tasks[i].ID == id {
			f.tasks[i].Status.State = st
		}
	}
}
