package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/devorch/devorch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stack is one test's compose project on the real daemon: a temp directory
// with its files, a unique dvt- project name, and a client to inspect what
// devorch did. Everything it creates is removed when the test ends.
type stack struct {
	t       *testing.T
	dir     string
	project string
	cli     *client.Client
}

func newStack(t *testing.T, files map[string]string) *stack {
	t.Helper()
	cli := testenv.Images(t)
	project := testenv.NewProject(t, cli)
	dir := testenv.WriteFiles(t, "", files)
	return &stack{t: t, dir: dir, project: project, cli: cli}
}

// result is one devorch invocation.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// devorch runs the CLI in-process with the stack's directory as project
// directory (so default files and .env are found there) and its project
// name. It does not change the working directory, so tests can run in
// parallel.
func (s *stack) devorch(args ...string) result {
	s.t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--progress", "plain", "--ansi", "never", "--project-directory", s.dir, "-p", s.project}, args...)
	code := run(all, strings.NewReader(""), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

var cwdMu sync.Mutex

// devorchIn runs the CLI in-process in dir with exactly args.
func (s *stack) devorchIn(dir string, args ...string) result {
	s.t.Helper()
	cwdMu.Lock()
	defer cwdMu.Unlock()
	old, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		s.t.Fatal(err)
	}
	defer os.Chdir(old)
	var out, errb bytes.Buffer
	code := run(append([]string{"--progress", "plain", "--ansi", "never"}, args...), strings.NewReader(""), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must runs devorch and fails the test unless it exits 0.
func (s *stack) must(args ...string) result {
	s.t.Helper()
	r := s.devorch(args...)
	if r.code != 0 {
		s.t.Fatalf("devorch %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// fails runs devorch and fails the test if it exits 0.
func (s *stack) fails(args ...string) result {
	s.t.Helper()
	r := s.devorch(args...)
	if r.code == 0 {
		s.t.Fatalf("devorch %s succeeded, want failure: %s", strings.Join(args, " "), r)
	}
	return r
}

func (s *stack) write(name, content string) {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// containers returns the project's containers (all states) by name.
func (s *stack) containers() map[string]container.Summary {
	s.t.Helper()
	list, err := s.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "dev.devorch.project="+s.project))})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]container.Summary{}
	for _, c := range list {
		out[strings.TrimPrefix(c.Names[0], "/")] = c
	}
	return out
}

// ids returns container name → ID.
func (s *stack) ids() map[string]string {
	out := map[string]string{}
	for n, c := range s.containers() {
		out[n] = c.ID
	}
	return out
}

func (s *stack) inspect(name string) container.InspectResponse {
	s.t.Helper()
	insp, err := s.cli.ContainerInspect(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return insp
}

func (s *stack) name(service string, replica int) string {
	return fmt.Sprintf("%s-%s-%d", s.project, service, replica)
}

// leftovers lists what of the project is still on the daemon.
func (s *stack) leftovers() []string { return s.leftoversOn(s.cli) }

// leftoversOn lists what of the project is still on the daemon behind cli.
func (s *stack) leftoversOn(cli client.APIClient) []string {
	s.t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", "dev.devorch.project="+s.project))
	var out []string
	cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	for _, c := range cs {
		out = append(out, "container "+c.Names[0])
	}
	ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		out = append(out, "volume "+v.Name)
	}
	return out
}

func (s *stack) assertNothingLeft() {
	s.t.Helper()
	if l := s.leftovers(); len(l) > 0 {
		s.t.Fatalf("left behind: %v", l)
	}
}

// execOut runs a command in a container with the Docker API directly (not
// through devorch) and returns stdout.
func (s *stack) execOut(name string, cmd ...string) (string, int) {
	s.t.Helper()
	ctx := context.Background()
	ex, err := s.cli.ContainerExecCreate(ctx, name, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Close()
	var out, errb bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &errb, resp.Reader)
	insp, err := s.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), insp.ExitCode
}

// httpGet fetches a URL from the test process (the published port),
// retrying until it answers 200 or waitDeadline has passed.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	var last error
	for deadline := time.Now().Add(waitDeadline); time.Now().Before(deadline); {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			last = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// devorchBinary builds the CLI once per test run, for tests that need a
// real process (signals, TTYs, concurrency between processes).
func devorchBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "devorch-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "devorch")
		root, err := testenv.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/devorch")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// command prepares the real binary for this stack.
func (s *stack) command(args ...string) *exec.Cmd {
	bin := devorchBinary(s.t)
	cmd := exec.Command(bin, append([]string{"--progress", "plain", "--ansi", "never", "-p", s.project}, args...)...)
	cmd.Dir = s.dir
	return cmd
}
