package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// BusyboxPath is where Debian's busybox-static puts its binary.
const BusyboxPath = "/bin/busybox"

const testappDockerfile = `FROM scratch
COPY testapp /testapp
EXPOSE 8080
ENTRYPOINT ["/testapp"]
`

const busyboxDockerfile = `FROM scratch
COPY rootfs/ /
ENV PATH=/bin
CMD ["sh"]
`

// busyboxApplets are always linked; every applet the binary lists is linked too.
var busyboxApplets = strings.Fields(`sh ls cat echo sleep rm mkdir cp mv nc httpd env
	tar touch true false test id hostname ps kill du find sed grep wc head tail date
	chmod ln stat md5sum sha256sum tee xargs printf which mount`)

// busyboxEtc are small files that make the image friendlier (id, ls -l, ...).
var busyboxEtc = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
}

// buildSpec is one test image: a content hash of its inputs and a function
// producing the build context.
type buildSpec struct {
	tag     string
	hash    string
	context func(ctx context.Context) ([]byte, error)
}

var ensureMu sync.Mutex

// EnsureImages makes sure devorch-test/testapp:latest and
// devorch-test/busybox:latest exist on the daemon and match the current
// inputs (testapp sources, /bin/busybox). Images whose
// dev.devorch.test-content label already matches are left alone, so calling
// it from every test is cheap. Builds are serialised across processes with
// a file lock.
func EnsureImages(ctx context.Context, cli client.APIClient) error {
	_, err := ensureImages(ctx, cli)
	return err
}

// ensureImages returns the tags it (re)built.
func ensureImages(ctx context.Context, cli client.APIClient) ([]string, error) {
	specs, err := imageSpecs()
	if err != nil {
		return nil, err
	}
	stale, err := staleSpecs(ctx, cli, specs)
	if err != nil || len(stale) == 0 {
		return nil, err
	}

	ensureMu.Lock()
	defer ensureMu.Unlock()
	unlock, err := lockFile(ctx, filepath.Join(os.TempDir(), "devorch-testimages.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have built them while we waited for the lock.
	if stale, err = staleSpecs(ctx, cli, stale); err != nil {
		return nil, err
	}
	var built []string
	for _, s := range stale {
		if err := buildImage(ctx, cli, s); err != nil {
			return built, fmt.Errorf("building %s: %w", s.tag, err)
		}
		built = append(built, s.tag)
	}
	return built, nil
}

// staleSpecs returns the specs whose image is missing or has another
// content label.
func staleSpecs(ctx context.Context, cli client.APIClient, specs []buildSpec) ([]buildSpec, error) {
	var stale []buildSpec
	for _, s := range specs {
		insp, err := cli.ImageInspect(ctx, s.tag)
		switch {
		case cerrdefs.IsNotFound(err):
			stale = append(stale, s)
		case err != nil:
			return nil, fmt.Errorf("inspecting %s: %w", s.tag, err)
		case insp.Config == nil || insp.Config.Labels[LabelTestContent] != s.hash:
			stale = append(stale, s)
		}
	}
	return stale, nil
}

var (
	specsMu     sync.Mutex
	cachedSpecs []buildSpec
)

// imageSpecs hashes the inputs once per process.
func imageSpecs() ([]buildSpec, error) {
	specsMu.Lock()
	defer specsMu.Unlock()
	if cachedSpecs == nil {
		specs, err := computeSpecs()
		if err != nil {
			return nil, err
		}
		cachedSpecs = specs
	}
	return cachedSpecs, nil
}

func computeSpecs() ([]buildSpec, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	srcDir := filepath.Join(root, "internal", "testapp")
	h := sha256.New()
	fmt.Fprintf(h, "testapp\x00%s\x00%s/%s\x00%s\x00", runtime.Version(), runtime.GOOS, runtime.GOARCH, testappDockerfile)
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return nil, fmt.Errorf("testapp sources: %w", err)
	}
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(srcDir, e.Name()))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(b))
		h.Write(b)
	}
	testapp := buildSpec{
		tag:  TestappImage,
		hash: hex.EncodeToString(h.Sum(nil)),
		context: func(ctx context.Context) ([]byte, error) {
			bin, err := compileTestapp(ctx, root)
			if err != nil {
				return nil, err
			}
			return tarContext([]tarEntry{
				{name: "Dockerfile", mode: 0o644, data: []byte(testappDockerfile)},
				{name: "testapp", mode: 0o755, data: bin},
			})
		},
	}

	bb, err := os.ReadFile(BusyboxPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: install it with `apt-get install -y busybox-static` (make test does this)", BusyboxPath)
	} else if err != nil {
		return nil, err
	}
	applets := busyboxAppletList()
	h = sha256.New()
	fmt.Fprintf(h, "busybox\x00%s\x00%s\x00", busyboxDockerfile, strings.Join(applets, ","))
	for _, k := range sortedKeys(busyboxEtc) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, busyboxEtc[k])
	}
	h.Write(bb)
	busybox := buildSpec{
		tag:  BusyboxImage,
		hash: hex.EncodeToString(h.Sum(nil)),
		context: func(context.Context) ([]byte, error) {
			entries := []tarEntry{
				{name: "Dockerfile", mode: 0o644, data: []byte(busyboxDockerfile)},
				{name: "rootfs/bin/", mode: 0o755, dir: true},
				{name: "rootfs/bin/busybox", mode: 0o755, data: bb},
				{name: "rootfs/etc/", mode: 0o755, dir: true},
				{name: "rootfs/tmp/", mode: 0o1777, dir: true},
				{name: "rootfs/root/", mode: 0o700, dir: true},
			}
			for _, k := range sortedKeys(busyboxEtc) {
				entries = append(entries, tarEntry{name: "rootfs/" + k, mode: 0o644, data: []byte(busyboxEtc[k])})
			}
			for _, a := range applets {
				entries = append(entries, tarEntry{name: "rootfs/bin/" + a, link: "busybox"})
			}
			return tarContext(entries)
		},
	}
	return []buildSpec{testapp, busybox}, nil
}

// busyboxAppletList is busyboxApplets plus whatever `busybox --list` reports.
func busyboxAppletList() []string {
	set := map[string]bool{}
	for _, a := range busyboxApplets {
		set[a] = true
	}
	if out, err := exec.Command(BusyboxPath, "--list").Output(); err == nil {
		for _, a := range strings.Fields(string(out)) {
			if a != "busybox" && !strings.ContainsAny(a, "/[]") {
				set[a] = true
			}
		}
	}
	return sortedKeys(set)
}

func compileTestapp(ctx context.Context, root string) ([]byte, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if os.Getenv("GOROOT") == "" || !fileExists(gobin) {
			return nil, fmt.Errorf("go toolchain not found in PATH or $GOROOT: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "devorch-testapp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "testapp")
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./internal/testapp")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./internal/testapp: %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

type tarEntry struct {
	name string
	mode int64
	data []byte
	dir  bool
	link string // symlink target
}

func tarContext(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case e.dir:
			hdr.Typeflag = tar.TypeDir
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.link, 0o777
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildImage builds s with the classic builder and removes the image it
// replaces (if nothing uses it).
func buildImage(ctx context.Context, cli client.APIClient, s buildSpec) error {
	var oldID string
	if insp, err := cli.ImageInspect(ctx, s.tag); err == nil {
		oldID = insp.ID
	}
	tarball, err := s.context(ctx)
	if err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{s.tag},
		Version:     build.BuilderV1,
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelTest: "1", LabelTestContent: s.hash},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	id, err := readBuildStream(resp.Body)
	if err != nil {
		return err
	}
	insp, err := cli.ImageInspect(ctx, s.tag)
	if err != nil {
		return fmt.Errorf("after build: %w", err)
	}
	if insp.Config == nil || insp.Config.Labels[LabelTestContent] != s.hash {
		return fmt.Errorf("built image %s lacks label %s=%s", id, LabelTestContent, s.hash)
	}
	if oldID != "" && oldID != insp.ID {
		// Drop the replaced image only if no other tag refers to it;
		// removal fails harmlessly while containers still use it.
		if old, err := cli.ImageInspect(ctx, oldID); err == nil && len(old.RepoTags) == 0 {
			_, _ = cli.ImageRemove(ctx, oldID, image.RemoveOptions{PruneChildren: true})
		}
	}
	return nil
}

// readBuildStream consumes the JSON message stream of a build and returns
// the image ID, or the build's error with the tail of its output.
func readBuildStream(r io.Reader) (string, error) {
	dec := json.NewDecoder(r)
	var out strings.Builder
	var id string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux *struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading build output: %w", err)
		}
		out.WriteString(msg.Stream)
		if msg.Aux != nil && msg.Aux.ID != "" {
			id = msg.Aux.ID
		}
		if msg.Error != "" || msg.ErrorDetail != nil {
			e := msg.Error
			if e == "" {
				e = msg.ErrorDetail.Message
			}
			return "", fmt.Errorf("%s\nbuild output:\n%s", e, tail(out.String(), 2000))
		}
	}
	return id, nil
}

// lockFile takes an exclusive flock on path, polling so ctx can cancel.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
