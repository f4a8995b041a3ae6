package stack

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"
)

// serviceMode maps deploy.mode. Replicated services always carry their
// count (1 when neither deploy.replicas nor scale says), so that a spec
// compared later does not depend on Swarm's default.
func serviceMode(s types.ServiceConfig) (swarm.ServiceMode, error) {
	var mode string
	var replicas *int
	if s.Deploy != nil {
		mode, replicas = s.Deploy.Mode, s.Deploy.Replicas
	}
	if s.Scale != nil {
		replicas = s.Scale
	}
	count := func() (*uint64, error) {
		if replicas == nil {
			return nil, nil
		}
		if *replicas < 0 {
			return nil, fmt.Errorf("deploy.replicas: %d is negative", *replicas)
		}
		n := uint64(*replicas)
		return &n, nil
	}
	switch mode {
	case "", "replicated":
		n, err := count()
		if err != nil {
			return swarm.ServiceMode{}, err
		}
		if n == nil {
			one := uint64(1)
			n = &one
		}
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: n}}, nil
	case "global":
		if replicas != nil {
			return swarm.ServiceMode{}, errors.New("deploy.replicas: a global service runs one task per node and takes no replica count")
		}
		return swarm.ServiceMode{Global: &swarm.GlobalService{}}, nil
	case "replicated-job":
		n, err := count()
		if err != nil {
			return swarm.ServiceMode{}, err
		}
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: n, TotalCompletions: n}}, nil
	case "global-job":
		if replicas != nil {
			return swarm.ServiceMode{}, errors.New("deploy.replicas: a global job runs once per node and takes no replica count")
		}
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}, nil
	}
	return swarm.ServiceMode{}, fmt.Errorf("deploy.mode: unknown mode %q (replicated, global, replicated-job or global-job)", mode)
}

// restartPolicy prefers deploy.restart_policy and falls back to the
// service's restart:, as docker stack does: no → none, always and
// unless-stopped → any (a Swarm task stopped by hand is replaced either
// way), on-failure[:N] → on-failure with N attempts.
func restartPolicy(s types.ServiceConfig) (*swarm.RestartPolicy, error) {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		r := s.Deploy.RestartPolicy
		return &swarm.RestartPolicy{
			Condition:   swarm.RestartPolicyCondition(r.Condition),
			Delay:       (*time.Duration)(r.Delay),
			MaxAttempts: r.MaxAttempts,
			Window:      (*time.Duration)(r.Window),
		}, nil
	}
	if s.Restart == "" {
		return nil, nil
	}
	name, count, hasCount := strings.Cut(s.Restart, ":")
	var attempts *uint64
	if hasCount {
		n, err := strconv.ParseUint(count, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("restart: %q: the retry count is not a number", s.Restart)
		}
		if n > 0 {
			attempts = &n
		}
	}
	switch name {
	case types.RestartPolicyNo:
		if hasCount {
			return nil, fmt.Errorf("restart: %q: only on-failure takes a retry count", s.Restart)
		}
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}, nil
	case types.RestartPolicyAlways, types.RestartPolicyUnlessStopped:
		if hasCount {
			return nil, fmt.Errorf("restart: %q: only on-failure takes a retry count", s.Restart)
		}
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}, nil
	case types.RestartPolicyOnFailure:
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: attempts}, nil
	}
	return nil, fmt.Errorf("restart: unknown policy %q (no, always, on-failure[:N] or unless-stopped)", s.Restart)
}

// nanoCPUs converts a CPU count through its shortest decimal form, so
// that cpus: 0.1 (a float32 in compose-go) is 100000000, not 100000001.
func nanoCPUs(c float32) int64 {
	f, err := strconv.ParseFloat(strconv.FormatFloat(float64(c), 'f', -1, 32), 64)
	if err != nil {
		f = float64(c)
	}
	return int64(math.Round(f * 1e9))
}

// resources maps deploy.resources; the service-level cpus, mem_limit,
// mem_reservation and pids_limit fill what deploy leaves unset, so that a
// file written for compose keeps its limits on a Swarm (docker stack
// refuses those fields instead).
func resources(s types.ServiceConfig, w *warner) (*swarm.ResourceRequirements, error) {
	var lim, res *types.Resource
	if s.Deploy != nil {
		lim, res = s.Deploy.Resources.Limits, s.Deploy.Resources.Reservations
	}
	var limits swarm.Limit
	if lim != nil {
		limits = swarm.Limit{NanoCPUs: nanoCPUs(float32(lim.NanoCPUs)), MemoryBytes: int64(lim.MemoryBytes), Pids: lim.Pids}
		if len(lim.Devices) > 0 {
			w.ignore("deploy.resources.limits.devices", "Swarm cannot give a task devices")
		}
	}
	if limits.NanoCPUs == 0 && s.CPUS != 0 {
		limits.NanoCPUs = nanoCPUs(s.CPUS)
	}
	if limits.MemoryBytes == 0 {
		limits.MemoryBytes = int64(s.MemLimit)
	}
	if limits.Pids == 0 {
		limits.Pids = s.PidsLimit
	}
	var reserve swarm.Resources
	if res != nil {
		reserve = swarm.Resources{NanoCPUs: nanoCPUs(float32(res.NanoCPUs)), MemoryBytes: int64(res.MemoryBytes)}
		if len(res.Devices) > 0 {
			w.ignore("deploy.resources.reservations.devices", "Swarm cannot give a task devices such as GPUs")
		}
		if len(res.GenericResources) > 0 {
			w.ignore("deploy.resources.reservations.generic_resources", "they need resources each node advertises in its daemon configuration, which devorch does not set up; tasks would stay pending")
		}
	}
	if reserve.MemoryBytes == 0 {
		reserve.MemoryBytes = int64(s.MemReservation)
	}
	if limits.NanoCPUs < 0 || limits.MemoryBytes < 0 || reserve.NanoCPUs < 0 || reserve.MemoryBytes < 0 {
		return nil, errors.New("deploy.resources: negative limit or reservation")
	}
	out := &swarm.ResourceRequirements{}
	if limits != (swarm.Limit{}) {
		out.Limits = &limits
	}
	if reserve.NanoCPUs != 0 || reserve.MemoryBytes != 0 {
		out.Reservations = &reserve
	}
	if out.Limits == nil && out.Reservations == nil {
		return nil, nil
	}
	return out, nil
}

// placement maps deploy.placement and platform: (the node's OS and
// architecture, which Swarm's platform filter checks).
func placement(s types.ServiceConfig) (*swarm.Placement, error) {
	var pl swarm.Placement
	if s.Deploy != nil {
		d := s.Deploy.Placement
		pl.Constraints = nonEmpty(d.Constraints)
		for _, p := range d.Preferences {
			pl.Preferences = append(pl.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: p.Spread}})
		}
		pl.MaxReplicas = d.MaxReplicas
	}
	if s.Platform != "" {
		parts := strings.Split(s.Platform, "/")
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("platform: %q is not os/arch[/variant]", s.Platform)
		}
		pl.Platforms = []swarm.Platform{{OS: parts[0], Architecture: parts[1]}}
	}
	if pl.Constraints == nil && pl.Preferences == nil && pl.MaxReplicas == 0 && pl.Platforms == nil {
		return nil, nil
	}
	return &pl, nil
}

// attachments attaches the service to each of its networks, sorted by
// key. The compose service name is an alias on each, so that `api`
// resolves on an overlay as it does in compose (docker stack does the
// same), followed by the network's own aliases.
func attachments(p *types.Project, s types.ServiceConfig, o Options, w *warner) ([]swarm.NetworkAttachmentConfig, error) {
	if s.NetworkMode == "none" {
		return nil, nil
	}
	var out []swarm.NetworkAttachmentConfig
	for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
		target := o.Networks[key]
		if target == "" {
			nc, ok := p.Networks[key]
			switch {
			case !ok:
				return nil, fmt.Errorf("networks: undefined network %q", key)
			case bool(nc.External) && nc.Name != "":
				target = nc.Name
			default:
				return nil, fmt.Errorf("networks: no Swarm network for %q: the deployer gave none", key)
			}
		}
		sn := s.Networks[key]
		att := swarm.NetworkAttachmentConfig{Target: target}
		if sn == nil || sn.ServiceNameAliasEnabled() {
			att.Aliases = []string{s.Name}
		}
		if sn != nil {
			for _, a := range sn.Aliases {
				if a != s.Name {
					att.Aliases = append(att.Aliases, a)
				}
			}
			att.DriverOpts = nonEmptyMap(sn.DriverOpts)
			field := "networks." + key + "."
			if sn.Ipv4Address != "" {
				w.ignore(field+"ipv4_address", "Swarm assigns task addresses itself; several tasks could not share one")
			}
			if sn.Ipv6Address != "" {
				w.ignore(field+"ipv6_address", "Swarm assigns task addresses itself; several tasks could not share one")
			}
			if sn.MacAddress != "" {
				w.ignore(field+"mac_address", "Swarm assigns task MAC addresses itself")
			}
			if len(sn.LinkLocalIPs) > 0 {
				w.ignore(field+"link_local_ips", "a Swarm network attachment has none")
			}
			if sn.InterfaceName != "" {
				w.ignore(field+"interface_name", "a Swarm network attachment cannot name its interface")
			}
			if sn.GatewayPriority != 0 {
				w.ignore(field+"gw_priority", "a Swarm network attachment has no gateway priority")
			}
		}
		out = append(out, att)
	}
	return out, nil
}

// endpointSpec maps deploy.endpoint_mode and ports.
//
// Without IPVS in the nodes' kernel, Swarm's virtual IPs and routing mesh
// do not work: the default endpoint mode is then dnsrr and ports are
// published in host mode, and an explicit endpoint_mode: vip is an error.
// compose-go fills mode: ingress into every port it loads, short or long
// syntax, so an explicit `mode: ingress` cannot be told from the default:
// every ingress port is taken as defaulted and switched to host mode with
// a warning, never refused. dnsrr with ingress ports is invalid on any
// Swarm, so the same switch applies to an explicit endpoint_mode: dnsrr.
func endpointSpec(s types.ServiceConfig, noIPVS bool, w *warner) (*swarm.EndpointSpec, error) {
	mode := ""
	if s.Deploy != nil {
		mode = strings.ToLower(s.Deploy.EndpointMode)
	}
	switch mode {
	case "":
		mode = string(swarm.ResolutionModeVIP)
		if noIPVS {
			mode = string(swarm.ResolutionModeDNSRR)
		}
	case string(swarm.ResolutionModeVIP):
		if noIPVS {
			return nil, errors.New("deploy.endpoint_mode: vip: the kernel has no IPVS: Swarm's virtual IPs and routing mesh do not work here; use endpoint_mode: dnsrr / ports mode: host")
		}
	case string(swarm.ResolutionModeDNSRR):
	default:
		return nil, fmt.Errorf("deploy.endpoint_mode: unknown mode %q (vip or dnsrr)", mode)
	}
	dnsrr := mode == string(swarm.ResolutionModeDNSRR)
	var ports []swarm.PortConfig
	var switched []string
	for i, p := range s.Ports {
		pc := swarm.PortConfig{
			Name:        p.Name,
			Protocol:    swarm.PortConfigProtocol(p.Protocol),
			TargetPort:  p.Target,
			PublishMode: swarm.PortConfigPublishMode(p.Mode),
		}
		if pc.Protocol == "" {
			pc.Protocol = swarm.PortConfigProtocolTCP
		}
		if p.Published != "" {
			n, err := strconv.ParseUint(p.Published, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("ports[%d]: published %q is not a single port number", i, p.Published)
			}
			pc.PublishedPort = uint32(n)
		}
		switch pc.PublishMode {
		case "", swarm.PortConfigPublishModeIngress:
			if dnsrr {
				pc.PublishMode = swarm.PortConfigPublishModeHost
				switched = append(switched, portString(pc))
			} else {
				pc.PublishMode = swarm.PortConfigPublishModeIngress
			}
		case swarm.PortConfigPublishModeHost:
		default:
			return nil, fmt.Errorf("ports[%d]: unknown mode %q (ingress or host)", i, p.Mode)
		}
		if p.HostIP != "" {
			w.ignore(fmt.Sprintf("ports[%d].host_ip", i), "Swarm publishes a port on all of a node's addresses")
		}
		ports = append(ports, pc)
	}
	if len(switched) > 0 {
		why := "endpoint_mode is dnsrr, which cannot use the routing mesh"
		if noIPVS {
			why = "the kernel has no IPVS, so there is no routing mesh"
		}
		w.add("ports %s are published in host mode (%s): each is reachable only on the nodes running a task, one task per node and port", strings.Join(switched, ", "), why)
	}
	return &swarm.EndpointSpec{Mode: swarm.ResolutionMode(mode), Ports: ports}, nil
}

func portString(p swarm.PortConfig) string {
	s := strconv.FormatUint(uint64(p.TargetPort), 10) + "/" + string(p.Protocol)
	if p.PublishedPort != 0 {
		s = strconv.FormatUint(uint64(p.PublishedPort), 10) + ":" + s
	}
	return s
}

// logDriver maps logging:, or the legacy log_driver/log_opt.
func logDriver(s types.ServiceConfig) *swarm.Driver {
	if s.Logging != nil && (s.Logging.Driver != "" || len(s.Logging.Options) > 0) {
		return &swarm.Driver{Name: s.Logging.Driver, Options: nonEmptyMap(s.Logging.Options)}
	}
	if s.LogDriver != "" || len(s.LogOpt) > 0 {
		return &swarm.Driver{Name: s.LogDriver, Options: nonEmptyMap(s.LogOpt)}
	}
	return nil
}

// updateConfig maps deploy.update_config and rollback_config; parallelism
// defaults to 1 as in docker stack.
func updateConfig(field string, u *types.UpdateConfig) (*swarm.UpdateConfig, error) {
	if u == nil {
		return nil, nil
	}
	if r := float64(u.MaxFailureRatio); math.IsNaN(r) || r < 0 || r > 1 {
		return nil, fmt.Errorf("deploy.%s.max_failure_ratio: %v is not between 0 and 1", field, u.MaxFailureRatio)
	}
	parallel := uint64(1)
	if u.Parallelism != nil {
		parallel = *u.Parallelism
	}
	return &swarm.UpdateConfig{
		Parallelism:     parallel,
		Delay:           time.Duration(u.Delay),
		FailureAction:   u.FailureAction,
		Monitor:         time.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           u.Order,
	}, nil
}
