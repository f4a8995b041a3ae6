package ctr

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/engine/spec"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
)

// Create creates the container name on host and connects its further
// networks. A name held by the same replica of the same project, never
// started, is reclaimed (see removeStale); any other holder is reported.
// ctx should not be cancellable: a create cut off half-way leaves a
// container nobody listed.
func Create(ctx context.Context, api API, host string, cs *spec.Container, name string) (string, error) {
	resp, err := api.ContainerCreate(ctx, cs.Config, cs.Host, cs.Networking, nil, name)
	if err != nil && errdefs.IsConflict(err) && removeStale(ctx, api, name, cs.Config.Labels) {
		resp, err = api.ContainerCreate(ctx, cs.Config, cs.Host, cs.Networking, nil, name)
	}
	if err != nil {
		if errdefs.IsConflict(err) {
			return "", fmt.Errorf("create container %s on host %q: the name is already in use (remove the other container, or use another project name with -p): %w", name, host, err)
		}
		return "", fmt.Errorf("create container %s on host %q: %w", name, host, err)
	}
	return resp.ID, netctl.Connect(ctx, api, host, resp.ID, name, cs.Later)
}

// staleWait is how long removeStale waits between inspects of a name whose
// create is still in flight.
const staleWait = 100 * time.Millisecond

// removeStale removes the container holding name when it is the same
// replica of the same project, never started: what a run killed while its
// create request was in flight leaves behind after this run listed the
// project. Anything else keeps the name and the conflict is reported.
func removeStale(ctx context.Context, api API, name string, want map[string]string) bool {
	// While that create is still running the name is taken but no
	// container answers to it yet: wait for it (bounded).
	var insp container.InspectResponse
	var err error
	for try := 0; ; try++ {
		insp, err = api.ContainerInspect(ctx, name)
		if err == nil || !errdefs.IsNotFound(err) || try == 50 {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(staleWait):
		}
	}
	if err != nil || insp.State == nil || insp.State.Status != "created" || insp.Config == nil {
		return false
	}
	for _, k := range []string{labels.Project, labels.Service, labels.Replica, labels.OneOff} {
		if insp.Config.Labels[k] != want[k] {
			return false
		}
	}
	return api.ContainerRemove(ctx, insp.ID, container.RemoveOptions{Force: true}) == nil
}
