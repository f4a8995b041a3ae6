package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devorch/devorch/internal/testenv"
)

// The other endpoint kinds of a host, each on a real daemon: tcp:// with
// TLS (h3's dockerd also listens on TLS), a Docker context pointing there,
// and ssh:// (an sshd in h2's network namespace whose sessions reach h2's
// dockerd). scripts/testhosts.sh sets them up; make test exports where.

const endpointStack = `
services:
  web:
    image: devorch-test/testapp:latest
    environment: {NAME: web, PORT: "8080"}
    healthcheck:
      test: ["CMD", "/testapp", "health", "http://127.0.0.1:8080/health"]
      interval: 1s
`

// binIn runs the real binary for the stack with extra environment (the
// in-process runner shares os.Environ with parallel tests).
func (s *stack) binIn(env []string, args ...string) result {
	s.t.Helper()
	cmd := s.command(args...)
	cmd.Env = append(cleanDockerEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// cleanDockerEnv is the environment without what selects a Docker host.
func cleanDockerEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG", "DEVORCH_HOSTS", "DEVORCH_SSH_ARGS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// psHosts returns container name → Host from ps --format json.
func psHosts(t *testing.T, r result) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range jsonLines(t, r.stdout) {
		out[l["Name"].(string)] = l["Host"].(string)
	}
	return out
}

func TestTLSHostAndDockerContext(t *testing.T) {
	t.Parallel()
	r := testenv.Remote(t, testenv.EnvTestTLS)
	s := newStack(t, map[string]string{"compose.yaml": endpointStack})
	host := "--host=remote=" + r.Endpoint
	tlsEnv := []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + r.Path, "HOME=" + t.TempDir()}

	// Without the client certificate the daemon refuses: a clear error
	// naming the host, and nothing created anywhere.
	bad := s.binIn([]string{"HOME=" + t.TempDir()}, host, "up", "-d", "--wait")
	if bad.code == 0 || !strings.Contains(bad.stderr, `host "remote"`) || !strings.Contains(bad.stderr, "HTTPS") {
		t.Fatalf("up on a TLS endpoint without certificates: %s", bad)
	}
	if l := s.leftoversOn(r.Host.Client); len(l) > 0 {
		t.Fatalf("a refused up left %v on %s", l, r.Host.Name)
	}

	// DOCKER_TLS_VERIFY / DOCKER_CERT_PATH apply to a declared tcp host.
	if res := s.binIn(tlsEnv, host, "up", "-d", "--wait"); res.code != 0 {
		t.Fatalf("up over TLS: %s", res)
	}
	insp, err := r.Host.Client.ContainerInspect(context.Background(), s.name("web", 1))
	if err != nil {
		t.Fatalf("the container is not on %s (the daemon behind %s): %v", r.Host.Name, r.Endpoint, err)
	}
	if insp.State.Health == nil || insp.State.Health.Status != "healthy" {
		t.Errorf("--wait returned before healthy: %+v", insp.State)
	}
	res := s.binIn(tlsEnv, host, "ps", "--format", "json")
	if got := psHosts(t, res)[s.name("web", 1)]; got != "remote" {
		t.Errorf("ps over TLS: web on %q, want remote: %s", got, res)
	}
	// A hijacked stream over TLS.
	if res := s.binIn(tlsEnv, host, "exec", "-T", "web", "/testapp", "echo", "over tls"); res.code != 0 || strings.TrimSpace(res.stdout) != "over tls" {
		t.Errorf("exec over TLS: %s", res)
	}

	// A Docker context made by the docker CLI itself, with the TLS
	// material in its store: usable as a host's endpoint and, through
	// DOCKER_CONTEXT, as the default host.
	cfg := t.TempDir()
	ctxName := "devorch-test-tls"
	mk := exec.Command("docker", "context", "create", ctxName, "--docker",
		"host="+r.Endpoint+",ca="+filepath.Join(r.Path, "ca.pem")+",cert="+filepath.Join(r.Path, "cert.pem")+",key="+filepath.Join(r.Path, "key.pem"))
	mk.Env = append(cleanDockerEnv(), "DOCKER_CONFIG="+cfg)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("docker context create: %v\n%s", err, out)
	}
	ctxEnv := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_CONTEXT=" + ctxName}
	res = s.binIn(ctxEnv, "ps", "--format", "json")
	if got, ok := psHosts(t, res)[s.name("web", 1)]; !ok || got != "local" {
		t.Errorf("DOCKER_CONTEXT=%s: ps should list web on the default host: %s", ctxName, res)
	}
	res = s.binIn([]string{"DOCKER_CONFIG=" + cfg}, "--host=viactx="+ctxName, "hosts", "--format", "json")
	hs := jsonLines(t, res.stdout)
	if res.code != 0 || len(hs) != 1 || hs[0]["Reachable"] != true {
		t.Errorf("a host whose endpoint is a context: %s", res)
	}
	res = s.binIn([]string{"DOCKER_CONFIG=" + cfg}, "--host=viactx=nosuchcontext", "ps")
	if res.code == 0 || !strings.Contains(res.stderr, `"nosuchcontext" not found`) {
		t.Errorf("an unknown context: %s", res)
	}

	if res := s.binIn(ctxEnv, "down"); res.code != 0 {
		t.Fatalf("down through the context: %s", res)
	}
	if l := s.leftoversOn(r.Host.Client); len(l) > 0 {
		t.Fatalf("left on %s after down: %v", r.Host.Name, l)
	}
}

func TestSSHHost(t *testing.T) {
	t.Parallel()
	r := testenv.Remote(t, testenv.EnvTestSSH)
	s := newStack(t, map[string]string{"compose.yaml": endpointStack})
	host := "--host=remote=" + r.Endpoint
	sshEnv := []string{"DEVORCH_SSH_ARGS=-F " + r.Path}

	// ssh's own reason reaches the user: a user sshd does not allow.
	wrong := strings.Replace(r.Endpoint, "ssh://root@", "ssh://nobody@", 1)
	bad := s.binIn(sshEnv, "--host=remote="+wrong, "up", "-d")
	if bad.code == 0 || !strings.Contains(bad.stderr, `host "remote"`) || !strings.Contains(bad.stderr, "Permission denied") {
		t.Fatalf("up over ssh as a refused user: %s", bad)
	}
	if l := s.leftoversOn(r.Host.Client); len(l) > 0 {
		t.Fatalf("a refused up left %v on %s", l, r.Host.Name)
	}

	if res := s.binIn(sshEnv, host, "up", "-d", "--wait"); res.code != 0 {
		t.Fatalf("up over ssh: %s", res)
	}
	if _, err := r.Host.Client.ContainerInspect(context.Background(), s.name("web", 1)); err != nil {
		t.Fatalf("the container is not on %s (the daemon behind %s): %v", r.Host.Name, r.Endpoint, err)
	}
	res := s.binIn(sshEnv, host, "hosts", "--format", "json")
	hs := jsonLines(t, res.stdout)
	if len(hs) != 1 || hs[0]["Reachable"] != true {
		t.Errorf("hosts over ssh: %s", res)
	}
	// Hijacked and streamed connections over ssh: exec, logs, a one-off run.
	if res := s.binIn(sshEnv, host, "exec", "-T", "web", "/testapp", "echo", "over ssh"); res.code != 0 || strings.TrimSpace(res.stdout) != "over ssh" {
		t.Errorf("exec over ssh: %s", res)
	}
	if res := s.binIn(sshEnv, host, "logs", "web"); !strings.Contains(res.stdout, "web-1  | listening on :8080") {
		t.Errorf("logs over ssh: %s", res)
	}
	if res := s.binIn(sshEnv, host, "run", "--rm", "-T", "web", "exit", "4"); res.code != 4 {
		t.Errorf("run over ssh: want the one-off's exit code 4: %s", res)
	}
	if res := s.binIn(sshEnv, host, "down"); res.code != 0 {
		t.Fatalf("down over ssh: %s", res)
	}
	if l := s.leftoversOn(r.Host.Client); len(l) > 0 {
		t.Fatalf("left on %s after down: %v", r.Host.Name, l)
	}
}
