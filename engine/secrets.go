package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
)

// inlineFile is a secret or config whose content devorch copies into the
// container before it starts (content: or environment: sources; file:
// sources are bind-mounted read-only instead).
type inlineFile struct {
	target   string
	content  []byte
	mode     int64
	uid, gid int
}

func inlineFiles(p *compose.Project, s types.ServiceConfig) ([]inlineFile, error) {
	var out []inlineFile
	add := func(kind, source string, def types.FileObjectConfig, ref types.FileReferenceConfig, defaultDir string) error {
		if def.File != "" {
			return nil
		}
		var content string
		switch {
		case def.Environment != "":
			v, ok := p.Environment[def.Environment]
			if !ok {
				return fmt.Errorf("service %q: %s %q comes from environment variable %s, which is not set", s.Name, kind, source, def.Environment)
			}
			content = v
		default:
			content = def.Content
		}
		target := ref.Target
		switch {
		case target == "":
			target = path.Join(defaultDir, source)
		case !path.IsAbs(target):
			target = path.Join(defaultDir, target)
		}
		f := inlineFile{target: target, content: []byte(content), mode: 0o444}
		if ref.Mode != nil {
			f.mode = int64(*ref.Mode)
		}
		if ref.UID != "" {
			f.uid, _ = strconv.Atoi(ref.UID)
		}
		if ref.GID != "" {
			f.gid, _ = strconv.Atoi(ref.GID)
		}
		out = append(out, f)
		return nil
	}
	for _, sec := range s.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: secret %q is not declared in the top-level secrets", s.Name, sec.Source)
		}
		if err := add("secret", sec.Source, types.FileObjectConfig(def), types.FileReferenceConfig(sec), "/run/secrets"); err != nil {
			return nil, err
		}
	}
	for _, c := range s.Configs {
		def, ok := p.Configs[c.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: config %q is not declared in the top-level configs", s.Name, c.Source)
		}
		if err := add("config", c.Source, types.FileObjectConfig(def), types.FileReferenceConfig(c), "/"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyInlineFiles writes inline secrets and configs into a created
// container, in one tar stream.
func copyInlineFiles(ctx context.Context, h *hosts.Host, id string, files []inlineFile) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.target); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.target[1:], Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.content)), Uid: f.uid, Gid: f.gid, ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return h.Client.CopyToContainer(ctx, id, "/", &buf, container.CopyToContainerOptions{})
}
