package volumes

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/devorch/devorch/internal/labels"
)

// DataAPI is the part of the Docker client Copy uses: besides the volume
// calls, what it takes to reach a volume's files, which the API offers only
// through a container's archive endpoints.
type DataAPI interface {
	API
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
}

// Side is one end of a copy: a host's devorch name and its Docker API.
type Side struct {
	Host string
	API  DataAPI
}

// Copy creates volume name on dst, with the source's driver, options and
// labels (the host label says dst), copies the files through helper
// containers (never started), and verifies the copy by comparing digests
// of every file on both sides. When anything fails the new volume is
// removed; the source is never touched, so that the caller removes it only
// once the data is safe. progress hears each step, with the host it is on.
func Copy(ctx context.Context, name string, src, dst Side, progress func(host, status string)) error {
	sv, err := src.API.VolumeInspect(ctx, name)
	if err != nil {
		return fmt.Errorf("inspect volume %s on host %q: %w", name, src.Host, err)
	}
	if _, err := dst.API.VolumeInspect(ctx, name); err == nil {
		return fmt.Errorf("host %q already has a volume named %s; remove it first", dst.Host, name)
	}
	l := map[string]string{}
	for k, val := range sv.Labels {
		l[k] = val
	}
	l[labels.Host] = dst.Host
	progress(dst.Host, "Creating")
	if _, err := dst.API.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: sv.Driver, DriverOpts: sv.Options, Labels: l}); err != nil {
		return fmt.Errorf("create volume %s on host %q: %w", name, dst.Host, err)
	}
	verified := false
	defer func() {
		if !verified {
			_ = dst.API.VolumeRemove(context.WithoutCancel(ctx), name, true)
		}
	}()
	srcID, srcDone, err := helperContainer(ctx, src, name, true)
	if err != nil {
		return err
	}
	defer srcDone()
	dstID, dstDone, err := helperContainer(ctx, dst, name, false)
	if err != nil {
		return err
	}
	defer dstDone()
	progress(dst.Host, "Copying from "+src.Host)
	rc, _, err := src.API.CopyFromContainer(ctx, srcID, "/v")
	if err != nil {
		return fmt.Errorf("read volume %s on host %q: %w", name, src.Host, err)
	}
	// The source is read once: its digest is taken on the way through.
	pr, pw := io.Pipe()
	type digest struct {
		sum string
		n   int
		err error
	}
	sumc := make(chan digest, 1)
	go func() {
		d, n, err := manifest(pr)
		_, _ = io.Copy(io.Discard, pr)
		sumc <- digest{d, n, err}
	}()
	err = dst.API.CopyToContainer(ctx, dstID, "/", io.TeeReader(rc, pw), container.CopyToContainerOptions{CopyUIDGID: true})
	rc.Close()
	pw.CloseWithError(err)
	srcSum := <-sumc
	if err != nil {
		return fmt.Errorf("write volume %s on host %q: %w", name, dst.Host, err)
	}
	if srcSum.err != nil {
		return fmt.Errorf("digest volume %s on host %q: %w", name, src.Host, srcSum.err)
	}
	// Verify: read back what landed and compare.
	back, _, err := dst.API.CopyFromContainer(ctx, dstID, "/v")
	if err != nil {
		return fmt.Errorf("verify volume %s on host %q: %w", name, dst.Host, err)
	}
	dstDigest, n, err := manifest(back)
	back.Close()
	if err != nil {
		return fmt.Errorf("verify volume %s on host %q: %w", name, dst.Host, err)
	}
	if dstDigest != srcSum.sum || n != srcSum.n {
		return fmt.Errorf("volume %s: the copy on host %q differs from the source (%d entries vs %d); the source is kept", name, dst.Host, n, srcSum.n)
	}
	progress(dst.Host, fmt.Sprintf("Verified %d entries", n))
	verified = true
	return nil
}

// helperImage is a tiny image devorch imports on a host to create (never
// start) containers that mount a volume, so that the API's archive
// endpoints can read and write the volume's files.
const helperImage = "devorch/volume-helper:1"

func ensureHelperImage(ctx context.Context, h Side) error {
	if _, err := h.API.ImageInspect(ctx, helperImage); err == nil {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "v/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.Close()
	rc, err := h.API.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, helperImage,
		image.ImportOptions{Changes: []string{`LABEL ` + labels.Helper + `=true`, `CMD ["/none"]`}})
	if err != nil {
		return fmt.Errorf("create helper image on host %q: %w", h.Host, err)
	}
	_, _ = io.Copy(io.Discard, rc)
	return rc.Close()
}

// helperContainer creates a stopped container mounting volume at /v; done
// removes it.
func helperContainer(ctx context.Context, h Side, vol string, readOnly bool) (id string, done func(), err error) {
	if err := ensureHelperImage(ctx, h); err != nil {
		return "", nil, err
	}
	resp, err := h.API.ContainerCreate(ctx, &container.Config{Image: helperImage, Labels: map[string]string{labels.Helper: "true"}},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/v", ReadOnly: readOnly, VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}}, nil, nil, "")
	if err != nil {
		return "", nil, fmt.Errorf("create helper container for volume %s on host %q: %w", vol, h.Host, err)
	}
	return resp.ID, func() {
		_ = h.API.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
	}, nil
}

// manifest digests a tar stream: every entry's path, type, mode, owner,
// link target and content hash, sorted. Equal manifests mean equal data.
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
