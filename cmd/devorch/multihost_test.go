package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/devorch/devorch/internal/testenv"
)

// multiStack is a stack run on the extra test hosts.
type multiStack struct {
	*stack
	hosts []testenv.TestHost
	flags []string
}

func newMultiStack(t *testing.T, n int, files map[string]string, labels ...string) *multiStack {
	t.Helper()
	hs := testenv.Hosts(t, n)
	s := newStack(t, files)
	m := &multiStack{stack: s, hosts: hs}
	for i, h := range hs {
		spec := h.Spec()
		if i < len(labels) && labels[i] != "" {
			spec += ";" + labels[i]
		}
		m.flags = append(m.flags, "--host", spec)
	}
	return m
}

func (m *multiStack) run(args ...string) result {
	m.t.Helper()
	return m.devorch(append(append([]string{}, m.flags...), args...)...)
}

func (m *multiStack) mustRun(args ...string) result {
	m.t.Helper()
	r := m.run(args...)
	if r.code != 0 {
		m.t.Fatalf("devorch %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// placement returns container name → host from `ps --format json`.
func (m *multiStack) placement() map[string]string {
	m.t.Helper()
	return psHosts(m.t, m.mustRun("ps", "-a", "--format", "json"))
}

func (m *multiStack) host(name string) testenv.TestHost {
	for _, h := range m.hosts {
		if h.Name == name {
			return h
		}
	}
	m.t.Fatalf("no test host %q", name)
	return testenv.TestHost{}
}

// leftoversEverywhere lists the project's resources on every test host.
func (m *multiStack) leftoversEverywhere() []string {
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))
	var out []string
	for _, h := range m.hosts {
		cs, _ := h.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			out = append(out, h.Name+": container "+c.Names[0])
		}
		ns, _ := h.Client.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			out = append(out, h.Name+": network "+n.Name)
		}
	}
	return out
}

// spreadStack's services reserve a little CPU so that spreading is decided
// by reservations, not by container counts that tests running beside this
// one (on the same hosts) change.
const spreadStack = `
x-reserve: &reserve
  resources: {reservations: {cpus: "0.1"}}
services:
  front:
    image: devorch-test/testapp:latest
    environment: {NAME: front, PORT: "8081"}
    expose: ["8081"]
    depends_on: [api]
    deploy: *reserve
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8082"}
    expose: ["8082"]
    depends_on:
      db: {condition: service_healthy}
    deploy: *reserve
  db:
    image: devorch-test/testapp:latest
    environment: {NAME: db, PORT: "8083"}
    expose: ["8083"]
    healthcheck:
      test: ["CMD", "/testapp", "health", "http://127.0.0.1:8083/health"]
      interval: 1s
    deploy: *reserve
`

func TestMultiHostSpreadAndCrossHostCalls(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": spreadStack})
	r := m.mustRun("up", "-d", "--wait")
	// The hosts are in no Swarm: the network falls back to links, said once.
	if n := strings.Count(r.stderr, "run devorch hosts join"); n != 1 {
		t.Errorf("the link fallback is said %d times, want once:\n%s", n, r.stderr)
	}
	pl := m.placement()
	hostsUsed := map[string]bool{}
	for _, h := range pl {
		hostsUsed[h] = true
	}
	if len(hostsUsed) != 3 {
		t.Fatalf("spread: three services on %d hosts: %v", len(hostsUsed), pl)
	}
	// front calls api, api calls db: by service name, across hosts.
	r = m.mustRun("exec", "-T", "front", "/testapp", "get", "http://api:8082/call?url=http://db:8083/")
	if strings.TrimSpace(r.stdout) != "db" {
		t.Errorf("front → api → db across hosts: %q", r.stdout)
	}
	// The extra publishing binds only the host's address, only declared ports.
	api := m.host(pl[m.name("api", 1)])
	insp, err := api.Client.ContainerInspect(context.Background(), m.name("api", 1))
	if err != nil {
		t.Fatal(err)
	}
	for port, bs := range insp.HostConfig.PortBindings {
		for _, b := range bs {
			if b.HostIP != api.Address || port != nat.Port("8082/tcp") {
				t.Errorf("api publishes %s on %q: want only 8082/tcp on %s", port, b.HostIP, api.Address)
			}
		}
	}
	// Stable: a second up keeps everything where it is.
	ids := map[string]string{}
	for name, h := range pl {
		c, _ := m.host(h).Client.ContainerInspect(context.Background(), name)
		ids[name] = c.ID
	}
	r = m.mustRun("up", "-d")
	if strings.Contains(r.stderr, "Creating") || strings.Contains(r.stderr, "Recreate") {
		t.Errorf("second up changed something:\n%s", r.stderr)
	}
	if again := m.placement(); !sameMap(pl, again) {
		t.Errorf("placement moved: %v -> %v", pl, again)
	}
	// The default network exists on each host, with subnets that never overlap.
	var nets []*net.IPNet
	for _, h := range m.hosts {
		n, err := h.Client.NetworkInspect(context.Background(), m.project+"_default", network.InspectOptions{})
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		_, sn, err := net.ParseCIDR(n.IPAM.Config[0].Subnet)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range nets {
			if o.Contains(sn.IP) || sn.Contains(o.IP) {
				t.Errorf("subnets overlap across hosts: %s and %s", o, sn)
			}
		}
		nets = append(nets, sn)
	}
	// hosts and ps show every host.
	r = m.mustRun("hosts", "--format", "json")
	for _, l := range jsonLines(t, r.stdout) {
		if l["Reachable"] != true || l["Containers"].(float64) != 1 {
			t.Errorf("hosts: %v", l)
		}
	}
	r = m.mustRun("ps")
	if !strings.Contains(r.stdout, "HOST") {
		t.Errorf("ps lacks the host column:\n%s", r.stdout)
	}
	m.mustRun("down")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestMultiHostConstraintsColocationAndVolumes(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": `
services:
  pinned:
    image: devorch-test/testapp:latest
    deploy:
      placement:
        constraints: ["node.hostname==h3"]
  eu:
    image: devorch-test/testapp:latest
    deploy:
      placement:
        constraints: ["node.labels.zone==eu"]
  notus:
    image: devorch-test/testapp:latest
    deploy:
      replicas: 2
      placement:
        constraints: ["node.labels.zone!=us"]
  left:
    image: devorch-test/testapp:latest
    networks: [tight]
  right:
    image: devorch-test/testapp:latest
    networks: [tight]
  store:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
  reader:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
  wide:
    image: devorch-test/testapp:latest
    deploy: {replicas: 3}
networks:
  tight:
    x-devorch: {colocate: true}
volumes:
  data:
`}, "label.zone=us", "label.zone=eu", "label.zone=ap")
	r := m.mustRun("--dry-run", "up", "-d")
	if !strings.Contains(r.stdout, "PLACEMENT") || !strings.Contains(r.stdout, "pinned-1 → h3") {
		t.Errorf("dry run:\n%s", r.stdout)
	}
	if len(m.placement()) != 0 {
		t.Fatal("--dry-run created containers")
	}
	m.mustRun("up", "-d")
	pl := m.placement()
	at := func(svc string, n int) string { return pl[m.name(svc, n)] }
	if at("pinned", 1) != "h3" {
		t.Errorf("node.hostname==h3: on %s", at("pinned", 1))
	}
	if at("eu", 1) != "h2" {
		t.Errorf("node.labels.zone==eu: on %s", at("eu", 1))
	}
	for i := 1; i <= 2; i++ {
		if at("notus", i) == "h1" {
			t.Errorf("node.labels.zone!=us: notus-%d on h1", i)
		}
	}
	if at("left", 1) != at("right", 1) {
		t.Errorf("colocated network split: left on %s, right on %s", at("left", 1), at("right", 1))
	}
	if at("store", 1) != at("reader", 1) {
		t.Errorf("a volume's users split: %s and %s", at("store", 1), at("reader", 1))
	}
	wide := map[string]bool{at("wide", 1): true, at("wide", 2): true, at("wide", 3): true}
	if len(wide) != 3 {
		t.Errorf("replicas not spread: %v", pl)
	}
	r = m.mustRun("volume", "ls", "--format", "json")
	vols := jsonLines(t, r.stdout)
	if len(vols) != 1 || vols[0]["Host"] != at("store", 1) {
		t.Errorf("volume ls: %s", r.stdout)
	}
	// Move the volume's data to another host: its users follow on the next up.
	m.mustRun("exec", "-T", "store", "/testapp", "write", "/data/proof", "moved")
	target := "h1"
	if at("store", 1) == "h1" {
		target = "h2"
	}
	if r := m.run("volume", "mv", "data", target); r.code == 0 || !strings.Contains(r.stderr, "stop them first") {
		t.Errorf("volume mv while in use: %s", r)
	}
	m.mustRun("stop", "store", "reader")
	m.mustRun("volume", "mv", "data", target)
	m.mustRun("up", "-d")
	pl = m.placement()
	if at("store", 1) != target || at("reader", 1) != target {
		t.Errorf("after volume mv to %s: store on %s, reader on %s", target, at("store", 1), at("reader", 1))
	}
	if r := m.mustRun("exec", "-T", "reader", "/testapp", "cat", "/data/proof"); r.stdout != "moved" {
		t.Errorf("data after move: %q", r.stdout)
	}
	m.mustRun("down", "-v")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestMultiHostPortsReservationsAndRefusals(t *testing.T) {
	t.Parallel()
	port := 18400 + os.Getpid()%500
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  web:
    image: devorch-test/testapp:latest
    ports: ["%d:8080"]
`, port)})
	ctx := context.Background()
	// Another container holds the port on h1 and h2: web lands on h3.
	for _, h := range m.hosts[:2] {
		c, err := h.Client.ContainerCreate(ctx, &container.Config{Image: "devorch-test/testapp:latest", ExposedPorts: nat.PortSet{"8080/tcp": {}}},
			&container.HostConfig{PortBindings: nat.PortMap{"8080/tcp": {{HostPort: strconv.Itoa(port)}}}}, nil, nil, m.project+"-holder")
		if err != nil {
			t.Fatal(err)
		}
		cli := h.Client
		t.Cleanup(func() { _ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m.mustRun("up", "-d")
	if h := m.placement()[m.name("web", 1)]; h != "h3" {
		t.Errorf("web on %s, want h3 (the only host where port %d is free)", h, port)
	}
	// A second replica fits nowhere: the error names every host.
	r := m.run("up", "-d", "--scale", "web=2")
	if r.code == 0 {
		t.Fatalf("scale 2 with a fixed port on full hosts succeeded")
	}
	for h, why := range map[string]string{"h1": "held by container " + m.project + "-holder", "h2": "held by container " + m.project + "-holder", "h3": "held by web replica 1"} {
		if !strings.Contains(r.stderr, "  "+h+": port "+strconv.Itoa(port)+"/tcp "+why) {
			t.Errorf("refusal lacks %s's reason:\n%s", h, r.stderr)
		}
	}
	if len(m.placement()) != 1 {
		t.Errorf("a refused up created containers")
	}
	m.mustRun("down")
	// Reservations that fit nowhere.
	m.write("compose.yaml", `
services:
  big:
    image: devorch-test/testapp:latest
    deploy:
      resources:
        reservations: {cpus: "64", memory: 1G}
`)
	r = m.run("up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, "needs 64 CPUs") || strings.Count(r.stderr, "needs 64 CPUs") != 3 {
		t.Errorf("oversized reservation: %s", r)
	}
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("refused up left: %v", l)
	}
}

// Not parallel: it sets DEVORCH_SUBNET_POOL.
func TestMultiHostSubnetsAvoidTakenOnes(t *testing.T) {
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    networks: [one, two]
    deploy: {replicas: 3}
networks:
  one:
  two:
`})
	ctx := context.Background()
	// Take subnets of devorch's pool on two hosts with networks of our own.
	for i, h := range m.hosts[:2] {
		subnet := fmt.Sprintf("10.210.%d.0/24", 200+i)
		n, err := h.Client.NetworkCreate(ctx, m.project+"-squatter", network.CreateOptions{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}})
		if err != nil {
			t.Fatal(err)
		}
		cli := h.Client
		t.Cleanup(func() { _ = cli.NetworkRemove(ctx, n.ID) })
	}
	t.Setenv("DEVORCH_SUBNET_POOL", "10.210.200.0/22") // 4 subnets, 2 taken
	r := m.run("up", "-d")
	// Six networks need six subnets; the pool has two free: a clear error.
	if r.code == 0 || !strings.Contains(r.stderr, "no free /24 subnet left in 10.210.200.0/22") {
		t.Errorf("exhausted pool: %s", r)
	}
	os.Unsetenv("DEVORCH_SUBNET_POOL")
	m.mustRun("up", "-d")
	var nets []*net.IPNet
	for _, h := range m.hosts {
		ns, err := h.Client.NetworkList(ctx, network.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			for _, c := range n.IPAM.Config {
				_, sn, err := net.ParseCIDR(c.Subnet)
				if err != nil {
					continue
				}
				if strings.HasPrefix(n.Name, m.project+"_") {
					for _, o := range nets {
						if o.Contains(sn.IP) || sn.Contains(o.IP) {
							t.Errorf("%s %s overlaps %s", h.Name, sn, o)
						}
					}
				}
				nets = append(nets, sn)
			}
		}
	}
	m.mustRun("down")
}

func TestMultiHostImagesBuiltOnceAndCopied(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 3, map[string]string{
		"compose.yaml":   "services:\n  app:\n    build: ./app\n    deploy: {replicas: 3}\n",
		"app/Dockerfile": "FROM devorch-test/testapp:latest\nCOPY v /v\n",
		"app/v":          "built once",
	})
	r := m.mustRun("up", "-d")
	if n := strings.Count(r.stderr, "Building"); n != 1 {
		t.Errorf("built %d times:\n%s", n, r.stderr)
	}
	if n := strings.Count(r.stderr, "  Copied from"); n != 2 {
		t.Errorf("copied %d times, want 2:\n%s", n, r.stderr)
	}
	for i := 1; i <= 3; i++ {
		out := m.mustRun("exec", "-T", "--index", strconv.Itoa(i), "app", "/testapp", "cat", "/v")
		if out.stdout != "built once" {
			t.Errorf("replica %d: %q", i, out.stdout)
		}
	}
	m.mustRun("down", "--rmi", "local")
}

// TestMultiHostHostLossAndReturn freezes one host's dockerd (it stops
// answering), then lets it come back. Not parallel: other multi-host tests
// would see the frozen host.
func TestMultiHostHostLossAndReturn(t *testing.T) {
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": `
services:
  stateless:
    image: devorch-test/testapp:latest
    deploy: {replicas: 3}
  stateful:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
    deploy:
      placement:
        constraints: ["node.hostname==h2"]
volumes:
  data:
`})
	m.mustRun("up", "-d")
	pl := m.placement()
	if pl[m.name("stateful", 1)] != "h2" {
		t.Fatalf("stateful not on h2: %v", pl)
	}
	pidb, err := os.ReadFile("/run/devorch-testhosts/h2.pid")
	if err != nil {
		t.Fatalf("h2's dockerd pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			thawed = true
		}
	}
	t.Cleanup(thaw)
	// hosts shows it unreachable within seconds: its probe gives up after
	// 4 s, not after a client's default timeout; the bound leaves room for
	// a busy machine.
	start := time.Now()
	r := m.mustRun("hosts", "--format", "json")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("hosts took %v with a host down", d)
	}
	for _, l := range jsonLines(t, r.stdout) {
		if (l["Name"] == "h2") == (l["Reachable"] == true) {
			t.Errorf("hosts: %v", l)
		}
	}
	// ps still works, warning about h2.
	r = m.mustRun("ps", "--format", "json")
	if !strings.Contains(r.stderr, `host "h2" is unreachable`) {
		t.Errorf("ps did not warn about h2: %s", r)
	}
	// up moves the stateless replica and names the service that cannot move.
	r = m.run("up", "-d")
	if r.code == 0 {
		t.Errorf("up with stateful's host down succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, `host "h2" is unreachable`) || !strings.Contains(r.stderr, `service "stateful" could not move`) {
		t.Errorf("up with h2 down: %s", r)
	}
	moved := m.placement()
	n := 0
	for name, h := range moved {
		if strings.HasPrefix(name, m.name("stateless", 0)[:len(m.name("stateless", 0))-1]) {
			n++
			if h == "h2" {
				t.Errorf("%s still listed on h2", name)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d stateless replicas running after the move, want 3: %v", n, moved)
	}
	// The host comes back: the next up keeps the moved copies and removes
	// the stale ones there.
	thaw()
	waitAnswers(t, m.host("h2"))
	r = m.mustRun("up", "-d")
	final := m.placement()
	count := map[string]int{}
	for name := range final {
		count[name]++
	}
	ctx := context.Background()
	h2 := m.host("h2").Client
	cs, err := h2.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels["dev.devorch.service"] == "stateless" {
			t.Errorf("stale stateless replica left on h2: %s (%s)\n%s", c.Names[0], c.State, r.stderr)
		}
	}
	total := 0
	for _, h := range m.hosts {
		cs, _ := h.Client.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
		total += len(cs)
	}
	if total != 4 {
		t.Errorf("%d running containers after return, want 4 (no duplicates)", total)
	}
	m.mustRun("down", "-v")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestMultiHostKilledUpLeavesNoDuplicates(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 3, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    deploy: {replicas: 6}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  b:
    image: devorch-test/testapp:latest
    depends_on: {a: {condition: service_healthy}}
    deploy: {replicas: 3}
`})
	args := append(append([]string{}, m.flags...), "up", "-d")
	// The kill lands while replicas are being created on the hosts.
	p := startProc(t, m.command(args...))
	p.waitLine("  Created")
	p.kill()
	m.mustRun("up", "-d", "--wait")
	ctx := context.Background()
	names := map[string]int{}
	for _, h := range m.hosts {
		cs, _ := h.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
		for _, c := range cs {
			names[c.Labels["dev.devorch.service"]+"-"+c.Labels["dev.devorch.replica"]]++
		}
	}
	if len(names) != 9 {
		t.Errorf("%d replicas, want 9: %v", len(names), names)
	}
	for k, n := range names {
		if n != 1 {
			t.Errorf("replica %s exists %d times", k, n)
		}
	}
	m.mustRun("down")
}

// A unix endpoint has no address other hosts can reach: a cross-host link
// to it is refused with a message saying what to declare.
func TestMultiHostLinkNeedsAnAddress(t *testing.T) {
	t.Parallel()
	hs := testenv.Hosts(t, 2)
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  db:
    image: devorch-test/testapp:latest
    expose: ["8080"]
    deploy: {placement: {constraints: ["node.hostname==h1"]}}
  app:
    image: devorch-test/testapp:latest
    depends_on: [db]
    deploy: {placement: {constraints: ["node.hostname==h2"]}}
`})
	r := s.devorch("--host", "h1="+hs[0].Endpoint, "--host", hs[1].Spec(), "up", "-d")
	if r.code == 0 || !strings.Contains(r.stderr, `host "h1"`) || !strings.Contains(r.stderr, "address=IP") {
		t.Errorf("link to a host without address: %s", r)
	}
}

// waitAnswers waits until a test host's daemon answers again (after it was
// frozen), up to waitDeadline.
func waitAnswers(t *testing.T, h testenv.TestHost) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Client.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer after %s: %v", h.Name, waitDeadline, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// A dependency with several replicas on one host, reached from a service
// on another host, has its declared port published on that host's address
// by one replica only (every replica binding it would collide), and the
// dependent reaches it by its service name.
func TestMultiHostReplicatedLinkPublishesOnce(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 2, map[string]string{"compose.yaml": `
services:
  db:
    image: devorch-test/testapp:latest
    environment: {NAME: db, PORT: "8193"}
    expose: ["8193"]
    deploy: {replicas: 2, placement: {constraints: ["node.hostname==h1"]}}
  front:
    image: devorch-test/testapp:latest
    depends_on: [db]
    deploy: {placement: {constraints: ["node.hostname==h2"]}}
`})
	m.mustRun("up", "-d")
	t.Cleanup(func() { m.run("down", "-t", "0") })
	publishing := 0
	for r := 1; r <= 2; r++ {
		insp, err := m.host("h1").Client.ContainerInspect(context.Background(), m.name("db", r))
		if err != nil {
			t.Fatal(err)
		}
		if insp.State == nil || !insp.State.Running {
			t.Errorf("%s is not running", insp.Name)
		}
		if len(insp.HostConfig.PortBindings) > 0 {
			publishing++
		}
	}
	if publishing != 1 {
		t.Errorf("%d db replicas publish the linked port, want 1", publishing)
	}
	r := m.mustRun("exec", "-T", "front", "/testapp", "get", "http://db:8193/")
	if strings.TrimSpace(r.stdout) != "db" {
		t.Errorf("front → db across hosts: %q", r.stdout)
	}
	// Stable: a second up keeps every replica as it is.
	r = m.mustRun("up", "-d")
	if strings.Contains(r.stderr, "Creating") || strings.Contains(r.stderr, "Recreate") {
		t.Errorf("second up changed something:\n%s", r.stderr)
	}
	m.mustRun("down")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
