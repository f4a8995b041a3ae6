package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/mount"

	"github.com/devorch/devorch/compose"
)

// mounts turns the service's volumes, file secrets and file configs into
// legacy bind strings and mounts, each nil when there are none. volumes maps
// compose volume keys to Docker volume names.
func mounts(p *compose.Project, s types.ServiceConfig, volumes map[string]string) ([]string, []mount.Mount, error) {
	var binds []string
	var out []mount.Mount
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			bindSpec, m, err := bindMount(p, s, v)
			if err != nil {
				return nil, nil, err
			}
			if bindSpec != "" {
				binds = append(binds, bindSpec)
			} else {
				out = append(out, m)
			}
		case types.VolumeTypeVolume:
			m, err := volumeMount(s, v, volumes)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, m)
		case types.VolumeTypeTmpfs:
			out = append(out, tmpfsMount(v))
		case types.VolumeTypeNamedPipe, types.VolumeTypeCluster, types.VolumeTypeImage:
			return nil, nil, fmt.Errorf("service %q: volume type %q is not supported by devorch", s.Name, v.Type)
		}
	}
	files, err := fileMounts(p, s)
	if err != nil {
		return nil, nil, err
	}
	return binds, append(out, files...), nil
}

// volumeMount mounts a named volume, or an anonymous one when the source
// is empty.
func volumeMount(s types.ServiceConfig, v types.ServiceVolumeConfig, volumes map[string]string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly}
	if v.Source != "" {
		name, ok := volumes[v.Source]
		if !ok {
			return m, fmt.Errorf("service %q: volume %q is not declared in the top-level volumes", s.Name, v.Source)
		}
		m.Source = name
	}
	if v.Volume != nil {
		m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Labels: v.Volume.Labels, Subpath: v.Volume.Subpath}
	}
	return m, nil
}

func tmpfsMount(v types.ServiceVolumeConfig) mount.Mount {
	m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
	if v.Tmpfs != nil {
		m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
	}
	return m
}

// bindMount returns either a legacy bind string (when the host path may be
// created, as the docker CLI does) or a mount.
func bindMount(p *compose.Project, s types.ServiceConfig, v types.ServiceVolumeConfig) (string, mount.Mount, error) {
	src := v.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(p.WorkingDir, src)
	}
	// compose-go sets create_host_path for the short syntax; a long-syntax
	// bind without it must not create a missing source (compose sends a
	// mount, and Docker refuses a source that does not exist).
	create := v.Bind != nil && bool(v.Bind.CreateHostPath)
	if create && v.Bind.Recursive == "" {
		opts := []string{}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		// The SELinux relabel (z, Z) exists only in this form, as in
		// compose's bind strings: "./src:/dst:ro,z".
		if v.Bind.SELinux != "" {
			opts = append(opts, v.Bind.SELinux)
		}
		if v.Bind.Propagation != "" {
			opts = append(opts, v.Bind.Propagation)
		}
		spec := src + ":" + v.Target
		if len(opts) > 0 {
			spec += ":" + strings.Join(opts, ",")
		}
		return spec, mount.Mount{}, nil
	}
	m := mount.Mount{Type: mount.TypeBind, Source: src, Target: v.Target, ReadOnly: v.ReadOnly}
	if v.Bind != nil {
		m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation), CreateMountpoint: bool(v.Bind.CreateHostPath)}
		if v.Bind.SELinux != "" {
			return "", m, fmt.Errorf("service %q: bind %s: selinux %q cannot be combined with create_host_path: false or recursive", s.Name, v.Target, v.Bind.SELinux)
		}
	}
	return "", m, nil
}

// fileMounts mounts file-based secrets and configs read-only.
func fileMounts(p *compose.Project, s types.ServiceConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, sec := range s.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: secret %q is not declared in the top-level secrets", s.Name, sec.Source)
		}
		target := sec.Target
		if target == "" {
			target = "/run/secrets/" + sec.Source
		} else if !filepath.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		if def.File == "" {
			continue // content and environment secrets are copied in before start
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true})
	}
	for _, c := range s.Configs {
		def, ok := p.Configs[c.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: config %q is not declared in the top-level configs", s.Name, c.Source)
		}
		target := c.Target
		if target == "" {
			target = "/" + c.Source
		} else if !filepath.IsAbs(target) {
			// As compose: a relative config target is under "/".
			target = "/" + target
		}
		if def.File == "" {
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true})
	}
	return out, nil
}
