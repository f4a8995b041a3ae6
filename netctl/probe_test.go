package netctl

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestProbeServeAndDial(t *testing.T) {
	defer func(d time.Duration) { holdFor = d }(holdFor)
	holdFor = time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveProbe(ctx, l) }()
	if err := DialProbe(l.Addr().String(), 10*time.Second); err != nil {
		t.Errorf("dial a listening probe: %v", err)
	}
	cancel()
	<-done
	// A listener that answers once and then no more fails the probe.
	once, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := once.Accept(); err == nil {
			c.Write([]byte("ok\n"))
			c.Close()
		}
		once.Close()
	}()
	if err := DialProbe(once.Addr().String(), 10*time.Second); err == nil || !strings.Contains(err.Error(), "stopped answering") {
		t.Errorf("dial a probe that answers once: %v", err)
	}
	if err := DialProbe(l.Addr().String(), 700*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("dial a closed probe: %v", err)
	}
}

// probeDocker runs helper containers as far as a probe looks: the dialer
// exits with the code the test gives its host.
type probeDocker struct {
	mu       sync.Mutex
	host     string
	dialExit int64
	images   map[string]bool
	running  map[string][]string // ID → cmd
	created  []string            // commands, in order
	imported int
}

func (f *probeDocker) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.images[ref] {
		return image.InspectResponse{}, errors.New("no such image")
	}
	return image.InspectResponse{}, nil
}

func (f *probeDocker) ImageImport(ctx context.Context, src image.ImportSource, ref string, _ image.ImportOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = true
	f.imported++
	return io.NopCloser(strings.NewReader("")), nil
}

func (f *probeDocker) ImageList(ctx context.Context, _ image.ListOptions) ([]image.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []image.Summary
	for ref := range f.images {
		out = append(out, image.Summary{RepoTags: []string{ref}})
	}
	return out, nil
}

func (f *probeDocker) ImageRemove(ctx context.Context, ref string, _ image.RemoveOptions) ([]image.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, ref)
	return nil, nil
}

func (f *probeDocker) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, _ string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.host + "-" + strings.Join(cfg.Cmd, "_")
	f.running[id] = cfg.Cmd
	f.created = append(f.created, strings.Join(cfg.Cmd, " "))
	return container.CreateResponse{ID: id}, nil
}

func (f *probeDocker) ContainerStart(context.Context, string, container.StartOptions) error {
	return nil
}

func (f *probeDocker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	var insp container.InspectResponse
	insp.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"p_enc": {IPAddress: "10.210.9.2"}}}
	return insp, nil
}

func (f *probeDocker) ContainerWait(ctx context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	w := make(chan container.WaitResponse, 1)
	w <- container.WaitResponse{StatusCode: f.dialExit}
	return w, make(chan error)
}

func (f *probeDocker) ContainerRemove(ctx context.Context, id string, _ container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	return nil
}

func newProbeDocker(host string, dialExit int64) *probeDocker {
	return &probeDocker{host: host, dialExit: dialExit, images: map[string]bool{}, running: map[string][]string{}}
}

// TestProbeEncrypted: a dialer that gets no answer fails the probe naming
// the network, both hosts and the kernel support; one that does passes;
// the image is imported once per host and every helper is removed.
func TestProbeEncrypted(t *testing.T) {
	pr := Prober{Image: "devorch/netprobe:x", Root: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil },
		Listen: []string{"listen"}, Dial: func(addr string) []string { return []string{"dial", addr} }}
	for _, c := range []struct {
		name    string
		exit    int64
		wantErr string
	}{
		{"traffic flows", 0, ""},
		{"no traffic", 1, `network enc is an encrypted overlay, but it carries no traffic from host "b" to host "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newProbeDocker("a", 0), newProbeDocker("b", c.exit)
			a.images["devorch/netprobe:old"] = true // an earlier build's
			err := pr.Encrypted(context.Background(), "enc", "p_enc", []ProbeHost{{Name: "a", API: a}, {Name: "b", API: b}})
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrNoTraffic) || !strings.Contains(err.Error(), "xfrm")) {
				t.Errorf("got %v, want %q", err, c.wantErr)
			}
			if a.imported != 1 || b.imported != 1 {
				t.Errorf("imports: a %d, b %d; want one each", a.imported, b.imported)
			}
			if a.images["devorch/netprobe:old"] || !a.images[pr.Image] {
				t.Errorf("a's probe images after the import: %v, want only %s", a.images, pr.Image)
			}
			if len(a.running)+len(b.running) != 0 {
				t.Errorf("helpers left: %v %v", a.running, b.running)
			}
			if want := "dial 10.210.9.2:" + ProbePort; len(b.created) != 1 || b.created[0] != want {
				t.Errorf("b ran %q, want the dialer of a's listener (%q)", b.created, want)
			}
		})
	}
}
