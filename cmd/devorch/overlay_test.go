package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/devorch/devorch/internal/testenv"
)

// newSwarmStack is a stack run on test hosts that form one Swarm
// (scripts/testhosts.sh swarm), the manager first.
func newSwarmStack(t *testing.T, n int, files map[string]string) *multiStack {
	t.Helper()
	hs := testenv.SwarmHosts(t, n)
	m := &multiStack{stack: newStack(t, files), hosts: hs}
	for _, h := range hs {
		m.flags = append(m.flags, "--host", h.Spec())
	}
	return m
}

// runBinary runs the built devorch binary (make build's kind: static) with
// the stack's hosts, where the in-process CLI will not do.
func (m *multiStack) runBinary(args ...string) result {
	m.t.Helper()
	cmd := m.command(append(append([]string{}, m.flags...), args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			m.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// overlayStack: api listens on a port it never declares; web, on the other
// host, calls it. x and y share another network only.
func overlayStack(h1, h2 string) string {
	return fmt.Sprintf(`
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    networks:
      default: {aliases: [backend]}
    deploy: {placement: {constraints: ["node.hostname==%[1]s"]}}
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8090"}
    depends_on: [api]
    deploy: {placement: {constraints: ["node.hostname==%[2]s"]}}
  x:
    image: devorch-test/testapp:latest
    environment: {NAME: x, PORT: "8070"}
    networks: [other, inner]
    deploy: {placement: {constraints: ["node.hostname==%[1]s"]}}
  z:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    networks: [inner]
    deploy: {placement: {constraints: ["node.hostname==%[2]s"]}}
  y:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    networks: [other]
    deploy: {placement: {constraints: ["node.hostname==%[2]s"]}}
networks:
  other: {ipam: {config: [{subnet: 10.199.77.0/24}]}}
  inner: {internal: true}
`, h1, h2)
}

// On hosts that form a Swarm, a network spanning them is one overlay:
// service names, aliases, container names and container IPs answer across
// hosts on ports nobody declared, nothing is published for links, two
// networks stay apart, and down leaves nothing on any host.
func TestOverlayAcrossSwarmHosts(t *testing.T) {
	t.Parallel()
	m := newSwarmStack(t, 2, nil)
	h1, h2 := m.hosts[0], m.hosts[1]
	m.write("compose.yaml", overlayStack(h1.Name, h2.Name))
	r := m.mustRun("--dry-run", "up", "-d")
	for _, want := range []string{"default: overlay (" + h1.Name + ", " + h2.Name + ")", "other: overlay (" + h1.Name + ", " + h2.Name + ")", "inner: overlay"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("dry run does not show %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	// x-devorch colocate keeps a network's services on one host, Swarm or
	// not: it stays a bridge there.
	m.write("colocate.yaml", fmt.Sprintf(`
services:
  p:
    image: devorch-test/testapp:latest
    networks: [together]
    deploy: {placement: {constraints: ["node.hostname==%s"]}}
  q:
    image: devorch-test/testapp:latest
    networks: [together]
networks:
  together: {x-devorch: {colocate: true}}
`, h2.Name))
	if r := m.mustRun("-f", filepath.Join(m.dir, "colocate.yaml"), "--dry-run", "up", "-d"); !strings.Contains(r.stdout+r.stderr, "together: bridge ("+h2.Name+")") {
		t.Errorf("dry run of a colocated network on Swarm hosts, want it a bridge on %s:\n%s%s", h2.Name, r.stdout, r.stderr)
	}
	r = m.mustRun("up", "-d", "--wait")
	if strings.Contains(r.stderr, "hosts join") {
		t.Errorf("up on Swarm hosts falls back to links:\n%s", r.stderr)
	}
	if pl := m.placement(); pl[m.name("api", 1)] != h1.Name || pl[m.name("web", 1)] != h2.Name {
		t.Fatalf("placement: %v", pl)
	}
	ctx := context.Background()
	api, err := h1.Client.ContainerInspect(ctx, m.name("api", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(api.HostConfig.PortBindings) > 0 {
		t.Errorf("api publishes %v: an overlay needs no link", api.HostConfig.PortBindings)
	}
	web, err := h2.Client.ContainerInspect(ctx, m.name("web", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(web.HostConfig.ExtraHosts) > 0 {
		t.Errorf("web has extra_hosts %v: an overlay needs no link", web.HostConfig.ExtraHosts)
	}
	ep := api.NetworkSettings.Networks[m.project+"_default"]
	if ep == nil || ep.IPAddress == "" {
		t.Fatalf("api has no address on the default network: %+v", api.NetworkSettings.Networks)
	}
	for _, target := range []string{"api", "backend", m.name("api", 1), ep.IPAddress} {
		r := m.mustRun("exec", "-T", "web", "/testapp", "get", "http://"+target+":8080/")
		if strings.TrimSpace(r.stdout) != "api" {
			t.Errorf("web → %s:8080 across hosts: %q", target, r.stdout)
		}
	}
	// Both networks are the one overlay on the manager, with the project's labels.
	for _, key := range []string{"default", "other"} {
		n, err := h1.Client.NetworkInspect(ctx, m.project+"_"+key, network.InspectOptions{})
		if err != nil {
			t.Fatalf("network %s on the manager: %v", key, err)
		}
		if n.Driver != "overlay" || !n.Attachable || n.Labels["dev.devorch.project"] != m.project {
			t.Errorf("network %s: driver %s, attachable %v, labels %v", key, n.Driver, n.Attachable, n.Labels)
		}
	}
	// ipam is the file's on an overlay too.
	if n, err := h1.Client.NetworkInspect(ctx, m.project+"_other", network.InspectOptions{}); err != nil || len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != "10.199.77.0/24" {
		t.Errorf("network other: ipam %+v (%v), want the file's subnet 10.199.77.0/24", n.IPAM.Config, err)
	}
	// x and y share only "other": y, on h2, reaches x on h1 but neither
	// api's name nor its address.
	if r := m.run("exec", "-T", "y", "sh", "-c", "nc -w 5 x 8070 </dev/null"); r.code != 0 {
		t.Errorf("y → x on the other overlay: %s", r)
	}
	if r := m.run("exec", "-T", "y", "sh", "-c", "nc -w 3 "+ep.IPAddress+" 8080 </dev/null"); r.code == 0 {
		t.Errorf("y reached api's address %s across networks: %s", ep.IPAddress, r)
	}
	if r := m.run("exec", "-T", "y", "nslookup", "api"); r.code == 0 && strings.Contains(r.stdout, ep.IPAddress) {
		t.Errorf("y resolves api across networks: %s", r)
	}
	// inner is internal across hosts too: z reaches x on it, and nothing
	// outside (h1's own address).
	if n, err := h1.Client.NetworkInspect(ctx, m.project+"_inner", network.InspectOptions{}); err != nil || n.Driver != "overlay" || !n.Internal {
		t.Errorf("network inner: %+v %v, want an internal overlay", n, err)
	}
	if r := m.run("exec", "-T", "z", "sh", "-c", "nc -w 5 x 8070 </dev/null"); r.code != 0 {
		t.Errorf("z → x on the internal overlay: %s", r)
	}
	if r := m.run("exec", "-T", "z", "sh", "-c", "nc -w 3 "+h1.Address+" 2377 </dev/null"); r.code == 0 {
		t.Errorf("z left the internal overlay to reach %s:2377: %s", h1.Address, r)
	}
	// A second up touches nothing.
	r = m.mustRun("up", "-d")
	if strings.Contains(r.stderr, "Creat") || strings.Contains(r.stderr, "Recreat") {
		t.Errorf("second up changed something:\n%s", r.stderr)
	}
	m.mustRun("down")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	// The test hosts' Swarm was formed by the script, not by devorch:
	// hosts leave leaves it alone.
	if r := m.run("hosts", "leave"); r.code == 0 || !strings.Contains(r.stderr, "not formed by devorch") {
		t.Errorf("hosts leave on a Swarm devorch did not form: %s", r)
	}
}

// joinStack: api on one host declares its port (the link fallback needs
// it), web on the other calls it.
func joinStack(h1, h2 string) string {
	return fmt.Sprintf(`
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    expose: ["8080"]
    deploy: {placement: {constraints: ["node.hostname==%[1]s"]}}
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8090"}
    depends_on: [api]
    deploy: {placement: {constraints: ["node.hostname==%[2]s"]}}
`, h1, h2)
}

// h7 and h8 are plain hosts kept for this test: a stack on them falls back
// to links; devorch hosts join forms a Swarm (twice: nothing more
// happens); the next up moves the network to an overlay, recreating only
// what was on the bridges and removing them; hosts leave refuses while the
// project's overlay is there, and undoes the Swarm after down.
func TestHostsJoinConvergesToOverlayAndLeave(t *testing.T) {
	t.Parallel()
	h1, h2 := testenv.HostNamed(t, "h7"), testenv.HostNamed(t, "h8")
	m := &multiStack{stack: newStack(t, map[string]string{"compose.yaml": joinStack(h1.Name, h2.Name)}), hosts: []testenv.TestHost{h1, h2}}
	for _, h := range m.hosts {
		m.flags = append(m.flags, "--host", h.Spec())
	}
	t.Cleanup(func() {
		m.run("down")
		m.run("hosts", "leave")
	})
	r := m.mustRun("up", "-d", "--wait")
	if !strings.Contains(r.stderr, "run devorch hosts join") {
		t.Errorf("up on hosts in no Swarm does not say how to get overlays:\n%s", r.stderr)
	}
	if r := m.mustRun("exec", "-T", "web", "/testapp", "get", "http://api:8080/"); strings.TrimSpace(r.stdout) != "api" {
		t.Errorf("web → api through the link: %q", r.stdout)
	}

	r = m.mustRun("hosts", "join")
	if !strings.Contains(r.stdout, h1.Name+": formed a new Swarm") || !strings.Contains(r.stdout, h2.Name+": joined as a worker") {
		t.Errorf("hosts join:\n%s", r.stdout)
	}
	r = m.mustRun("hosts", "join")
	if !strings.Contains(r.stdout, "reusing the Swarm") || !strings.Contains(r.stdout, h2.Name+": already a worker") || strings.Contains(r.stdout, "joined as") {
		t.Errorf("hosts join again is not a no-op:\n%s", r.stdout)
	}
	roles := map[string]string{}
	for _, l := range jsonLines(t, m.mustRun("hosts", "--format", "json").stdout) {
		sw, _ := l["Swarm"].(map[string]any)
		roles[l["Name"].(string)] = fmt.Sprint(sw["Manager"], "/", sw["Leader"], "/", sw["State"])
	}
	if roles[h1.Name] != "true/true/active" || roles[h2.Name] != "<nil>/<nil>/active" {
		t.Errorf("hosts shows Swarm roles %v", roles)
	}

	// The next up replaces the bridges by one overlay.
	r = m.mustRun("--dry-run", "up", "-d")
	if !strings.Contains(r.stdout+r.stderr, "default: overlay") || !strings.Contains(r.stdout+r.stderr, "network default becomes a Swarm overlay") {
		t.Errorf("dry run after join:\n%s%s", r.stdout, r.stderr)
	}
	m.mustRun("up", "-d", "--wait")
	ctx := context.Background()
	for _, h := range m.hosts {
		nets, err := h.Client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nets {
			if n.Driver != "overlay" {
				t.Errorf("%s keeps the replaced network %s (%s)", h.Name, n.Name, n.Driver)
			}
		}
	}
	for _, target := range []string{"api", m.name("api", 1)} {
		if r := m.mustRun("exec", "-T", "web", "/testapp", "get", "http://"+target+":8080/"); strings.TrimSpace(r.stdout) != "api" {
			t.Errorf("web → %s over the overlay: %q", target, r.stdout)
		}
	}
	if r := m.mustRun("up", "-d"); strings.Contains(r.stderr, "Creat") || strings.Contains(r.stderr, "Recreat") {
		t.Errorf("up after the move changed something:\n%s", r.stderr)
	}

	// leave: refused under the project's overlay, done after down.
	if r := m.run("hosts", "leave"); r.code == 0 || !strings.Contains(r.stderr, "run devorch down") {
		t.Errorf("hosts leave under an overlay: %s", r)
	}
	m.mustRun("down")
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	r = m.mustRun("hosts", "leave")
	if !strings.Contains(r.stdout, h2.Name+": left the Swarm") || !strings.Contains(r.stdout, h1.Name+": left the Swarm") {
		t.Errorf("hosts leave:\n%s", r.stdout)
	}
	for _, h := range m.hosts {
		info, err := h.Client.Info(ctx)
		if err != nil || info.Swarm.LocalNodeState != "inactive" {
			t.Errorf("%s after leave: %v %v", h.Name, info.Swarm.LocalNodeState, err)
		}
	}
}

// An encrypted overlay must carry traffic between its hosts: where the
// kernel lacks IPsec support (this machine's kind), Docker creates it
// without complaint and traffic silently times out, so up probes it and
// fails naming the network, leaving nothing; where traffic flows, up
// succeeds and the services reach each other.
func TestEncryptedOverlayIsProbed(t *testing.T) {
	t.Parallel()
	m := newSwarmStack(t, 2, nil)
	h1, h2 := m.hosts[0], m.hosts[1]
	m.write("compose.yaml", fmt.Sprintf(`
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api, PORT: "8080"}
    networks: [sec]
    deploy: {placement: {constraints: ["node.hostname==%s"]}}
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8090"}
    networks: [sec]
    depends_on: [api]
    deploy: {placement: {constraints: ["node.hostname==%s"]}}
networks:
  sec:
    driver_opts: {encrypted: ""}
`, h1.Name, h2.Name))
	// The real binary, not the CLI in this test process: the probe runs
	// the devorch executable in its helpers, and must find a static one.
	r := m.runBinary("up", "-d", "--wait")
	if r.code == 0 {
		t.Logf("the encrypted overlay carries traffic here")
		if r := m.mustRun("exec", "-T", "web", "/testapp", "get", "http://api:8080/"); strings.TrimSpace(r.stdout) != "api" {
			t.Errorf("web → api over the encrypted overlay: %q", r.stdout)
		}
		m.mustRun("down")
	} else {
		t.Logf("up:\n%s", r.stderr)
		for _, want := range []string{"network sec is an encrypted overlay", "carries no traffic", "xfrm"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("up's error lacks %q: %s", want, r)
			}
		}
	}
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// A Swarm host lost mid-stack is handled as on plain hosts, and the
// project's network stays the one overlay throughout: the services on
// the lost host move to the other (a worker, or the manager), reach the
// rest by name on an undeclared port, no bridge stands in for the
// overlay; when the host is back its stale copies go, and down leaves
// nothing anywhere. Losing the manager is the hard case: devorch sees the
// overlay only on the worker, and uses it as it is; a down then removes the
// containers and leaves the overlay, saying so, to the next down.
func TestOverlayHostLoss(t *testing.T) {
	t.Parallel()
	for _, lost := range []string{"worker", "manager"} {
		t.Run(lost, func(t *testing.T) {
			m := newSwarmStack(t, 2, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    environment: {NAME: a, PORT: "8080"}
    deploy: {replicas: 4}
  b:
    image: devorch-test/testapp:latest
    environment: {NAME: b, PORT: "8090"}
    depends_on: [a]
    deploy: {replicas: 2}
`})
			gone, kept := m.hosts[1], m.hosts[0]
			if lost == "manager" {
				gone, kept = kept, gone
			}
			proxy := newHostProxy(t, gone.Endpoint)
			m.flags = []string{"--host", kept.Spec(), "--host", "hp=" + proxy.endpoint() + ";address=" + gone.Address}
			ctx := context.Background()
			running := func(h testenv.TestHost, all bool) int {
				cs, err := h.Client.ContainerList(ctx, container.ListOptions{All: all, Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
				if err != nil {
					t.Fatal(err)
				}
				return len(cs)
			}
			overlayOnly := func(h testenv.TestHost) {
				t.Helper()
				ns, err := h.Client.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+m.project))})
				if err != nil {
					t.Fatal(err)
				}
				if len(ns) != 1 || ns[0].Driver != "overlay" {
					t.Errorf("networks of the project on %s: %+v, want the one overlay", h.Name, ns)
				}
			}
			calls := func() {
				t.Helper()
				if r := m.mustRun("exec", "-T", "b", "/testapp", "get", "http://a:8080/"); strings.TrimSpace(r.stdout) != "a" {
					t.Errorf("b → a:8080: %q", r.stdout)
				}
			}
			m.mustRun("up", "-d", "--wait")
			if running(gone, false) == 0 || running(kept, false) == 0 {
				t.Fatalf("not spread: %d on %s, %d on %s", running(kept, false), kept.Name, running(gone, false), gone.Name)
			}
			overlayOnly(kept)
			calls()

			proxy.crash()
			r := m.mustRun("up", "-d", "--wait")
			if !strings.Contains(r.stderr, `host "hp" is unreachable`) {
				t.Errorf("up with hp gone does not say so:\n%s", r.stderr)
			}
			if lost == "manager" && !strings.Contains(r.stderr, "no host that manages its Swarm answers") {
				t.Errorf("up with the manager gone does not say the overlay is used as it is:\n%s", r.stderr)
			}
			if n := running(kept, false); n != 6 {
				t.Errorf("%d containers running on %s with hp gone, want all 6", n, kept.Name)
			}
			overlayOnly(kept)
			calls()

			if lost == "manager" {
				// down with the manager still gone: the containers go,
				// the overlay waits for a manager, and says so; the
				// next down with it back removes the rest.
				r := m.run("down")
				if !strings.Contains(r.stderr, `host "hp" is unreachable`) || !strings.Contains(r.stderr, "no host that manages its Swarm answers") {
					t.Errorf("down with the manager gone does not say what it left: %s", r)
				}
				if n := running(kept, true); n != 0 {
					t.Errorf("%d containers left on %s by down", n, kept.Name)
				}
				proxy.resume(t)
				m.mustRun("down")
				if l := m.leftoversEverywhere(); len(l) > 0 {
					t.Errorf("left behind: %v", l)
				}
				return
			}
			proxy.resume(t)
			m.mustRun("up", "-d", "--wait")
			if n := running(gone, true) + running(kept, true); n != 6 {
				t.Errorf("%d containers after hp came back, want 6 (stale copies removed)", n)
			}
			calls()
			m.mustRun("down")
			if l := m.leftoversEverywhere(); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}
