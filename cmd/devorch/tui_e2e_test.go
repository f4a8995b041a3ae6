package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devorch/devorch/internal/testenv"
)

// TestTUIEndToEnd drives `devorch up` in a real terminal (a detached tmux
// session, 160×48) against a real stack, the way a developer would: it
// reads the screen with capture-pane and types with send-keys. One key at
// a time, each followed by waiting for its effect on screen: Bubble Tea
// reads a run of printable characters as one key message, so "/needle"
// sent at once would not open the search.
func TestTUIEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv(testenv.EnvRequireDocker) == "1" {
			t.Fatalf("tmux is not installed (%s=1 requires the end-to-end TUI test to run): %v", testenv.EnvRequireDocker, err)
		}
		t.Skipf("tmux is not installed: the end-to-end TUI test needs a terminal to run devorch in: %v", err)
	}
	t.Parallel()
	hc := `healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, retries: 30}`
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  alpha:
    image: devorch-test/testapp:latest
    environment: {LOG_RATE: "2", LOG_LINE: "needle"}
    ` + hc + `
  beta:
    image: devorch-test/testapp:latest
    ` + hc + `
  gamma:
    image: devorch-test/testapp:latest
    ` + hc + `
`})
	bin := devorchBinary(t)
	began := time.Now()
	step := began
	phase := func(what string) {
		t.Logf("%-28s %5.1fs (total %5.1fs)", what, time.Since(step).Seconds(), time.Since(began).Seconds())
		step = time.Now()
	}

	p := newTmuxPane(t)
	p.start(fmt.Sprintf("cd %s && %s --progress plain -p %s up; echo %s$?; sleep 3600",
		shellQuote(s.dir), shellQuote(bin), shellQuote(s.project), exitMarker))

	// Every service healthy in the services view.
	services := []string{"alpha", "beta", "gamma"}
	p.waitFor("every service healthy in the services table", waitDeadline, func(sc string) bool {
		for _, svc := range services {
			if row, _ := serviceRow(sc, svc); !strings.Contains(row, " healthy ") {
				return false
			}
		}
		return true
	})
	phase("up, all healthy")

	// 2: the logs view, with alpha's distinctive line.
	needleLine := regexp.MustCompile(`alpha-1\s+│ needle tick \d+`)
	p.keys("2")
	p.waitFor("the logs view showing alpha's needle line", waitDeadline, func(sc string) bool {
		return strings.Contains(sc, "Logs · all services") && needleLine.MatchString(sc)
	})
	// / needle Enter: the header counts the matches and shows the current
	// one (/needle I/N), whose line is marked with ▸ in the gutter.
	p.keys("/")
	p.waitFor("the search prompt", waitDeadline, func(sc string) bool { return strings.Contains(sc, "search: ") })
	p.literal("needle")
	p.waitFor("the typed search text", waitDeadline, func(sc string) bool { return strings.Contains(sc, "search: needle") })
	p.keys("Enter")
	header := regexp.MustCompile(`Logs · .* · /needle \d+/\d+`)
	current := regexp.MustCompile(`(?m)^▸alpha-1\s+│ needle tick \d+`)
	sc := p.waitFor("the search's match indicator", waitDeadline, func(sc string) bool {
		return header.MatchString(sc) && current.MatchString(sc)
	})
	if !regexp.MustCompile(`\d+ match(es)? for "needle"`).MatchString(sc) {
		t.Errorf("the status line does not count the matches:\n%s", sc)
	}
	phase("logs view, search")

	// 1, then select beta.
	p.keys("1")
	p.waitFor("the services view", waitDeadline, func(sc string) bool { return strings.Contains(sc, "SERVICE") })
	for i := 0; ; i++ {
		sc := p.capture()
		if _, sel := serviceRow(sc, "beta"); sel {
			break
		}
		if i == len(services) {
			t.Fatalf("could not select beta with j:\n%s", sc)
		}
		before := selectedRow(sc)
		p.keys("j")
		p.waitFor("the selection to move", waitDeadline, func(sc string) bool { return selectedRow(sc) != before })
	}
	name := s.name("beta", 1)
	before := s.inspect(name)

	// r restarts beta in place: same container, started again.
	p.keys("r")
	p.waitFor("beta restarted", waitDeadline, func(sc string) bool { return strings.Contains(sc, "✓ restarted beta") })
	after := s.inspect(name)
	if after.ID != before.ID {
		t.Errorf("restart replaced beta's container: %.12s → %.12s", before.ID, after.ID)
	}
	if after.State.StartedAt == before.State.StartedAt {
		t.Errorf("restart did not restart beta: StartedAt is still %s", after.State.StartedAt)
	}
	p.waitFor("beta healthy after the restart", waitDeadline, func(sc string) bool {
		row, _ := serviceRow(sc, "beta")
		return strings.Contains(row, " healthy ")
	})
	phase("restart (r)")

	// c y recreates beta: a new container replaces it.
	p.keys("c")
	p.waitFor("the recreate question", waitDeadline, func(sc string) bool {
		return strings.Contains(sc, "Recreate beta (1 container replaced)? (y/n)")
	})
	p.keys("y")
	p.waitFor("beta recreated", waitDeadline, func(sc string) bool { return strings.Contains(sc, "✓ recreated beta") })
	recreated := s.inspect(name)
	if recreated.ID == before.ID {
		t.Errorf("recreate kept beta's container %.12s", before.ID)
	}
	for n, id := range s.ids() {
		if id == before.ID {
			t.Errorf("beta's old container %.12s is still there as %s", id, n)
		}
	}
	p.waitFor("beta healthy after the recreate", waitDeadline, func(sc string) bool {
		row, _ := serviceRow(sc, "beta")
		return strings.Contains(row, " healthy ")
	})
	phase("recreate (c, y)")

	// q asks; s stops the stack and devorch exits 0.
	p.keys("q")
	p.waitFor("the quit question", waitDeadline, func(sc string) bool { return strings.Contains(sc, "Quit: s stop the stack") })
	p.keys("s")
	sc = p.waitFor("devorch to exit", waitDeadline, func(sc string) bool { return screenExitCode(sc) >= 0 })
	if code := screenExitCode(sc); code != 0 {
		t.Fatalf("devorch exited %d after q s:\n%s", code, sc)
	}
	if !strings.Contains(sc, "Gracefully stopping...") {
		t.Errorf("no stop output after the TUI closed:\n%s", sc)
	}
	for n, c := range s.containers() {
		if c.State == "running" {
			t.Errorf("%s still running after q s", n)
		}
	}
	phase("quit (q, s), stopped")
}

// exitMarker is echoed with devorch's exit code after it ends.
const exitMarker = "EXITED="

var exitRe = regexp.MustCompile(`(?m)^` + exitMarker + `(\d+)\s*$`)

// screenExitCode is the code after the exit marker on screen, -1 while
// devorch runs.
func screenExitCode(screen string) int {
	m := exitRe.FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// serviceRow finds a service's first replica in the services table and
// whether it is the selected row (marked ›).
func serviceRow(screen, service string) (row string, selected bool) {
	for _, l := range strings.Split(screen, "\n") {
		sel := strings.HasPrefix(l, "›")
		f := strings.Fields(strings.TrimPrefix(l, "›"))
		if len(f) >= 2 && f[0] == service && f[1] == "1" {
			return l, sel
		}
	}
	return "", false
}

func selectedRow(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "›") {
			return strings.Fields(strings.TrimPrefix(l, "›"))[0]
		}
	}
	return ""
}

// tmuxPane is one detached tmux session on its own server (socket), so
// that neither the user's tmux nor another test can interfere.
type tmuxPane struct {
	t      *testing.T
	socket string
	last   string
}

func newTmuxPane(t *testing.T) *tmuxPane {
	// In the test's directory: tmux leaves its socket file behind.
	p := &tmuxPane{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() {
		if t.Failed() && p.last != "" {
			t.Logf("last screen:\n%s", p.last)
		}
		// Ends devorch too (SIGHUP); the harness removes the stack.
		_, _ = p.run("kill-server")
	})
	return p
}

func (p *tmuxPane) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-u", "-f", "/dev/null", "-S", p.socket}, args...)...)
	cmd.Env = os.Environ()
	if os.Getenv("TERM") == "" || os.Getenv("TERM") == "dumb" {
		cmd.Env = append(cmd.Env, "TERM=xterm-256color")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (p *tmuxPane) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// start runs a shell command line in a new 160×48 session.
func (p *tmuxPane) start(command string) {
	p.t.Helper()
	p.must("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "48", command)
}

func (p *tmuxPane) capture() string {
	p.t.Helper()
	p.last = p.must("capture-pane", "-p", "-t", "e2e")
	return p.last
}

// keys sends tmux key names (q, Enter, Escape…), one send-keys each.
func (p *tmuxPane) keys(keys ...string) {
	p.t.Helper()
	for _, k := range keys {
		p.must("send-keys", "-t", "e2e", k)
	}
}

// literal types text as it is.
func (p *tmuxPane) literal(text string) {
	p.t.Helper()
	p.must("send-keys", "-t", "e2e", "-l", text)
}

// waitFor polls the screen until ok says it shows what is expected, and
// returns it. It fails at the timeout, or at once if devorch has exited
// while something else was expected.
func (p *tmuxPane) waitFor(what string, timeout time.Duration, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sc := p.capture()
		if ok(sc) {
			return sc
		}
		if code := screenExitCode(sc); code >= 0 {
			p.t.Fatalf("waiting for %s: devorch exited %d:\n%s", what, code, sc)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: not on screen after %s:\n%s", what, timeout, sc)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
