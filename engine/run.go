package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
)

// RunOptions are `devorch run`'s choices.
type RunOptions struct {
	Service      string
	Cmd          []string // empty: the service's command
	Entrypoint   *[]string
	Env          []string
	Labels       map[string]string
	Name         string
	User         string
	WorkDir      string
	Remove       bool // --rm
	NoDeps       bool
	Detach       bool
	ServicePorts bool     // publish the service's ports
	Publish      []string // -p
	Volumes      []string // -v, short syntax
	Images       ImageOptions
	LockTimeout  time.Duration
}

// Run starts a one-off container of a service, as scripts use `compose
// run`: dependencies are brought up first (unless NoDeps), the container
// gets the service's configuration with the given overrides, and the exit
// code of its command is returned.
func (e *Engine) Run(ctx context.Context, p *compose.Project, o RunOptions, st Streams) (int, error) {
	s, ok := p.Services[o.Service]
	if !ok {
		return 1, compose.CheckServices(p.Project, []string{o.Service})
	}
	// The one-off container's own overrides.
	if len(o.Cmd) > 0 {
		s.Command = o.Cmd
	}
	if o.Entrypoint != nil {
		s.Entrypoint = *o.Entrypoint
	}
	if o.User != "" {
		s.User = o.User
	}
	if o.WorkDir != "" {
		s.WorkingDir = o.WorkDir
	}
	env := types.MappingWithEquals{}
	for k, v := range s.Environment {
		env[k] = v
	}
	for _, kv := range o.Env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			env[k] = &v
		} else {
			env[k] = nil
		}
	}
	s.Environment = env
	if !o.ServicePorts {
		s.Ports = nil
	}
	for _, pub := range o.Publish {
		pcs, err := types.ParsePortConfig(pub)
		if err != nil {
			return 1, fmt.Errorf("-p %s: %w", pub, err)
		}
		s.Ports = append(s.Ports, pcs...)
	}
	for _, v := range o.Volumes {
		vc, err := parseShortVolume(p, v)
		if err != nil {
			return 1, err
		}
		s.Volumes = append(s.Volumes, vc)
	}
	s.Restart = ""
	s.Deploy = nil
	s.ContainerName = ""
	s.Tty = st.TTY
	s.StdinOpen = st.In != nil && !o.Detach
	for k, v := range o.Labels {
		if s.Labels == nil {
			s.Labels = types.Labels{}
		}
		s.Labels[k] = v
	}
	h := e.Pool.Hosts[0]
	if existing, err := e.list(ctx, p.Name, listOptions{all: true, skipOneOffs: true, services: []string{o.Service}}); err == nil && len(existing) > 0 {
		h = existing[0].Host
	}
	plan := &Plan{Steps: []Step{{Service: o.Service, Replica: 1, Host: h.Name, Action: ActCreate}}}
	tp := *p.Project
	tp.Services = types.Services{}
	for k, v := range p.Services {
		tp.Services[k] = v
	}
	tp.Services[o.Service] = s
	runProject := *p
	runProject.Project = &tp
	// What the engine cannot do is refused before anything, dependencies
	// included, is created, as up refuses it.
	if err := e.checkEngines(ctx, &runProject, plan, e.probeHosts(ctx)); err != nil {
		return 1, err
	}
	deps := compose.WithDependencies(p.Project, []string{o.Service})
	var depSet []string
	for _, d := range deps {
		if d != o.Service {
			depSet = append(depSet, d)
		}
	}
	if !o.NoDeps && len(depSet) > 0 {
		if _, err := e.Up(ctx, p, UpOptions{Services: depSet, Images: o.Images, LockTimeout: o.LockTimeout}); err != nil {
			return 1, err
		}
	}
	if err := e.pingAll(ctx); err != nil {
		return 1, err
	}
	images, err := e.ensureImages(ctx, p, map[string][]*hosts.Host{o.Service: {h}}, o.Images)
	if err != nil {
		return 1, err
	}
	nets, vols, err := e.ensureNetworksVolumes(ctx, &runProject, []string{o.Service}, plan)
	if err != nil {
		return 1, err
	}
	name := o.Name
	if name == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name = fmt.Sprintf("%s-%s-run-%s", p.Name, o.Service, hex.EncodeToString(b))
	}
	targets := map[string]string{}
	if err := e.fillTargets(ctx, p, s, targets); err != nil {
		return 1, err
	}
	spec, err := buildSpec(specInput{
		project: &runProject, svc: s, replica: 1, name: name, host: h.Name,
		image: ImageRef(p, s), imageID: images[o.Service][h.Name],
		networks: nets[h.Name], volumes: vols[h.Name], targets: targets, oneOff: true,
	})
	if err != nil {
		return 1, err
	}
	spec.config.AttachStdin = s.StdinOpen
	spec.config.AttachStdout = !o.Detach
	spec.config.AttachStderr = !o.Detach
	spec.config.StdinOnce = s.StdinOpen
	spec.host.AutoRemove = o.Remove && o.Detach
	if !o.ServicePorts && len(o.Publish) == 0 {
		spec.host.PortBindings = nat.PortMap{}
	}
	if st.TTY && st.Size != nil {
		hgt, w := st.Size()
		spec.host.ConsoleSize = [2]uint{hgt, w}
	}
	id, err := e.createContainer(ctx, newSem(1), h, spec, name, s.Platform)
	if err != nil {
		return 1, err
	}
	cli := h.Client
	remove := func() {
		if o.Remove && !o.Detach {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = cli.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	if o.Detach {
		if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return 1, fmt.Errorf("start container %s: %w", name, err)
		}
		if st.Out != nil {
			fmt.Fprintln(st.Out, name)
		}
		return 0, nil
	}
	defer remove()
	resp, err := cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: s.StdinOpen, Stdout: true, Stderr: true})
	if err != nil {
		return 1, fmt.Errorf("attach to %s: %w", name, err)
	}
	defer resp.Close()
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 1, fmt.Errorf("start container %s: %w", name, explainStartError(err))
	}
	if st.TTY && st.Resized != nil && st.Size != nil {
		go forwardResize(ctx, st, func(hh, w uint) {
			_ = cli.ContainerResize(ctx, id, container.ResizeOptions{Height: hh, Width: w})
		})
	}
	if err := pipe(ctx, resp, st, s.StdinOpen); err != nil {
		return 1, err
	}
	select {
	case w := <-waitC:
		if w.Error != nil {
			return 1, fmt.Errorf("wait for %s: %s", name, w.Error.Message)
		}
		return int(w.StatusCode), nil
	case err := <-errC:
		return 1, fmt.Errorf("wait for %s: %w", name, err)
	case <-ctx.Done():
		return 130, ctx.Err()
	}
}

// parseShortVolume parses a -v SRC:DST[:ro] flag into a compose volume.
func parseShortVolume(p *compose.Project, v string) (types.ServiceVolumeConfig, error) {
	parts := strings.Split(v, ":")
	vc := types.ServiceVolumeConfig{}
	switch len(parts) {
	case 1:
		vc.Type, vc.Target = types.VolumeTypeVolume, parts[0]
		return vc, nil
	case 2, 3:
		vc.Source, vc.Target = parts[0], parts[1]
		if len(parts) == 3 {
			for _, opt := range strings.Split(parts[2], ",") {
				if opt == "ro" {
					vc.ReadOnly = true
				}
			}
		}
	default:
		return vc, fmt.Errorf("-v %s: want SRC:DST[:ro]", v)
	}
	if strings.HasPrefix(vc.Source, ".") || strings.HasPrefix(vc.Source, "/") || strings.HasPrefix(vc.Source, "~") {
		vc.Type = types.VolumeTypeBind
		vc.Bind = &types.ServiceVolumeBind{CreateHostPath: true}
	} else {
		vc.Type = types.VolumeTypeVolume
		if _, ok := p.Volumes[vc.Source]; !ok {
			return vc, fmt.Errorf("-v %s: volume %q is not declared in the top-level volumes", v, vc.Source)
		}
	}
	return vc, nil
}
