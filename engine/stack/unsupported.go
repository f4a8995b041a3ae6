package stack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// refuse returns an error for a field Swarm would run so differently that
// the service would break, far from the line that caused it, instead of
// merely lacking a feature:
//
//   - network_mode: host, service:… or container:… — the service expects
//     to share a network stack (reach peers on localhost, bind the node's
//     ports); on a Swarm it would get a private overlay address instead,
//     and neither it nor its clients would find each other.
//   - privileged: true — Swarm has no privileged tasks; the service would
//     start without the access it asked for and fail later with EPERM.
//   - provider: — a provider service is not a container at all.
func refuse(s types.ServiceConfig) error {
	switch nm := s.NetworkMode; {
	case nm == "host":
		return errors.New("network_mode: host: a Swarm task cannot share the node's network stack; it would be moved to an overlay network and its ports and localhost peers would not be where it expects. Remove network_mode and publish ports instead")
	case strings.HasPrefix(nm, types.NetworkModeServicePrefix), strings.HasPrefix(nm, types.NetworkModeContainerPrefix):
		return fmt.Errorf("network_mode: %s: a Swarm task cannot share another container's network stack; it would get its own address and reach nothing on localhost. Put both on one network and use the service name instead", nm)
	}
	if s.Privileged {
		return errors.New("privileged: true: Swarm cannot run a privileged task; it would start without the access it asked for. Remove it, or grant what it needs with cap_add")
	}
	if s.Provider != nil {
		return errors.New("provider: a provider service is not a container, and Swarm can only run containers")
	}
	return nil
}

// ignoredField is a service field Swarm has no place for, and why.
type ignoredField struct {
	name string
	set  func(types.ServiceConfig) bool
	why  string
}

const (
	whyNamespace = "a Swarm task cannot share the node's or another container's namespaces"
	whyResources = "only deploy.resources limits and reservations, cpus, mem_limit, mem_reservation and pids_limit apply to Swarm tasks"
)

// ignoredFields are those docker stack lists as unsupported or forbidden
// (docker/cli cli/compose/types), and those compose-go added since, that
// no part of a Swarm service spec can express.
var ignoredFields = []ignoredField{
	{"build", func(s types.ServiceConfig) bool { return s.Build != nil && s.Image != "" }, "tasks run the image the deployer names; nothing is built for them"},
	{"depends_on", func(s types.ServiceConfig) bool { return len(s.DependsOn) > 0 }, "Swarm starts services in no particular order and waits for no dependency's health; a task that fails early is restarted by its restart policy"},
	{"container_name", func(s types.ServiceConfig) bool { return s.ContainerName != "" }, "Swarm names each task's container itself"},
	{"links", func(s types.ServiceConfig) bool { return len(s.Links) > 0 }, "tasks reach each other by service name on shared networks"},
	{"external_links", func(s types.ServiceConfig) bool { return len(s.ExternalLinks) > 0 }, "tasks reach other containers only through shared networks"},
	{"devices", func(s types.ServiceConfig) bool { return len(s.Devices) > 0 }, "a Swarm task spec cannot map host devices"},
	{"gpus", func(s types.ServiceConfig) bool { return len(s.Gpus) > 0 }, "a Swarm task spec cannot request GPUs"},
	{"device_cgroup_rules", func(s types.ServiceConfig) bool { return len(s.DeviceCgroupRules) > 0 }, "a Swarm task spec has no device cgroup rules"},
	{"pid", func(s types.ServiceConfig) bool { return s.Pid != "" }, whyNamespace},
	{"ipc", func(s types.ServiceConfig) bool { return s.Ipc != "" }, whyNamespace},
	{"uts", func(s types.ServiceConfig) bool { return s.Uts != "" }, whyNamespace},
	{"userns_mode", func(s types.ServiceConfig) bool { return s.UserNSMode != "" }, whyNamespace},
	{"cgroup", func(s types.ServiceConfig) bool { return s.Cgroup != "" }, whyNamespace},
	{"cgroup_parent", func(s types.ServiceConfig) bool { return s.CgroupParent != "" }, "Swarm places tasks in its own cgroups"},
	{"security_opt", func(s types.ServiceConfig) bool { return len(s.SecurityOpt) > 0 }, "docker stack does not carry security options into a task spec either"},
	{"shm_size", func(s types.ServiceConfig) bool { return s.ShmSize != 0 }, "a Swarm task spec has no shm size; mount a tmpfs at /dev/shm instead"},
	{"volumes_from", func(s types.ServiceConfig) bool { return len(s.VolumesFrom) > 0 }, "a task cannot mount another container's volumes; share a named volume instead"},
	{"volume_driver", func(s types.ServiceConfig) bool { return s.VolumeDriver != "" }, "set the driver on the top-level volume instead"},
	{"mac_address", func(s types.ServiceConfig) bool { return s.MacAddress != "" }, "Swarm assigns task MAC addresses itself"},
	{"domainname", func(s types.ServiceConfig) bool { return s.DomainName != "" }, "a Swarm task spec has no domain name"},
	{"cpuset", func(s types.ServiceConfig) bool { return s.CPUSet != "" }, whyResources},
	{"cpu_shares", func(s types.ServiceConfig) bool { return s.CPUShares != 0 }, whyResources},
	{"cpu_quota", func(s types.ServiceConfig) bool { return s.CPUQuota != 0 }, whyResources},
	{"cpu_period", func(s types.ServiceConfig) bool { return s.CPUPeriod != 0 }, whyResources},
	{"cpu_count", func(s types.ServiceConfig) bool { return s.CPUCount != 0 }, whyResources},
	{"cpu_percent", func(s types.ServiceConfig) bool { return s.CPUPercent != 0 }, whyResources},
	{"cpu_rt_period", func(s types.ServiceConfig) bool { return s.CPURTPeriod != 0 }, whyResources},
	{"cpu_rt_runtime", func(s types.ServiceConfig) bool { return s.CPURTRuntime != 0 }, whyResources},
	{"memswap_limit", func(s types.ServiceConfig) bool { return s.MemSwapLimit != 0 }, whyResources},
	{"mem_swappiness", func(s types.ServiceConfig) bool { return s.MemSwappiness != 0 }, whyResources},
	{"oom_kill_disable", func(s types.ServiceConfig) bool { return s.OomKillDisable }, whyResources},
	{"blkio_config", func(s types.ServiceConfig) bool { return s.BlkioConfig != nil }, whyResources},
	{"storage_opt", func(s types.ServiceConfig) bool { return len(s.StorageOpt) > 0 }, "a Swarm task spec has no storage options"},
	{"runtime", func(s types.ServiceConfig) bool { return s.Runtime != "" }, "a Swarm task runs on the node's default runtime"},
	{"credential_spec", func(s types.ServiceConfig) bool { return s.CredentialSpec != nil }, "devorch does not create the Swarm config a credential spec needs"},
	{"annotations", func(s types.ServiceConfig) bool { return len(s.Annotations) > 0 }, "a Swarm task spec has no OCI annotations"},
	{"umask", func(s types.ServiceConfig) bool { return s.Umask != nil }, "a Swarm task spec has no umask"},
	{"use_api_socket", func(s types.ServiceConfig) bool { return s.UseAPISocket }, "a Swarm task spec cannot mount the engine's socket and credentials for it"},
	{"models", func(s types.ServiceConfig) bool { return len(s.Models) > 0 }, "Swarm runs no models"},
	{"pre_start", func(s types.ServiceConfig) bool { return len(s.PreStart) > 0 }, "Swarm runs no lifecycle hooks"},
	{"post_start", func(s types.ServiceConfig) bool { return len(s.PostStart) > 0 }, "Swarm runs no lifecycle hooks"},
	{"pre_stop", func(s types.ServiceConfig) bool { return len(s.PreStop) > 0 }, "Swarm runs no lifecycle hooks"},
	{"develop", func(s types.ServiceConfig) bool { return s.Develop != nil }, "watching files and syncing them into tasks is not done on a Swarm"},
}

// ignored warns about each set field a Swarm service spec cannot express.
func ignored(s types.ServiceConfig, w *warner) {
	for _, f := range ignoredFields {
		if f.set(s) {
			w.ignore(f.name, f.why)
		}
	}
	switch s.NetworkMode {
	case "":
	case "none":
		w.ignore("network_mode: none", "a task without networks still gets the node's default bridge; it is attached to no service network")
	default:
		w.ignore("network_mode: "+s.NetworkMode, "tasks attach to the service's networks")
	}
}
