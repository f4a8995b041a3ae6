package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-connections/nat"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/spec"
	"github.com/devorch/devorch/netctl"
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
	s, err := runService(p, o, st)
	if err != nil {
		return 1, err
	}
	h := e.runHost(ctx, p, o.Service)
	plan := &Plan{Steps: []Step{{Service: o.Service, Replica: 1, Host: h.Name, Action: ActCreate}}}
	runProject := withService(p, o.Service, s)
	ready, err := e.prepareRun(ctx, p, runProject, plan, o, h)
	if err != nil {
		return 1, err
	}
	name := runName(p.Name, o)
	cs, err := e.runSpec(ctx, p, runProject, s, h, name, ready)
	if err != nil {
		return 1, err
	}
	return e.startOneOff(ctx, h, cs, name, s, o, st)
}

// startOneOff creates the one-off container cs on h with run's streams,
// and starts it detached or runs it attached (run and run on a Swarm).
func (e *Engine) startOneOff(ctx context.Context, h *hosts.Host, cs *spec.Container, name string, s types.ServiceConfig, o RunOptions, st Streams) (int, error) {
	setRunStreams(cs, s.StdinOpen, o, st)
	id, err := e.createContainer(ctx, newSem(1), h, cs, name, s.Platform)
	if err != nil {
		return 1, err
	}
	if o.Detach {
		return ctr.StartDetached(ctx, h.Client, id, name, st)
	}
	return ctr.RunAttached(ctx, h.Client, id, name, s.StdinOpen, o.Remove, st)
}

// runService is the service as its one-off container runs it: its
// configuration with run's overrides, without what belongs to the
// long-running service (restart policy, deploy, container name), and with
// ports only when asked for.
func runService(p *compose.Project, o RunOptions, st Streams) (types.ServiceConfig, error) {
	s, ok := p.Services[o.Service]
	if !ok {
		return s, compose.CheckServices(p.Project, []string{o.Service})
	}
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
	s.Environment = withEnv(s.Environment, o.Env)
	if !o.ServicePorts {
		s.Ports = nil
	}
	for _, pub := range o.Publish {
		pcs, err := types.ParsePortConfig(pub)
		if err != nil {
			return s, fmt.Errorf("-p %s: %w", pub, err)
		}
		s.Ports = append(s.Ports, pcs...)
	}
	for _, v := range o.Volumes {
		vc, err := parseShortVolume(p, v)
		if err != nil {
			return s, err
		}
		s.Volumes = append(s.Volumes, vc)
	}
	s.Restart = ""
	s.Deploy = nil
	s.ContainerName = ""
	s.Tty = st.TTY
	s.StdinOpen = st.In != nil && !o.Detach
	if len(o.Labels) > 0 {
		// A copy: the project's service keeps its own labels.
		labels := types.Labels{}
		maps.Copy(labels, s.Labels)
		maps.Copy(labels, o.Labels)
		s.Labels = labels
	}
	return s, nil
}

// withEnv is env with run's -e overrides (K=V, or a bare K passed on
// without a value) on top, in a new map.
func withEnv(env types.MappingWithEquals, overrides []string) types.MappingWithEquals {
	out := types.MappingWithEquals{}
	for k, v := range env {
		out[k] = v
	}
	for _, kv := range overrides {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

// withService is p with its service name replaced by s; p is unchanged.
func withService(p *compose.Project, name string, s types.ServiceConfig) *compose.Project {
	tp := *p.Project
	tp.Services = types.Services{}
	for k, v := range p.Services {
		tp.Services[k] = v
	}
	tp.Services[name] = s
	out := *p
	out.Project = &tp
	return &out
}

// runDeps lists the services service depends on, directly or not.
func runDeps(p *compose.Project, service string) []string {
	var deps []string
	for _, d := range compose.WithDependencies(p.Project, []string{service}) {
		if d != service {
			deps = append(deps, d)
		}
	}
	return deps
}

// runHost is where the one-off container runs: with the service's
// containers, else on the first host.
func (e *Engine) runHost(ctx context.Context, p *compose.Project, service string) *hosts.Host {
	h := e.Pool.Hosts[0]
	if existing, err := e.list(ctx, p.Name, listOptions{all: true, skipOneOffs: true, services: []string{service}}); err == nil && len(existing) > 0 {
		h = existing[0].Host
	}
	return h
}

// runReady is what the one-off container is created with on its host: its
// image, and the networks and volumes made for it.
type runReady struct {
	imageID string
	nets    map[string]netctl.Ref
	vols    map[string]string
}

// prepareRun does, as up does, what must be done before the container is
// created: refuse what the engine cannot do, bring the dependencies up
// (unless NoDeps), make the image present on h, ensure networks and volumes.
func (e *Engine) prepareRun(ctx context.Context, p, runProject *compose.Project, plan *Plan, o RunOptions, h *hosts.Host) (runReady, error) {
	// What the engine cannot do is refused before anything, dependencies
	// included, is created, as up refuses it.
	if err := e.checkEngines(ctx, runProject, plan, e.probeHosts(ctx)); err != nil {
		return runReady{}, err
	}
	if deps := runDeps(p, o.Service); !o.NoDeps && len(deps) > 0 {
		if _, err := e.Up(ctx, p, UpOptions{Services: deps, Images: o.Images, LockTimeout: o.LockTimeout}); err != nil {
			return runReady{}, err
		}
	}
	if err := e.pingAll(ctx); err != nil {
		return runReady{}, err
	}
	images, err := e.ensureImages(ctx, p, map[string][]*hosts.Host{o.Service: {h}}, o.Images)
	if err != nil {
		return runReady{}, err
	}
	nets, vols, err := e.ensureNetworksVolumes(ctx, runProject, []string{o.Service}, plan)
	if err != nil {
		return runReady{}, err
	}
	return runReady{imageID: images[o.Service][h.Name], nets: nets[h.Name], vols: vols[h.Name]}, nil
}

// runName is the container's name: --name, else one no other run takes.
func runName(project string, o RunOptions) string {
	if o.Name != "" {
		return o.Name
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s-run-%s", project, o.Service, hex.EncodeToString(b))
}

// runSpec is the create request of the one-off container named name.
func (e *Engine) runSpec(ctx context.Context, p, runProject *compose.Project, s types.ServiceConfig, h *hosts.Host, name string, r runReady) (*spec.Container, error) {
	targets := map[string]string{}
	if err := e.fillTargets(ctx, p, s, targets); err != nil {
		return nil, err
	}
	return spec.Build(spec.Input{
		Project: runProject, Service: s, Replica: 1, Name: name, Host: h.Name,
		Image: ImageRef(p, s), ImageID: r.imageID, Version: Version,
		Networks: r.nets, Volumes: r.vols, Targets: targets, OneOff: true,
	})
}

// setRunStreams wires the container to the caller's streams: output
// attached unless detached, stdin when open, removal by the daemon only
// when detached (attached, run removes it itself after the wait), the
// terminal's size, and no published ports unless asked for.
func setRunStreams(cs *spec.Container, stdinOpen bool, o RunOptions, st Streams) {
	cs.Config.AttachStdin = stdinOpen
	cs.Config.AttachStdout = !o.Detach
	cs.Config.AttachStderr = !o.Detach
	cs.Config.StdinOnce = stdinOpen
	cs.Host.AutoRemove = o.Remove && o.Detach
	if !o.ServicePorts && len(o.Publish) == 0 {
		cs.Host.PortBindings = nat.PortMap{}
	}
	if st.TTY && st.Size != nil {
		hgt, w := st.Size()
		cs.Host.ConsoleSize = [2]uint{hgt, w}
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
