package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// EnvTestHosts names the extra Docker hosts scripts/testhosts.sh started,
// in devorch's DEVORCH_HOSTS format: name=unix:///…sock;address=IP,…
// EnvTestSwarm names, in the same format, the hosts `scripts/testhosts.sh
// swarm` joined into one Docker Swarm, its manager first; they are never in
// EnvTestHosts.
const (
	EnvTestHosts = "DEVORCH_TEST_HOSTS"
	EnvTestSwarm = "DEVORCH_TEST_SWARM"
)

// TestHost is one extra Docker host for multi-host tests.
type TestHost struct {
	Name, Endpoint, Address string
	Client                  *client.Client
}

// Spec is the host's --host / DEVORCH_HOSTS entry.
func (h TestHost) Spec() string {
	return fmt.Sprintf("%s=%s;address=%s", h.Name, h.Endpoint, h.Address)
}

// hostList is the hosts one environment variable names, read and given
// clients once.
type hostList struct {
	env   string
	once  sync.Once
	hosts []TestHost
	err   error
}

var (
	plainHosts = &hostList{env: EnvTestHosts}
	swarmHosts = &hostList{env: EnvTestSwarm}
)

func (l *hostList) get() ([]TestHost, error) {
	l.once.Do(func() { l.hosts, l.err = connectHosts(l.env, os.Getenv(l.env)) })
	return l.hosts, l.err
}

// parseHosts reads a host list in devorch's DEVORCH_HOSTS format
// (name=endpoint;address=IP,…) from env's value raw; "" is no hosts.
func parseHosts(env, raw string) ([]TestHost, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	var out []TestHost
	for _, entry := range strings.Split(raw, ",") {
		parts := strings.Split(entry, ";")
		name, ep, ok := strings.Cut(parts[0], "=")
		if !ok || name == "" || ep == "" {
			return nil, fmt.Errorf("%s entry %q: want name=endpoint;address=IP", env, entry)
		}
		h := TestHost{Name: name, Endpoint: ep}
		for _, p := range parts[1:] {
			if v, ok := strings.CutPrefix(p, "address="); ok {
				h.Address = v
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// connectHosts is parseHosts with a client for each host.
func connectHosts(env, raw string) ([]TestHost, error) {
	hs, err := parseHosts(env, raw)
	if err != nil {
		return nil, err
	}
	for i := range hs {
		c, err := client.NewClientWithOpts(client.WithHost(hs[i].Endpoint), client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, err
		}
		hs[i].Client = c
	}
	return hs, nil
}

func testHosts() ([]TestHost, error) { return plainHosts.get() }

// Hosts returns at least n extra Docker hosts (started by `make test`
// through scripts/testhosts.sh) with the test images loaded. Without them
// the test is skipped, or fails when DEVORCH_REQUIRE_DOCKER=1.
func Hosts(t testing.TB, n int) []TestHost {
	t.Helper()
	return needHosts(t, plainHosts, n, fmt.Sprintf("scripts/testhosts.sh up %d", n))
}

// SwarmHosts returns the first n hosts of the test Swarm (DEVORCH_TEST_SWARM:
// hosts `make test` joined with scripts/testhosts.sh swarm), its manager
// first and the others its workers, with the test images loaded. The Swarm
// is as a user would make it: no devorch labels on it or its nodes. Without
// it the test is skipped, or fails when DEVORCH_REQUIRE_DOCKER=1.
func SwarmHosts(t testing.TB, n int) []TestHost {
	t.Helper()
	hs := needHosts(t, swarmHosts, n, "scripts/testhosts.sh up N and scripts/testhosts.sh swarm I J...")
	info, err := hs[0].Client.Info(context.Background())
	if err == nil && !info.Swarm.ControlAvailable {
		err = fmt.Errorf("%s: %s is not a Swarm manager (Swarm state %q)", EnvTestSwarm, hs[0].Name, info.Swarm.LocalNodeState)
	}
	if err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatalf("test Swarm unavailable: %v", err)
		}
		t.Skipf("test Swarm unavailable: %v", err)
	}
	return hs
}

// needHosts returns the first n hosts of l, answering and with the test
// images, or skips (fails with DEVORCH_REQUIRE_DOCKER=1) saying what to run.
func needHosts(t testing.TB, l *hostList, n int, run string) []TestHost {
	t.Helper()
	cli := Images(t)
	hs, err := l.get()
	if err == nil && len(hs) < n {
		err = fmt.Errorf("%s lists %d hosts, the test needs %d (run %s)", l.env, len(hs), n, run)
	}
	if err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatalf("extra Docker hosts unavailable: %v", err)
		}
		t.Skipf("extra Docker hosts unavailable: %v", err)
	}
	for _, h := range hs[:n] {
		if err := ping(h); err != nil {
			if os.Getenv(EnvRequireDocker) == "1" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		if err := loadImages(context.Background(), cli, h); err != nil {
			t.Fatalf("load test images into %s: %v", h.Name, err)
		}
	}
	return hs[:n]
}

var loadMu sync.Mutex

// loadImages copies the test images from the default daemon to a host
// when the host lacks them or has an older build.
func loadImages(ctx context.Context, from client.APIClient, h TestHost) error {
	loadMu.Lock()
	defer loadMu.Unlock()
	for _, ref := range []string{TestappImage, BusyboxImage} {
		want, err := from.ImageInspect(ctx, ref)
		if err != nil {
			return err
		}
		if got, err := h.Client.ImageInspect(ctx, ref); err == nil && got.ID == want.ID {
			continue
		}
		rc, err := from.ImageSave(ctx, []string{ref})
		if err != nil {
			return err
		}
		resp, err := h.Client.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
		rc.Close()
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

// extraClients are the clients of the test hosts and of the test Swarm's
// hosts (each endpoint once), for cleanup and leak checks.
func extraClients() []client.APIClient {
	var out []client.APIClient
	seen := map[string]bool{}
	for _, l := range []*hostList{plainHosts, swarmHosts} {
		hs, _ := l.get()
		for _, h := range hs {
			if !seen[h.Endpoint] {
				seen[h.Endpoint] = true
				out = append(out, h.Client)
			}
		}
	}
	return out
}

// HostNamed returns one extra host by name (with the test images), for
// tests that must have a host of their own (restarting its daemon, say).
// Skips or fails like Hosts when it is not there.
func HostNamed(t testing.TB, name string) TestHost {
	t.Helper()
	cli := Images(t)
	hs, err := testHosts()
	if err == nil {
		for _, h := range hs {
			if h.Name == name {
				if err := ping(h); err != nil {
					t.Fatal(err)
				}
				if err := loadImages(context.Background(), cli, h); err != nil {
					t.Fatalf("load test images into %s: %v", h.Name, err)
				}
				return h
			}
		}
		err = fmt.Errorf("%s has no host %q (make test starts h1-h9; h5, h6 and h9 are in %s)", EnvTestHosts, name, EnvTestSwarm)
	}
	if os.Getenv(EnvRequireDocker) == "1" {
		t.Fatalf("extra Docker host unavailable: %v", err)
	}
	t.Skipf("extra Docker host unavailable: %v", err)
	return TestHost{}
}

// pingDeadline bounds how long a test waits for a test host to answer:
// generous, since a busy machine (or a host a test is restarting) is slow,
// not gone.
const pingDeadline = 2 * time.Minute

// ping checks a test host answers, retrying until pingDeadline (a test may
// be restarting another host's daemon; this one should answer).
func ping(h TestHost) error {
	var err error
	for deadline := time.Now().Add(pingDeadline); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = h.Client.Ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("test host %s (%s) does not answer after %s: %w", h.Name, h.Endpoint, pingDeadline, err)
		}
		time.Sleep(500 * time.Millisecond) // poll interval
	}
}

// EnvTestTLS and EnvTestSSH name the other endpoint kinds of the test hosts
// (scripts/testhosts.sh env): "h3=tcp://IP:2376;certs=DIR" (a TLS listener,
// DIR in DOCKER_CERT_PATH layout) and "h2=ssh://root@IP;config=FILE" (an
// sshd whose sessions reach that host's dockerd; FILE is for ssh -F).
const (
	EnvTestTLS = "DEVORCH_TEST_TLS"
	EnvTestSSH = "DEVORCH_TEST_SSH"
)

// RemoteEndpoint is a second endpoint of a test host: Host reaches the same
// daemon through its unix socket (to check what devorch did), Endpoint is
// the tcp:// or ssh:// one, Path the certificate directory or ssh config.
type RemoteEndpoint struct {
	Host     TestHost
	Endpoint string
	Path     string
}

// Remote returns the test host endpoint named by env (EnvTestTLS or
// EnvTestSSH). Without it the test is skipped, or fails when
// DEVORCH_REQUIRE_DOCKER=1.
func Remote(t testing.TB, env string) RemoteEndpoint {
	t.Helper()
	raw := strings.TrimSpace(os.Getenv(env))
	var r RemoteEndpoint
	var err error
	name, rest, ok := strings.Cut(raw, "=")
	if !ok {
		err = fmt.Errorf("%s is not set (make test sets it from scripts/testhosts.sh env)", env)
	} else {
		parts := strings.Split(rest, ";")
		r.Endpoint = parts[0]
		for _, p := range parts[1:] {
			if _, v, ok := strings.Cut(p, "="); ok {
				r.Path = v
			}
		}
		if r.Path == "" {
			err = fmt.Errorf("%s=%q: want NAME=ENDPOINT;certs=DIR or NAME=ENDPOINT;config=FILE", env, raw)
		}
	}
	if err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	r.Host = HostNamed(t, name)
	return r
}
