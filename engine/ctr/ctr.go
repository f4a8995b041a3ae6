// Package ctr is the container layer: what devorch does to one container
// on one host — list, inspect, create (reclaiming a name a killed run left
// behind), start (with advice on Docker's terse refusals), stop and remove
// (inside the networks' lanes), rename, restart, kill, pause, wait,
// copy and top — as plain functions over API, a narrow interface that
// client.APIClient satisfies; and running a command in it (Exec, over
// ExecAPI) or running a one-off container attached (RunAttached, over
// RunAPI), with the caller's Streams piped in and out and terminal resizes
// forwarded. The engine root orchestrates verbs and calls these instead of
// the Docker client, so their error paths are unit-tested with small fakes.
package ctr

import (
	"context"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/devorch/devorch/engine/plan"
)

// API is the part of the Docker client the container layer uses.
type API interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerRename(ctx context.Context, containerID, newContainerName string) error
	ContainerRestart(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerPause(ctx context.Context, containerID string) error
	ContainerUnpause(ctx context.Context, containerID string) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerTop(ctx context.Context, containerID string, arguments []string) (container.TopResponse, error)
	ContainerStatPath(ctx context.Context, containerID, path string) (container.PathStat, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
}

// Slot bounds how many Docker calls run at once; the engine's limiter.
type Slot interface {
	Acquire(ctx context.Context) error
	Release()
}

// Progress reports a container's progress (Stopping, Removed, …).
type Progress func(c *plan.Container, status string)
