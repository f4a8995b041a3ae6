package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/compose"
)

func testProject() *compose.Project {
	db := types.ServiceConfig{Name: "db"}
	db.Image = "pg"
	web := types.ServiceConfig{Name: "web"}
	web.Build = &types.BuildConfig{Context: "."}
	return &compose.Project{Project: &types.Project{Name: "p", Services: types.Services{"db": db, "web": web}}}
}

// Ensure over fakes: where an image is looked for, which host must
// answer, and what a failed step says.
func TestEnsure(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // pulls read no real credentials
	const progress = `{"id":"l1","status":"Downloading","progressDetail":{"current":50,"total":100}}
{"id":"l1","status":"Download complete","progressDetail":{"current":100,"total":100}}
`
	type hostSetup struct {
		images map[string]string
		dead   bool // Alive says it did not answer
		setup  func(f *fakeDaemon)
	}
	tests := []struct {
		name       string
		hosts      map[string]hostSetup // pool, in name order
		need       []string             // hosts db needs its image on
		wantIDs    map[string]map[string]string
		wantCalls  map[string][]string
		wantEvents []string
		wantErr    string
		wantPull   bool // the error is a PullError
	}{
		{name: "an image on another host is copied, not pulled",
			hosts:      map[string]hostSetup{"a": {images: map[string]string{"pg": "sha:1"}}, "b": {}},
			need:       []string{"b"},
			wantIDs:    map[string]map[string]string{"db": {"b": "sha:1"}},
			wantCalls:  map[string][]string{"a": {"save pg"}, "b": {"load"}},
			wantEvents: []string{"b pg Copying from a", "b pg Copied from a"}},
		{name: "a host that does not answer is no source: the image is pulled",
			hosts:      map[string]hostSetup{"a": {setup: func(f *fakeDaemon) { f.pullStream = progress }}, "c": {images: map[string]string{"pg": "sha:1"}, dead: true}},
			need:       []string{"a"},
			wantIDs:    map[string]map[string]string{"db": {"a": "sha:pulled"}},
			wantCalls:  map[string][]string{"a": {"pull docker.io/library/pg:latest"}},
			wantEvents: []string{"a pg Pulling", "a pg Pulling 50%", "a pg Pulling 100%", "a pg Pulled"}},
		{name: "a host that needs nothing may fail to answer",
			hosts: map[string]hostSetup{"a": {images: map[string]string{"pg": "sha:1"}},
				"b": {setup: func(f *fakeDaemon) { f.inspectErr = errGone }}},
			need:    []string{"a"},
			wantIDs: map[string]map[string]string{"db": {"a": "sha:1"}}},
		{name: "a host that needs the image must answer",
			hosts: map[string]hostSetup{"a": {setup: func(f *fakeDaemon) { f.inspectErr = errGone }},
				"b": {images: map[string]string{"pg": "sha:1"}}},
			need:    []string{"a"},
			wantErr: `inspect image pg on host "a": connection refused`},
		{name: "a failed copy names the service and the host it loads on",
			hosts: map[string]hostSetup{"a": {images: map[string]string{"pg": "sha:1"}},
				"b": {setup: func(f *fakeDaemon) { f.loadErr = errGone }}},
			need:    []string{"b"},
			wantErr: `service "db": load image pg on host "b": connection refused`},
		{name: "a registry's refusal is a PullError that says where credentials come from",
			hosts: map[string]hostSetup{"a": {setup: func(f *fakeDaemon) {
				f.pullStream = `{"errorDetail":{"message":"no basic auth credentials"},"error":"no basic auth credentials"}`
			}}},
			need:     []string{"a"},
			wantErr:  "service \"db\": pull pg on host \"a\": no basic auth credentials (no credentials for docker.io in ",
			wantPull: true},
		{name: "a daemon that refuses the pull request",
			hosts:    map[string]hostSetup{"a": {setup: func(f *fakeDaemon) { f.pullErr = errGone }}},
			need:     []string{"a"},
			wantErr:  `service "db": pull pg on host "a": connection refused`,
			wantPull: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := map[string]*fakeDaemon{}
			var pool []Host
			for _, name := range []string{"a", "b", "c"} {
				hs, ok := tt.hosts[name]
				if !ok {
					continue
				}
				f := newFake(hs.images)
				if hs.setup != nil {
					hs.setup(f)
				}
				fakes[name] = f
				h := Host{Name: name, API: f}
				if hs.dead {
					h.Alive = func() error { return errGone }
				}
				pool = append(pool, h)
			}
			var need []Host
			for _, h := range pool {
				if slices.Contains(tt.need, h.Name) {
					need = append(need, h)
				}
			}
			var ev events
			ids, err := Ensure(context.Background(), Pool{Hosts: pool, Sink: ev.sink}, testProject(), map[string][]Host{"db": need}, Options{})
			if tt.wantPull {
				var pe *PullError
				if !errors.As(err, &pe) {
					t.Errorf("error %v is not a PullError", err)
				}
			}
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
			for name, f := range fakes {
				if !reflect.DeepEqual(f.calls, tt.wantCalls[name]) {
					t.Errorf("host %s: calls %q, want %q", name, f.calls, tt.wantCalls[name])
				}
			}
			if !reflect.DeepEqual(ev.lines, tt.wantEvents) {
				t.Errorf("events\n got  %q\n want %q", ev.lines, tt.wantEvents)
			}
		})
	}
}

// Remove takes the tags of what devorch built (or the ID of a build a
// rebuild untagged) and, with "all", every service's image; what is gone
// or still used is left alone, anything else stops it.
func TestRemove(t *testing.T) {
	built := []image.Summary{
		{ID: "sha256:old", RepoTags: []string{"<none>:<none>"}},
		{ID: "sha256:new", RepoTags: []string{"p-web:latest"}},
	}
	tests := []struct {
		name       string
		mode       string
		removeErr  map[string]error
		wantCalls  []string
		wantEvents []string
		wantErr    string
	}{
		{name: "local", mode: "local",
			wantCalls:  []string{"remove p-web:latest", "remove sha256:old"},
			wantEvents: []string{"a p-web:latest Removing", "a p-web:latest Removed", "a sha256:old Removing", "a sha256:old Removed"}},
		{name: "all, with what is gone or still used left alone", mode: "all",
			removeErr: map[string]error{
				"pg":         errdefs.NotFound(errors.New("No such image: pg")),
				"sha256:old": errdefs.Conflict(errors.New("image is being used by stopped container")),
			},
			wantCalls: []string{"remove p-web", "remove p-web:latest", "remove pg", "remove sha256:old"},
			wantEvents: []string{"a p-web Removing", "a p-web Removed", "a p-web:latest Removing", "a p-web:latest Removed",
				"a pg Removing", "a sha256:old Removing"}},
		{name: "a tag still used is an error", mode: "local",
			removeErr: map[string]error{"p-web:latest": errdefs.Conflict(errors.New("image is being used by running container"))},
			wantErr:   `remove image p-web:latest on host "a": image is being used by running container`},
		{name: "an unknown mode", mode: "some", wantErr: `--rmi "some": want local or all`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(nil)
			f.list, f.removeErr = built, tt.removeErr
			var ev events
			err := Remove(context.Background(), []Host{{Name: "a", API: f}}, "p", testProject(), tt.mode, ev.sink)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(f.calls, tt.wantCalls) {
				t.Errorf("calls %q, want %q", f.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(ev.lines, tt.wantEvents) {
				t.Errorf("events\n got  %q\n want %q", ev.lines, tt.wantEvents)
			}
		})
	}
}

// A Dockerfile that needs BuildKit is refused before anything is sent to
// the daemon, naming the file and line.
func TestBuildRefusesBuildKitSyntaxBeforeSending(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nRUN --mount=type=cache,target=/x true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := types.ServiceConfig{Name: "web"}
	s.Build = &types.BuildConfig{Context: dir}
	f := newFake(nil) // its ImageBuild is the nil API's: a call panics
	_, err := buildService(context.Background(), testProject(), s, Host{Name: "a", API: f}, false, nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2 uses RUN --mount") {
		t.Errorf("got %v, want the Dockerfile's line named", err)
	}
}
