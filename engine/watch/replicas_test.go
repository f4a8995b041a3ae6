package watch

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/compose-spec/compose-go/v2/types"
)

// fakeReplica is one container's copy and exec calls: it records the tar
// entries copied in and the commands run, and answers each command with
// exit (or execErr, as a refused create) and output.
type fakeReplica struct {
	copyErr error
	exit    int
	execErr error
	output  string

	mu     sync.Mutex
	copied []string
	cmds   [][]string
	env    []string
}

func (f *fakeReplica) CopyToContainer(_ context.Context, _, dst string, content io.Reader, _ container.CopyToContainerOptions) error {
	if f.copyErr != nil {
		return f.copyErr
	}
	tr := tar.NewReader(content)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.copied = append(f.copied, dst+h.Name)
		f.mu.Unlock()
	}
}

func (f *fakeReplica) ContainerExecCreate(_ context.Context, _ string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, o.Cmd)
	f.env = o.Env
	f.mu.Unlock()
	return container.ExecCreateResponse{ID: "exec"}, f.execErr
}

func (f *fakeReplica) ContainerExecStart(context.Context, string, container.ExecStartOptions) error {
	return nil
}

func (f *fakeReplica) ContainerExecAttach(context.Context, string, container.ExecAttachOptions) (dockertypes.HijackedResponse, error) {
	client, server := net.Pipe()
	go func() {
		_, _ = stdcopy.NewStdWriter(server, stdcopy.Stdout).Write([]byte(f.output))
		server.Close()
	}()
	return dockertypes.HijackedResponse{Conn: client, Reader: bufio.NewReader(client)}, nil
}

func (f *fakeReplica) ContainerExecResize(context.Context, string, container.ResizeOptions) error {
	return nil
}

func (f *fakeReplica) ContainerExecInspect(context.Context, string) (container.ExecInspect, error) {
	return container.ExecInspect{ExitCode: f.exit}, nil
}

func syncRule(t *testing.T, dir string) Rule {
	t.Helper()
	m, err := NewMatcher(dir, []string{"*.tmp"}, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return Rule{Service: "web", Trigger: types.Trigger{Path: dir, Target: "/app", Action: types.WatchActionSync}, Matcher: m}
}

// warnings collects warn's messages.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) warn(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, fmt.Sprintf(format, args...))
}

func TestSyncIntoNoReplica(t *testing.T) {
	err := SyncInto(context.Background(), nil, syncRule(t, t.TempDir()), nil, &sync.Map{}, (&warnings{}).warn)
	if err == nil || err.Error() != `service "web" has no running container to sync into` {
		t.Fatalf("error = %v", err)
	}
}

// Every replica gets the files and the rm of the deleted ones; one that
// refuses the copy is named in the error and does not stop the others.
func TestSyncIntoEveryReplica(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "a")
	r := syncRule(t, dir)
	changes := []Change{{Path: filepath.Join(dir, "a.txt")}, {Path: filepath.Join(dir, "gone.txt"), Deleted: true}}
	ok1, ok2, bad := &fakeReplica{}, &fakeReplica{}, &fakeReplica{copyErr: errors.New("boom")}
	replicas := []Replica{{API: ok1, ID: "1", Name: "web-1"}, {API: bad, ID: "2", Name: "web-2"}, {API: ok2, ID: "3", Name: "web-3"}}
	err := SyncInto(context.Background(), replicas, r, changes, &sync.Map{}, (&warnings{}).warn)
	if err == nil || err.Error() != "sync into web-2: boom" {
		t.Fatalf("error = %v, want only web-2's", err)
	}
	for _, f := range []*fakeReplica{ok1, ok2} {
		if !reflect.DeepEqual(f.copied, []string{"/app/a.txt"}) {
			t.Errorf("copied %q, want /app/a.txt", f.copied)
		}
		if !reflect.DeepEqual(f.cmds, [][]string{{"rm", "-rf", "/app/gone.txt"}}) {
			t.Errorf("ran %q, want the rm of the deleted file", f.cmds)
		}
	}
	if len(bad.cmds) != 0 {
		t.Errorf("ran %q after the copy failed", bad.cmds)
	}
}

// An image without rm is a warning, once per service however many
// replicas and batches meet it; an rm that fails otherwise is an error.
func TestSyncIntoRemove(t *testing.T) {
	dir := t.TempDir()
	r := syncRule(t, dir)
	deleted := []Change{{Path: filepath.Join(dir, "gone.txt"), Deleted: true}}
	var w warnings
	warned := &sync.Map{}
	noRm := []Replica{{API: &fakeReplica{exit: 127}, ID: "1", Name: "web-1"}, {API: &fakeReplica{execErr: errors.New("no such file")}, ID: "2", Name: "web-2"}}
	for range 2 {
		if err := SyncInto(context.Background(), noRm, r, deleted, warned, w.warn); err != nil {
			t.Fatalf("error = %v, want none without rm", err)
		}
	}
	if len(w.msgs) != 1 || !strings.HasPrefix(w.msgs[0], `service "web": cannot delete synced files: the image has no rm (`) ||
		!strings.HasSuffix(w.msgs[0], "); deleted files stay in the container until it is recreated") {
		t.Fatalf("warnings %q, want one", w.msgs)
	}
	failing := []Replica{{API: &fakeReplica{exit: 1}, ID: "1", Name: "web-1"}}
	err := SyncInto(context.Background(), failing, r, deleted, warned, w.warn)
	if err == nil || err.Error() != "sync into web-1: rm in web-1 exited 1" {
		t.Fatalf("error = %v", err)
	}
}

func TestErrOrCode(t *testing.T) {
	if got := errOrCode(errors.New("gone"), 126); got != "gone" {
		t.Errorf("errOrCode(err) = %q", got)
	}
	if got := errOrCode(nil, 127); got != "exit 127" {
		t.Errorf("errOrCode(nil, 127) = %q", got)
	}
}

func TestExecHook(t *testing.T) {
	h := types.ServiceHook{Command: types.ShellCommand{"make", "reload"}, Environment: types.MappingWithEquals{"A": ptr("1")}}
	ok := &fakeReplica{}
	replicas := []Replica{
		{API: &fakeReplica{exit: 2, output: " no target \n"}, ID: "1", Name: "web-1"},
		{API: &fakeReplica{execErr: errors.New("boom")}, ID: "2", Name: "web-2"},
		{API: ok, ID: "3", Name: "web-3"},
	}
	err := ExecHook(context.Background(), replicas, h)
	want := "exec [make reload] in web-1 exited 2: no target\nexec in web-2: boom"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if !reflect.DeepEqual(ok.cmds, [][]string{{"make", "reload"}}) || !reflect.DeepEqual(ok.env, []string{"A=1"}) {
		t.Errorf("ran %q with %q, want the hook with its environment", ok.cmds, ok.env)
	}
}

func ptr(s string) *string { return &s }

func TestInitialChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "a")
	write(t, filepath.Join(dir, "skip.tmp"), "x")
	if err := os.MkdirAll(filepath.Join(dir, "sub", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub", "b.txt"), "b")
	write(t, filepath.Join(dir, "sub", ".git", "HEAD"), "h")
	changes, err := InitialChanges(syncRule(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		rel, _ := filepath.Rel(dir, c.Path)
		got = append(got, filepath.ToSlash(rel))
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, []string{"a.txt", "sub/b.txt"}) {
		t.Errorf("changes %q, want the files not ignored", got)
	}
	if _, err := InitialChanges(syncRule(t, filepath.Join(dir, "missing"))); err == nil {
		t.Error("a missing path gave no error")
	}
}
