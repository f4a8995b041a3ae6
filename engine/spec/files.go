package spec

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
)

// InlineFile is a secret or config whose content devorch copies into the
// container before it starts (content: or environment: sources; file:
// sources are bind-mounted read-only instead).
type InlineFile struct {
	// Target is the absolute path in the container.
	Target   string
	Content  []byte
	Mode     int64
	UID, GID int
}

// InlineFiles are the service's secrets and configs that are copied in,
// secrets first, each in the order the service lists them.
func InlineFiles(p *compose.Project, s types.ServiceConfig) ([]InlineFile, error) {
	var out []InlineFile
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
		f := InlineFile{Target: target, Content: []byte(content), Mode: 0o444}
		if ref.Mode != nil {
			f.Mode = int64(*ref.Mode)
		}
		if ref.UID != "" {
			f.UID, _ = strconv.Atoi(ref.UID)
		}
		if ref.GID != "" {
			f.GID, _ = strconv.Atoi(ref.GID)
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

// InlineArchive is the tar stream that writes files into a container when
// copied to its root, with the directories they need (mode 0755), all
// modified at now.
func InlineArchive(files []InlineFile, now time.Time) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Target); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Target[1:], Typeflag: tar.TypeReg, Mode: f.Mode, Size: int64(len(f.Content)), Uid: f.UID, Gid: f.GID, ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}
