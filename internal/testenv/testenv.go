// Package testenv is devorch's test-support package: it connects tests to
// the local Docker daemon, builds the two FROM-scratch test images
// (devorch-test/testapp and devorch-test/busybox, see CONVENTIONS.md), hands
// out unique dvt- project names and checks that tests leave nothing behind.
//
// Typical use:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestUp(t *testing.T) {
//		cli := testenv.Images(t)          // skip without Docker, build images
//		project := testenv.NewProject(t, cli) // dvt-testup-1a2b, cleaned up after
//		dir := testenv.WriteFiles(t, "", map[string]string{"compose.yaml": "..."})
//		...
//	}
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/devorch/devorch/internal/labels"
)

// Label keys and values shared with devorch (see CONVENTIONS.md).
const (
	LabelProject     = labels.Project
	LabelTest        = labels.Test
	LabelTestContent = labels.TestContent

	// ProjectPrefix starts every test project name; the leak check looks
	// for resources of projects with this prefix.
	ProjectPrefix = "dvt-"

	TestappImage = "devorch-test/testapp:latest"
	BusyboxImage = "devorch-test/busybox:latest"

	// EnvRequireDocker set to 1 turns "Docker unavailable" from a skip into
	// a failure (CI).
	EnvRequireDocker = "DEVORCH_REQUIRE_DOCKER"
)

// NewClient returns a client for the default daemon (DOCKER_HOST etc. from
// the environment, API version negotiated) after a successful Ping.
func NewClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	// Generous: a daemon busy with other work answers late, not never.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return cli, nil
}

// RequireDocker returns a client to the default daemon. Without a reachable
// daemon the test is skipped, or fails if DEVORCH_REQUIRE_DOCKER=1. The
// client is closed when the test ends.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := NewClient(context.Background())
	if err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatalf("Docker unavailable (%s=1): %v", EnvRequireDocker, err)
		}
		t.Skipf("Docker unavailable: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	markActive()
	return cli
}

// Images is RequireDocker plus EnsureImages: the one-liner for tests that
// run containers from the test images.
func Images(t testing.TB) *client.Client {
	t.Helper()
	cli := RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := EnsureImages(ctx, cli); err != nil {
		t.Fatalf("building test images: %v", err)
	}
	return cli
}

var (
	nonName     = regexp.MustCompile(`[^a-z0-9_-]+`)
	projectsMu  sync.Mutex
	projectsSet = map[string]bool{}
)

// ProjectName returns a unique, valid compose project name for the test:
// dvt-<sanitised test name>-<4 hex>. The name is remembered so that Main's
// leak check covers it even while other test processes are running.
func ProjectName(t testing.TB) string {
	name := strings.ToLower(t.Name())
	name = nonName.ReplaceAllString(name, "-")
	name = strings.Trim(name, "-_")
	if name == "" {
		name = "test"
	}
	if len(name) > 24 {
		name = strings.TrimRight(name[:24], "-_")
	}
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	p := ProjectPrefix + name + "-" + hex.EncodeToString(b[:])
	TrackProject(p)
	return p
}

// TrackProject adds a project name (for tests using fixed dvt- names) to the
// set Main always leak-checks.
func TrackProject(project string) {
	projectsMu.Lock()
	projectsSet[project] = true
	projectsMu.Unlock()
}

func trackedProjects() map[string]bool {
	projectsMu.Lock()
	defer projectsMu.Unlock()
	m := make(map[string]bool, len(projectsSet))
	for k := range projectsSet {
		m[k] = true
	}
	return m
}

// NewProject returns ProjectName(t) and registers Cleanup for it in
// t.Cleanup as a safety net (it runs after the test's own cleanups).
func NewProject(t testing.TB, cli client.APIClient) string {
	t.Helper()
	p := ProjectName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := Cleanup(ctx, cli, p); err != nil {
			t.Logf("cleanup of project %s: %v", p, err)
		}
		for _, c := range extraClients() {
			if err := Cleanup(ctx, c, p); err != nil {
				t.Logf("cleanup of project %s on a test host: %v", p, err)
			}
		}
	})
	return p
}

// WriteFiles writes files (relative slash paths -> content) under dir,
// creating directories; dir "" means a fresh t.TempDir(). It returns dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// RepoRoot returns the directory containing go.mod, walking up from the
// current working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod found above the working directory")
		}
		dir = parent
	}
}

// Main runs the tests, then checks for leaked dvt- resources (when Docker
// is reachable). Leaks turn a passing run into exit code 1 and are removed
// so one failure does not cascade into other packages.
//
// `go test ./...` runs packages in parallel, so another package's live
// projects must not be mistaken for leaks: every process that uses Docker
// through testenv holds a shared lock while it runs. The global check (all
// dvt- projects) only happens when no other such process is running;
// otherwise only the projects this process named (ProjectName,
// TrackProject) are checked.
func Main(m *testing.M) {
	markActive()
	// What the tests record of their stacks' usage (devorch tune's
	// history) goes to a directory of their own, never the user's.
	state, err := os.MkdirTemp("", "devorch-test-state-")
	if err == nil {
		os.Setenv("XDG_STATE_HOME", state)
	}
	code := m.Run()
	if state != "" {
		os.RemoveAll(state)
	}
	if leaks := finalLeakCheck(); leaks != "" {
		fmt.Fprintf(os.Stderr, "testenv: %s\n", leaks)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func finalLeakCheck() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := NewClient(ctx)
	if err != nil {
		return "" // no Docker, nothing can have leaked
	}
	defer cli.Close()

	alone := tryExclusive()
	tracked := trackedProjects()
	keep := func(p string) bool { return alone || tracked[p] }
	leaks, err := findLeaks(ctx, cli, keep)
	if err != nil {
		return "leak check failed: " + err.Error()
	}
	var extraLeaks Leaks
	for _, c := range extraClients() {
		var l Leaks
		var err error
		// A host may be restarting: retry until ctx's deadline.
		for {
			if l, err = findLeaks(ctx, c, keep); err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second) // poll interval
		}
		if err != nil {
			return "leak check on a test host failed: " + err.Error()
		}
		extraLeaks = append(extraLeaks, l...)
	}
	for _, p := range extraLeaks.projects() {
		for _, c := range extraClients() {
			_ = Cleanup(ctx, c, p)
		}
	}
	leaks = append(leaks, extraLeaks...)
	if len(leaks) == 0 {
		return ""
	}
	msg := leaks.Error()
	if alone {
		msg += " (may come from an earlier test package)"
	}
	for _, p := range leaks.projects() {
		if err := Cleanup(ctx, cli, p); err != nil {
			msg += fmt.Sprintf("\ntestenv: removing leaks of %s: %v", p, err)
		}
	}
	return msg
}
