package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/volumes"
)

// VolumeEntry is one of the project's volumes on one host.
type VolumeEntry struct {
	Name   string   `json:"Name"`
	Key    string   `json:"Key"` // the compose volume key
	Host   string   `json:"Host"`
	Driver string   `json:"Driver"`
	Size   int64    `json:"Size"` // bytes of data, -1 when the host does not say
	UsedBy []string `json:"UsedBy,omitempty"`
}

// VolumeList reports which host holds each of the project's volumes and
// how much data it holds.
func (e *Engine) VolumeList(ctx context.Context, project string) ([]VolumeEntry, error) {
	onHost := map[string][]*volume.Volume{}
	users := map[string]map[string][]string{} // host → volume → containers
	for _, h := range e.Pool.Hosts {
		hctx, cancel := context.WithTimeout(ctx, 30*hostTimeout())
		vs, err := volumes.Usage(hctx, h.Client, project)
		cancel()
		if err != nil {
			if e.Pool.Single() {
				return nil, fmt.Errorf("volumes on host %q: %w", h.Name, err)
			}
			e.warn("host %q is unreachable: %v; its volumes are not listed", h.Name, err)
			continue
		}
		onHost[h.Name] = vs
		users[h.Name] = map[string][]string{}
		cs, _ := listHost(ctx, h, project, listOptions{all: true})
		for _, c := range cs {
			insp, err := h.Client.ContainerInspect(ctx, c.ID)
			if err != nil {
				continue
			}
			for _, m := range insp.Mounts {
				if m.Type == mount.TypeVolume {
					users[h.Name][m.Name] = append(users[h.Name][m.Name], c.Name)
				}
			}
		}
	}
	var out []VolumeEntry
	for _, l := range volumes.Where(project, onHost).All {
		out = append(out, VolumeEntry{Name: l.Name, Key: l.Key, Host: l.Host, Driver: l.Driver, Size: l.Size, UsedBy: users[l.Host][l.Name]})
	}
	return out, nil
}

// helperImage is a tiny image devorch imports on a host to create (never
// start) containers that mount a volume, so that the API's archive
// endpoints can read and write the volume's files.
const helperImage = "devorch/volume-helper:1"

func ensureHelperImage(ctx context.Context, h *hosts.Host) error {
	if _, err := h.Client.ImageInspect(ctx, helperImage); err == nil {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "v/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.Close()
	rc, err := h.Client.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, helperImage,
		image.ImportOptions{Changes: []string{`LABEL ` + labels.Prefix + `helper=true`, `CMD ["/none"]`}})
	if err != nil {
		return fmt.Errorf("create helper image on host %q: %w", h.Name, err)
	}
	_, _ = io.Copy(io.Discard, rc)
	return rc.Close()
}

// helperContainer creates a stopped container mounting volume at /v.
func helperContainer(ctx context.Context, h *hosts.Host, vol string, readOnly bool) (string, func(), error) {
	if err := ensureHelperImage(ctx, h); err != nil {
		return "", nil, err
	}
	resp, err := h.Client.ContainerCreate(ctx, &container.Config{Image: helperImage, Labels: map[string]string{labels.Prefix + "helper": "true"}},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/v", ReadOnly: readOnly, VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}}, nil, nil, "")
	if err != nil {
		return "", nil, fmt.Errorf("create helper container for volume %s on host %q: %w", vol, h.Name, err)
	}
	return resp.ID, func() {
		_ = h.Client.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
	}, nil
}

// manifest digests a tar stream: every entry's path, type, mode and
// content hash, sorted. Equal manifests mean equal data.
func manifest(r io.Reader) (string, int, error) {
	tr := tar.NewReader(r)
	var lines []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "v/"), "v")
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			return "", 0, err
		}
		lines = append(lines, fmt.Sprintf("%s %c %o %d:%d %s %s", name, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid, h.Linkname, hex.EncodeToString(sum.Sum(nil))))
	}
	sort.Strings(lines)
	all := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(all[:]), len(lines), nil
}

// VolumeMove moves a volume's data to another host: it copies the files
// through helper containers (never started), verifies the copy by
// comparing digests of every file on both sides, then removes the source.
// The services using it must be stopped; their next up follows the data.
func (e *Engine) VolumeMove(ctx context.Context, project, name, to string) error {
	dst := e.Pool.Get(to)
	if dst == nil {
		return fmt.Errorf("no host %q in the pool (hosts: %s)", to, strings.Join(e.Pool.Names(), ", "))
	}
	list, err := e.VolumeList(ctx, project)
	if err != nil {
		return err
	}
	var found []VolumeEntry
	for _, v := range list {
		if v.Name == name || v.Key == name {
			found = append(found, v)
		}
	}
	switch {
	case len(found) == 0:
		return fmt.Errorf("project %q has no volume %q on a reachable host", project, name)
	case len(found) > 1:
		return fmt.Errorf("volume %q exists on several hosts (%s %s); remove the stale one first", name, found[0].Host, found[1].Host)
	}
	v := found[0]
	if v.Host == to {
		return fmt.Errorf("volume %s is already on host %q", v.Name, to)
	}
	src := e.Pool.Get(v.Host)
	cs, err := listHost(ctx, src, project, listOptions{all: true})
	if err != nil {
		return err
	}
	var running []string
	for _, c := range cs {
		for _, u := range v.UsedBy {
			if u == c.Name && c.Running() {
				running = append(running, c.Service)
			}
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("volume %s is in use by running service(s) %s on host %q; stop them first (devorch stop %s)", v.Name, strings.Join(running, ", "), v.Host, strings.Join(running, " "))
	}
	// The destination volume, with the same labels and options.
	sv, err := src.Client.VolumeInspect(ctx, v.Name)
	if err != nil {
		return fmt.Errorf("inspect volume %s on host %q: %w", v.Name, v.Host, err)
	}
	if _, err := dst.Client.VolumeInspect(ctx, v.Name); err == nil {
		return fmt.Errorf("host %q already has a volume named %s; remove it first", to, v.Name)
	}
	l := map[string]string{}
	for k, val := range sv.Labels {
		l[k] = val
	}
	l[labels.Host] = to
	e.progress(ResVolume, v.Name, to, "Creating")
	if _, err := dst.Client.VolumeCreate(ctx, volume.CreateOptions{Name: v.Name, Driver: sv.Driver, DriverOpts: sv.Options, Labels: l}); err != nil {
		return fmt.Errorf("create volume %s on host %q: %w", v.Name, to, err)
	}
	created := true
	defer func() {
		if created {
			_ = dst.Client.VolumeRemove(context.WithoutCancel(ctx), v.Name, true)
		}
	}()
	srcID, srcDone, err := helperContainer(ctx, src, v.Name, true)
	if err != nil {
		return err
	}
	defer srcDone()
	dstID, dstDone, err := helperContainer(ctx, dst, v.Name, false)
	if err != nil {
		return err
	}
	defer dstDone()
	e.progress(ResVolume, v.Name, to, "Copying from "+v.Host)
	rc, _, err := src.Client.CopyFromContainer(ctx, srcID, "/v")
	if err != nil {
		return fmt.Errorf("read volume %s on host %q: %w", v.Name, v.Host, err)
	}
	pr, pw := io.Pipe()
	sumc := make(chan struct {
		digest string
		n      int
		err    error
	}, 1)
	go func() {
		d, n, err := manifest(pr)
		_, _ = io.Copy(io.Discard, pr)
		sumc <- struct {
			digest string
			n      int
			err    error
		}{d, n, err}
	}()
	err = dst.Client.CopyToContainer(ctx, dstID, "/", io.TeeReader(rc, pw), container.CopyToContainerOptions{CopyUIDGID: true})
	rc.Close()
	pw.CloseWithError(err)
	srcSum := <-sumc
	if err != nil {
		return fmt.Errorf("write volume %s on host %q: %w", v.Name, to, err)
	}
	if srcSum.err != nil {
		return fmt.Errorf("digest volume %s on host %q: %w", v.Name, v.Host, srcSum.err)
	}
	// Verify: read back what landed and compare.
	back, _, err := dst.Client.CopyFromContainer(ctx, dstID, "/v")
	if err != nil {
		return fmt.Errorf("verify volume %s on host %q: %w", v.Name, to, err)
	}
	dstDigest, n, err := manifest(back)
	back.Close()
	if err != nil {
		return fmt.Errorf("verify volume %s on host %q: %w", v.Name, to, err)
	}
	if dstDigest != srcSum.digest || n != srcSum.n {
		return fmt.Errorf("volume %s: the copy on host %q differs from the source (%d entries vs %d); the source is kept", v.Name, to, n, srcSum.n)
	}
	e.progress(ResVolume, v.Name, to, fmt.Sprintf("Verified %d entries", n))
	created = false
	// The stopped containers on the old host still reference the volume.
	srcDone()
	for _, c := range cs {
		for _, u := range v.UsedBy {
			if u == c.Name {
				if err := src.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
					return fmt.Errorf("remove container %s (it used the moved volume) on host %q: %w", c.Name, v.Host, err)
				}
				e.progress(ResContainer, c.Name, v.Host, "Removed")
			}
		}
	}
	if err := src.Client.VolumeRemove(ctx, v.Name, false); err != nil {
		return errors.Join(fmt.Errorf("the data is on host %q and verified, but removing the old volume on host %q failed", to, v.Host), err)
	}
	e.progress(ResVolume, v.Name, v.Host, "Removed")
	e.progress(ResVolume, v.Name, to, "Moved from "+v.Host)
	return nil
}

// volumeHosts hands package volumes the hosts it is to work on.
func volumeHosts(hs []*hosts.Host) []volumes.Host {
	out := make([]volumes.Host, len(hs))
	for i, h := range hs {
		out[i] = volumes.Host{Name: h.Name, API: h.Client}
	}
	return out
}
