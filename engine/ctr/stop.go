package ctr

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/netctl"
)

// Stop stops a container gracefully. Its networks' lanes (see
// netctl.Lanes; nil when there are none) are held until the daemon has
// cleaned the container up, which an inspect waits for. A container
// already gone counts as stopped.
func Stop(ctx context.Context, api API, lanes *netctl.Lanes, slot Slot, progress Progress, c *plan.Container, timeout *time.Duration) error {
	if !c.Running() && c.State != "paused" {
		return nil
	}
	leave, err := Leaving(ctx, lanes, c)
	if err != nil {
		return err
	}
	defer leave()
	progress(c, "Stopping")
	if err := slot.Acquire(ctx); err != nil {
		return err
	}
	err = api.ContainerStop(context.WithoutCancel(ctx), c.ID, container.StopOptions{Timeout: Seconds(timeout)})
	slot.Release()
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s on host %q: %w", c.Name, c.HostName(), err)
	}
	_, _ = api.ContainerInspect(context.WithoutCancel(ctx), c.ID)
	c.State = "exited"
	progress(c, "Stopped")
	return nil
}

// Leaving waits for the lanes of the networks c is about to leave.
func Leaving(ctx context.Context, lanes *netctl.Lanes, c *plan.Container) (func(), error) {
	if lanes == nil {
		return func() {}, nil
	}
	return lanes.Enter(ctx, c.HostName(), slices.Collect(maps.Keys(c.Networks)))
}

// StopRemove stops a container gracefully, then removes it. The removal
// is outside the lanes: the container left its networks when it stopped.
// A container already gone, or whose removal is under way, counts as
// removed.
func StopRemove(ctx context.Context, api API, lanes *netctl.Lanes, slot Slot, progress Progress, c *plan.Container, timeout *time.Duration, removeVolumes bool) error {
	if err := Stop(ctx, api, lanes, slot, progress, c, timeout); err != nil {
		return err
	}
	progress(c, "Removing")
	if err := slot.Acquire(ctx); err != nil {
		return err
	}
	err := api.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: removeVolumes})
	slot.Release()
	if err != nil && !errdefs.IsNotFound(err) && !IsRemovalInProgress(err) {
		return fmt.Errorf("remove container %s on host %q: %w", c.Name, c.HostName(), err)
	}
	progress(c, "Removed")
	return nil
}

// IsRemovalInProgress reports Docker's refusal to remove a container
// another request is removing already; errdefs has no class for it.
func IsRemovalInProgress(err error) bool {
	return strings.Contains(err.Error(), "is already in progress")
}

// Remove force-removes a container (and its anonymous volumes when
// removeVolumes); the error is Docker's, unwrapped.
func Remove(ctx context.Context, api API, id string, removeVolumes bool) error {
	return api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: removeVolumes})
}

// Seconds is a stop timeout as Docker takes it (nil: the container's own).
func Seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(d.Seconds())
	return &s
}
