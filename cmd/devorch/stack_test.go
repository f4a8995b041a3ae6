package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/testenv"
	"github.com/devorch/devorch/tui"
)

// swarmTarget is a stack deployed with --target swarm on the test Swarm
// (h5 its manager, h6 and h9 workers).
type swarmTarget struct {
	*multiStack
	mgr testenv.TestHost
}

func newSwarmTarget(t *testing.T, files map[string]string) *swarmTarget {
	t.Helper()
	m := newSwarmStack(t, 3, files)
	m.flags = append(m.flags, "--target", "swarm")
	return &swarmTarget{multiStack: m, mgr: m.hosts[0]}
}

// services returns the project's Swarm services by compose name.
func (s *swarmTarget) services() map[string]swarm.Service {
	s.t.Helper()
	svcs, err := s.mgr.Client.ServiceList(context.Background(), swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+s.project))})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]swarm.Service{}
	for _, svc := range svcs {
		out[svc.Spec.Labels["dev.devorch.service"]] = svc
	}
	return out
}

// versions returns each service's spec version.
func (s *swarmTarget) versions() map[string]uint64 {
	out := map[string]uint64{}
	for name, svc := range s.services() {
		out[name] = svc.Version.Index
	}
	return out
}

// tasks returns `ps --format json` lines.
func (s *swarmTarget) tasks() []map[string]any {
	s.t.Helper()
	return jsonLines(s.t, s.mustRun("ps", "--format", "json").stdout)
}

// running counts the running tasks of service per node.
func (s *swarmTarget) running(service string) map[string]int {
	out := map[string]int{}
	for _, l := range s.tasks() {
		if l["Service"] == service && l["CurrentState"] == "running" && l["DesiredState"] == "running" {
			out[fmt.Sprint(l["Node"])]++
		}
	}
	return out
}

// until polls cond (reading the Swarm's state) until it holds or the
// deadline passes.
func (s *swarmTarget) until(what string, cond func() bool) {
	s.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			s.t.Fatalf("still not %s after 2 minutes:\n%s", what, s.run("ps").stdout)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// execIn runs cmd in a task container of service (found on the nodes'
// own daemons) and returns its output.
func (s *swarmTarget) execIn(service string, cmd ...string) string {
	s.t.Helper()
	ctx := context.Background()
	for _, h := range s.hosts {
		cs, err := h.Client.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.name="+s.project+"_"+service))})
		if err != nil || len(cs) == 0 {
			continue
		}
		ex, err := h.Client.ContainerExecCreate(ctx, cs[0].ID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
		if err != nil {
			s.t.Fatal(err)
		}
		resp, err := h.Client.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		var out, errb bytes.Buffer
		_, _ = stdcopy.StdCopy(&out, &errb, resp.Reader)
		resp.Close()
		return strings.TrimSpace(out.String() + errb.String())
	}
	s.t.Fatalf("no task container of %s on any node", service)
	return ""
}

// downLeavesNothing runs down with flags and checks that the project left
// nothing on the Swarm and its nodes.
func (s *swarmTarget) downLeavesNothing(flags ...string) {
	s.t.Helper()
	s.mustRun(append([]string{"down"}, flags...)...)
	if l := s.leftovers(); len(l) > 0 {
		s.t.Errorf("left behind: %v", l)
	}
}

// leftovers lists what the project left on the Swarm and its nodes.
func (s *swarmTarget) leftovers() []string {
	ctx := context.Background()
	out := s.leftoversEverywhere()
	f := filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+s.project))
	svcs, _ := s.mgr.Client.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	for _, svc := range svcs {
		out = append(out, "service "+svc.Spec.Name)
	}
	cfgs, _ := s.mgr.Client.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	for _, c := range cfgs {
		out = append(out, "config "+c.Spec.Name)
	}
	secs, _ := s.mgr.Client.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	for _, c := range secs {
		out = append(out, "secret "+c.Spec.Name)
	}
	for _, h := range s.hosts {
		vs, _ := h.Client.VolumeList(ctx, volume.ListOptions{Filters: f})
		for _, v := range vs.Volumes {
			out = append(out, h.Name+": volume "+v.Name)
		}
		ns, _ := h.Client.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			out = append(out, h.Name+": network "+n.Name)
		}
	}
	return out
}

const swarmStackFile = `
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    deploy:
      replicas: 3
      placement: {max_replicas_per_node: 1}
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8090"}
    deploy: {replicas: 2}
  front:
    image: devorch-test/testapp:latest
    environment: {NAME: front, PORT: "8070"}
    ports: ["18070:8070"]
  agent:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    deploy: {mode: global}
  tools:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    configs: [{source: motd, target: /motd}]
    secrets: [token]
configs:
  motd: {content: "%s"}
secrets:
  token: {file: ./token.txt}
`

// The same compose file, deployed as Swarm services: replicas spread over
// the nodes, tasks reach each other by compose service name across nodes,
// a changed service is the only one updated, an unchanged file updates
// nothing, scale, a drained node's tasks move, and down leaves nothing on
// any node.
func TestSwarmTargetStack(t *testing.T) {
	s := newSwarmTarget(t, map[string]string{"compose.yaml": fmt.Sprintf(swarmStackFile, "hello"), "token.txt": "s3cret"})
	t.Cleanup(func() { s.run("down", "-v") })
	r := s.mustRun("up", "-d", "--wait")
	if !strings.Contains(r.stderr, "no IPVS") {
		t.Errorf("up does not say the kernel has no IPVS:\n%s", r.stderr)
	}
	// Images are named by ID, the tag kept in a label; nothing is pulled.
	svcs := s.services()
	if len(svcs) != 5 {
		t.Fatalf("services: %v", svcs)
	}
	for name, svc := range svcs {
		if img := svc.Spec.TaskTemplate.ContainerSpec.Image; !strings.HasPrefix(img, "sha256:") {
			t.Errorf("service %s runs %q, want an image ID", name, img)
		}
		if svc.Spec.Labels["com.docker.stack.namespace"] != s.project {
			t.Errorf("service %s labels %v", name, svc.Spec.Labels)
		}
	}
	if api := s.running("api"); len(api) != 3 {
		t.Errorf("api's 3 replicas are not on 3 nodes: %v", api)
	}
	if agent := s.running("agent"); len(agent) != 3 {
		t.Errorf("the global agent is not on every node: %v", agent)
	}
	for _, l := range s.tasks() {
		if l["Service"] == "web" && l["Image"] != "devorch-test/testapp:latest" {
			t.Errorf("ps shows image %v for web, want its tag", l["Image"])
		}
	}
	// Logs come through the Swarm's service logs, a prefix per task.
	r = s.mustRun("logs", "api")
	for slot := 1; slot <= 3; slot++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("api-%d", slot)) {
			t.Errorf("logs api has no line of task %d:\n%s", slot, r.stdout)
		}
	}
	if strings.Count(r.stdout, "listening on :8080") != 3 {
		t.Errorf("logs api: want each task's start line:\n%s", r.stdout)
	}
	// Service names across nodes (dnsrr: every api task answers).
	for i := 0; i < 3; i++ {
		if out := s.execIn("web", "/testapp", "get", "http://api:8080/"); out != "api" {
			t.Errorf("web → api:8080: %q", out)
		}
	}
	if out := s.execIn("tools", "cat", "/motd", "/run/secrets/token"); out != "hellos3cret" {
		t.Errorf("config and secret in tools: %q", out)
	}
	// front publishes 18070 in host mode on its node.
	var frontNode string
	for n := range s.running("front") {
		frontNode = n
	}
	if got := httpGet(t, "http://"+s.host(frontNode).Address+":18070/"); strings.TrimSpace(got) != "front" {
		t.Errorf("front on %s:18070: %q", frontNode, got)
	}

	// Nothing changed: no service gets an update.
	before := s.versions()
	r = s.mustRun("up", "-d", "--wait")
	if strings.Contains(r.stderr, "Updat") || strings.Contains(r.stderr, "Creat") {
		t.Errorf("no-op up changed something:\n%s", r.stderr)
	}
	if after := s.versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("no-op up bumped versions: %v → %v", before, after)
	}

	// web changes: only web is updated. The config changes: tools rolls.
	s.write("compose.yaml", strings.Replace(fmt.Sprintf(swarmStackFile, "bye"), "NAME: web", "NAME: web2", 1))
	r = s.mustRun("up", "-d", "--wait")
	after := s.versions()
	for name, v := range after {
		changed := v != before[name]
		if want := name == "web" || name == "tools"; changed != want {
			t.Errorf("service %s: version %d → %d (changed %v, want %v)\n%s", name, before[name], v, changed, want, r.stderr)
		}
	}
	if out := s.execIn("web", "/testapp", "get", "http://web:8090/"); out != "web2" {
		t.Errorf("web after its update: %q", out)
	}
	if out := s.execIn("tools", "cat", "/motd"); out != "bye" {
		t.Errorf("tools' config after the update: %q", out)
	}

	// Scale up and down.
	s.mustRun("up", "-d", "--wait", "--scale", "web=4")
	if n := sum(s.running("web")); n != 4 {
		t.Errorf("web scaled to 4: %d running", n)
	}
	s.mustRun("up", "-d", "--wait")
	if n := sum(s.running("web")); n != 2 {
		t.Errorf("web back to 2: %d running", n)
	}

	// A drained node's tasks move; ps shows where they are now.
	drained := s.hosts[2]
	setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityDrain)
	t.Cleanup(func() { setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityActive) })
	s.until("moved off the drained node", func() bool {
		web := s.running("web")
		return web[drained.Name] == 0 && sum(web) == 2 && s.running("front")[drained.Name] == 0 && sum(s.running("front")) == 1
	})
	// The scheduler gives the replacement its reason a moment after it
	// creates it.
	s.until("api's third replica pending with its reason in ps (max one per node, a node drained)", func() bool {
		for _, l := range s.tasks() {
			if l["Service"] == "api" && (l["DesiredState"] == "running" || l["DesiredState"] == "ready") && l["CurrentState"] == "pending" && strings.Contains(fmt.Sprint(l["Error"]), "no suitable node") {
				return true
			}
		}
		return false
	})
	setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityActive)
	s.until("api back on 3 nodes", func() bool { return len(s.running("api")) == 3 })

	s.downLeavesNothing("-v")
}

// --wait names the service, and the reason, of a task that cannot start;
// and a target of swarm on a host that manages none says what makes one.
func TestSwarmTargetWaitReportsTaskError(t *testing.T) {
	s := newSwarmTarget(t, map[string]string{"compose.yaml": `
services:
  ok:
    image: devorch-test/testapp:latest
  stuck:
    image: devorch-test/testapp:latest
    deploy:
      placement: {constraints: ["node.labels.devorch-test-nowhere==1"]}
`})
	t.Cleanup(func() { s.run("down") })
	r := s.run("up", "-d", "--wait", "--wait-timeout", "120")
	if r.code == 0 || !strings.Contains(r.stderr, `"stuck"`) || !strings.Contains(r.stderr, "no suitable node") {
		t.Errorf("up --wait with a task that cannot be placed: %s", r)
	}
	if strings.Contains(r.stderr, `"ok"`) {
		t.Errorf("the error names a service that runs: %s", r.stderr)
	}
	s.downLeavesNothing()

	worker := s.hosts[1]
	r = s.devorch("--host", worker.Spec(), "--target", "swarm", "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("host %q is a worker", worker.Name)) || !strings.Contains(r.stderr, "devorch hosts join") {
		t.Errorf("--target swarm on a worker: %s", r)
	}
}

func setAvailability(t *testing.T, mgr, h testenv.TestHost, a swarm.NodeAvailability) {
	t.Helper()
	ctx := context.Background()
	info, err := h.Client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := mgr.Client.NodeInspectWithRaw(ctx, info.Swarm.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Availability = a
	if err := mgr.Client.NodeUpdate(ctx, n.ID, n.Version, n.Spec); err != nil {
		t.Fatal(err)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// exec reaches a task's container on its node; stop scales to 0 and start
// gives the replicas back (then up has nothing to do); restart replaces
// the tasks; scale sets replicas, and the next up goes back to the file's.
func TestSwarmTargetOps(t *testing.T) {
	s := newSwarmTarget(t, map[string]string{"compose.yaml": `
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    deploy: {replicas: 2}
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8090"}
`})
	t.Cleanup(func() { s.run("down") })
	// An attached up deploys and follows the services' logs; Ctrl-C stops
	// following and leaves the services running.
	p := startProc(t, s.command(append(append([]string{}, s.flags...), "up")...))
	p.waitLine("listening on :8090")
	p.signal(syscall.SIGINT)
	if r := p.wait(); !strings.Contains(r.stderr, "the services keep running") {
		t.Errorf("attached up does not say Ctrl-C leaves the services running:\n%s", r.stderr)
	}
	s.until("running after the attached up", func() bool { return sum(s.running("api")) == 2 && sum(s.running("web")) == 1 })
	s.mustRun("up", "-d", "--wait")
	if r := s.mustRun("exec", "-T", "--index", "1", "web", "/testapp", "get", "http://api:8080/"); strings.TrimSpace(r.stdout) != "api" {
		t.Errorf("exec web → api: %s", r)
	}
	if r := s.run("exec", "-T", "--index", "3", "api", "true"); r.code == 0 || !strings.Contains(r.stderr, "no running task in slot 3") {
		t.Errorf("exec in a slot that does not exist: %s", r)
	}
	// run: a one-off container on the stack's overlay, reaching api by
	// name; one kept (no --rm) goes with down.
	if r := s.mustRun("run", "--rm", "-T", "web", "get", "http://api:8080/"); strings.TrimSpace(r.stdout) != "api" {
		t.Errorf("run web → api: %s", r)
	}
	if r := s.mustRun("run", "-T", "web", "echo", "kept"); strings.TrimSpace(r.stdout) != "kept" {
		t.Errorf("run web echo: %s", r)
	}

	s.mustRun("stop", "api")
	s.until("api stopped", func() bool { return sum(s.running("api")) == 0 })
	if v := s.services()["api"].Spec.Mode.Replicated.Replicas; v == nil || *v != 0 {
		t.Errorf("api after stop: replicas %v, want 0", v)
	}
	s.mustRun("start", "api")
	s.until("api started", func() bool { return sum(s.running("api")) == 2 })
	before := s.versions()
	if r := s.mustRun("up", "-d", "--wait"); strings.Contains(r.stderr, "Updat") {
		t.Errorf("up after stop and start updates:\n%s", r.stderr)
	}
	if after := s.versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("up after stop and start bumped versions: %v → %v", before, after)
	}

	ids := func() map[string]bool {
		out := map[string]bool{}
		for _, l := range s.tasks() {
			if l["Service"] == "web" && l["DesiredState"] == "running" {
				out[fmt.Sprint(l["ID"])] = true
			}
		}
		return out
	}
	old := ids()
	s.mustRun("restart", "web")
	s.until("web restarted", func() bool {
		now := ids()
		for id := range now {
			if old[id] {
				return false
			}
		}
		return len(now) == 1 && sum(s.running("web")) == 1
	})

	s.mustRun("scale", "api=3")
	s.until("api scaled to 3", func() bool { return sum(s.running("api")) == 3 })
	s.mustRun("up", "-d", "--wait")
	if n := sum(s.running("api")); n != 2 {
		t.Errorf("up after scale: %d api tasks running, want the file's 2", n)
	}
	s.downLeavesNothing()
}

// A named volume stays a local volume on the node that runs the task; once
// it holds data there, the service is pinned to that node (the dry run
// says so) and an update keeps the data. devorch run goes to that node
// too (the task runs on a worker, not on the manager, where run used to
// go), with the service running or stopped. down -v removes it.
func TestSwarmTargetVolumeStaysWithItsData(t *testing.T) {
	file := `
services:
  db:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    environment: {GEN: "%d"}
    volumes: [data:/data]
    deploy:
      placement: {constraints: [node.role == worker]}
volumes:
  data:
`
	s := newSwarmTarget(t, map[string]string{"compose.yaml": fmt.Sprintf(file, 1)})
	t.Cleanup(func() { s.run("down", "-v") })
	s.mustRun("up", "-d", "--wait")
	var node string
	for n := range s.running("db") {
		node = n
	}
	if r := s.mustRun("exec", "-T", "db", "sh", "-c", "echo kept > /data/f"); r.code != 0 {
		t.Fatal(r)
	}
	r := s.mustRun("--dry-run", "up")
	if want := fmt.Sprintf("service %q runs on node %s: the data of its volume(s) %s_data is there", "db", node, s.project); !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "unchanged") {
		t.Errorf("dry run, want %q and nothing to do:\n%s", want, r.stdout)
	}
	s.write("compose.yaml", fmt.Sprintf(file, 2))
	s.mustRun("up", "-d", "--wait")
	if on := s.running("db"); on[node] != 1 {
		t.Errorf("db after its update runs on %v, want %s where its data is", on, node)
	}
	if r := s.mustRun("exec", "-T", "db", "cat", "/data/f"); strings.TrimSpace(r.stdout) != "kept" {
		t.Errorf("data after the update: %q", r.stdout)
	}
	// A one-off runs beside the task, on a worker, and sees the data.
	if r := s.mustRun("run", "--rm", "-T", "db", "cat", "/data/f"); strings.TrimSpace(r.stdout) != "kept" {
		t.Errorf("run db cat /data/f: %q", r.stdout)
	}
	// Stopped, the service has no task: the one-off follows the volume's
	// node constraint.
	s.mustRun("stop", "db")
	s.until("db stopped", func() bool { return sum(s.running("db")) == 0 })
	if r := s.mustRun("run", "--rm", "-T", "db", "cat", "/data/f"); strings.TrimSpace(r.stdout) != "kept" {
		t.Errorf("run db cat /data/f with db stopped: %q", r.stdout)
	}
	s.downLeavesNothing("-v")
}

// The TUI's Swarm backend over the real Swarm: it follows the Swarm's
// events (no polling) to show every task on its node, the nodes with
// their roles, and a scale from the keyboard (+) reaches the Swarm and
// comes back as a new task.
func TestSwarmTUIBackend(t *testing.T) {
	s := newSwarmTarget(t, map[string]string{"compose.yaml": `
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    deploy: {replicas: 2}
  agent:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    deploy: {mode: global}
`})
	t.Cleanup(func() { s.run("down") })
	s.mustRun("up", "-d", "--wait")
	var specs []hosts.Spec
	for _, h := range s.hosts {
		sp, err := hosts.ParseSpec(h.Spec())
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	pool, err := hosts.Open(specs, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bus := engine.NewBus()
	e := engine.New(pool, bus.Publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mon, err := e.StackMonitor(ctx, s.project)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Stop()
	b := tui.NewSwarmBackend(e, mon, bus, nil, s.project)
	events, unsub := b.Subscribe(256)
	defer unsub()
	// until waits for the backend to show what cond wants, on its events.
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for !cond() {
			select {
			case <-events:
			case <-deadline:
				t.Fatalf("the TUI's backend never showed %s: %+v", what, b.Containers())
			}
		}
	}
	running := func(service string) map[string]int {
		out := map[string]int{}
		for _, c := range b.Containers() {
			if c.Service == service && c.State == "running" {
				out[c.HostName()]++
			}
		}
		return out
	}
	until("api's 2 tasks and agent on every node", func() bool { return sum(running("api")) == 2 && len(running("agent")) == 3 })
	roles := map[string]string{}
	for _, h := range b.Hosts() {
		roles[h.Name] = h.Role
	}
	if roles[s.hosts[0].Name] != "manager" || roles[s.hosts[1].Name] != "worker" || len(roles) != 3 {
		t.Errorf("nodes: %v", roles)
	}
	var api *tui.ServiceInfo
	for _, si := range b.Services() {
		if si.Name == "api" {
			api = &si
		}
	}
	if api == nil || !api.Swarm || api.Scale != 2 {
		t.Errorf("api in the services view: %+v", api)
	}
	if err := b.Scale(ctx, "api", 3); err != nil {
		t.Fatal(err)
	}
	until("api scaled to 3", func() bool { return sum(running("api")) == 3 })
	// A drained node: the hosts view says so and its api task moves.
	drained := s.hosts[2]
	setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityDrain)
	t.Cleanup(func() { setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityActive) })
	until("the drained node and api moved off it", func() bool {
		avail := ""
		for _, h := range b.Hosts() {
			if h.Name == drained.Name {
				avail = h.Availability
			}
		}
		return avail == "drain" && running("api")[drained.Name] == 0 && sum(running("api")) == 3
	})
	setAvailability(t, s.mgr, drained, swarm.NodeAvailabilityActive)
	s.mustRun("down")
}

// linkAddr is this machine's address on the link to a test host (the
// host's gateway, 10.251.N.1): what every test host reaches this machine
// at.
func linkAddr(t *testing.T, hostAddr string) string {
	t.Helper()
	ip := net.ParseIP(hostAddr)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.Contains(ip) && !n.IP.Equal(ip) {
			return n.IP.String()
		}
	}
	t.Fatalf("no address of this machine on the link to %s", hostAddr)
	return ""
}

// With a registry named, the images go through it: built once, on the
// manager's host only, pushed, and pulled by digest by every node,
// including h9, which devorch has no endpoint for and which would
// otherwise get no task. An unchanged file pushes nothing new and
// updates nothing; a registry that cannot be reached fails before
// anything is created; down --rmi local removes the image from the nodes.
func TestSwarmTargetRegistry(t *testing.T) {
	all := testenv.SwarmHosts(t, 3)
	reg := startRegistryAt(t, linkAddr(t, all[0].Address), "")
	m := newSwarmStack(t, 2, map[string]string{
		"compose.yaml": `
services:
  app:
    build: .
    command: ["sleep", "3600"]
    init: true
    deploy:
      replicas: 3
      placement: {max_replicas_per_node: 1}
`,
		"Dockerfile": "FROM devorch-test/busybox:latest\nCOPY stamp /stamp\n",
	})
	m.flags = append(m.flags, "--target", "swarm")
	s := &swarmTarget{multiStack: m, mgr: all[0]}
	s.write("stamp", s.project) // a layer no node has yet
	t.Cleanup(func() {
		s.run("down", "-v")
		for _, h := range all { // the image, on every node
			imgs, _ := h.Client.ImageList(context.Background(), image.ListOptions{})
			for _, img := range imgs {
				if slices.ContainsFunc(append(img.RepoTags, img.RepoDigests...), func(r string) bool {
					return strings.HasPrefix(r, reg.addr+"/") || strings.HasPrefix(r, s.project+"-app:")
				}) {
					_, _ = h.Client.ImageRemove(context.Background(), img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
				}
			}
		}
	})

	// Bad input first: nothing is created.
	if r := s.run("up", "-d", "--registry", "http://"+reg.addr); r.code == 0 || !strings.Contains(r.stderr, "without a scheme") {
		t.Errorf("--registry with a scheme: %+v", r)
	}
	if r := s.devorch("up", "-d", "--registry", reg.addr); r.code == 0 || !strings.Contains(r.stderr, "--target swarm only") {
		t.Errorf("--registry on devorch's hosts: %+v", r)
	}
	closed, err := freeAddr(linkAddr(t, all[0].Address))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.run("up", "-d", "--registry", closed); r.code == 0 || !strings.Contains(r.stderr, "push ") || !strings.Contains(r.stderr, closed) {
		t.Errorf("unreachable registry: %+v", r)
	}
	if svcs := s.services(); len(svcs) > 0 {
		t.Errorf("a failed push left services: %v", svcs)
	}

	s.mustRun("up", "-d", "--wait", "--registry", reg.addr)
	if on := s.running("app"); sum(on) != 3 {
		t.Errorf("app runs %v, want 3 tasks, one on each of the 3 nodes", on)
	}
	svc := s.services()["app"]
	img := svc.Spec.TaskTemplate.ContainerSpec.Image
	if !strings.HasPrefix(img, reg.addr+"/"+s.project+"-app@sha256:") {
		t.Errorf("the service runs %q, want the image by digest in %s", img, reg.addr)
	}
	if tag := svc.Spec.Labels["dev.devorch.image-tag"]; tag != s.project+"-app" && tag != s.project+"-app:latest" {
		t.Errorf("image tag label %q", tag)
	}
	digest := img[strings.Index(img, "@")+1:]
	// The workers pulled it: its manifest and its new layer. The registry
	// logs a request once it has answered it: wait for the lines.
	pulled := func(part string) bool {
		got := reg.fetchers(part)
		return got[all[1].Address] && got[all[2].Address]
	}
	for deadline := time.Now().Add(30 * time.Second); !pulled("/manifests/"+digest) || !pulled("/blobs/sha256:"); {
		if time.Now().After(deadline) {
			t.Fatalf("the workers %s and %s did not both pull manifest %s and a blob from the registry: manifest fetched by %v, blobs by %v",
				all[1].Address, all[2].Address, digest, reg.fetchers("/manifests/"+digest), reg.fetchers("/blobs/sha256:"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The same file again, the registry from the environment: no update.
	t.Setenv("DEVORCH_REGISTRY", reg.addr)
	before := s.versions()
	start := time.Now()
	s.mustRun("up", "-d", "--wait")
	t.Logf("up of the unchanged file through the registry: %s", time.Since(start).Round(time.Millisecond))
	if after := s.versions(); !maps.Equal(before, after) {
		t.Errorf("an unchanged file updated services: %v → %v", before, after)
	}
	if r := s.mustRun("--dry-run", "up"); !strings.Contains(r.stdout, "unchanged") || strings.Contains(r.stdout, "would be pushed") {
		t.Errorf("dry run of an unchanged file:\n%s", r.stdout)
	}

	// down --rmi local removes the built image from the nodes devorch
	// reaches (h9's copy, which devorch cannot reach, the cleanup
	// removes): the manager's tags, the registry's included, and the
	// worker's copy, which it holds by digest only.
	s.mustRun("down", "-v", "--rmi", "local")
	for _, h := range all[:2] {
		imgs, err := h.Client.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+s.project))})
		if err != nil || len(imgs) > 0 {
			t.Errorf("%s after down --rmi local: images %v (%v)", h.Name, imgs, err)
		}
	}
	s.hosts = all
	if l := s.leftovers(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
