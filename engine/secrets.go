package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/spec"
)

// copyInlineFiles writes inline secrets and configs into a created
// container, in one tar stream.
func copyInlineFiles(ctx context.Context, h *hosts.Host, id string, files []spec.InlineFile) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Target); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Target[1:], Typeflag: tar.TypeReg, Mode: f.Mode, Size: int64(len(f.Content)), Uid: f.UID, Gid: f.GID, ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return ctr.CopyTo(ctx, h.Client, id, "/", &buf)
}
