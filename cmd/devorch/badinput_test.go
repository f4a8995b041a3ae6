package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

// Every bad input gets a clear error naming the file, line or service, a
// non-zero exit, and leaves nothing behind.
func TestBadInputLeavesNothing(t *testing.T) {
	t.Parallel()
	good := "services:\n  ok:\n    image: devorch-test/testapp:latest\n"
	cases := []struct {
		name  string
		file  string
		args  []string
		code  int
		wants []string
	}{
		{"broken yaml", "services:\n  web:\n    image: x\n   bad: indent\n", []string{"up", "-d"}, 15, []string{"compose.yaml", "line 3"}},
		{"schema", "services:\n  web:\n    image: x\n    portz: []\n", []string{"up", "-d"}, 15, []string{"compose.yaml", "portz"}},
		{"unknown service", good, []string{"up", "-d", "nosuch"}, 1, []string{`"nosuch"`}},
		{"unknown service in logs", good, []string{"logs", "nosuch"}, 1, []string{`"nosuch"`}},
		{"cycle", "services:\n  a:\n    image: devorch-test/testapp:latest\n    depends_on: [b]\n  b:\n    image: devorch-test/testapp:latest\n    depends_on: [a]\n", []string{"up", "-d"}, 15, []string{"cycle", "a", "b"}},
		{"missing image, no build", "services:\n  ok:\n    image: devorch-test/testapp:latest\n  gone:\n    image: devorch-test/does-not-exist:1\n", []string{"up", "-d"}, 18, []string{`service "gone"`, "devorch-test/does-not-exist"}},
		{"missing image, pull never", "services:\n  ok:\n    image: devorch-test/testapp:latest\n  gone:\n    image: devorch-test/does-not-exist:1\n    pull_policy: never\n", []string{"up", "-d"}, 1, []string{`service "gone"`, "pull_policy is never"}},
		{"bad scale", good, []string{"up", "-d", "--scale", "nosuch=2"}, 1, []string{`"nosuch"`}},
		{"bad flag", good, []string{"up", "--bogus"}, 16, []string{"--bogus"}},
		{"unreachable host", good, []string{"--host", "far=unix:///nonexistent/docker.sock", "up", "-d"}, 1, []string{`"far"`, "unreachable"}},
		{"container_name with replicas", "services:\n  ok:\n    image: devorch-test/testapp:latest\n    container_name: fixed\n    scale: 2\n", []string{"up", "-d"}, 15, []string{"ok", "container_name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, map[string]string{"compose.yaml": c.file})
			r := s.devorch(c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d: %s", r.code, c.code, r)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(r.stderr, "Error") && n > 0 && c.code != 16 {
				// Progress lines may precede the error, but the error is one line at the end.
				last := r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:]
				if !strings.HasPrefix(last, "Error: ") {
					t.Errorf("last stderr line is not the error: %q", last)
				}
			}
			s.assertNothingLeft()
		})
	}
}

func TestPortTakenByContainerOrProcess(t *testing.T) {
	t.Parallel()
	cli := newStack(t, nil).cli
	ctx := context.Background()
	// A port held by another container (not devorch's).
	port := freePort(t)
	pb := nat.PortMap{"8080/tcp": {{HostPort: strconv.Itoa(port)}}}
	other, err := cli.ContainerCreate(ctx, &container.Config{Image: "devorch-test/testapp:latest", ExposedPorts: nat.PortSet{"8080/tcp": {}}},
		&container.HostConfig{PortBindings: pb}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.ContainerRemove(ctx, other.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, other.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: devorch-test/testapp:latest\n    ports: [\"" + strconv.Itoa(port) + ":8080\"]\n  db:\n    image: devorch-test/testapp:latest\n"})
	r := s.fails("up", "-d")
	if !strings.Contains(r.stderr, `service "web": port `+strconv.Itoa(port)+`/tcp is already in use by container`) {
		t.Errorf("unclear: %s", r)
	}
	s.assertNothingLeft()

	// A port held by a process on this machine.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).Port
	s2 := newStack(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: devorch-test/testapp:latest\n    ports: [\"" + strconv.Itoa(held) + ":8080\"]\n"})
	r = s2.fails("up", "-d")
	if !strings.Contains(r.stderr, `service "web": port `+strconv.Itoa(held)+`/tcp is already in use on this machine by another process`) {
		t.Errorf("unclear: %s", r)
	}
	s2.assertNothingLeft()

	// Two replicas of one fixed port.
	s3 := newStack(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: devorch-test/testapp:latest\n    ports: [\"" + strconv.Itoa(freePort(t)) + ":8080\"]\n    scale: 2\n"})
	r = s3.fails("up", "-d")
	if !strings.Contains(r.stderr, "published by both") {
		t.Errorf("unclear: %s", r)
	}
	s3.assertNothingLeft()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A service that publishes a port can be changed: the container being
// replaced holds the port now and frees it before the new one starts.
func TestRecreateServiceWithPublishedPort(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(freePort(t))
	s := newStack(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: devorch-test/testapp:latest\n    ports: [\"" + port + ":8080\"]\n    environment: {V: \"1\"}\n"})
	s.must("up", "-d")
	s.write("compose.yaml", "services:\n  web:\n    image: devorch-test/testapp:latest\n    ports: [\""+port+":8080\"]\n    environment: {V: \"2\"}\n")
	s.must("up", "-d")
	s.must("up", "-d", "--force-recreate")
	if body := httpGet(t, "http://127.0.0.1:"+port+"/env"); !strings.Contains(body, "V=2") {
		t.Errorf("after recreate: %q", body)
	}
	s.must("down")
	s.assertNothingLeft()
}
