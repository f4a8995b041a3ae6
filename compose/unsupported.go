package compose

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
)

// supportedServiceFields are the service keys devorch turns into container
// configuration. Any other key that is set produces a warning naming the
// service and the field, so nothing is silently dropped.
var supportedServiceFields = map[string]bool{
	"annotations": true, "attach": true, "build": true, "cap_add": true, "cap_drop": true,
	"cgroup": true, "cgroup_parent": true, "command": true, "configs": true,
	"container_name": true, "cpu_count": true, "cpu_percent": true, "cpu_period": true,
	"cpu_quota": true, "cpu_rt_period": true, "cpu_rt_runtime": true, "cpus": true,
	"cpuset": true, "cpu_shares": true, "depends_on": true, "deploy": true, "develop": true,
	"device_cgroup_rules": true, "devices": true, "dns": true, "dns_opt": true,
	"dns_search": true, "domainname": true, "entrypoint": true, "environment": true,
	"env_file": true, "expose": true, "external_links": true, "extra_hosts": true,
	"group_add": true, "healthcheck": true, "hostname": true, "image": true, "init": true,
	"ipc": true, "labels": true, "label_file": true, "links": true, "logging": true,
	"mac_address": true, "mem_limit": true, "mem_reservation": true, "memswap_limit": true,
	"mem_swappiness": true, "network_mode": true, "networks": true, "oom_kill_disable": true,
	"oom_score_adj": true, "pid": true, "pids_limit": true, "platform": true,
	"ports": true, "privileged": true, "profiles": true, "pull_policy": true,
	"read_only": true, "restart": true, "runtime": true, "scale": true, "secrets": true,
	"security_opt": true, "shm_size": true, "stdin_open": true, "stop_grace_period": true,
	"stop_signal": true, "storage_opt": true, "sysctls": true, "tmpfs": true, "tty": true,
	"ulimits": true, "user": true, "userns_mode": true, "uts": true, "volumes": true,
	"volumes_from": true, "working_dir": true, "blkio_config": true, "volume_driver": true,
	"log_driver": true, "log_opt": true,
}

// supportedDeployFields are the deploy keys devorch honours.
var supportedDeployFields = map[string]bool{
	"replicas": true, "resources": true, "placement": true, "labels": true, "mode": true,
	"restart_policy": true,
}

// unsupportedFields lists warnings for set service fields devorch ignores.
func unsupportedFields(s types.ServiceConfig) []string {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	var out []string
	for k, v := range m {
		if isEmpty(v) {
			continue
		}
		if !supportedServiceFields[k] {
			out = append(out, fmt.Sprintf("service %q: field %q is not supported by devorch and is ignored", s.Name, k))
		}
	}
	if d, ok := m["deploy"].(map[string]any); ok {
		for k, v := range d {
			if !isEmpty(v) && !supportedDeployFields[k] {
				out = append(out, fmt.Sprintf("service %q: field \"deploy.%s\" is not supported by devorch and is ignored", s.Name, k))
			}
		}
		if mode, _ := d["mode"].(string); mode != "" && mode != "replicated" {
			out = append(out, fmt.Sprintf("service %q: deploy.mode %q is not supported by devorch; it runs as replicated", s.Name, mode))
		}
	}
	sort.Strings(out)
	return out
}

func unsupportedTopLevel(p *types.Project) []string {
	var out []string
	for name, n := range p.Networks {
		if n.External || n.Driver == "" || n.Driver == "bridge" || n.Driver == "default" {
			continue
		}
		// The driver is passed to Docker as compose passes it (a host
		// without it is refused before anything is created); what devorch
		// adds for bridge networks does not apply to it.
		out = append(out, fmt.Sprintf("network %q: driver %q is passed to Docker as is; devorch allocates cross-host subnets only for bridge networks", name, n.Driver))
	}
	if len(p.Models) > 0 {
		out = append(out, "top level: field \"models\" is not supported by devorch and is ignored")
	}
	if len(p.Jobs) > 0 {
		out = append(out, "top level: field \"jobs\" is not supported by devorch and is ignored")
	}
	return out
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case bool:
		return !t
	case float64:
		return t == 0
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}
