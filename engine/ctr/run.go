package ctr

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
)

// RunAPI is what starting and waiting for a one-off container needs of a
// Docker client.
type RunAPI interface {
	ContainerAttach(ctx context.Context, container string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerResize(ctx context.Context, containerID string, options container.ResizeOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
}

// StartDetached starts the container and prints its name.
func StartDetached(ctx context.Context, api RunAPI, id, name string, st Streams) (int, error) {
	if err := api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 1, fmt.Errorf("start container %s: %w", name, err)
	}
	if st.Out != nil {
		fmt.Fprintln(st.Out, name)
	}
	return 0, nil
}

// RunAttached attaches to the container, starts it, pipes the streams
// until its output ends and returns its exit code; with remove, the
// container is removed on the way out, whatever happened. It attaches and
// asks for the wait before starting, so that no output and no exit is
// missed.
func RunAttached(ctx context.Context, api RunAPI, id, name string, stdin, remove bool, st Streams) (int, error) {
	if remove {
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = api.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}()
	}
	resp, err := api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true})
	if err != nil {
		return 1, fmt.Errorf("attach to %s: %w", name, err)
	}
	defer resp.Close()
	waitC, errC := api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 1, fmt.Errorf("start container %s: %w", name, ExplainStartError(err))
	}
	if st.TTY && st.Resized != nil && st.Size != nil {
		go forwardResize(ctx, st, func(hh, w uint) {
			_ = api.ContainerResize(ctx, id, container.ResizeOptions{Height: hh, Width: w})
		})
	}
	if err := pipe(ctx, resp, st, stdin); err != nil {
		return 1, err
	}
	return awaitExit(ctx, name, waitC, errC)
}

// awaitExit is the container's exit code once the wait answers; 130, as a
// shell reports an interrupt, when ctx ends first.
func awaitExit(ctx context.Context, name string, waitC <-chan container.WaitResponse, errC <-chan error) (int, error) {
	select {
	case w := <-waitC:
		if w.Error != nil {
			return 1, fmt.Errorf("wait for %s: %s", name, w.Error.Message)
		}
		return int(w.StatusCode), nil
	case err := <-errC:
		return 1, fmt.Errorf("wait for %s: %w", name, err)
	case <-ctx.Done():
		return 130, ctx.Err()
	}
}
