package engine

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/netctl"
)

// ProbeCommand is the hidden devorch command the network probe runs in its
// helper containers: "ProbeCommand listen" or "ProbeCommand dial ADDR".
const ProbeCommand = "__netprobe"

// probeEncrypted checks every encrypted overlay of the run carries traffic
// between its hosts (netctl.Prober), once the networks exist and before any
// container joins them.
func (e *Engine) probeEncrypted(ctx context.Context, p *compose.Project, pn *Plan) error {
	for _, nk := range pn.Networks {
		cfg := p.Networks[nk.Key]
		if nk.Kind != string(netctl.KindOverlay) || !netctl.Encrypted(cfg.DriverOpts) || len(nk.Hosts) < 2 {
			continue
		}
		pr, err := netProber(p.Name)
		if err != nil {
			e.warn("network %s is an encrypted overlay, but devorch cannot check that it carries traffic between hosts: %v", nk.Key, err)
			continue
		}
		var hs []netctl.ProbeHost
		for _, name := range nk.Hosts {
			hs = append(hs, netctl.ProbeHost{Name: name, API: e.Pool.Get(name).Client})
		}
		if err := pr.Encrypted(ctx, nk.Key, netctl.Name(p.Name, nk.Key, cfg), hs); err != nil {
			return err
		}
	}
	return nil
}

// netProber runs the probe with this very binary, imported as a one-file
// image: it must be a static Linux executable of the hosts' kind (make
// build makes one: CGO_ENABLED=0).
func netProber(project string) (netctl.Prober, error) {
	exe, err := os.Executable()
	if err != nil {
		return netctl.Prober{}, err
	}
	if runtime.GOOS != "linux" {
		return netctl.Prober{}, fmt.Errorf("devorch runs on %s, the probe needs a Linux binary", runtime.GOOS)
	}
	if err := staticELF(exe); err != nil {
		return netctl.Prober{}, fmt.Errorf("%s: %w", exe, err)
	}
	sum, size, err := fileSum(exe)
	if err != nil {
		return netctl.Prober{}, err
	}
	root := func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeRoot(pw, exe, size)) }()
		return pr, nil
	}
	return netctl.Prober{
		Image:   "devorch/netprobe:" + sum[:12],
		Root:    root,
		Listen:  []string{"/devorch", ProbeCommand, "listen"},
		Dial:    func(addr string) []string { return []string{"/devorch", ProbeCommand, "dial", addr} },
		Project: project,
	}, nil
}

// staticELF refuses an executable that needs a dynamic loader: it would
// not run in an image with nothing else in it.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		return errors.New("the devorch binary is dynamically linked (build it with CGO_ENABLED=0, as make build does)")
	}
	return nil
}

func fileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// writeRoot writes the probe image's file system: the binary as /devorch.
func writeRoot(w io.Writer, exe string, size int64) error {
	f, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "devorch", Mode: 0o755, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}
