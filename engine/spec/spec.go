// Package spec turns one replica of a compose service into a Docker
// container create request: its config (process, identity, environment,
// labels, healthcheck), its host config (security, DNS, logging, resources,
// restart policy, namespaces, ports, mounts), the network it is created on
// and the ones connected after, and the secret and config contents copied
// in before it starts, with the tar stream that copies them. It is pure:
// what it needs from the engine (image, networks, volumes, the containers
// service:x names, cross-host links, the placement reason, devorch's
// version) comes in as data, and nothing here talks to Docker.
package spec

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

// Input is everything needed to turn one replica of a service into a
// container create request.
type Input struct {
	Project *compose.Project
	Service types.ServiceConfig
	Replica int
	// Name is the container's name, which its endpoints answer to.
	Name string
	// Host is the devorch host the container is created on.
	Host    string
	Image   string
	ImageID string
	// Version is devorch's, written in a label.
	Version string
	// Networks maps compose network keys to Docker networks.
	Networks map[string]netctl.Ref
	// Volumes maps compose volume keys to Docker volume names.
	Volumes map[string]string
	// Targets maps a service name to the container (replica 1) that
	// service:x references resolve to.
	Targets map[string]string
	OneOff  bool
	// Link is what cross-host links add: extra hosts, ports to publish,
	// and its signature as a label (a change recreates the container).
	Link netctl.Link
	// Placement is the scheduler's reason for the host, kept as a label.
	Placement string
}

// Container is a create request plus the networks to connect after
// create (API 1.41 accepts one network at create time).
type Container struct {
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	// Later lists further networks to connect before start, in order.
	Later []netctl.Attachment
}

// containerLabels are the service's labels and devorch's own.
func containerLabels(in Input) map[string]string {
	p, svc := in.Project, in.Service
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
	l[labels.Replica] = strconv.Itoa(in.Replica)
	l[labels.ConfigHash] = p.Hashes[svc.Name]
	l[labels.ImageID] = in.ImageID
	l[labels.Host] = in.Host
	l[labels.WorkingDir] = p.WorkingDir
	l[labels.ConfigFiles] = strings.Join(p.ComposeFiles, ",")
	l[labels.DependsOn] = strings.Join(compose.Dependencies(p.Project, svc), ",")
	l[labels.Version] = in.Version
	if in.OneOff {
		l[labels.OneOff] = "true"
	} else {
		l[labels.OneOff] = "false"
	}
	if sig := in.Link.Signature(); sig != "" {
		l[labels.Links] = sig
	}
	if in.Placement != "" {
		l[labels.Placement] = in.Placement
	}
	// A one-off container is not placed by the scheduler, so it holds no
	// reservation that placement would count against its host.
	if cpu, mem := Reservations(svc); !in.OneOff && (cpu > 0 || mem > 0) {
		l[labels.ReserveCPUs] = strconv.FormatInt(cpu, 10)
		l[labels.ReserveMemory] = strconv.FormatInt(mem, 10)
	}
	return l
}

// Build turns one replica of a service into a create request. Each
// concern is its own function; the order of the failing steps is the order
// in which a service's errors are reported.
func Build(in Input) (*Container, error) {
	s := in.Service
	cfg := containerConfig(in)
	hc := hostConfig(s, in.Link.ExtraHosts)
	// compose.Validate refuses a bad restart policy, expose, bind or volume
	// type before anything is created; the errors below are a last guard.
	var err error
	if hc.RestartPolicy, err = restartPolicy(s); err != nil {
		return nil, err
	}
	if hc.IpcMode, hc.PidMode, err = namespaces(s, in.Targets); err != nil {
		return nil, err
	}
	if hc.VolumesFrom, err = volumesFrom(s, in.Targets); err != nil {
		return nil, err
	}
	if cfg.ExposedPorts, hc.PortBindings, err = ports(s, in.Link.Publish); err != nil {
		return nil, err
	}
	if hc.Binds, hc.Mounts, err = mounts(in.Project, s, in.Volumes); err != nil {
		return nil, err
	}
	c := &Container{Config: cfg, Host: hc}
	if err := setNetworks(c, in); err != nil {
		return nil, err
	}
	return c, nil
}

// containerConfig is what the container runs and as whom: process,
// identity, environment, labels and healthcheck.
func containerConfig(in Input) *container.Config {
	s := in.Service
	cfg := &container.Config{
		Hostname:   s.Hostname,
		Domainname: s.DomainName,
		User:       s.User,
		Tty:        s.Tty,
		OpenStdin:  s.StdinOpen,
		Image:      in.Image,
		WorkingDir: s.WorkingDir,
		StopSignal: s.StopSignal,
		MacAddress: s.MacAddress,
		Labels:     containerLabels(in),
		Env:        Env(s.Environment),
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
// names, or on its networks: the first at create, the others in c.Later.
func setNetworks(c *Container, in Input) error {
	s, cfg, hc := in.Service, c.Config, c.Host
	switch {
	case strings.HasPrefix(s.NetworkMode, types.ServicePrefix):
		mode, err := serviceRef(s.Name, in.Targets, "network_mode", s.NetworkMode)
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
		atts, err := netctl.Attachments(s, in.Networks, in.Name, in.OneOff)
		if err != nil {
			return err
		}
		if len(atts) > 0 {
			first := atts[0].Network.Name
			hc.NetworkMode = container.NetworkMode(first)
			c.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first: atts[0].Settings}}
			c.Later = atts[1:]
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

// Env is the environment as Docker takes it, sorted by name: KEY=value,
// or a bare KEY where compose has no value.
func Env(m types.MappingWithEquals) []string {
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
