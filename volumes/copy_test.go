package volumes

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/devorch/devorch/internal/labels"
)

// dataHost is a host whose volumes hold files: each volume's content is
// the tar stream Docker's archive endpoint gives for /v. Helper containers
// only record the volume they mount.
type dataHost struct {
	*fakeHost
	files      map[string][]byte // volume → tar
	containers map[string]string // container → volume
	images     map[string]bool
	next       int
	// corrupt changes what a read of the volume gives back, as a disk or
	// a daemon that loses data would.
	corrupt   bool
	writeErr  error
	createErr error
}

func newDataHost(vs ...volume.Volume) *dataHost {
	return &dataHost{fakeHost: newFakeHost(vs...), files: map[string][]byte{}, containers: map[string]string{}, images: map[string]bool{}}
}

func (h *dataHost) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if !h.images[ref] {
		return image.InspectResponse{}, errdefs.NotFound(fmt.Errorf("no such image: %s", ref))
	}
	return image.InspectResponse{ID: ref}, nil
}

func (h *dataHost) ImageImport(ctx context.Context, src image.ImportSource, ref string, o image.ImportOptions) (io.ReadCloser, error) {
	h.images[ref] = true
	return io.NopCloser(strings.NewReader("{}")), nil
}

func (h *dataHost) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, _ string) (container.CreateResponse, error) {
	if h.createErr != nil {
		return container.CreateResponse{}, h.createErr
	}
	if !h.images[cfg.Image] {
		return container.CreateResponse{}, errdefs.NotFound(fmt.Errorf("no such image: %s", cfg.Image))
	}
	if _, ok := h.vols[hc.Mounts[0].Source]; !ok {
		return container.CreateResponse{}, errdefs.NotFound(fmt.Errorf("no such volume: %s", hc.Mounts[0].Source))
	}
	h.next++
	id := fmt.Sprintf("helper%d", h.next)
	h.containers[id] = hc.Mounts[0].Source
	return container.CreateResponse{ID: id}, nil
}

func (h *dataHost) ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error {
	delete(h.containers, id)
	return nil
}

func (h *dataHost) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	b := h.files[h.containers[id]]
	if h.corrupt {
		b = tarOf(map[string]string{"v/a.txt": "ALPHA", "v/sub/b.txt": "beta"})
	}
	return io.NopCloser(bytes.NewReader(b)), container.PathStat{Name: "v"}, nil
}

func (h *dataHost) CopyToContainer(ctx context.Context, id, path string, r io.Reader, o container.CopyToContainerOptions) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if h.writeErr != nil {
		return h.writeErr
	}
	h.files[h.containers[id]] = b
	return nil
}

// tarOf builds the archive Docker gives for a volume's files.
func tarOf(files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "v/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, name := range []string{"v/a.txt", "v/sub/b.txt"} {
		if body, ok := files[name]; ok {
			_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			_, _ = tw.Write([]byte(body))
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

func source() *dataHost {
	src := newDataHost(volume.Volume{Name: "shop_db", Driver: "local", Options: map[string]string{"o": "x"}, Labels: ours("shop", "db", "a")})
	src.files["shop_db"] = tarOf(map[string]string{"v/a.txt": "alpha", "v/sub/b.txt": "beta"})
	return src
}

func TestCopyVerifiesAndKeepsTheSource(t *testing.T) {
	src, dst := source(), newDataHost()
	var events []string
	err := Copy(context.Background(), "shop_db", Side{"a", src}, Side{"b", dst}, func(host, status string) { events = append(events, host+": "+status) })
	if err != nil {
		t.Fatal(err)
	}
	got, ok := dst.vols["shop_db"]
	if want := ours("shop", "db", "b"); !ok || got.Driver != "local" || got.Options["o"] != "x" || !reflect.DeepEqual(got.Labels, want) {
		t.Errorf("volume on b: %+v, want driver, options and labels of the source with host b", got)
	}
	if !bytes.Equal(dst.files["shop_db"], src.files["shop_db"]) {
		t.Error("the data on b is not the source's")
	}
	if _, ok := src.vols["shop_db"]; !ok {
		t.Error("Copy removed the source")
	}
	if len(src.containers)+len(dst.containers) != 0 {
		t.Errorf("helper containers left: %v on a, %v on b", src.containers, dst.containers)
	}
	if want := []string{"b: Creating", "b: Copying from a", "b: Verified 3 entries"}; !reflect.DeepEqual(events, want) {
		t.Errorf("progress %v, want %v", events, want)
	}
	if !src.images[helperImage] || !dst.images[helperImage] {
		t.Error("the helper image was not imported on both hosts")
	}
}

func TestCopyFailuresRemoveTheNewVolumeOnly(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(src, dst *dataHost)
		wantErr string
	}{
		{"copy differs", func(src, dst *dataHost) { dst.corrupt = true }, `volume shop_db: the copy on host "b" differs from the source (3 entries vs 3); the source is kept`},
		{"write fails", func(src, dst *dataHost) { dst.writeErr = errors.New("no space left on device") }, `write volume shop_db on host "b": no space left on device`},
		{"helper refused", func(src, dst *dataHost) { dst.createErr = errors.New("refused") }, `create helper container for volume shop_db on host "b": refused`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := source(), newDataHost()
			tc.breakIt(src, dst)
			err := Copy(context.Background(), "shop_db", Side{"a", src}, Side{"b", dst}, func(string, string) {})
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
			if _, ok := dst.vols["shop_db"]; ok {
				t.Error("the unverified copy on b was kept")
			}
			if _, ok := src.vols["shop_db"]; !ok || len(src.removed) != 0 {
				t.Error("the source was touched")
			}
			if len(src.containers)+len(dst.containers) != 0 {
				t.Errorf("helper containers left: %v on a, %v on b", src.containers, dst.containers)
			}
		})
	}
}

func TestCopyRefusals(t *testing.T) {
	// The destination already has one: it is not Copy's to overwrite.
	src := source()
	dst := newDataHost(volume.Volume{Name: "shop_db", Labels: ours("shop", "db", "b")})
	err := Copy(context.Background(), "shop_db", Side{"a", src}, Side{"b", dst}, func(string, string) {})
	if err == nil || err.Error() != `host "b" already has a volume named shop_db; remove it first` || len(dst.removed) != 0 {
		t.Errorf("got %v, removed %v on b; want a refusal that leaves b's volume", err, dst.removed)
	}
	// The source host is gone.
	src, dst = source(), newDataHost()
	src.down = errGone
	err = Copy(context.Background(), "shop_db", Side{"a", src}, Side{"b", dst}, func(string, string) {})
	if !errors.Is(err, errGone) || !strings.Contains(err.Error(), `inspect volume shop_db on host "a"`) || len(dst.created) != 0 {
		t.Errorf("got %v, created %v on b; want the inspect error and nothing created", err, dst.created)
	}
}

func TestManifestSeesEveryDifference(t *testing.T) {
	digest := func(b []byte) string {
		t.Helper()
		d, _, err := manifest(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := map[string]string{"v/a.txt": "alpha", "v/sub/b.txt": "beta"}
	d0 := digest(tarOf(base))
	if d := digest(tarOf(map[string]string{"v/sub/b.txt": "beta", "v/a.txt": "alpha"})); d != d0 {
		t.Error("the same files digest differently")
	}
	for name, files := range map[string]map[string]string{
		"content":      {"v/a.txt": "alphA", "v/sub/b.txt": "beta"},
		"missing file": {"v/a.txt": "alpha"},
	} {
		if digest(tarOf(files)) == d0 {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	// Mode and owner count too.
	for name, hdr := range map[string]tar.Header{
		"mode":  {Mode: 0o600},
		"owner": {Mode: 0o644, Uid: 1000},
		"group": {Mode: 0o644, Gid: 1000},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: "v/", Typeflag: tar.TypeDir, Mode: 0o755})
		_ = tw.WriteHeader(&tar.Header{Name: "v/a.txt", Typeflag: tar.TypeReg, Mode: hdr.Mode, Uid: hdr.Uid, Gid: hdr.Gid, Size: 5})
		_, _ = tw.Write([]byte("alpha"))
		_ = tw.WriteHeader(&tar.Header{Name: "v/sub/b.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4})
		_, _ = tw.Write([]byte("beta"))
		_ = tw.Close()
		if digest(buf.Bytes()) == d0 {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	if _, _, err := manifest(strings.NewReader("a stream cut short inside its first header")); err == nil {
		t.Error("a broken stream digested without error")
	}
}

// usageHost answers DiskUsage as a host does: every volume, with sizes.
type usageHost struct {
	vols []*volume.Volume
	err  error
}

func (h usageHost) DiskUsage(ctx context.Context, o types.DiskUsageOptions) (types.DiskUsage, error) {
	return types.DiskUsage{Volumes: h.vols}, h.err
}

func TestUsageKeepsTheProjectsVolumes(t *testing.T) {
	h := usageHost{vols: []*volume.Volume{
		{Name: "shop_db", Labels: ours("shop", "db", "a"), UsageData: &volume.UsageData{Size: 7}},
		{Name: "blog_db", Labels: ours("blog", "db", "a")},
		{Name: "anon", Labels: map[string]string{}},
	}}
	vs, err := Usage(context.Background(), h, "shop")
	if err != nil || len(vs) != 1 || vs[0].Name != "shop_db" || vs[0].UsageData.Size != 7 || vs[0].Labels[labels.Project] != "shop" {
		t.Errorf("got %v %v, want shop_db with its size", vs, err)
	}
	if _, err := Usage(context.Background(), usageHost{err: errGone}, "shop"); !errors.Is(err, errGone) {
		t.Errorf("host gone: %v", err)
	}
}
