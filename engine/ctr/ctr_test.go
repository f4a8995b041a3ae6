package ctr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/engine/spec"
	"github.com/devorch/devorch/internal/labels"
)

// fake answers the calls these tests make and records them in order;
// any other call panics on the nil API.
type fake struct {
	API
	calls   []string
	create  []error // one per ContainerCreate, in order
	inspect container.InspectResponse
	inspErr error
	stopErr error
	rmErr   error
	listErr error
}

func (f *fake) ContainerCreate(_ context.Context, _ *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.calls = append(f.calls, "create "+name)
	err := f.create[0]
	f.create = f.create[1:]
	if err != nil {
		return container.CreateResponse{}, err
	}
	return container.CreateResponse{ID: "new"}, nil
}

func (f *fake) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.calls = append(f.calls, "inspect "+id)
	return f.inspect, f.inspErr
}

func (f *fake) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.calls = append(f.calls, "remove "+id)
	return f.rmErr
}

func (f *fake) ContainerStop(_ context.Context, id string, _ container.StopOptions) error {
	f.calls = append(f.calls, "stop "+id)
	return f.stopErr
}

func (f *fake) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	f.calls = append(f.calls, "list")
	return nil, f.listErr
}

type slot struct{ held int }

func (s *slot) Acquire(context.Context) error { s.held++; return nil }
func (s *slot) Release()                      { s.held-- }

func replicaLabels(project string) map[string]string {
	return map[string]string{labels.Project: project, labels.Service: "web", labels.Replica: "1", labels.OneOff: "false"}
}

func createSpec() *spec.Container {
	return &spec.Container{Config: &container.Config{Labels: replicaLabels("p")}}
}

func holder(status string, l map[string]string) container.InspectResponse {
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "old", State: &container.State{Status: status}},
		Config:            &container.Config{Labels: l},
	}
}

var errConflict = errdefs.Conflict(errors.New(`Conflict. The container name "/p-web-1" is already in use`))

func TestCreateReclaimsAStaleNeverStartedReplica(t *testing.T) {
	f := &fake{create: []error{errConflict, nil}, inspect: holder("created", replicaLabels("p"))}
	id, err := Create(context.Background(), f, "a", createSpec(), "p-web-1")
	if err != nil || id != "new" {
		t.Fatalf("Create = %q, %v; want new, nil", id, err)
	}
	want := []string{"create p-web-1", "inspect p-web-1", "remove old", "create p-web-1"}
	if !slices.Equal(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
}

func TestCreateReportsAForeignHolder(t *testing.T) {
	for name, h := range map[string]container.InspectResponse{
		"other project": holder("created", replicaLabels("q")),
		"started":       holder("running", replicaLabels("p")),
	} {
		t.Run(name, func(t *testing.T) {
			f := &fake{create: []error{errConflict}, inspect: h}
			_, err := Create(context.Background(), f, "a", createSpec(), "p-web-1")
			if err == nil || !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `create container p-web-1 on host "a": the name is already in use`) {
				t.Fatalf("Create error %v; want the conflict explained and still a conflict", err)
			}
			if slices.Contains(f.calls, "remove old") {
				t.Fatalf("removed a container it does not own: %v", f.calls)
			}
		})
	}
}

func TestExplainStartErrorKeepsTheCause(t *testing.T) {
	cause := errdefs.System(errors.New("Bind for 0.0.0.0:8080 failed: port is already allocated"))
	err := ExplainStartError(cause)
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "a published port is taken") {
		t.Fatalf("ExplainStartError = %v; want the advice and the cause wrapped", err)
	}
	other := errors.New("no such image")
	if ExplainStartError(other) != other {
		t.Fatalf("an error without advice changed: %v", ExplainStartError(other))
	}
}

func running() *plan.Container {
	return &plan.Container{ID: "c1", Name: "p-web-1", State: "running", Labels: map[string]string{labels.Host: "a"}}
}

func TestStopOfAContainerAlreadyGone(t *testing.T) {
	f := &fake{stopErr: errdefs.NotFound(errors.New("No such container: c1"))}
	var seen []string
	s := &slot{}
	c := running()
	err := Stop(context.Background(), f, nil, s, func(_ *plan.Container, st string) { seen = append(seen, st) }, c, nil)
	if err != nil || c.State != "exited" || !slices.Equal(seen, []string{"Stopping", "Stopped"}) || s.held != 0 {
		t.Fatalf("Stop = %v, state %q, progress %v, slots held %d; want nil, exited, Stopping Stopped, 0", err, c.State, seen, s.held)
	}
}

func TestStopOnAHostGone(t *testing.T) {
	gone := errors.New("Cannot connect to the Docker daemon at tcp://b:2376")
	f := &fake{stopErr: gone}
	c := running()
	err := Stop(context.Background(), f, nil, &slot{}, func(*plan.Container, string) {}, c, nil)
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), `stop container p-web-1 on host "a"`) || c.State != "running" {
		t.Fatalf("Stop = %v (state %q); want the host's error wrapped and the state kept", err, c.State)
	}
}

func TestStopRemoveWhileARemovalIsInProgress(t *testing.T) {
	f := &fake{rmErr: errdefs.Conflict(errors.New("removal of container c1 is already in progress"))}
	var seen []string
	err := StopRemove(context.Background(), f, nil, &slot{}, func(_ *plan.Container, st string) { seen = append(seen, st) }, running(), nil, false)
	if err != nil || !slices.Equal(seen, []string{"Stopping", "Stopped", "Removing", "Removed"}) {
		t.Fatalf("StopRemove = %v, progress %v; want nil and the container removed", err, seen)
	}
	f.rmErr = errors.New("driver failed to remove root filesystem")
	if err := StopRemove(context.Background(), f, nil, &slot{}, func(*plan.Container, string) {}, running(), nil, false); !errors.Is(err, f.rmErr) {
		t.Fatalf("StopRemove = %v; want another removal error reported", err)
	}
}

func TestInspectNotFoundStaysNotFound(t *testing.T) {
	f := &fake{inspErr: errdefs.NotFound(errors.New("No such container: c1"))}
	if _, err := Inspect(context.Background(), f, "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("Inspect error %v; want not found", err)
	}
}

func TestListOnAHostGone(t *testing.T) {
	gone := errors.New("Cannot connect to the Docker daemon")
	f := &fake{listErr: gone}
	_, err := List(context.Background(), f, "b", "ssh://b", "p", ListOptions{})
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), `list containers on host "b" (ssh://b)`) {
		t.Fatalf("List error %v; want the host named and the cause wrapped", err)
	}
}
