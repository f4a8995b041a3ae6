package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

func TestDependencyConditions(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  migrate:
    image: devorch-test/testapp:latest
    command: ["exit", "0"]
  app:
    image: devorch-test/testapp:latest
    depends_on:
      migrate:
        condition: service_completed_successfully
      optional:
        condition: service_started
        required: false
  optional:
    image: devorch-test/testapp:latest
    profiles: [extra]
`})
	r := s.must("up", "-d", "--wait")
	if !strings.Contains(r.stderr, s.name("migrate", 1)+"  Exited") {
		t.Errorf("migrate not waited for completion:\n%s", r.stderr)
	}
	if st := s.inspect(s.name("app", 1)).State; !st.Running {
		t.Errorf("app not running")
	}
	// A failing one-shot blocks its dependent.
	s.write("compose.yaml", `
services:
  migrate:
    image: devorch-test/testapp:latest
    command: ["exit", "4"]
  app:
    image: devorch-test/testapp:latest
    depends_on:
      migrate:
        condition: service_completed_successfully
`)
	r = s.fails("up", "-d", "--force-recreate")
	if !strings.Contains(r.stderr, `service "migrate" didn't complete successfully`) || !strings.Contains(r.stderr, "exited with code 4") {
		t.Errorf("unclear failure: %s", r)
	}
	// service_healthy on a service without a healthcheck is an error.
	s.write("compose.yaml", `
services:
  db:
    image: devorch-test/testapp:latest
  app:
    image: devorch-test/testapp:latest
    depends_on:
      db: {condition: service_healthy}
`)
	r = s.fails("up", "-d")
	if !strings.Contains(r.stderr, "has no healthcheck") {
		t.Errorf("unclear failure: %s", r)
	}
	s.must("down", "--remove-orphans")
	s.assertNothingLeft()
}

func TestNamespaceSharersAndRestartDependents(t *testing.T) {
	t.Parallel()
	const file = `
services:
  net:
    image: devorch-test/testapp:latest
    environment: {V: "1"}
  side:
    image: devorch-test/testapp:latest
    command: ["sleep", "1h"]
    network_mode: "service:net"
  follower:
    image: devorch-test/testapp:latest
    environment: {PORT: "8090"}
    depends_on:
      net: {condition: service_started, restart: true}
  bystander:
    image: devorch-test/testapp:latest
    depends_on: [net]
`
	s := newStack(t, map[string]string{"compose.yaml": file})
	s.must("up", "-d")
	before := s.ids()
	startedBefore := s.inspect(s.name("follower", 1)).State.StartedAt
	// The side container shares net's network namespace.
	out, code := s.execOut(s.name("side", 1), "/testapp", "get", "http://127.0.0.1:8080/")
	if code != 0 || !strings.Contains(out, s.name("net", 1)[:0]) {
		t.Fatalf("side cannot reach net over its shared localhost: %q %d", out, code)
	}
	s.write("compose.yaml", strings.Replace(file, `V: "1"`, `V: "2"`, 1))
	r := s.must("up", "-d")
	after := s.ids()
	if after[s.name("net", 1)] == before[s.name("net", 1)] {
		t.Fatalf("net not recreated")
	}
	if after[s.name("side", 1)] == before[s.name("side", 1)] {
		t.Errorf("side shares net's namespace but was not recreated with it:\n%s", r.stderr)
	}
	if after[s.name("follower", 1)] != before[s.name("follower", 1)] {
		t.Errorf("follower (restart: true) was recreated; it should only restart")
	}
	if s.inspect(s.name("follower", 1)).State.StartedAt == startedBefore {
		t.Errorf("follower (restart: true) was not restarted:\n%s", r.stderr)
	}
	if after[s.name("bystander", 1)] != before[s.name("bystander", 1)] {
		t.Errorf("bystander was touched")
	}
	if s.inspect(s.name("side", 1)).HostConfig.NetworkMode != container.NetworkMode("container:"+after[s.name("net", 1)]) {
		t.Errorf("side does not join the new net container")
	}
	s.must("down")
	s.assertNothingLeft()
}

// TestKilledUpConvergesOnRerun kills devorch in the middle of up and checks
// the next up ends in the same state as one clean up. Each kill lands at a
// known phase, seen in Docker's events or in the run's own progress.
func TestKilledUpConvergesOnRerun(t *testing.T) {
	t.Parallel()
	file := func(round int) string {
		var b strings.Builder
		b.WriteString("services:\n")
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			fmt.Fprintf(&b, "  %s:\n    image: devorch-test/testapp:latest\n    environment: {ROUND: \"%d\"}\n", n, round)
			b.WriteString("    healthcheck: {test: [\"CMD\", \"/testapp\", \"health\"], interval: 1s}\n")
			if n != "a" {
				b.WriteString("    depends_on: {a: {condition: service_healthy}}\n")
			}
		}
		return b.String()
	}
	s := newStack(t, map[string]string{"compose.yaml": file(0)})
	// The daemon's event for the project's network: the first thing an up
	// creates.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	netEvents, netErrs := s.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.NetworkEventType)), filters.Arg("event", string(events.ActionCreate)),
		filters.Arg("network", s.project+"_default"))})
	networkCreated := func(p *proc) {
		t.Helper()
		select {
		case <-netEvents:
		case err := <-netErrs:
			t.Fatalf("docker events: %v", err)
		case <-p.exited:
			t.Fatalf("up ended before creating its network: %s", p.result())
		case <-time.After(waitDeadline):
			t.Fatalf("no network create event within %s: %s", waitDeadline, p.result())
		}
	}
	printed := func(line string) func(p *proc) {
		return func(p *proc) { p.waitLine(line) }
	}
	for round, k := range []struct {
		phase string
		fresh bool // down first, so that the kill lands in a first up
		at    func(p *proc)
	}{
		// The daemon has created the network (devorch may not have its
		// answer yet): the kill lands before or while containers are
		// created.
		{"network just created", true, networkCreated},
		// a is running, the others are created and wait for its health.
		{"a started, the rest waiting for it", true, printed(" Container " + s.name("a", 1) + "  Started")},
		// Every service changed from here on: the kill lands while the
		// replacements exist under temporary names beside the old ones...
		{"replacement created", false, printed("  Created")},
		// ...or once an old container is gone and its replacement not yet
		// renamed.
		{"old container removed", false, printed("  Removed")},
	} {
		if k.fresh && round > 0 {
			s.must("down")
		}
		s.write("compose.yaml", file(round))
		p := s.start("up", "-d")
		k.at(p)
		p.kill()
		t.Logf("killed up at %q; its output:\n%s", k.phase, p.result().stderr)
		s.must("up", "-d", "--wait")
		cs := s.containers()
		if len(cs) != 6 {
			t.Fatalf("after a kill at %q and re-up: %d containers: %v", k.phase, len(cs), cs)
		}
		for name, c := range cs {
			if c.State != "running" {
				t.Errorf("after a kill at %q: %s is %s", k.phase, name, c.State)
			}
			if c.Labels["dev.devorch.config-hash"] == "" || !strings.HasPrefix(name, s.project+"-") {
				t.Errorf("after a kill at %q: %s: wrong name or labels after recovery", k.phase, name)
			}
		}
		// A second up is a no-op.
		ids := s.ids()
		s.must("up", "-d")
		if !sameMap(ids, s.ids()) {
			t.Errorf("after a kill at %q: up after recovery changed containers", k.phase)
		}
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestProjectLockMakesSecondRunWait(t *testing.T) {
	t.Parallel()
	// slow turns healthy only when the test writes /tmp/go into it, so a
	// run that waits for it holds the project lock until the test lets go:
	// the order of the two runs never depends on timing.
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  slow:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "cat", "/tmp/go"], interval: 500ms, start_period: 10m}
  after:
    image: devorch-test/testapp:latest
    depends_on: {slow: {condition: service_healthy}}
`})
	slow := s.name("slow", 1)
	release := func() {
		t.Helper()
		if out, code := s.execOut(slow, "/testapp", "write", "/tmp/go", "1"); code != 0 {
			t.Fatalf("write /tmp/go in %s: exit %d: %s", slow, code, out)
		}
	}
	// The first run prints progress only once it holds the lock; slow's
	// start means it is now waiting for slow's health, lock held.
	first := s.start("up", "-d")
	first.waitLine(" Container " + slow + "  Started")
	// The second waits with a message, and converges to the same state
	// without creating anything twice.
	second := s.start("up", "-d")
	second.waitLine("waiting for it to finish")
	release()
	if r := first.wait(); r.code != 0 {
		t.Fatalf("first up: %s", r)
	}
	r := second.wait()
	if r.code != 0 {
		t.Fatalf("second up: %s", r)
	}
	if strings.Contains(r.stderr, "Creating") {
		t.Errorf("second run created containers again:\n%s", r.stderr)
	}
	if n := len(s.containers()); n != 2 {
		t.Errorf("%d containers", n)
	}
	// With --wait-timeout the second one gives up while the first still
	// holds the lock (the recreated slow waits for /tmp/go again).
	first = s.start("up", "-d", "--force-recreate", "--wait")
	first.waitLine(" Container " + slow + "  Started")
	r = s.devorch("up", "-d", "--wait-timeout", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "timed out waiting for the project lock") {
		t.Errorf("want a lock timeout: %s", r)
	}
	release()
	if r := first.wait(); r.code != 0 {
		t.Fatalf("up --force-recreate --wait: %s", r)
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestForeignContainersAreNeverAdopted(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: devorch-test/testapp:latest\n"})
	ctx := context.Background()
	// A container with devorch's name but without its labels, as docker
	// compose would have made it.
	created, err := s.cli.ContainerCreate(ctx, &container.Config{Image: "devorch-test/testapp:latest", Labels: map[string]string{"com.docker.compose.project": s.project}}, nil, &network.NetworkingConfig{}, nil, s.name("web", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}) })
	r := s.fails("up", "-d")
	for _, want := range []string{s.name("web", 1), "docker compose", "never adopts"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q: %s", want, r)
		}
	}
	if _, err := s.cli.ContainerInspect(ctx, created.ID); err != nil {
		t.Errorf("the foreign container was touched: %v", err)
	}
	s.assertNothingLeft()
	// down leaves it alone too.
	s.must("down")
	if _, err := s.cli.ContainerInspect(ctx, created.ID); err != nil {
		t.Errorf("down removed the foreign container")
	}
}

// TestDuplicateNetworksAreHealed: Docker 20.10 lets a network create still
// in flight (from a run killed while creating it) and the next run's create
// both succeed, leaving two networks of one name; every start then failed
// as "ambiguous". Such duplicates are made here directly, with the API's
// own CheckDuplicate off, as the race makes them.
func TestDuplicateNetworksAreHealed(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
  b:
    image: devorch-test/testapp:latest
    networks: [default, back]
networks:
  back: {}
`})
	netName := s.project + "_default"
	dup := func(key string) string {
		t.Helper()
		body := fmt.Sprintf(`{"Name":%q,"CheckDuplicate":false,"Labels":{"dev.devorch.project":%q,"dev.devorch.network":%q,"dev.devorch.host":"local"}}`,
			s.project+"_"+key, s.project, key)
		resp, err := s.cli.HTTPClient().Post("http://docker/v1.41/networks/create", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Id, Message string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Id == "" {
			t.Fatalf("create a duplicate network: %d %v %s", resp.StatusCode, err, out.Message)
		}
		return out.Id
	}
	named := func(name string) []network.Summary {
		t.Helper()
		list, err := s.cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			t.Fatal(err)
		}
		var out []network.Summary
		for _, n := range list {
			if n.Name == name {
				out = append(out, n)
			}
		}
		return out
	}

	// A cold up finds two empty networks of each name: it keeps one of
	// each and starts everything.
	dup("default")
	dup("default")
	dup("back")
	dup("back")
	s.must("up", "-d", "--wait")
	for _, name := range []string{netName, s.project + "_back"} {
		if n := named(name); len(n) != 1 {
			t.Errorf("after up: %d networks named %s, want 1", len(n), name)
		}
	}
	// A duplicate that appears beside a running stack (the killed run's
	// create completing late) is removed by the next up, which changes
	// nothing else; a recreate starts on the network in use.
	ids := s.ids()
	extra := dup("default")
	s.must("up", "-d")
	if !sameMap(ids, s.ids()) {
		t.Errorf("up beside a duplicate network changed containers")
	}
	if n := named(netName); len(n) != 1 || n[0].ID == extra {
		t.Errorf("after up: want the network in use kept and the empty duplicate removed: %v", n)
	}
	dup("default")
	s.must("up", "-d", "--force-recreate", "--wait")
	if n := named(netName); len(n) != 1 {
		t.Errorf("after a recreating up: %d networks named %s", len(n), netName)
	}
	s.must("down")
	s.assertNothingLeft()
}
