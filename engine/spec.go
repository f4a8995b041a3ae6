package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
)

// specInput is everything needed to turn one replica of a service into a
// container create request.
type specInput struct {
	project *compose.Project
	svc     types.ServiceConfig
	replica int
	name    string
	host    string
	image   string
	imageID string
	// networks maps compose network keys to Docker networks.
	networks map[string]netctl.Ref
	// volumes maps compose volume keys to Docker volume names.
	volumes map[string]string
	// targets maps a service name to the container (replica 1) that
	// service:x references resolve to.
	targets map[string]string
	oneOff  bool
	// extraHosts are added by the engine (cross-host links).
	extraHosts []string
	// publish adds port bindings the engine needs (cross-host links).
	publish []netctl.Publish
}

// containerSpec is a create request plus the networks to connect after
// create (API 1.41 accepts one network at create time).
type containerSpec struct {
	config     *container.Config
	host       *container.HostConfig
	networking *network.NetworkingConfig
	// later lists further networks to connect before start, in order.
	later []netctl.Attachment
}

// serviceLabels are the labels every container of a service carries.
func serviceLabels(p *compose.Project, svc types.ServiceConfig, replica int, host, imageID string, oneOff bool) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	if svc.Deploy != nil {
		for k, v := range svc.Deploy.Labels {
			l[k] = v
		}
	}
	l[labels.Project] = p.Name
	l[labels.Service] = svc.Name
	l[labels.Replica] = strconv.Itoa(replica)
	l[labels.ConfigHash] = p.Hashes[svc.Name]
	l[labels.ImageID] = imageID
	l[labels.Host] = host
	l[labels.WorkingDir] = p.WorkingDir
	l[labels.ConfigFiles] = strings.Join(p.ComposeFiles, ",")
	l[labels.DependsOn] = strings.Join(compose.Dependencies(p.Project, svc), ",")
	l[labels.Version] = Version
	if oneOff {
		l[labels.OneOff] = "true"
	} else {
		l[labels.OneOff] = "false"
	}
	return l
}

// buildSpec turns one replica of a service into a create request. Each
// concern is its own function; the order of the failing steps is the order
// in which a service's errors are reported.
func buildSpec(in specInput) (*containerSpec, error) {
	s := in.svc
	cfg := containerConfig(in)
	hc := hostConfig(s, in.extraHosts)
	// compose.Validate refuses a bad restart policy, expose, bind or volume
	// type before anything is created; the errors below are a last guard.
	var err error
	if hc.RestartPolicy, err = restartPolicy(s); err != nil {
		return nil, err
	}
	if hc.IpcMode, hc.PidMode, err = namespaces(s, in.targets); err != nil {
		return nil, err
	}
	if hc.VolumesFrom, err = volumesFrom(s, in.targets); err != nil {
		return nil, err
	}
	if cfg.ExposedPorts, hc.PortBindings, err = ports(s, in.publish); err != nil {
		return nil, err
	}
	if hc.Binds, hc.Mounts, err = mounts(in.project, s, in.volumes); err != nil {
		return nil, err
	}
	spec := &containerSpec{config: cfg, host: hc}
	if err := setNetworks(spec, in); err != nil {
		return nil, err
	}
	return spec, nil
}

// containerConfig is what the container runs and as whom: process,
// identity, environment, labels and healthcheck.
func containerConfig(in specInput) *container.Config {
	s := in.svc
	cfg := &container.Config{
		Hostname:   s.Hostname,
		Domainname: s.DomainName,
		User:       s.User,
		Tty:        s.Tty,
		OpenStdin:  s.StdinOpen,
		Image:      in.image,
		WorkingDir: s.WorkingDir,
		StopSignal: s.StopSignal,
		MacAddress: s.MacAddress,
		Labels:     serviceLabels(in.project, s, in.replica, in.host, in.imageID, in.oneOff),
		Env:        envList(s.Environment),
	}
	if s.Command != nil {
		cfg.Cmd = strslice.StrSlice(s.Command)
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint = strslice.StrSlice(s.Entrypoint)
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &secs
	}
	if s.HealthCheck != nil {
		cfg.Healthcheck = healthConfig(s.HealthCheck)
	}
	return cfg
}

// setNetworks puts the container in the network namespace network_mode
// names, or on its networks: the first at create, the others in spec.later.
func setNetworks(spec *containerSpec, in specInput) error {
	s, cfg, hc := in.svc, spec.config, spec.host
	switch {
	case strings.HasPrefix(s.NetworkMode, types.ServicePrefix):
		mode, err := serviceRef(s.Name, in.targets, "network_mode", s.NetworkMode)
		if err != nil {
			return err
		}
		hc.NetworkMode = container.NetworkMode(mode)
		// A container joining another's network namespace cannot set these.
		cfg.Hostname, cfg.Domainname, cfg.ExposedPorts, hc.PortBindings = "", "", nil, nil
		hc.DNS, hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts = nil, nil, nil, nil
	case s.NetworkMode != "":
		hc.NetworkMode = container.NetworkMode(s.NetworkMode)
	default:
		atts, err := netctl.Attachments(s, in.networks, in.name, in.oneOff)
		if err != nil {
			return err
		}
		if len(atts) > 0 {
			first := atts[0].Network.Name
			hc.NetworkMode = container.NetworkMode(first)
			spec.networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first: atts[0].Settings}}
			spec.later = atts[1:]
		}
	}
	return nil
}

// ports are the exposed ports and their host bindings, nil when there are
// none: expose, ports, then what cross-host links publish.
func ports(s types.ServiceConfig, publish []netctl.Publish) (nat.PortSet, nat.PortMap, error) {
	exposed, err := exposedPorts(s)
	if err != nil {
		return nil, nil, err
	}
	bindings := nat.PortMap{}
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port := nat.Port(fmt.Sprintf("%d/%s", pc.Target, proto))
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: pc.HostIP, HostPort: pc.Published})
	}
	// Cross-host links publish a declared port on the same port number,
	// bound to the address other hosts reach this one at, never to every
	// interface.
	for _, pp := range publish {
		port := nat.Port(pp.Port)
		exposed[port] = struct{}{}
		if !hasBinding(bindings[port], pp.HostIP, port.Port()) {
			bindings[port] = append(bindings[port], nat.PortBinding{HostIP: pp.HostIP, HostPort: port.Port()})
		}
	}
	if len(exposed) == 0 {
		exposed = nil
	}
	if len(bindings) == 0 {
		bindings = nil
	}
	return exposed, bindings, nil
}

// exposedPorts expands expose entries ("7000", "7100-7101/udp") to ports.
func exposedPorts(s types.ServiceConfig) (nat.PortSet, error) {
	exposed := nat.PortSet{}
	for _, e := range s.Expose {
		proto := "tcp"
		port := e
		if i := strings.Index(e, "/"); i >= 0 {
			port, proto = e[:i], e[i+1:]
		}
		start, end, err := nat.ParsePortRangeToInt(port)
		if err != nil {
			return nil, fmt.Errorf("service %q: expose %q: %w", s.Name, e, err)
		}
		for i := start; i <= end; i++ {
			exposed[nat.Port(fmt.Sprintf("%d/%s", i, proto))] = struct{}{}
		}
	}
	return exposed, nil
}

func hasBinding(bs []nat.PortBinding, ip, hostPort string) bool {
	for _, b := range bs {
		if b.HostIP == ip && b.HostPort == hostPort {
			return true
		}
	}
	return false
}

func envList(m types.MappingWithEquals) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if v := m[k]; v != nil {
			out = append(out, k+"="+*v)
		} else {
			out = append(out, k)
		}
	}
	return out
}

// healthConfig is the healthcheck as Docker takes it; disable: true is
// Docker's NONE, which also turns off one the image declares.
func healthConfig(h *types.HealthCheckConfig) *container.HealthConfig {
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	out := &container.HealthConfig{Test: h.Test}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		out.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}
