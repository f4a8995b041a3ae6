package images

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// API is the part of the Docker client images uses; client.APIClient
// satisfies it.
type API interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, image string, options image.RemoveOptions) ([]image.DeleteResponse, error)
}

// Host is one Docker host: its devorch name and its API.
type Host struct {
	Name string
	API  API
	// Alive reports whether the host answered recently; nil means it did.
	// With several hosts, Ensure looks for images on every host that is
	// alive, to copy rather than pull or build again.
	Alive func() error
}

// Pool is the hosts a run may find images on, and where it reports.
type Pool struct {
	// Hosts are every host, in the order they are preferred as a source to
	// copy an image from.
	Hosts []Host
	// Sink receives progress, build output and warnings; nil discards them.
	Sink Sink
}

// Event is one step on an image on a host ("Building", "Pulling" with a
// percentage in Detail, "Copied" with "from <host>" ...), one line of a
// build's output (Line), or a Warning that does not stop the run.
type Event struct {
	Host, Ref, Service string
	Status, Detail     string
	// Line is one line a build wrote: the event is output, not a step.
	Line    string
	Warning string
}

// Sink receives events. It must be safe for concurrent use.
type Sink func(Event)

func (s Sink) send(ev Event) {
	if s != nil {
		s(ev)
	}
}

func (s Sink) warn(format string, args ...any) {
	if s != nil {
		s(Event{Warning: fmt.Sprintf(format, args...)})
	}
}

// Options controls how images are made present.
type Options struct {
	Build   bool   // --build: build every service with a build section
	NoBuild bool   // --no-build: never build; a missing image is an error
	Pull    string // --pull: always, missing, never, build; "" follows each service's pull_policy
	NoCache bool
	Quiet   bool
}
