package ctr

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// The calls below are one Docker request each; errors come back as Docker
// gives them (callers wrap them with what they were doing, and errdefs
// checks see through).

// Inspect inspects a container by ID or name.
func Inspect(ctx context.Context, api API, id string) (container.InspectResponse, error) {
	return api.ContainerInspect(ctx, id)
}

// Start starts a created or stopped container. Explain the error before
// showing it.
func Start(ctx context.Context, api API, id string) error {
	return api.ContainerStart(ctx, id, container.StartOptions{})
}

// ExplainStartError adds what a developer should do to Docker's terse
// refusals to start; err stays wrapped.
func ExplainStartError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "port is already allocated"), strings.Contains(msg, "address already in use"):
		return fmt.Errorf("%w (a published port is taken: stop what holds it or change ports:)", err)
	}
	return err
}

// Rename renames a container.
func Rename(ctx context.Context, api API, id, name string) error {
	return api.ContainerRename(ctx, id, name)
}

// Restart restarts a container (timeout nil: its own stop timeout).
func Restart(ctx context.Context, api API, id string, timeout *time.Duration) error {
	return api.ContainerRestart(ctx, id, container.StopOptions{Timeout: Seconds(timeout)})
}

// Kill sends signal to a container's main process.
func Kill(ctx context.Context, api API, id, signal string) error {
	return api.ContainerKill(ctx, id, signal)
}

// Pause freezes a container's processes.
func Pause(ctx context.Context, api API, id string) error { return api.ContainerPause(ctx, id) }

// Unpause thaws a paused container.
func Unpause(ctx context.Context, api API, id string) error { return api.ContainerUnpause(ctx, id) }

// WaitStopped waits until the container is not running.
func WaitStopped(ctx context.Context, api API, id string) (<-chan container.WaitResponse, <-chan error) {
	return api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
}

// Top lists a container's processes.
func Top(ctx context.Context, api API, id string) (container.TopResponse, error) {
	return api.ContainerTop(ctx, id, nil)
}

// StatPath stats a path inside a container.
func StatPath(ctx context.Context, api API, id, path string) (container.PathStat, error) {
	return api.ContainerStatPath(ctx, id, path)
}

// CopyToAPI is what copying into a container needs of a Docker client
// (API has it; hot reload needs only this and ExecAPI).
type CopyToAPI interface {
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
}

// CopyTo extracts the tar stream content into dir inside the container;
// a directory is never overwritten by a file.
func CopyTo(ctx context.Context, api CopyToAPI, id, dir string, content io.Reader) error {
	return api.CopyToContainer(ctx, id, dir, content, container.CopyToContainerOptions{})
}

// CopyFrom reads path from the container as a tar stream.
func CopyFrom(ctx context.Context, api API, id, path string) (io.ReadCloser, container.PathStat, error) {
	return api.CopyFromContainer(ctx, id, path)
}
