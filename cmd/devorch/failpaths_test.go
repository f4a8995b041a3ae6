package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devorch/devorch/internal/testenv"
)

// Failures that are not Docker refusing the configuration are left for the
// developer to inspect, as compose leaves them: the containers stay (with
// their logs and exit codes), up exits 1, the next up converges once the
// file is fixed, and down removes everything.
func TestFailedUpLeavesWhatToInspect(t *testing.T) {
	t.Parallel()
	t.Run("health check never passes", func(t *testing.T) {
		t.Parallel()
		file := func(check string) string {
			return `
services:
  db:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", ` + check + `], interval: 1s, retries: 2}
  api:
    image: devorch-test/testapp:latest
    depends_on: [db]
`
		}
		s := newStack(t, map[string]string{"compose.yaml": file(`"exit", "1"`)})
		r := s.devorch("up", "-d", "--wait")
		if r.code != 1 || !strings.Contains(r.stderr, s.name("db", 1)+" is unhealthy") {
			t.Fatalf("want exit 1 naming the unhealthy container: %s", r)
		}
		if st := s.inspect(s.name("db", 1)).State; !st.Running || st.Health == nil || st.Health.Status != "unhealthy" {
			t.Errorf("db is not left running (unhealthy) for inspection: %+v", st)
		}
		if st := s.inspect(s.name("api", 1)).State; !st.Running {
			t.Errorf("api is not left running: %+v", st)
		}
		s.write("compose.yaml", file(`"health"`))
		s.must("up", "-d", "--wait")
		if n := len(s.containers()); n != 2 {
			t.Errorf("%d containers after the fixed up, want 2", n)
		}
		s.must("down")
		s.assertNothingLeft()
	})
	t.Run("dependency exits", func(t *testing.T) {
		t.Parallel()
		file := func(code string) string {
			return `
services:
  migrate:
    image: devorch-test/testapp:latest
    command: ["exit", "` + code + `"]
  app:
    image: devorch-test/testapp:latest
    depends_on: {migrate: {condition: service_completed_successfully}}
`
		}
		s := newStack(t, map[string]string{"compose.yaml": file("3")})
		r := s.devorch("up", "-d")
		if r.code != 1 || !strings.Contains(r.stderr, "exited with code 3") {
			t.Fatalf("want exit 1 naming the exit code: %s", r)
		}
		if st := s.inspect(s.name("migrate", 1)).State; st.Running || st.ExitCode != 3 {
			t.Errorf("migrate not left exited with its code: %+v", st)
		}
		if st := s.inspect(s.name("app", 1)).State; st.Status != "created" {
			t.Errorf("app is %s, want created (never started)", st.Status)
		}
		if r := s.must("logs", "migrate"); !strings.Contains(r.stdout, "exit 3") {
			t.Errorf("migrate's logs are not there to inspect: %s", r)
		}
		s.write("compose.yaml", file("0"))
		s.must("up", "-d", "--wait")
		if st := s.inspect(s.name("app", 1)).State; !st.Running {
			t.Errorf("app not running after the fixed up")
		}
		s.must("down")
		s.assertNothingLeft()
	})
}

// An up interrupted in the middle of recreating a stack — Ctrl-C, SIGTERM
// from a CI runner, kill -9 — leaves at most two containers per replica
// (the old one set aside, the new one); the next up keeps the new one,
// removes the rest and is then a no-op; down leaves nothing. The signal
// is sent when the run has printed that it replaced its first container,
// while the services that wait for it to be healthy are still pending.
func TestInterruptedRecreateConverges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sig  syscall.Signal
		code int // -1: killed
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}, {syscall.SIGKILL, -1}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			t.Parallel()
			file := func(v string) string {
				return `
services:
  a:
    image: devorch-test/testapp:latest
    environment: {V: "` + v + `"}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  b:
    image: devorch-test/testapp:latest
    environment: {V: "` + v + `"}
    depends_on: {a: {condition: service_healthy}}
  c:
    image: devorch-test/testapp:latest
    environment: {V: "` + v + `"}
    depends_on: {a: {condition: service_healthy}}
`
			}
			s := newStack(t, map[string]string{"compose.yaml": file("1")})
			s.must("up", "-d", "--wait")
			s.write("compose.yaml", file("2"))
			cmd := s.command("up", "-d")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			var mu sync.Mutex
			replaced := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(stderr)
				once := sync.Once{}
				for sc.Scan() {
					mu.Lock()
					errb.WriteString(sc.Text() + "\n")
					mu.Unlock()
					if strings.Contains(sc.Text(), "  Recreated") {
						once.Do(func() { close(replaced) })
					}
				}
			}()
			select {
			case <-replaced:
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("no container was recreated within 5 minutes")
			}
			_ = cmd.Process.Signal(c.sig)
			_ = cmd.Wait()
			mu.Lock()
			out := errb.String()
			mu.Unlock()
			if code := cmd.ProcessState.ExitCode(); code != c.code {
				t.Fatalf("exit %d after %v, want %d:\n%s", code, c.sig, c.code, out)
			}
			s.must("up", "-d", "--wait")
			cs := s.containers()
			if len(cs) != 3 {
				var names []string
				for n := range cs {
					names = append(names, n)
				}
				t.Fatalf("%d containers after the next up, want 3: %v", len(cs), names)
			}
			for _, svc := range []string{"a", "b", "c"} {
				insp := s.inspect(s.name(svc, 1))
				if !insp.State.Running || !contains(insp.Config.Env, "V=2") {
					t.Errorf("%s: running=%v env=%v, want the new container running", svc, insp.State.Running, insp.Config.Env)
				}
			}
			ids := s.ids()
			s.must("up", "-d")
			if !sameMap(ids, s.ids()) {
				t.Errorf("the up after the recovery changed containers")
			}
			s.must("down")
			s.assertNothingLeft()
		})
	}
}

// In the TUI, SIGTERM (a supervisor, `timeout`) stops the stack as Ctrl-C
// does, and devorch exits 143.
func TestTUIStopsOnSIGTERM(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv(testenv.EnvRequireDocker) == "1" {
			t.Fatalf("tmux is not installed: %v", err)
		}
		t.Skipf("tmux is not installed: %v", err)
	}
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  alpha:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, retries: 30}
`})
	bin := devorchBinary(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := newTmuxPane(t)
	p.start(fmt.Sprintf("cd %s && sh -c 'echo $$ > %s; exec %s --progress plain -p %s up'; echo %s$?; sleep 3600",
		shellQuote(s.dir), pidFile, shellQuote(bin), shellQuote(s.project), exitMarker))
	p.waitFor("alpha healthy in the services table", 3*time.Minute, func(sc string) bool {
		row, _ := serviceRow(sc, "alpha")
		return strings.Contains(row, " healthy ")
	})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sc := p.waitFor("devorch to exit", 3*time.Minute, func(sc string) bool { return screenExitCode(sc) >= 0 })
	if code := screenExitCode(sc); code != 143 {
		t.Fatalf("devorch exited %d after SIGTERM, want 143:\n%s", code, sc)
	}
	if st := s.inspect(s.name("alpha", 1)).State; st.Running {
		t.Errorf("alpha still running after SIGTERM")
	}
	s.must("down")
	s.assertNothingLeft()
}
