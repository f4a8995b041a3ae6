package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/devorch/devorch/internal/testenv"
)

// hostProxy stands between devorch and a test host's socket, so that a
// test can make the host disappear for devorch alone, without touching
// the shared daemon: hang is a partition (connections stay open, nothing
// answers), crash cuts every connection and refuses new ones; resume
// brings the host back.
type hostProxy struct {
	path, target string

	mu     sync.Mutex
	cond   *sync.Cond
	mode   string // "", "hang", "crash"
	l      net.Listener
	conns  map[net.Conn]bool
	closed bool
}

func newHostProxy(t *testing.T, target string) *hostProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "devorch-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	p := &hostProxy{path: filepath.Join(dir, "docker.sock"), target: strings.TrimPrefix(target, "unix://"), conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	if err := p.listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.cutLocked()
		p.cond.Broadcast()
		p.mu.Unlock()
		os.RemoveAll(dir)
	})
	return p
}

func (p *hostProxy) endpoint() string { return "unix://" + p.path }

func (p *hostProxy) listen() error {
	_ = os.Remove(p.path)
	l, err := net.Listen("unix", p.path)
	if err != nil {
		return err
	}
	p.l = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return nil
}

func (p *hostProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "crash" || p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

// open blocks while the proxy hangs; it reports whether to go on.
func (p *hostProxy) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == "hang" && !p.closed {
		p.cond.Wait()
	}
	return p.mode == "" && !p.closed
}

func (p *hostProxy) serve(c net.Conn) {
	if !p.track(c) || !p.open() {
		c.Close()
		return
	}
	up, err := net.Dial("unix", p.target)
	if err != nil || !p.track(up) {
		c.Close()
		return
	}
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !p.open() {
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
}

func (p *hostProxy) cutLocked() {
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// hang stops all traffic: requests in flight and new ones get no answer.
func (p *hostProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = "hang"
}

// crash cuts every connection and refuses new ones.
func (p *hostProxy) crash() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = "crash"
	p.cutLocked()
	_ = os.Remove(p.path)
}

// resume brings the host back.
func (p *hostProxy) resume(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasCrashed := p.mode == "crash"
	p.mode = ""
	p.cond.Broadcast()
	if wasCrashed {
		if err := p.listen(); err != nil {
			t.Fatal(err)
		}
	}
}

// A host that disappears in the middle of up — it stops answering (hang)
// or its daemon goes away (crash) — makes up fail naming it, instead of
// waiting forever; the next up (host still gone) moves its stateless
// services to the other host; when it comes back the next up removes the
// stale copies there; down leaves nothing anywhere.
func TestMultiHostHostLostMidUp(t *testing.T) {
	t.Parallel()
	// One after the other: two projects creating networks on one host at
	// the same moment can be given the same subnet.
	for _, how := range []string{"hang", "crash"} {
		t.Run(how, func(t *testing.T) {
			hs := testenv.Hosts(t, 2)
			s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    deploy: {replicas: 4}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  b:
    image: devorch-test/testapp:latest
    depends_on: {a: {condition: service_healthy}}
    deploy: {replicas: 4}
`})
			proxy := newHostProxy(t, hs[1].Endpoint)
			flags := []string{"--host", hs[0].Spec(), "--host", "hp=" + proxy.endpoint() + ";address=" + hs[1].Address}
			run := func(args ...string) result { return s.devorch(append(append([]string{}, flags...), args...)...) }
			projectOn := func(h testenv.TestHost, all bool) []container.Summary {
				cs, err := h.Client.ContainerList(context.Background(), container.ListOptions{All: all, Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+s.project))})
				if err != nil {
					t.Fatal(err)
				}
				return cs
			}

			cmd := s.command(append(append([]string{}, flags...), "up", "-d")...)
			cmd.Env = append(os.Environ(), "DEVORCH_HOST_TIMEOUT=6s")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			var mu sync.Mutex
			lost := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(stderr)
				once := sync.Once{}
				for sc.Scan() {
					mu.Lock()
					errb.WriteString(sc.Text() + "\n")
					mu.Unlock()
					// The first container on hp has started: the host goes.
					if strings.Contains(sc.Text(), "(hp)  Started") {
						once.Do(func() {
							if how == "hang" {
								proxy.hang()
							} else {
								proxy.crash()
							}
							close(lost)
						})
					}
				}
			}()
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-lost:
			case err := <-waited:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("up ended (%v) before a container started on hp:\n%s", err, errb.String())
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("no container started on hp within 5 minutes")
			}
			select {
			case err = <-waited:
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("up still running 5 minutes after hp went away (%s):\n%s", how, errb.String())
			}
			var ee interface{ ExitCode() int }
			mu.Lock()
			out := errb.String()
			mu.Unlock()
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("up after losing hp: %v, want exit 1:\n%s", err, out)
			}
			if !strings.Contains(out, `"hp"`) {
				t.Errorf("the error does not name the lost host:\n%s", out)
			}

			// hp still gone: the next up moves the stateless services.
			r := run("up", "-d")
			if r.code != 0 || !strings.Contains(r.stderr, `host "hp" is unreachable`) {
				t.Fatalf("up with hp gone: %s", r)
			}
			if n := len(projectOn(hs[0], false)); n != 8 {
				t.Errorf("%d containers running on %s with hp gone, want all 8", n, hs[0].Name)
			}
			// hp is back: the stale copies there are removed.
			proxy.resume(t)
			if r := run("up", "-d"); r.code != 0 {
				t.Fatalf("up after hp came back: %s", r)
			}
			if cs := projectOn(hs[1], true); len(cs) != 0 {
				var names []string
				for _, c := range cs {
					names = append(names, c.Names[0])
				}
				t.Errorf("stale containers left on hp: %v", names)
			}
			if n := len(projectOn(hs[0], false)) + len(projectOn(hs[1], false)); n != 8 {
				t.Errorf("%d containers running after hp came back, want 8", n)
			}
			if r := run("down"); r.code != 0 {
				t.Fatalf("down: %s", r)
			}
			for _, h := range hs[:2] {
				if l := s.leftoversOn(h.Client); len(l) > 0 {
					t.Errorf("left on %s: %v", h.Name, l)
				}
			}
		})
	}
}

// A host that stops answering during down, stop or restart does not make
// the command wait for it forever: once it has answered no ping for
// DEVORCH_HOST_TIMEOUT, the command abandons what it was doing there and
// fails naming it, and does its work on the other host all the same; when
// the host is back, down removes what was left there.
func TestMultiHostHostLostMidDown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		verb string
		// done checks a (on the host that answered) after the command.
		done func(t *testing.T, s *stack, h testenv.TestHost, before time.Time)
	}{
		{"down", func(t *testing.T, s *stack, h testenv.TestHost, _ time.Time) {
			if l := s.leftoversOn(h.Client); len(l) > 0 {
				t.Errorf("down left on %s, which answered: %v", h.Name, l)
			}
		}},
		{"stop", func(t *testing.T, s *stack, h testenv.TestHost, _ time.Time) {
			insp, err := h.Client.ContainerInspect(context.Background(), s.name("a", 1))
			if err != nil {
				t.Fatal(err)
			}
			if insp.State.Running {
				t.Errorf("stop left %s running on %s, which answered", insp.Name, h.Name)
			}
		}},
		{"restart", func(t *testing.T, s *stack, h testenv.TestHost, before time.Time) {
			insp, err := h.Client.ContainerInspect(context.Background(), s.name("a", 1))
			if err != nil {
				t.Fatal(err)
			}
			started, _ := time.Parse(time.RFC3339Nano, insp.State.StartedAt)
			if !insp.State.Running || !started.After(before) {
				t.Errorf("restart did not restart %s on %s, which answered: running %v, started %s, before %s", insp.Name, h.Name, insp.State.Running, started, before)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.verb, func(t *testing.T) {
			t.Parallel()
			hs := testenv.Hosts(t, 2)
			s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    deploy: {placement: {constraints: ["node.hostname==` + hs[0].Name + `"]}}
  b:
    image: devorch-test/busybox:latest
    # PID 1 without a handler ignores SIGTERM: its stop lasts the whole
    # grace period, so the host cannot answer it before it goes.
    command: ["/bin/sleep", "100000"]
    stop_grace_period: 10m
    deploy: {placement: {constraints: ["node.hostname==hp"]}}
`})
			proxy := newHostProxy(t, hs[1].Endpoint)
			flags := []string{"--host", hs[0].Spec(), "--host", "hp=" + proxy.endpoint() + ";address=" + hs[1].Address}
			run := func(args ...string) result { return s.devorch(append(append([]string{}, flags...), args...)...) }
			if r := run("up", "-d"); r.code != 0 {
				t.Fatalf("up: %s", r)
			}
			t.Cleanup(func() {
				proxy.resume(t)
				run("down", "-t", "0")
			})
			before := time.Now()

			cmd := s.command(append(append([]string{}, flags...), c.verb)...)
			cmd.Env = append(os.Environ(), "DEVORCH_HOST_TIMEOUT=6s")
			p := startProc(t, cmd)
			p.waitLine("(hp)  " + map[string]string{"down": "Stopping", "stop": "Stopping", "restart": "Restarting"}[c.verb])
			proxy.hang()
			r := p.wait()
			if r.code != 1 {
				t.Fatalf("%s with hp lost: exit %d, want 1: %s", c.verb, r.code, r)
			}
			if !strings.Contains(r.stderr, `host "hp"`) || !strings.Contains(r.stderr, "stopped answering") {
				t.Errorf("the error does not say hp stopped answering: %s", r)
			}
			c.done(t, s, hs[0], before)

			// hp is back: down removes what was left there.
			proxy.resume(t)
			if r := run("down", "-t", "0"); r.code != 0 {
				t.Fatalf("down after hp came back: %s", r)
			}
			for _, h := range hs[:2] {
				if l := s.leftoversOn(h.Client); len(l) > 0 {
					t.Errorf("left on %s: %v", h.Name, l)
				}
			}
		})
	}
}
