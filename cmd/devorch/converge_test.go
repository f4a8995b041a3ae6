package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
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
// the next up ends in the same state as one clean up.
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
	for round, delay := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond} {
		cmd := s.command("up", "-d")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		s.must("up", "-d", "--wait")
		cs := s.containers()
		if len(cs) != 6 {
			t.Fatalf("after kill at %v and re-up: %d containers: %v", delay, len(cs), cs)
		}
		for name, c := range cs {
			if c.State != "running" {
				t.Errorf("%s is %s", name, c.State)
			}
			if c.Labels["dev.devorch.config-hash"] == "" || !strings.HasPrefix(name, s.project+"-") {
				t.Errorf("%s: wrong name or labels after recovery", name)
			}
		}
		// A second up is a no-op.
		ids := s.ids()
		s.must("up", "-d")
		if !sameMap(ids, s.ids()) {
			t.Errorf("up after recovery changed containers")
		}
		// Change every service: the next kill lands in the middle of
		// recreating.
		s.write("compose.yaml", file(round+1))
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestProjectLockMakesSecondRunWait(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  slow:
    image: devorch-test/testapp:latest
    environment: {HEALTHY_AFTER: "2s"}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 500ms, retries: 20}
  after:
    image: devorch-test/testapp:latest
    depends_on: {slow: {condition: service_healthy}}
`})
	first := s.command("up", "-d")
	wait := startHoldingLock(t, first, " Creating")
	// The second waits with a message, and converges to the same state
	// without creating anything twice.
	r := s.must("up", "-d")
	if out, err := wait(); err != nil {
		t.Fatalf("first up: %v\n%s", err, out)
	}
	if !strings.Contains(r.stderr, "waiting for it to finish") {
		t.Errorf("second run did not say it waits:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "Creating") {
		t.Errorf("second run created containers again:\n%s", r.stderr)
	}
	if n := len(s.containers()); n != 2 {
		t.Errorf("%d containers", n)
	}
	// With --wait-timeout the second one gives up.
	first = s.command("up", "-d", "--force-recreate", "--wait")
	wait = startHoldingLock(t, first, " Recreate")
	r = s.devorch("up", "-d", "--wait-timeout", "1")
	_, _ = wait()
	if r.code == 0 || !strings.Contains(r.stderr, "timed out waiting for the project lock") {
		t.Errorf("want a lock timeout: %s", r)
	}
	s.must("down")
	s.assertNothingLeft()
}

// startHoldingLock starts a devorch run and returns once its stderr shows
// marker, a step it takes only while holding the project's lock. wait
// waits for the run to end and gives its stderr.
func startHoldingLock(t *testing.T, cmd *exec.Cmd, marker string) (wait func() (string, error)) {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all strings.Builder
	seen := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		told := false
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !told && strings.Contains(sc.Text(), marker) {
				close(seen)
				told = true
			}
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return all.String()
	}
	select {
	case <-seen:
	case <-done:
		_ = cmd.Wait()
		t.Fatalf("devorch ended without printing %q:\n%s", marker, output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("devorch did not print %q within 2 minutes:\n%s", marker, output())
	}
	return func() (string, error) {
		<-done // read everything before Wait closes the pipe
		err := cmd.Wait()
		return output(), err
	}
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

func (s *stack) read(name string) string {
	s.t.Helper()
	b, err := os.ReadFile(s.dir + "/" + name)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}
