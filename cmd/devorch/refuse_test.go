package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"

	"github.com/devorch/devorch/internal/testenv"
)

// What the engine of the host cannot do is refused before anything is
// created: each file has a service "ok" that, without the check, would be
// created and started (with the project's network) before Docker refused
// the bad one.
func TestEngineRefusalsLeaveNothing(t *testing.T) {
	t.Parallel()
	cli := newStack(t, nil).cli
	sv, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const ok = "services:\n  ok:\n    image: devorch-test/testapp:latest\n"
	cases := []struct {
		name   string
		file   string
		minAPI string // the case refuses only on engines older than this API
		wants  []string
	}{
		{"start_interval", ok + `  bad:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, start_interval: 1s}
`, "1.44", []string{`service "bad"`, "healthcheck.start_interval", "Docker Engine 25.0 or later", `host "local"`, "Engine " + sv.Version}},
		{"interface_name", ok + `  bad:
    image: devorch-test/testapp:latest
    networks:
      default: {interface_name: lan0}
`, "1.49", []string{`service "bad"`, "networks.default.interface_name", "Docker Engine 28.1 or later", `host "local"`}},
		{"runtime", ok + `  bad:
    image: devorch-test/testapp:latest
    runtime: devorch-nosuch
`, "", []string{`service "bad"`, `runtime "devorch-nosuch"`, `host "local"`, "runc"}},
		{"device", ok + `  bad:
    image: devorch-test/testapp:latest
    devices: ["/dev/devorch-nosuch:/dev/x"]
`, "", []string{`service "bad"`, `device "/dev/devorch-nosuch"`, `host "local"`}},
		{"volume driver", ok + `  bad:
    image: devorch-test/testapp:latest
    volumes: ["data:/data"]
volumes:
  data: {driver: devorch-nosuch}
`, "", []string{`volume "data"`, `driver "devorch-nosuch"`, `host "local"`}},
		{"network driver", ok + `  bad:
    image: devorch-test/testapp:latest
    networks: [net]
networks:
  net: {driver: devorch-nosuch}
`, "", []string{`network "net"`, `driver "devorch-nosuch"`, `host "local"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.minAPI != "" && !versions.LessThan(sv.APIVersion, c.minAPI) {
				t.Skipf("the daemon has API %s: it supports the field", sv.APIVersion)
			}
			s := newStack(t, map[string]string{"compose.yaml": c.file})
			r := s.devorch("up", "-d")
			if r.code != 1 {
				t.Errorf("exit %d, want 1: %s", r.code, r)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			if strings.Contains(r.stderr, "Created") {
				t.Errorf("something was created before the refusal:\n%s", r.stderr)
			}
			s.assertNothingLeft()
		})
	}
}

// run refuses what the host's engine cannot do as up does, before its
// dependencies or anything else are created.
func TestRunEngineRefusalsLeaveNothing(t *testing.T) {
	t.Parallel()
	cli := newStack(t, nil).cli
	sv, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const dep = "services:\n  dep:\n    image: devorch-test/testapp:latest\n"
	cases := []struct {
		name   string
		bad    string
		minAPI string
		wants  []string
	}{
		{"start_interval", `    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, start_interval: 1s}`,
			"1.44", []string{`service "bad"`, "healthcheck.start_interval", "Docker Engine 25.0 or later", `host "local"`}},
		{"runtime", `    runtime: devorch-nosuch`, "", []string{`service "bad"`, `runtime "devorch-nosuch"`, `host "local"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.minAPI != "" && !versions.LessThan(sv.APIVersion, c.minAPI) {
				t.Skipf("the daemon has API %s: it supports the field", sv.APIVersion)
			}
			s := newStack(t, map[string]string{"compose.yaml": dep + "  bad:\n    image: devorch-test/testapp:latest\n    depends_on: [dep]\n" + c.bad + "\n"})
			r := s.devorch("run", "--rm", "bad", "/testapp", "version")
			if r.code != 1 {
				t.Errorf("exit %d, want 1: %s", r.code, r)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			if strings.Contains(r.stderr, "Created") {
				t.Errorf("something was created before the refusal:\n%s", r.stderr)
			}
			s.assertNothingLeft()
		})
	}
}

// dockerRefusals are configurations only Docker can refuse, at create (no
// such log driver) or at start (the kernel has no such sysctl, the image
// no such binary): nothing before Docker can know.
var dockerRefusals = []struct{ name, field, want string }{
	{"entrypoint", `    entrypoint: ["/devorch-nosuch"]`, "/devorch-nosuch"},
	{"sysctl", `    sysctls: {net.ipv4.devorch_nosuch: "1"}`, "devorch_nosuch"},
	{"log driver", `    logging: {driver: devorch-nosuch}`, "devorch-nosuch"},
}

// A cold up that Docker refuses half way (db is created, started and
// healthy, networks and volumes exist, when api is refused) leaves
// nothing; fixed, the next up converges.
func TestRefusedColdUpLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, c := range dockerRefusals {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			file := func(bad string) string {
				return `
services:
  db:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
    volumes: ["data:/data", "/scratch"]
  api:
    image: devorch-test/testapp:latest
    depends_on: {db: {condition: service_healthy}}
    networks: [default, back]
` + bad + `
volumes:
  data:
networks:
  back:
`
			}
			s := newStack(t, map[string]string{"compose.yaml": file(c.field)})
			r := s.devorch("up", "-d")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1: %s", r.code, r)
			}
			if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "Docker refused the change") {
				t.Errorf("unclear failure: %s", r)
			}
			if c.name != "log driver" && !strings.Contains(r.stderr, s.name("db", 1)+"  Started") {
				t.Errorf("db was not started before the refusal: the test does not test a rollback:\n%s", r.stderr)
			}
			s.assertNothingLeft()
			s.write("compose.yaml", file(""))
			s.must("up", "-d", "--wait")
			if n := len(s.containers()); n != 2 {
				t.Errorf("%d containers after the fixed up, want 2", n)
			}
			s.must("down", "-v")
			s.assertNothingLeft()
		})
	}
}

// An up of a running stack that Docker refuses half way leaves the previous
// containers as they were (same containers, names, states; sidecar, in
// db's network namespace, is started again after db) and removes what it
// added: a new service, its network and volume, the replacements of
// changed services. Fixed, the next up converges.
func TestRefusedUpKeepsThePreviousStack(t *testing.T) {
	t.Parallel()
	for _, c := range dockerRefusals {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const v1 = `
services:
  db:
    image: devorch-test/testapp:latest
    environment: {V: "1"}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  api:
    image: devorch-test/testapp:latest
    environment: {V: "1"}
    depends_on: {db: {condition: service_healthy}}
  web:
    image: devorch-test/testapp:latest
    depends_on: [api]
  side:
    image: devorch-test/testapp:latest
  sidecar:
    image: devorch-test/testapp:latest
    network_mode: service:db
    environment: {PORT: "8081"}
`
			v2 := func(bad string) string {
				return `
services:
  db:
    image: devorch-test/testapp:latest
    environment: {V: "2"}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  api:
    image: devorch-test/testapp:latest
    environment: {V: "2"}
    depends_on: {db: {condition: service_healthy}}
` + bad + `
  web:
    image: devorch-test/testapp:latest
    depends_on: [api]
  side:
    image: devorch-test/testapp:latest
  sidecar:
    image: devorch-test/testapp:latest
    network_mode: service:db
    environment: {PORT: "8081"}
  extra:
    image: devorch-test/testapp:latest
    volumes: ["more:/more"]
    networks: [back]
volumes:
  more:
networks:
  back:
`
			}
			s := newStack(t, map[string]string{"compose.yaml": v1})
			s.must("up", "-d", "--wait")
			// side is stopped: the failing up starts it, the rollback
			// stops it again.
			s.must("stop", "side")
			type state struct {
				id    string
				state string
			}
			snap := func() map[string]state {
				out := map[string]state{}
				for name, c := range s.containers() {
					out[name] = state{c.ID, c.State}
				}
				return out
			}
			was, wasLeft := snap(), s.leftovers()
			if len(was) != 5 || was[s.name("side", 1)].state != "exited" {
				t.Fatalf("setup: %v", was)
			}
			s.write("compose.yaml", v2(c.field))
			r := s.devorch("up", "-d")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1: %s", r.code, r)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("unclear failure: %s", r)
			}
			if c.name != "log driver" && (!strings.Contains(r.stderr, s.name("db", 1)+"  Recreated") || !strings.Contains(r.stderr, s.name("side", 1)+"  Started")) {
				t.Errorf("db was not recreated or side not started before the refusal: the test does not test a rollback:\n%s", r.stderr)
			}
			if now := snap(); !reflect.DeepEqual(now, was) {
				t.Errorf("containers after the refused up:\n%v\nwant as before:\n%v\n%s", now, was, r.stderr)
			}
			if left := s.leftovers(); !reflect.DeepEqual(sorted(left), sorted(wasLeft)) {
				t.Errorf("resources after the refused up: %v, want %v", left, wasLeft)
			}
			// Fixed: db and api are replaced, extra is created.
			s.write("compose.yaml", v2(""))
			s.must("up", "-d", "--wait")
			now := snap()
			if len(now) != 6 || now[s.name("db", 1)].id == was[s.name("db", 1)].id || now[s.name("extra", 1)].state != "running" {
				t.Errorf("after the fixed up: %v", now)
			}
			s.must("down", "-v")
			s.assertNothingLeft()
		})
	}
}

// A network Docker refuses (its subnet overlaps a network that exists)
// leaves neither the project's other networks nor its volumes.
func TestRefusedNetworkLeavesNoOtherNetworkOrVolume(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	ctx := context.Background()
	var subnet string
	for i := 0; i < 20 && subnet == ""; i++ {
		try := fmt.Sprintf("10.199.%d.0/24", 100+rand.IntN(150))
		resp, err := s.cli.NetworkCreate(ctx, "devorch-test-clash-"+strings.ReplaceAll(try[7:], "/", "-"), network.CreateOptions{
			Labels: map[string]string{testenv.LabelTest: "1"},
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: try}}},
		})
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = s.cli.NetworkRemove(context.Background(), resp.ID) })
		subnet = try
	}
	if subnet == "" {
		t.Fatal("could not create a network to clash with")
	}
	file := func(clash string) string {
		return `
services:
  a:
    image: devorch-test/testapp:latest
    networks: [front, back` + clash + `]
    volumes: ["data:/data"]
networks:
  front:
  back:
  clash:
    ipam: {config: [{subnet: "` + subnet + `"}]}
volumes:
  data:
`
	}
	s.write("compose.yaml", file(", clash"))
	r := s.devorch("up", "-d")
	if r.code != 1 || !strings.Contains(r.stderr, "clash") {
		t.Fatalf("want a failure naming the network: %s", r)
	}
	s.assertNothingLeft()
	s.write("compose.yaml", file(""))
	s.must("up", "-d")
	s.must("down", "-v")
	s.assertNothingLeft()
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

// A refused up across hosts is rolled back on every host.
func TestMultiHostRefusedUpLeavesNothing(t *testing.T) {
	t.Parallel()
	m := newMultiStack(t, 2, map[string]string{"compose.yaml": `
services:
  ok:
    image: devorch-test/testapp:latest
    deploy: {replicas: 2}
    volumes: ["data:/data"]
  bad:
    image: devorch-test/testapp:latest
    depends_on: [ok]
    deploy: {replicas: 2}
    entrypoint: ["/devorch-nosuch"]
volumes:
  data:
`})
	r := m.run("up", "-d")
	if r.code != 1 || !strings.Contains(r.stderr, "/devorch-nosuch") {
		t.Fatalf("want a refusal: %s", r)
	}
	if !strings.Contains(r.stderr, "  Started") || !strings.Contains(r.stderr, "(h1)  Created") || !strings.Contains(r.stderr, "(h2)  Created") {
		t.Errorf("nothing started, or not both hosts had containers, before the refusal: the test does not test a rollback:\n%s", r.stderr)
	}
	if l := m.leftoversEverywhere(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	for _, h := range m.hosts {
		if l := m.leftoversOn(h.Client); len(l) > 0 {
			t.Errorf("left on %s: %v", h.Name, l)
		}
	}
}
