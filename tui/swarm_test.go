package tui

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/stack"
	"github.com/devorch/devorch/internal/labels"
)

// fakeSwarmSource is a SwarmSource whose snapshot the test replaces.
type fakeSwarmSource struct {
	mu      sync.Mutex
	snap    stack.Snapshot
	changes chan struct{}
}

func (f *fakeSwarmSource) Snapshot() stack.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSwarmSource) Changes() <-chan struct{} { return f.changes }

func (f *fakeSwarmSource) set(s stack.Snapshot) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
	f.changes <- struct{}{}
}

// fakeSwarmOps records the engine calls; its logs are a few fixed lines.
type fakeSwarmOps struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSwarmOps) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return nil
}

func (f *fakeSwarmOps) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeSwarmOps) StackScale(_ context.Context, p string, r map[string]int) error {
	return f.record(fmt.Sprintf("scale %s %v", p, r))
}
func (f *fakeSwarmOps) StackRestart(_ context.Context, p string, s []string) error {
	return f.record(fmt.Sprintf("restart %s %v", p, s))
}
func (f *fakeSwarmOps) StackStop(_ context.Context, p string, s []string) error {
	return f.record(fmt.Sprintf("stop %s %v", p, s))
}
func (f *fakeSwarmOps) StackStart(_ context.Context, p string, s []string) error {
	return f.record(fmt.Sprintf("start %s %v", p, s))
}
func (f *fakeSwarmOps) StackExec(_ context.Context, p string, o engine.ExecOptions, _ engine.Streams) (int, error) {
	return 0, f.record(fmt.Sprintf("exec %s %s %d %v", p, o.Service, o.Index, o.Cmd))
}
func (f *fakeSwarmOps) StackLogLines(ctx context.Context, _ string, _ stack.LogOptions, emit func(stack.LogLine)) error {
	msgs := []string{"GET /healthz 200 0.3ms", "listening on :80", "ERROR connection refused: db:5432", "job 42 done"}
	who := []struct {
		svc  string
		slot int
		node string
	}{{"api", 1, "h5"}, {"api", 2, "h6"}, {"worker", 1, "h9"}, {"monitor", 0, "h6"}, {"web", 1, "h6"}}
	for i := 0; i < 20; i++ {
		w := who[i%len(who)]
		emit(stack.LogLine{Service: w.svc, Slot: w.slot, Node: w.node, Stream: "stdout",
			Time: fixedNow.Add(-time.Duration(20-i) * time.Second), Text: fmt.Sprintf("%s (#%d)", msgs[i%len(msgs)], i)})
	}
	<-ctx.Done()
	return nil
}

// swarmService is a devorch service of the project "shop".
func swarmService(id, name, image string, replicas int) swarm.Service {
	s := swarm.Service{ID: id}
	s.Spec.Name = "shop_" + name
	s.Spec.Labels = map[string]string{labels.StackNamespace: "shop", labels.Service: name, labels.ImageTag: image}
	if replicas >= 0 {
		n := uint64(replicas)
		s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	} else {
		s.Spec.Mode.Global = &swarm.GlobalService{}
	}
	s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: image + "@sha256:" + strings.Repeat(id[len(id)-1:], 64),
		Env: []string{"SERVICE=" + name, "DB_PASSWORD=hunter2"}, Args: []string{"serve"}}
	return s
}

func reserve(s *swarm.Service, cpus float64, mem int64) {
	s.Spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}}
}

// swarmTask is a task of svc, created and in its state for ago.
func swarmTask(id string, svc swarm.Service, slot int, node string, state swarm.TaskState, ago time.Duration) swarm.Task {
	t := swarm.Task{ID: id, ServiceID: svc.ID, Slot: slot, NodeID: node, DesiredState: swarm.TaskStateRunning, Spec: svc.Spec.TaskTemplate}
	t.CreatedAt = fixedNow.Add(-ago - time.Second)
	t.Status = swarm.TaskStatus{State: state, Timestamp: fixedNow.Add(-ago)}
	if node != "" {
		t.NetworksAttachments = []swarm.NetworkAttachment{{Addresses: []string{fmt.Sprintf("10.0.1.%d/24", 10+len(id))}}}
		t.NetworksAttachments[0].Network.Spec.Name = "shop_default"
		t.NetworksAttachments[0].Network.DriverState.Name = "overlay"
	}
	if state == swarm.TaskStateRunning {
		t.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: "c-" + id}
	}
	return t
}

// swarmSnapshot is the stack the Swarm goldens show: five services over
// the nodes h5 (the manager), h6 and h9; api in a rolling update (two of
// three tasks on the new image), web with a task no node can take,
// worker with a failed task replaced and one starting, monitor global.
func swarmSnapshot() stack.Snapshot {
	node := func(id, host, role string, cpus int64, mem int64) stack.Node {
		return stack.Node{ID: id, Host: host, Hostname: "node-" + host, Role: role, Availability: "active", State: "ready",
			Addr: "10.99.0." + host[1:], NanoCPUs: cpus * 1e9, MemoryBytes: mem}
	}
	nodes := []stack.Node{node("n5", "h5", "manager", 4, 8*gib), node("n6", "h6", "worker", 4, 8*gib), node("n9", "h9", "worker", 2, 4*gib)}

	api := swarmService("s1", "api", "shop/api:v2", 3)
	reserve(&api, 0.5, 256*mib)
	prev := api.Spec
	prev.Labels = map[string]string{labels.StackNamespace: "shop", labels.Service: "api", labels.ImageTag: "shop/api:v1"}
	prev.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "shop/api:v1@sha256:" + strings.Repeat("0", 64)}
	api.PreviousSpec = &prev
	started := fixedNow.Add(-2 * time.Minute)
	api.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started}
	api.Endpoint.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress}}

	db := swarmService("s2", "db", "postgres:16", 1)
	reserve(&db, 1, gib)
	db.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.role==manager"}}

	web := swarmService("s3", "web", "shop/web:latest", 3)
	reserve(&web, 1.5, 512*mib)

	worker := swarmService("s4", "worker", "shop/api:v2", 2)
	monitor := swarmService("s5", "monitor", "prom/node-exporter:v1", -1)

	oldAPI := swarmTask("t-api3", api, 3, "n9", swarm.TaskStateRunning, 3*time.Hour)
	oldAPI.Spec = prev.TaskTemplate
	pending := swarmTask("t-web3", web, 3, "", swarm.TaskStatePending, 2*time.Minute)
	pending.Status.Err = "no suitable node (insufficient resources on 3 nodes)"
	failed := swarmTask("t-wrk1a", worker, 1, "n9", swarm.TaskStateFailed, 10*time.Minute)
	failed.DesiredState = swarm.TaskStateShutdown
	failed.Status.ContainerStatus = &swarm.ContainerStatus{ExitCode: 1}
	failed.Status.Err = "task: non-zero exit (1)"

	tasks := []swarm.Task{
		swarmTask("t-api1", api, 1, "n5", swarm.TaskStateRunning, 90*time.Second),
		swarmTask("t-api2", api, 2, "n6", swarm.TaskStateRunning, 40*time.Second),
		oldAPI,
		swarmTask("t-db1", db, 1, "n5", swarm.TaskStateRunning, 26*time.Hour),
		swarmTask("t-web1", web, 1, "n6", swarm.TaskStateRunning, 3*time.Hour),
		swarmTask("t-web2", web, 2, "n9", swarm.TaskStateRunning, 3*time.Hour),
		pending,
		swarmTask("t-wrk1", worker, 1, "n9", swarm.TaskStateRunning, 9*time.Minute),
		failed,
		swarmTask("t-wrk2", worker, 2, "n6", swarm.TaskStateStarting, 5*time.Second),
		swarmTask("t-mon5", monitor, 0, "n5", swarm.TaskStateRunning, 26*time.Hour),
		swarmTask("t-mon6", monitor, 0, "n6", swarm.TaskStateRunning, 26*time.Hour),
		swarmTask("t-mon9", monitor, 0, "n9", swarm.TaskStateRunning, 26*time.Hour),
	}
	return stack.Snapshot{Services: []swarm.Service{api, db, web, worker, monitor}, Tasks: tasks, Nodes: nodes, At: fixedNow}
}

func newSwarmFake(t testing.TB) (*SwarmBackend, *fakeSwarmSource, *fakeSwarmOps) {
	src := &fakeSwarmSource{snap: swarmSnapshot(), changes: make(chan struct{})}
	ops := &fakeSwarmOps{}
	b := NewSwarmBackend(ops, src, engine.NewBus(), nil, "shop")
	b.Exe = "/usr/bin/devorch"
	t.Cleanup(func() {
		b.WantLogs(false)
		close(src.changes)
	})
	return b, src, ops
}

func TestSwarmContainers(t *testing.T) {
	b, _, _ := newSwarmFake(t)
	var got []string
	for _, c := range b.Containers() {
		got = append(got, fmt.Sprintf("%s %s/%d %s %s %q rst=%d", c.Name, c.Service, c.Replica, c.HostName(), c.State, c.Status, c.RestartCount))
	}
	want := []string{
		`api.1 api/1 h5 running "" rst=0`,
		`api.2 api/2 h6 running "" rst=0`,
		`api.3 api/3 h9 running "" rst=0`,
		`db.1 db/1 h5 running "" rst=0`,
		`monitor.h5 monitor/1 h5 running "" rst=0`,
		`monitor.h6 monitor/2 h6 running "" rst=0`,
		`monitor.h9 monitor/3 h9 running "" rst=0`,
		`web.1 web/1 h6 running "" rst=0`,
		`web.2 web/2 h9 running "" rst=0`,
		`web.3 web/3  pending "no suitable node (insufficient resources on 3 nodes)" rst=0`,
		`worker.1 worker/1 h9 running "" rst=1`,
		`worker.2 worker/2 h6 starting "" rst=0`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("containers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cs := b.Containers()
	if cs[2].Image != "shop/api:v1" || cs[0].Image != "shop/api:v2" {
		t.Errorf("images %q %q: the old task runs the previous spec's", cs[2].Image, cs[0].Image)
	}
	if p := cs[0].Ports; len(p) != 1 || p[0].PublicPort != 8080 || p[0].PrivatePort != 80 {
		t.Errorf("api.1 ports %+v", p)
	}
	if ev := cs[10].Events; len(ev) != 1 || !strings.Contains(ev[0], "failed on h9: task: non-zero exit (1)") {
		t.Errorf("worker.1 events %q", ev)
	}

	svcs := b.Services()
	byName := map[string]ServiceInfo{}
	for _, s := range svcs {
		byName[s.Name] = s
	}
	if s := byName["api"]; !s.Swarm || s.Running != 3 || s.Scale != 3 || s.Update != "updating 2/3" {
		t.Errorf("api %+v", s)
	}
	if s := byName["web"]; s.Running != 2 || s.Scale != 3 {
		t.Errorf("web %+v", s)
	}
	hs := b.Hosts()
	if len(hs) != 3 || hs[0].Name != "h5" || hs[0].Role != "manager" || hs[2].CPUs != 2 || !hs[2].Reachable {
		t.Errorf("hosts %+v", hs)
	}
}

func TestSwarmBackendFollowsChanges(t *testing.T) {
	b, src, _ := newSwarmFake(t)
	ch, stop := b.Subscribe(16)
	defer stop()
	s := swarmSnapshot()
	s.Tasks = s.Tasks[:1]
	s.At = fixedNow.Add(time.Second)
	src.set(s)
	kinds := map[engine.Kind]bool{}
	deadline := time.After(5 * time.Second)
	for !kinds[engine.KindState] || !kinds[engine.KindHost] {
		select {
		case ev := <-ch:
			kinds[ev.Kind] = true
		case <-deadline:
			t.Fatalf("no state and host events after a change: %v", kinds)
		}
	}
	if n := len(b.Containers()); n != 1 {
		t.Fatalf("%d containers after the change, want 1", n)
	}
}

func TestSwarmActions(t *testing.T) {
	b, _, ops := newSwarmFake(t)
	m := newTestModel(t, b, 120, 30)
	for _, c := range []struct {
		keys []string
		row  string
		call string
	}{
		{[]string{"+"}, "api-1", "scale shop map[api:4]"},
		{[]string{"-", "y"}, "web-2", "scale shop map[web:2]"},
		{[]string{"r"}, "db-1", "restart shop [db]"},
		{[]string{"c", "y"}, "worker-1", "restart shop [worker]"},
		{[]string{"x", "y"}, "worker-1", "stop shop [worker]"},
		{[]string{"u"}, "worker-1", "start shop [worker]"},
	} {
		ops.mu.Lock()
		ops.calls = nil
		ops.mu.Unlock()
		selectRow(t, m, c.row)
		press(t, m, c.keys...)
		if got := ops.callList(); len(got) != 1 || got[0] != c.call {
			t.Errorf("%v on %s: calls %v, want %q", c.keys, c.row, got, c.call)
		}
	}
	if err := b.Rebuild(context.Background(), "api"); err == nil || !strings.Contains(err.Error(), "up -d --build") {
		t.Errorf("rebuild: %v", err)
	}
	if _, err := b.SetWatch(true); err == nil {
		t.Error("hot reload turned on on a Swarm")
	}
	cmd, err := b.Shell(context.Background(), "web", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/devorch", "--target", "swarm", "-p", "shop", "exec", "--index", "2", "web", "sh"}
	if !reflect.DeepEqual(cmd.Args, want) {
		t.Errorf("shell %v, want %v", cmd.Args, want)
	}
}

func TestSwarmLogs(t *testing.T) {
	b, _, _ := newSwarmFake(t)
	ch, stop := b.Subscribe(64)
	defer stop()
	b.WantLogs(true)
	deadline := time.After(5 * time.Second)
	for n := 0; n < 20; {
		select {
		case ev := <-ch:
			if ev.Kind == engine.KindLog {
				n++
			}
		case <-deadline:
			t.Fatal("the log lines were not published")
		}
	}
	api2 := ""
	for _, c := range b.Containers() {
		if c.Name == "api.2" {
			api2 = c.ID
		}
	}
	lines := b.Logs([]string{api2}, 0)
	if len(lines) != 4 || lines[0].Container != "api.2" || lines[0].Replica != 2 {
		t.Fatalf("api.2's lines: %+v", lines)
	}
	if all := b.Logs(nil, 5); len(all) != 5 || !strings.Contains(all[4].Text, "#19") {
		t.Fatalf("the last 5 lines: %+v", all)
	}
	r := lineRing{max: 3}
	for i := range 5 {
		r.add(engine.LogLine{Text: fmt.Sprint(i)})
	}
	if got := r.lines(); len(got) != 3 || got[0].Text != "2" || got[2].Text != "4" {
		t.Fatalf("ring %+v", got)
	}
}

// TestGoldenSwarm renders the Swarm stack's services, detail, hosts and
// logs views at 80×24 and 160×48.
func TestGoldenSwarm(t *testing.T) {
	cases := []struct {
		name   string
		keys   []string
		marker string
	}{
		{"swarm", nil, "SERVICE"},
		{"swarm_detail_pending", []string{"G", "up", "up", "enter"}, "Tasks of web"},
		{"swarm_detail_update", []string{"down", "down", "enter"}, "Tasks of api"},
		{"swarm_hosts", []string{"6"}, "tasks ("},
		{"swarm_logs", []string{"2"}, "20 lines"},
	}
	for _, c := range cases {
		for _, sz := range [][2]int{{80, 24}, {160, 48}} {
			name := fmt.Sprintf("%s_%dx%d", c.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				b, _, _ := newSwarmFake(t)
				m := newModel(b, config{theme: testTheme(), now: testNow})
				tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(sz[0], sz[1]))
				t.Cleanup(func() { _ = tm.Quit() })
				out := &outWatcher{r: tm.Output()}
				out.wait(t, "SERVICE")
				for _, k := range c.keys {
					tm.Send(keyMsg(k))
				}
				out.wait(t, c.marker)
				if err := tm.Quit(); err != nil {
					t.Fatal(err)
				}
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(screenDeadline)).(*Model)
				screen := fm.View()
				checkScreen(t, screen, sz[0], sz[1])
				requireGolden(t, name, screen)
			})
		}
	}
}

func TestSwarmScaleCountsDesiredTasks(t *testing.T) {
	// web was scaled to 2 a moment ago: its third task still shows.
	src := &fakeSwarmSource{snap: swarmSnapshot(), changes: make(chan struct{})}
	two := uint64(2)
	src.snap.Services[2].Spec.Mode.Replicated.Replicas = &two
	ops := &fakeSwarmOps{}
	b := NewSwarmBackend(ops, src, engine.NewBus(), nil, "shop")
	t.Cleanup(func() { close(src.changes) })
	m := newTestModel(t, b, 120, 30)
	selectRow(t, m, "web-1")
	press(t, m, "+")
	if got := ops.callList(); len(got) != 1 || got[0] != "scale shop map[web:3]" {
		t.Fatalf("calls %v, want web scaled from its 2 desired tasks to 3", got)
	}
}

// A task that fails or is rejected while the TUI is open raises one alert
// naming it, its node and why, published on the bus; earlier failures are
// history, not alerts; Ack acknowledges.
func TestSwarmTaskAlerts(t *testing.T) {
	b, src, _ := newSwarmFake(t)
	if a := b.Alerts(false); len(a) != 0 {
		t.Fatalf("alerts for failures before the TUI opened: %+v", a)
	}
	ch, stop := b.Subscribe(64)
	defer stop()
	s := swarmSnapshot()
	api := s.Services[0]
	failed := swarmTask("newfail", api, 2, "n9", swarm.TaskStateRejected, 0)
	failed.Status.Timestamp = time.Now().Add(time.Second)
	failed.Status.Err = "No such image: sha256:0123"
	s.Tasks = append(s.Tasks, failed)
	s.At = time.Now().Add(2 * time.Second)
	src.set(s)
	deadline := time.After(5 * time.Second)
	var ev engine.Event
	for ev.Kind != engine.KindAlert {
		select {
		case ev = <-ch:
		case <-deadline:
			t.Fatal("no alert event after a task was rejected")
		}
	}
	a := b.Alerts(false)
	name := api.Spec.Labels["dev.devorch.service"] + ".2"
	if len(a) != 1 || a[0].Container != name || !strings.Contains(a[0].Message, "rejected: No such image") || ev.Detail != a[0].Message {
		t.Fatalf("alerts %+v, event %+v", a, ev)
	}
	// The same task in the next snapshot raises nothing more.
	s.At = s.At.Add(time.Second)
	src.set(s)
	b.sync()
	if n := len(b.Alerts(true)); n != 1 {
		t.Errorf("%d alerts after the same failure was seen again", n)
	}
	b.Ack(a[0].ID)
	if n := len(b.Alerts(false)); n != 0 {
		t.Errorf("%d open alerts after Ack", n)
	}
}
