package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// waitDeadline bounds every wait of these tests for something a process or
// the daemon does. It is generous on purpose: a busy machine is slow, not
// wrong, and a test waits for the fact itself, never for a fixed time.
const waitDeadline = 2 * time.Minute

// proc is a real devorch process whose output a test reads while it runs,
// so that the test can order what it does next on what the process has
// printed (it holds the project lock, it has started a container, it is
// stopping) instead of on a sleep.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	mu       sync.Mutex
	lines    []string // stdout and stderr lines in the order they were read
	out, err strings.Builder
	more     chan struct{} // closed (and replaced) when a line arrives
	exited   chan struct{} // closed once the process was reaped
	code     int
}

// start runs devorch (the real binary) for this stack and reads its output.
func (s *stack) start(args ...string) *proc {
	s.t.Helper()
	return startProc(s.t, s.command(args...))
}

// startProc starts cmd and reads its stdout and stderr line by line. The
// process is killed when the test ends if it still runs.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, more: make(chan struct{}), exited: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.read(stdout, &p.out, &readers)
	go p.read(stderr, &p.err, &readers)
	go func() {
		// Wait must follow the last read of the pipes.
		readers.Wait()
		_ = cmd.Wait()
		p.mu.Lock()
		p.code = cmd.ProcessState.ExitCode()
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) read(r io.Reader, into *strings.Builder, done *sync.WaitGroup) {
	defer done.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.mu.Lock()
		into.WriteString(sc.Text() + "\n")
		p.lines = append(p.lines, sc.Text())
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// waitLine waits until the process has printed a line containing substr
// (on stdout or stderr) and returns it. It fails the test if the process
// ends first, or after waitDeadline.
func (p *proc) waitLine(substr string) string {
	p.t.Helper()
	deadline := time.NewTimer(waitDeadline)
	defer deadline.Stop()
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if strings.Contains(p.lines[seen], substr) {
				l := p.lines[seen]
				p.mu.Unlock()
				return l
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.exited:
			// The readers are done: every line is in p.lines now.
			p.mu.Lock()
			found := false
			for _, l := range p.lines[seen:] {
				found = found || strings.Contains(l, substr)
			}
			p.mu.Unlock()
			if !found {
				p.t.Fatalf("%s ended without printing %q:\n%s", p.name(), substr, p.result())
			}
		case <-deadline.C:
			p.t.Fatalf("%s printed no %q within %s:\n%s", p.name(), substr, waitDeadline, p.result())
		}
	}
}

// wait waits for the process to end (up to waitDeadline) and returns its
// exit code and output.
func (p *proc) wait() result {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitDeadline):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("%s did not end within %s:\n%s", p.name(), waitDeadline, p.result())
	}
	return p.result()
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name(), err)
	}
}

// kill ends the process with SIGKILL, as a crash or `kill -9` would, and
// reaps it.
func (p *proc) kill() result {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	return p.wait()
}

func (p *proc) result() result {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := -1
	select {
	case <-p.exited:
		code = p.code
	default:
	}
	return result{code: code, stdout: p.out.String(), stderr: p.err.String()}
}

func (p *proc) name() string {
	return "devorch " + strings.Join(p.cmd.Args[1:], " ")
}

// waitNotRunning waits (Docker's own wait, no polling) until a container
// has stopped running, up to waitDeadline.
func (s *stack) waitNotRunning(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	okc, errc := s.cli.ContainerWait(ctx, name, container.WaitConditionNotRunning)
	select {
	case <-okc:
	case err := <-errc:
		s.t.Fatalf("wait for %s to stop: %v", name, err)
	}
}
