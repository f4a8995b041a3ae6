package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

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
	networks map[string]networkRef
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

func buildSpec(in specInput) (*containerSpec, error) {
	s := in.svc
	p := in.project
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
		Labels:     serviceLabels(p, s, in.replica, in.host, in.imageID, in.oneOff),
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

	hc := &container.HostConfig{
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		GroupAdd:       s.GroupAdd,
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		SecurityOpt:    s.SecurityOpt,
		StorageOpt:     s.StorageOpt,
		Sysctls:        map[string]string(s.Sysctls),
		ShmSize:        int64(s.ShmSize),
		Runtime:        s.Runtime,
		OomScoreAdj:    int(s.OomScoreAdj),
		UTSMode:        container.UTSMode(s.Uts),
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		Cgroup:         container.CgroupSpec(s.Cgroup),
		CgroupnsMode:   container.CgroupnsMode(s.Cgroup),
		Init:           s.Init,
		ExtraHosts:     append(s.ExtraHosts.AsList(":"), in.extraHosts...),
		Tmpfs:          map[string]string{},
		VolumeDriver:   s.VolumeDriver,
	}
	if s.Cgroup != "" {
		hc.Cgroup = ""
	}
	if s.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	} else if s.LogDriver != "" {
		hc.LogConfig = container.LogConfig{Type: s.LogDriver, Config: s.LogOpt}
	}
	// compose.Validate refuses a bad restart policy, expose, bind or volume
	// type before anything is created; the errors below are a last guard.
	rp, err := restartPolicy(s)
	if err != nil {
		return nil, err
	}
	hc.RestartPolicy = rp
	if err := resources(s, &hc.Resources); err != nil {
		return nil, err
	}
	for _, t := range s.Tmpfs {
		path, opts, _ := strings.Cut(t, ":")
		hc.Tmpfs[path] = opts
	}
	// Namespaces shared with other services.
	ref := func(field, v string) (string, error) {
		if !strings.HasPrefix(v, types.ServicePrefix) {
			return v, nil
		}
		svc := strings.TrimPrefix(v, types.ServicePrefix)
		id, ok := in.targets[svc]
		if !ok {
			return "", fmt.Errorf("service %q: %s refers to service %q, which has no container yet", s.Name, field, svc)
		}
		return "container:" + id, nil
	}
	ipc, err := ref("ipc", s.Ipc)
	if err != nil {
		return nil, err
	}
	hc.IpcMode = container.IpcMode(ipc)
	pid, err := ref("pid", s.Pid)
	if err != nil {
		return nil, err
	}
	hc.PidMode = container.PidMode(pid)
	for _, vf := range s.VolumesFrom {
		src, mode, _ := strings.Cut(vf, ":")
		if strings.HasPrefix(vf, types.ContainerPrefix) {
			rest := strings.TrimPrefix(vf, types.ContainerPrefix)
			src, mode, _ = strings.Cut(rest, ":")
		} else {
			id, ok := in.targets[src]
			if !ok {
				return nil, fmt.Errorf("service %q: volumes_from refers to service %q, which has no container yet", s.Name, src)
			}
			src = id
		}
		if mode != "" {
			src += ":" + mode
		}
		hc.VolumesFrom = append(hc.VolumesFrom, src)
	}
	for _, u := range sortedKeys(s.Ulimits) {
		l := s.Ulimits[u]
		soft, hard := int64(l.Soft), int64(l.Hard)
		if l.Single != 0 {
			soft, hard = int64(l.Single), int64(l.Single)
		}
		hc.Ulimits = append(hc.Ulimits, &units.Ulimit{Name: u, Soft: soft, Hard: hard})
	}
	for _, d := range s.Devices {
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perm})
	}
	hc.DeviceCgroupRules = s.DeviceCgroupRules

	// Ports: exposed and published.
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
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
	for _, pp := range in.publish {
		port := nat.Port(pp.Port)
		exposed[port] = struct{}{}
		if !hasBinding(bindings[port], pp.HostIP, port.Port()) {
			bindings[port] = append(bindings[port], nat.PortBinding{HostIP: pp.HostIP, HostPort: port.Port()})
		}
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	if len(bindings) > 0 {
		hc.PortBindings = bindings
	}

	// Mounts.
	var binds []string
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			bindSpec, m, err := bindMount(p, s, v)
			if err != nil {
				return nil, err
			}
			if bindSpec != "" {
				binds = append(binds, bindSpec)
			} else {
				hc.Mounts = append(hc.Mounts, m)
			}
		case types.VolumeTypeVolume:
			m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Source != "" {
				name, ok := in.volumes[v.Source]
				if !ok {
					return nil, fmt.Errorf("service %q: volume %q is not declared in the top-level volumes", s.Name, v.Source)
				}
				m.Source = name
			}
			if v.Volume != nil {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Labels: v.Volume.Labels, Subpath: v.Volume.Subpath}
			}
			hc.Mounts = append(hc.Mounts, m)
		case types.VolumeTypeTmpfs:
			m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
			hc.Mounts = append(hc.Mounts, m)
		case types.VolumeTypeNamedPipe, types.VolumeTypeCluster, types.VolumeTypeImage:
			return nil, fmt.Errorf("service %q: volume type %q is not supported by devorch", s.Name, v.Type)
		}
	}
	hc.Binds = binds
	secretMounts, err := fileMounts(p, s)
	if err != nil {
		return nil, err
	}
	hc.Mounts = append(hc.Mounts, secretMounts...)

	// Networks.
	spec := &containerSpec{config: cfg, host: hc}
	switch {
	case strings.HasPrefix(s.NetworkMode, types.ServicePrefix):
		mode, err := ref("network_mode", s.NetworkMode)
		if err != nil {
			return nil, err
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
			return nil, err
		}
		if len(atts) > 0 {
			first := atts[0].Network.Name
			hc.NetworkMode = container.NetworkMode(first)
			spec.networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first: atts[0].Settings}}
			spec.later = atts[1:]
		}
	}
	return spec, nil
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

func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	r := s.Restart
	if r == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		out := container.RestartPolicy{}
		switch rp.Condition {
		case "none", "":
			out.Name = container.RestartPolicyDisabled
		case "on-failure":
			out.Name = container.RestartPolicyOnFailure
		case "any":
			out.Name = container.RestartPolicyAlways
		default:
			return out, fmt.Errorf("service %q: deploy.restart_policy.condition %q is not none, on-failure or any", s.Name, rp.Condition)
		}
		if rp.MaxAttempts != nil && out.Name == container.RestartPolicyOnFailure {
			out.MaximumRetryCount = int(*rp.MaxAttempts)
		}
		return out, nil
	}
	name, count, _ := strings.Cut(r, ":")
	out := container.RestartPolicy{}
	switch name {
	case "", "no":
		out.Name = container.RestartPolicyDisabled
	case "always":
		out.Name = container.RestartPolicyAlways
	case "unless-stopped":
		out.Name = container.RestartPolicyUnlessStopped
	case "on-failure":
		out.Name = container.RestartPolicyOnFailure
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return out, fmt.Errorf("service %q: restart %q: bad retry count", s.Name, r)
			}
			out.MaximumRetryCount = n
		}
	default:
		return out, fmt.Errorf("service %q: restart %q is not no, always, on-failure or unless-stopped", s.Name, r)
	}
	return out, nil
}

func resources(s types.ServiceConfig, r *container.Resources) error {
	r.CPUShares = s.CPUShares
	r.CPUPeriod = s.CPUPeriod
	r.CPUQuota = s.CPUQuota
	r.CPURealtimePeriod = s.CPURTPeriod
	r.CPURealtimeRuntime = s.CPURTRuntime
	r.CpusetCpus = s.CPUSet
	r.CPUCount = s.CPUCount
	r.CPUPercent = int64(s.CPUPercent)
	r.CgroupParent = s.CgroupParent
	if s.CPUS > 0 {
		r.NanoCPUs = nanoCPUs(s.CPUS)
	}
	r.Memory = int64(s.MemLimit)
	r.MemoryReservation = int64(s.MemReservation)
	if s.MemSwapLimit != 0 {
		r.MemorySwap = int64(s.MemSwapLimit)
	}
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	if s.OomKillDisable {
		t := true
		r.OomKillDisable = &t
	}
	if s.PidsLimit != 0 {
		v := s.PidsLimit
		r.PidsLimit = &v
	}
	if b := s.BlkioConfig; b != nil {
		r.BlkioWeight = b.Weight
		for _, w := range b.WeightDevice {
			r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: w.Path, Weight: w.Weight})
		}
		th := func(in []types.ThrottleDevice) []*blkiodev.ThrottleDevice {
			var out []*blkiodev.ThrottleDevice
			for _, t := range in {
				out = append(out, &blkiodev.ThrottleDevice{Path: t.Path, Rate: uint64(t.Rate)})
			}
			return out
		}
		r.BlkioDeviceReadBps = th(b.DeviceReadBps)
		r.BlkioDeviceWriteBps = th(b.DeviceWriteBps)
		r.BlkioDeviceReadIOps = th(b.DeviceReadIOps)
		r.BlkioDeviceWriteIOps = th(b.DeviceWriteIOps)
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.NanoCPUs > 0 {
				r.NanoCPUs = nanoCPUs(float32(l.NanoCPUs))
			}
			if l.MemoryBytes > 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.Pids > 0 {
				v := l.Pids
				r.PidsLimit = &v
			}
		}
		if res := s.Deploy.Resources.Reservations; res != nil {
			if res.MemoryBytes > 0 {
				r.MemoryReservation = int64(res.MemoryBytes)
			}
			for _, d := range res.Devices {
				r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{
					Driver: d.Driver, Count: int(d.Count), DeviceIDs: d.IDs, Capabilities: [][]string{d.Capabilities}, Options: d.Options,
				})
			}
		}
	}
	return nil
}

// nanoCPUs converts compose's float32 CPU count to Docker's NanoCPUs as the
// docker CLI does from the decimal text: widening float32(0.3) directly gives
// 0.30000001192…, that is 300000011 instead of 300000000.
func nanoCPUs(cpus float32) int64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(cpus), 'g', -1, 32), 64)
	if err != nil {
		v = float64(cpus)
	}
	return int64(math.Round(v * 1e9))
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
