package spec

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-units"
)

// hostConfig is the part of the host config that needs nothing but the
// service: security, DNS, kernel settings, logging and resources.
// extraHosts are the engine's own (cross-host links), after the service's.
func hostConfig(s types.ServiceConfig, extraHosts []string) *container.HostConfig {
	return &container.HostConfig{
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
		// compose's cgroup is the cgroup namespace mode; HostConfig.Cgroup
		// (a container whose cgroup to join) stays empty.
		CgroupnsMode: container.CgroupnsMode(s.Cgroup),
		Init:         s.Init,
		ExtraHosts:   append(s.ExtraHosts.AsList(":"), extraHosts...),
		Tmpfs:        tmpfs(s.Tmpfs),
		VolumeDriver: s.VolumeDriver,
		LogConfig:    logConfig(s),
		Resources:    resources(s),
	}
}

// tmpfs maps each short-syntax tmpfs path to its options; never nil.
func tmpfs(list []string) map[string]string {
	out := map[string]string{}
	for _, t := range list {
		path, opts, _ := strings.Cut(t, ":")
		out[path] = opts
	}
	return out
}

// logConfig prefers logging: to the older log_driver and log_opt.
func logConfig(s types.ServiceConfig) container.LogConfig {
	if s.Logging != nil {
		return container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	}
	if s.LogDriver != "" {
		return container.LogConfig{Type: s.LogDriver, Config: s.LogOpt}
	}
	return container.LogConfig{}
}

// restartPolicy reads restart:, or deploy.restart_policy when restart: is
// not set.
func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	r := s.Restart
	if r == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		return deployRestartPolicy(s.Name, s.Deploy.RestartPolicy)
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

// deployRestartPolicy maps Swarm's conditions to Docker's policies; the
// retry count applies only to on-failure, as Docker refuses it elsewhere.
func deployRestartPolicy(svc string, rp *types.RestartPolicy) (container.RestartPolicy, error) {
	out := container.RestartPolicy{}
	switch rp.Condition {
	case "none", "":
		out.Name = container.RestartPolicyDisabled
	case "on-failure":
		out.Name = container.RestartPolicyOnFailure
	case "any":
		out.Name = container.RestartPolicyAlways
	default:
		return out, fmt.Errorf("service %q: deploy.restart_policy.condition %q is not none, on-failure or any", svc, rp.Condition)
	}
	if rp.MaxAttempts != nil && out.Name == container.RestartPolicyOnFailure {
		out.MaximumRetryCount = int(*rp.MaxAttempts)
	}
	return out, nil
}

// namespaces are the IPC and PID modes, with service:x resolved.
func namespaces(s types.ServiceConfig, targets map[string]string) (container.IpcMode, container.PidMode, error) {
	ipc, err := serviceRef(s.Name, targets, "ipc", s.Ipc)
	if err != nil {
		return "", "", err
	}
	pid, err := serviceRef(s.Name, targets, "pid", s.Pid)
	if err != nil {
		return "", "", err
	}
	return container.IpcMode(ipc), container.PidMode(pid), nil
}

// serviceRef turns a namespace field's service:x into container:<id of
// x's container>; any other value is Docker's already.
func serviceRef(svc string, targets map[string]string, field, v string) (string, error) {
	if !strings.HasPrefix(v, types.ServicePrefix) {
		return v, nil
	}
	other := strings.TrimPrefix(v, types.ServicePrefix)
	id, ok := targets[other]
	if !ok {
		return "", fmt.Errorf("service %q: %s refers to service %q, which has no container yet", svc, field, other)
	}
	return "container:" + id, nil
}

// volumesFrom resolves each volumes_from entry (service[:mode] or
// container:name[:mode]) to a container and mode, as Docker takes them.
func volumesFrom(s types.ServiceConfig, targets map[string]string) ([]string, error) {
	var out []string
	for _, vf := range s.VolumesFrom {
		src, mode, _ := strings.Cut(vf, ":")
		if strings.HasPrefix(vf, types.ContainerPrefix) {
			rest := strings.TrimPrefix(vf, types.ContainerPrefix)
			src, mode, _ = strings.Cut(rest, ":")
		} else {
			id, ok := targets[src]
			if !ok {
				return nil, fmt.Errorf("service %q: volumes_from refers to service %q, which has no container yet", s.Name, src)
			}
			src = id
		}
		if mode != "" {
			src += ":" + mode
		}
		out = append(out, src)
	}
	return out, nil
}

// resources is HostConfig.Resources: the service's own fields, then
// deploy.resources, which wins where it is set.
func resources(s types.ServiceConfig) container.Resources {
	r := container.Resources{
		CPUShares:          s.CPUShares,
		CPUPeriod:          s.CPUPeriod,
		CPUQuota:           s.CPUQuota,
		CPURealtimePeriod:  s.CPURTPeriod,
		CPURealtimeRuntime: s.CPURTRuntime,
		CpusetCpus:         s.CPUSet,
		CPUCount:           s.CPUCount,
		CPUPercent:         int64(s.CPUPercent),
		CgroupParent:       s.CgroupParent,
		Memory:             int64(s.MemLimit),
		MemoryReservation:  int64(s.MemReservation),
		Ulimits:            ulimits(s.Ulimits),
		Devices:            devices(s.Devices),
		DeviceCgroupRules:  s.DeviceCgroupRules,
	}
	if s.CPUS > 0 {
		r.NanoCPUs = nanoCPUs(s.CPUS)
	}
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
	if s.BlkioConfig != nil {
		setBlkio(&r, s.BlkioConfig)
	}
	if s.Deploy != nil {
		setDeployResources(&r, s.Deploy.Resources)
	}
	return r
}

func setBlkio(r *container.Resources, b *types.BlkioConfig) {
	r.BlkioWeight = b.Weight
	for _, w := range b.WeightDevice {
		r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: w.Path, Weight: w.Weight})
	}
	r.BlkioDeviceReadBps = throttle(b.DeviceReadBps)
	r.BlkioDeviceWriteBps = throttle(b.DeviceWriteBps)
	r.BlkioDeviceReadIOps = throttle(b.DeviceReadIOps)
	r.BlkioDeviceWriteIOps = throttle(b.DeviceWriteIOps)
}

func throttle(in []types.ThrottleDevice) []*blkiodev.ThrottleDevice {
	var out []*blkiodev.ThrottleDevice
	for _, t := range in {
		out = append(out, &blkiodev.ThrottleDevice{Path: t.Path, Rate: uint64(t.Rate)})
	}
	return out
}

// setDeployResources applies deploy.resources over the service's own
// fields: a limit or reservation that is set wins; devices are requested.
func setDeployResources(r *container.Resources, d types.Resources) {
	if l := d.Limits; l != nil {
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
	if res := d.Reservations; res != nil {
		if res.MemoryBytes > 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
		for _, dv := range res.Devices {
			r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{
				Driver: dv.Driver, Count: int(dv.Count), DeviceIDs: dv.IDs, Capabilities: [][]string{dv.Capabilities}, Options: dv.Options,
			})
		}
	}
}

// Reservations are the CPUs (in nano CPUs) and memory (in bytes) the
// service's deploy.resources.reservations ask for; placement counts them
// against a host's capacity.
func Reservations(s types.ServiceConfig) (int64, int64) {
	if s.Deploy == nil || s.Deploy.Resources.Reservations == nil {
		return 0, 0
	}
	r := s.Deploy.Resources.Reservations
	return nanoCPUs(float32(r.NanoCPUs)), int64(r.MemoryBytes)
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

// ulimits in name order; a single value sets both soft and hard.
func ulimits(m map[string]*types.UlimitsConfig) []*units.Ulimit {
	var out []*units.Ulimit
	for _, u := range slices.Sorted(maps.Keys(m)) {
		l := m[u]
		soft, hard := int64(l.Soft), int64(l.Hard)
		if l.Single != 0 {
			soft, hard = int64(l.Single), int64(l.Single)
		}
		out = append(out, &units.Ulimit{Name: u, Soft: soft, Hard: hard})
	}
	return out
}

// devices with compose's defaults: the same path inside, permissions rwm.
func devices(ds []types.DeviceMapping) []container.DeviceMapping {
	var out []container.DeviceMapping
	for _, d := range ds {
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		out = append(out, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perm})
	}
	return out
}
