package netctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/internal/labels"
)

// An encrypted overlay (driver_opts: {encrypted: ""}) needs the kernel's
// IPsec support (xfrm, ESP) on every host it spans. Docker does not refuse
// one where that is missing: the network is created, containers start, and
// traffic between hosts silently times out (the daemon log alone says
// "Failed Adding rSA … function not implemented"). So devorch probes an
// encrypted overlay once it exists: a listener on one host, a dialer on
// each other host, in helper containers of a tiny image (the probe program
// is the devorch binary itself).

// ProbeAPI is the part of the Docker client a probe uses.
type ProbeAPI interface {
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
}

// ProbeHost is one end of a probe.
type ProbeHost struct {
	Name string
	API  ProbeAPI
}

// Prober runs the probe program in helper containers.
type Prober struct {
	// Image is the probe image's reference; Root returns its file system
	// as a tar stream, imported on a host that lacks the image.
	Image string
	Root  func() (io.ReadCloser, error)
	// Listen is the command that serves the probe; Dial returns the one
	// that reaches a listener at addr (exit 0: it answered).
	Listen []string
	Dial   func(addr string) []string
	// Project labels the helpers, so that down removes any left behind.
	Project string
}

// ProbePort is where the probe listens in its container.
const ProbePort = "7946"

// ErrNoTraffic is what Encrypted fails with when the network carries no
// traffic between two of its hosts.
var ErrNoTraffic = errors.New("no traffic")

// Encrypted checks that the encrypted overlay net (a name or ID) carries
// traffic from its first host to every other: the error names the network,
// the hosts and the missing kernel support.
func (p Prober) Encrypted(ctx context.Context, key, net string, hs []ProbeHost) error {
	if len(hs) < 2 {
		return nil
	}
	for _, h := range hs {
		if err := p.ensureImage(ctx, h); err != nil {
			return err
		}
	}
	listener, addr, err := p.start(ctx, hs[0], net, p.Listen)
	if err != nil {
		return err
	}
	defer p.remove(ctx, hs[0], listener)
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range hs[1:] {
		g.Go(func() error {
			id, _, err := p.start(gctx, h, net, p.Dial(addr+":"+ProbePort))
			if err != nil {
				return err
			}
			defer p.remove(gctx, h, id)
			code, err := p.wait(gctx, h, id)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("network %s is an encrypted overlay, but it carries no traffic from host %q to host %q: %w. Docker's encrypted overlays need the kernel's IPsec support (xfrm and ESP) on every host, and Docker does not refuse them where it is missing (its log says \"Failed Adding rSA … function not implemented\"): enable it, or drop driver_opts encrypted", key, h.Name, hs[0].Name, ErrNoTraffic)
			}
			return nil
		})
	}
	return g.Wait()
}

func (p Prober) ensureImage(ctx context.Context, h ProbeHost) error {
	if _, err := h.API.ImageInspect(ctx, p.Image); err == nil {
		return nil
	}
	root, err := p.Root()
	if err != nil {
		return fmt.Errorf("network probe image: %w", err)
	}
	defer root.Close()
	rc, err := h.API.ImageImport(ctx, image.ImportSource{Source: root, SourceName: "-"}, p.Image,
		image.ImportOptions{Changes: []string{`LABEL ` + labels.Helper + `=true`}})
	if err != nil {
		return fmt.Errorf("import the network probe image on host %q: %w", h.Name, err)
	}
	_, _ = io.Copy(io.Discard, rc)
	if err := rc.Close(); err != nil {
		return err
	}
	p.pruneImages(ctx, h)
	return nil
}

// pruneImages removes the probe images of other devorch builds from the
// host (one per build would pile up); what cannot be removed stays.
func (p Prober) pruneImages(ctx context.Context, h ProbeHost) {
	repo, _, _ := strings.Cut(p.Image, ":")
	list, err := h.API.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
	if err != nil {
		return
	}
	for _, im := range list {
		for _, tag := range im.RepoTags {
			if tag != p.Image && strings.HasPrefix(tag, repo+":") {
				_, _ = h.API.ImageRemove(ctx, tag, image.RemoveOptions{})
			}
		}
	}
}

// start runs cmd in a helper container on net, and returns its ID and
// address there.
func (p Prober) start(ctx context.Context, h ProbeHost, net string, cmd []string) (string, string, error) {
	resp, err := h.API.ContainerCreate(ctx,
		&container.Config{Image: p.Image, Cmd: cmd, Labels: map[string]string{labels.Helper: "true", labels.Project: p.Project}},
		&container.HostConfig{NetworkMode: container.NetworkMode(net)}, nil, nil, "")
	if err != nil {
		return "", "", fmt.Errorf("create a network probe on host %q: %w", h.Name, err)
	}
	if err := h.API.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		p.remove(ctx, h, resp.ID)
		return "", "", fmt.Errorf("start a network probe on host %q: %w", h.Name, err)
	}
	insp, err := h.API.ContainerInspect(ctx, resp.ID)
	if err != nil {
		p.remove(ctx, h, resp.ID)
		return "", "", fmt.Errorf("inspect a network probe on host %q: %w", h.Name, err)
	}
	addr := ""
	if insp.NetworkSettings != nil {
		for _, ep := range insp.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress != "" {
				addr = ep.IPAddress
			}
		}
	}
	return resp.ID, addr, nil
}

func (p Prober) wait(ctx context.Context, h ProbeHost, id string) (int, error) {
	waitC, errC := h.API.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		return int(w.StatusCode), nil
	case err := <-errC:
		return 0, fmt.Errorf("wait for the network probe on host %q: %w", h.Name, err)
	}
}

// remove removes a helper; one left behind (a host gone meanwhile)
// carries the project's label, so down removes it.
func (p Prober) remove(ctx context.Context, h ProbeHost, id string) {
	_ = h.API.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true})
}

// Encrypted says whether a network's driver options ask for encryption.
func Encrypted(opts map[string]string) bool {
	_, ok := opts["encrypted"]
	return ok
}

// ServeProbe is the probe's listener: it answers "ok" to every connection
// until ctx ends.
func ServeProbe(ctx context.Context) error {
	l, err := net.Listen("tcp", ":"+ProbePort)
	if err != nil {
		return err
	}
	return serveProbe(ctx, l)
}

func serveProbe(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return ctx.Err()
		}
		_, _ = c.Write([]byte("ok\n"))
		c.Close()
	}
}

// DialProbe reaches a listener at addr, trying again until it answers or
// timeout passes (a new overlay takes a moment to carry traffic), and then
// keeps reaching it, a new connection every half second for holdFor: an
// encrypted overlay on a kernel without IPsec can let the first packets
// through before its encryption is programmed, and then nothing.
func DialProbe(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = dialOnce(addr, time.Until(deadline)); last == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %v", addr, timeout, last)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for end := time.Now().Add(holdFor); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond)
		if err := dialOnce(addr, 3*time.Second); err != nil {
			return fmt.Errorf("%s answered, then stopped answering: %v", addr, err)
		}
	}
	return nil
}

// holdFor is how long a probe that got through keeps getting through.
var holdFor = 4 * time.Second

func dialOnce(addr string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = time.Second
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %v", err)
	}
	if strings.TrimSpace(line) != "ok" {
		return fmt.Errorf("unexpected answer %q", line)
	}
	return nil
}
