package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// fakeDaemon keeps images as one Docker daemon does, as far as images
// looks: by reference, with an ID. A save carries the reference and ID that
// a load on another fake puts there.
type fakeDaemon struct {
	API // what these tests must not call: a nil interface, it panics

	mu     sync.Mutex
	images map[string]string // reference → ID
	// inspectErr, when set, is what ImageInspect answers.
	inspectErr error
	// pullStream is the JSON messages a pull streams; a pull that streams
	// no error leaves the image there with ID "sha:pulled".
	pullStream string
	pullErr    error
	loadErr    error
	list       []image.Summary
	removeErr  map[string]error // reference → what ImageRemove answers
	calls      []string
}

func newFake(images map[string]string) *fakeDaemon {
	if images == nil {
		images = map[string]string{}
	}
	return &fakeDaemon{images: images}
}

func (f *fakeDaemon) call(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeDaemon) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inspectErr != nil {
		return image.InspectResponse{}, f.inspectErr
	}
	id, ok := f.images[ref]
	if !ok {
		return image.InspectResponse{}, errdefs.NotFound(fmt.Errorf("No such image: %s", ref))
	}
	return image.InspectResponse{ID: id}, nil
}

func (f *fakeDaemon) ImagePull(ctx context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.call("pull %s", ref)
	if f.pullErr != nil {
		return nil, f.pullErr
	}
	if !strings.Contains(f.pullStream, `"error"`) {
		f.mu.Lock()
		// Pulled by its full name, found again by the name the service uses.
		f.images[strings.TrimPrefix(strings.TrimSuffix(ref, ":latest"), "docker.io/library/")] = "sha:pulled"
		f.mu.Unlock()
	}
	return io.NopCloser(strings.NewReader(f.pullStream)), nil
}

func (f *fakeDaemon) ImageSave(ctx context.Context, refs []string, _ ...client.ImageSaveOption) (io.ReadCloser, error) {
	f.call("save %s", strings.Join(refs, " "))
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, r := range refs {
		id, ok := f.images[r]
		if !ok {
			return nil, errdefs.NotFound(fmt.Errorf("No such image: %s", r))
		}
		fmt.Fprintf(&b, "%s=%s\n", r, id)
	}
	return io.NopCloser(strings.NewReader(b.String())), nil
}

func (f *fakeDaemon) ImageLoad(ctx context.Context, in io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	f.call("load")
	if f.loadErr != nil {
		return image.LoadResponse{}, f.loadErr
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return image.LoadResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, line := range strings.Fields(string(b)) {
		ref, id, _ := strings.Cut(line, "=")
		f.images[ref] = id
	}
	return image.LoadResponse{Body: io.NopCloser(strings.NewReader(""))}, nil
}

func (f *fakeDaemon) ImageList(ctx context.Context, _ image.ListOptions) ([]image.Summary, error) {
	return f.list, nil
}

func (f *fakeDaemon) ImageRemove(ctx context.Context, ref string, _ image.RemoveOptions) ([]image.DeleteResponse, error) {
	f.call("remove %s", ref)
	if err := f.removeErr[ref]; err != nil {
		return nil, err
	}
	return []image.DeleteResponse{{Deleted: ref}}, nil
}

// events collects what a Sink is sent, one line each.
type events struct {
	mu    sync.Mutex
	lines []string
}

func (e *events) sink(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	line := strings.TrimSpace(fmt.Sprintf("%s %s %s %s", ev.Host, ev.Ref, ev.Status, ev.Detail))
	if ev.Warning != "" {
		line = "warning: " + ev.Warning
	}
	e.lines = append(e.lines, line)
}

var errGone = errors.New("connection refused")
