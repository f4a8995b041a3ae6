package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	usagehist "github.com/devorch/devorch/engine/usage"
)

func TestUpAttachedStreamsLogsAndExits(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  one:
    image: devorch-test/testapp:latest
    command: ["log", "3"]
  two:
    image: devorch-test/testapp:latest
    command: ["echo", "hello from two"]
`})
	r := s.must("up")
	for _, want := range []string{"one-1  | line 1", "one-1  | line 3", "two-1  | hello from two", "one-1 exited with code 0", "two-1 exited with code 0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = s.must("up", "--timestamps", "--force-recreate", "two")
	if !strings.Contains(r.stdout, "two-1  | 20") || !strings.Contains(r.stdout, "Z hello from two") {
		t.Errorf("--timestamps:\n%s", r.stdout)
	}
	s.must("down")
	s.assertNothingLeft()
}

// A container its restart policy runs three times shows each run's output
// exactly once (the stream resumes after the last line it showed), with an
// exit line per run.
func TestUpAttachedFollowsRestartsWithoutDuplicates(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  flaky:
    image: devorch-test/testapp:latest
    command: ["exit", "5"]
    restart: "on-failure:2"
`})
	r := s.devorch("up")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if n := strings.Count(r.stdout, "flaky-1  | exit 5"); n != 3 {
		t.Errorf("three runs should print \"exit 5\" three times, got %d:\n%s", n, r.stdout)
	}
	if n := strings.Count(r.stdout, "\nflaky-1 exited with code 5"); n != 3 {
		t.Errorf("want an exit line per run (two restarting, one final), got %d:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "flaky-1 exited with code 5 (restarting)") {
		t.Errorf("no restarting note:\n%s", r.stdout)
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestUpAbortOnContainerExitAndExitCodeFrom(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  server:
    image: devorch-test/testapp:latest
  job:
    image: devorch-test/testapp:latest
    command: ["exit", "3"]
    depends_on: [server]
`})
	r := s.devorch("up", "--abort-on-container-exit")
	if r.code != 3 {
		t.Fatalf("--abort-on-container-exit: want exit 3 (the job's), got %s", r)
	}
	if !strings.Contains(r.stderr, "Aborting on container exit") {
		t.Errorf("no abort message: %s", r)
	}
	// The server was stopped, not left running.
	if st := s.inspect(s.name("server", 1)).State; st.Running {
		t.Errorf("server still running after abort")
	}
	// --exit-code-from the server: the job exits first (3), the server is
	// stopped gracefully and exits 0.
	r = s.devorch("up", "--exit-code-from", "server")
	if r.code != 0 {
		t.Fatalf("--exit-code-from server: want 0, got %s", r)
	}
	r = s.devorch("up", "--exit-code-from", "job")
	if r.code != 3 {
		t.Fatalf("--exit-code-from job: want 3, got %s", r)
	}
	if r := s.devorch("up", "--exit-code-from", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("--exit-code-from unknown service: %s", r)
	}
	s.must("down")
	s.assertNothingLeft()
}

// TestUpInterruptStopsGracefully runs the real binary: the first SIGINT
// stops the stack gracefully and devorch exits 130; SIGTERM (what CI
// runners and `timeout` send) does the same and exits 143.
func TestUpInterruptStopsGracefully(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			t.Parallel()
			upStopsOnSignal(t, c.sig, c.code)
		})
	}
}

func upStopsOnSignal(t *testing.T, sig syscall.Signal, want int) {
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    environment: {LOG_RATE: "5", LOG_LINE: "alpha"}
  b:
    image: devorch-test/testapp:latest
    depends_on: [a]
`})
	cmd := s.command("up")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	var out bytes.Buffer
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		var sawA, sawB bool
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			sawA = sawA || strings.Contains(sc.Text(), "a-1  | alpha tick")
			sawB = sawB || strings.Contains(sc.Text(), "b-1  | listening on")
			if sawA && sawB {
				once.Do(func() { close(seen) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-seen:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("no log lines from a and b within 3 minutes; stderr:\n%s", errb.String())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("devorch died of a signal: %v", err)
	}
	if code != want {
		t.Fatalf("exit code %d after %v, want %d; stderr:\n%s", code, sig, want, errb.String())
	}
	if !strings.Contains(errb.String(), "Gracefully stopping") {
		t.Errorf("no graceful stop message:\n%s", errb.String())
	}
	for _, svc := range []string{"a", "b"} {
		insp := s.inspect(s.name(svc, 1))
		if insp.State.Running {
			t.Errorf("%s still running after %v", svc, sig)
		}
		if insp.State.ExitCode != 0 {
			t.Errorf("%s exit code %d: it was not stopped gracefully", svc, insp.State.ExitCode)
		}
	}
	// The next up converges (starts both again) and down leaves nothing.
	s.must("up", "-d", "--wait")
	for _, svc := range []string{"a", "b"} {
		if !s.inspect(s.name(svc, 1)).State.Running {
			t.Errorf("%s not running after the next up", svc)
		}
	}
	s.must("down")
	s.assertNothingLeft()
}

// An attached run prints alerts in its stream: here a threshold rule and a
// non-zero exit.
func TestUpAttachedPrintsAlerts(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  hog:
    image: devorch-test/testapp:latest
    environment: {EXIT_AFTER: "6s", EXIT_CODE: "3"}
    x-devorch:
      alerts: {memory: "0.0001%/1s"}
`})
	r := s.devorch("up")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	for _, want := range []string{"ALERT hog: " + s.name("hog", 1) + ": memory at", "ALERT hog: " + s.name("hog", 1) + " exited with code 3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	// The attached run fed the usage history (devorch tune's).
	hist, warnings := usagehist.Open(usagehist.StateDir(os.Getenv)).Load(s.project)
	n := 0
	for k, h := range hist {
		if k.Service == "hog" {
			n += h.Samples()
		}
	}
	if n == 0 || len(warnings) > 0 {
		t.Errorf("no usage of hog recorded by the attached up (%d readings, %v)", n, warnings)
	}
	s.must("down")
}

// A second Ctrl-C kills what the first one is stopping gracefully.
func TestUpSecondInterruptKills(t *testing.T) {
	t.Parallel()
	// A grace period far longer than the bound below: a run that waited
	// for it instead of killing cannot pass, however busy the machine.
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  stubborn:
    image: devorch-test/testapp:latest
    environment: {IGNORE_SIGTERM: "1", LOG_RATE: "5", LOG_LINE: "st"}
    stop_grace_period: 3m
`})
	p := s.start("up")
	p.waitLine("st tick")
	p.signal(syscall.SIGINT)
	// The second Ctrl-C must reach a graceful stop in progress.
	p.waitLine("Gracefully stopping")
	start := time.Now()
	p.signal(syscall.SIGINT)
	r := p.wait()
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the second Ctrl-C took %v to end the run (grace period 3 min)", d)
	}
	if r.code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", r.code, r.stderr)
	}
	if st := s.inspect(s.name("stubborn", 1)).State; st.Running || st.ExitCode != 137 {
		t.Errorf("stubborn: running=%v exit=%d, want killed (137)", st.Running, st.ExitCode)
	}
	s.must("down")
}

// exec allocates a real TTY when devorch runs in one.
func TestExecAllocatesATerminal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("DEVORCH_REQUIRE_DOCKER") == "1" {
			t.Fatal("tmux is missing (make test installs it)")
		}
		t.Skip("tmux is missing")
	}
	s := newStack(t, map[string]string{"compose.yaml": "services:\n  box:\n    image: devorch-test/busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n"})
	s.must("up", "-d")
	bin := devorchBinary(t)
	session := strings.ReplaceAll(s.project, ".", "-")
	// The pane stays open (sleep) until the test has read it; the cleanup
	// ends the session.
	script := fmt.Sprintf("cd %s && %s -p %s exec box sh -c 'tty; test -t 0 && echo STDIN-IS-TTY'; echo EXEC-DONE; sleep 3600", s.dir, bin, s.project)
	if err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", script).Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })
	var got []byte
	for deadline := time.Now().Add(waitDeadline); time.Now().Before(deadline); {
		got, _ = exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		if strings.Contains(string(got), "EXEC-DONE") {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	if !strings.Contains(string(got), "/dev/pts/") || !strings.Contains(string(got), "STDIN-IS-TTY") {
		t.Errorf("exec in a terminal did not get a TTY: %q", got)
	}
	// Without a terminal (-T or a pipe) there is none.
	r := s.must("exec", "box", "sh", "-c", "tty || true")
	if !strings.Contains(r.stdout, "not a tty") {
		t.Errorf("exec without a terminal: %q", r.stdout)
	}
	s.must("down")
}
