package stack

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/internal/testmodel"
)

// load loads a compose file through compose-go as devorch does, from a
// directory that also holds the files c and s for configs and secrets.
func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"compose.yaml": "name: p\n" + yaml, "c": "config", "s": "secret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := compose.Load(context.Background(), compose.Options{
		Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: []string{"FROM_ENV=e"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.Project
}

// options are what a deployer would pass for p: an image per service,
// <ns>_<key> networks, and config and secret names with IDs.
func options(p *types.Project) Options {
	o := Options{
		Namespace: "p",
		Images:    map[string]Image{},
		Networks:  map[string]string{},
		Configs:   map[string]string{},
		Secrets:   map[string]string{},
		ConfigIDs: map[string]string{},
		SecretIDs: map[string]string{},
		Hashes:    map[string]string{},
	}
	for name := range p.Services {
		o.Images[name] = Image{Ref: "sha256:" + name, Tag: name + ":dev"}
		o.Hashes[name] = "hash-" + name
	}
	for key, n := range p.Networks {
		if !n.External {
			o.Networks[key] = "p_" + key
		}
	}
	for key := range p.Configs {
		o.Configs[key] = "p_" + key + "-abc"
		o.ConfigIDs["p_"+key+"-abc"] = "cid-" + key
	}
	for key := range p.Secrets {
		o.Secrets[key] = "p_" + key + "-def"
	}
	return o
}

func convertOne(t *testing.T, yaml, svc string, mod func(*Options)) (swarm.ServiceSpec, []string, error) {
	t.Helper()
	p := load(t, yaml)
	o := options(p)
	if mod != nil {
		mod(&o)
	}
	return Service(p, svc, o)
}

func mustConvert(t *testing.T, yaml, svc string, mod func(*Options)) (swarm.ServiceSpec, []string) {
	t.Helper()
	spec, warnings, err := convertOne(t, yaml, svc, mod)
	if err != nil {
		t.Fatal(err)
	}
	return spec, warnings
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestServiceSpec(t *testing.T) {
	spec, warnings := mustConvert(t, `
services:
  api:
    image: example/api:1
    entrypoint: [/bin/app]
    command: [serve, --port, "80"]
    environment: {B: "2", A: "1", UNSET: null, E: "${FROM_ENV}"}
    working_dir: /srv
    user: "1000:1000"
    hostname: apihost
    extra_hosts: ["db.local=10.0.0.2", "a.local=10.0.0.1"]
    dns: [1.1.1.1]
    dns_search: [example.com]
    dns_opt: [ndots:2]
    stop_signal: SIGINT
    stop_grace_period: 20s
    init: true
    tty: true
    stdin_open: true
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    sysctls: {net.core.somaxconn: "1024"}
    ulimits: {nproc: 65535, nofile: {soft: 1024, hard: 2048}}
    group_add: [audio]
    labels: {team: core}
    healthcheck:
      test: [CMD, /bin/app, health]
      interval: 5s
      timeout: 2s
      retries: 4
      start_period: 10s
      start_interval: 1s
    volumes:
      - data:/data
      - ./c:/etc/c.conf:ro
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1048576}}
    tmpfs: [/run]
    configs: [{source: conf, target: /etc/app.conf, uid: "10", gid: "20", mode: 0440}]
    secrets: [token]
    logging: {driver: json-file, options: {max-size: 10m}}
    deploy:
      labels: {tier: backend}
      replicas: 3
      resources:
        limits: {cpus: "0.1", memory: 256M, pids: 100}
        reservations: {cpus: "0.25", memory: 64M}
      placement:
        constraints: [node.role == worker]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      update_config: {parallelism: 2, delay: 5s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.5, order: start-first}
      rollback_config: {delay: 1s}
volumes:
  data: {labels: {keep: "yes"}}
configs:
  conf: {file: ./c}
secrets:
  token: {file: ./s}
`, "api", nil)
	eq(t, "warnings", warnings, []string(nil))
	eq(t, "Name", spec.Name, "p_api")
	eq(t, "Labels", spec.Labels, map[string]string{
		"tier": "backend", labels.StackNamespace: "p", labels.Project: "p", labels.Service: "api",
		labels.ConfigHash: "hash-api", labels.ImageTag: "api:dev",
	})
	c := spec.TaskTemplate.ContainerSpec
	eq(t, "Image", c.Image, "sha256:api")
	eq(t, "ContainerSpec.Labels", c.Labels, map[string]string{
		"team": "core", labels.StackNamespace: "p", labels.Project: "p", labels.Service: "api",
	})
	eq(t, "Command", c.Command, []string{"/bin/app"})
	eq(t, "Args", c.Args, []string{"serve", "--port", "80"})
	eq(t, "Env", c.Env, []string{"A=1", "B=2", "E=e"})
	eq(t, "Dir", c.Dir, "/srv")
	eq(t, "User", c.User, "1000:1000")
	eq(t, "Hostname", c.Hostname, "apihost")
	eq(t, "Hosts", c.Hosts, []string{"10.0.0.1 a.local", "10.0.0.2 db.local"})
	eq(t, "DNSConfig", c.DNSConfig, &swarm.DNSConfig{Nameservers: []string{"1.1.1.1"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}})
	eq(t, "StopSignal", c.StopSignal, "SIGINT")
	grace := 20 * time.Second
	eq(t, "StopGracePeriod", c.StopGracePeriod, &grace)
	yes := true
	eq(t, "Init", c.Init, &yes)
	eq(t, "TTY/OpenStdin/ReadOnly", []bool{c.TTY, c.OpenStdin, c.ReadOnly}, []bool{true, true, true})
	eq(t, "CapabilityAdd", c.CapabilityAdd, []string{"NET_ADMIN"})
	eq(t, "CapabilityDrop", c.CapabilityDrop, []string{"ALL"})
	eq(t, "Sysctls", c.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	eq(t, "Ulimits", c.Ulimits, []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 65535, Hard: 65535}})
	eq(t, "Groups", c.Groups, []string{"audio"})
	eq(t, "Healthcheck", c.Healthcheck, &container.HealthConfig{
		Test: []string{"CMD", "/bin/app", "health"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
		Retries: 4, StartPeriod: 10 * time.Second, StartInterval: time.Second,
	})
	if len(c.Mounts) != 4 {
		t.Fatalf("Mounts = %+v, want 4", c.Mounts)
	}
	eq(t, "Mounts[0]", c.Mounts[0], mount.Mount{Type: mount.TypeVolume, Source: "p_data", Target: "/data",
		VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{
			"keep": "yes", labels.StackNamespace: "p", labels.Project: "p", labels.Volume: "data"}}})
	eq(t, "Mounts[1] type/target/ro", []any{c.Mounts[1].Type, c.Mounts[1].Target, c.Mounts[1].ReadOnly}, []any{mount.TypeBind, "/etc/c.conf", true})
	if !filepath.IsAbs(c.Mounts[1].Source) || filepath.Base(c.Mounts[1].Source) != "c" {
		t.Errorf("bind source = %q, want the absolute path of ./c", c.Mounts[1].Source)
	}
	eq(t, "Mounts[2]", c.Mounts[2], mount.Mount{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}})
	eq(t, "Mounts[3]", c.Mounts[3], mount.Mount{Type: mount.TypeTmpfs, Target: "/run"})
	eq(t, "Configs", c.Configs, []*swarm.ConfigReference{{
		File:     &swarm.ConfigReferenceFileTarget{Name: "/etc/app.conf", UID: "10", GID: "20", Mode: 0o440},
		ConfigID: "cid-conf", ConfigName: "p_conf-abc",
	}})
	eq(t, "Secrets", c.Secrets, []*swarm.SecretReference{{
		File:       &swarm.SecretReferenceFileTarget{Name: "/run/secrets/token", UID: "0", GID: "0", Mode: 0o444},
		SecretName: "p_token-def",
	}})

	tt := spec.TaskTemplate
	eq(t, "Resources", tt.Resources, &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: 100_000_000, MemoryBytes: 256 << 20, Pids: 100},
		Reservations: &swarm.Resources{NanoCPUs: 250_000_000, MemoryBytes: 64 << 20},
	})
	eq(t, "Placement", tt.Placement, &swarm.Placement{
		Constraints: []string{"node.role == worker"},
		Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}},
		MaxReplicas: 2,
	})
	eq(t, "LogDriver", tt.LogDriver, &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}})
	eq(t, "Networks", tt.Networks, []swarm.NetworkAttachmentConfig{{Target: "p_default", Aliases: []string{"api"}}})
	three := uint64(3)
	eq(t, "Mode", spec.Mode, swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}})
	eq(t, "UpdateConfig", spec.UpdateConfig, &swarm.UpdateConfig{Parallelism: 2, Delay: 5 * time.Second,
		FailureAction: "rollback", Monitor: 30 * time.Second, MaxFailureRatio: 0.5, Order: "start-first"})
	eq(t, "RollbackConfig", spec.RollbackConfig, &swarm.UpdateConfig{Parallelism: 1, Delay: time.Second})
	eq(t, "EndpointSpec", spec.EndpointSpec, &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP})
}

func TestRestartPolicy(t *testing.T) {
	three := uint64(3)
	delay := 5 * time.Second
	for _, tc := range []struct {
		name, svc string
		want      *swarm.RestartPolicy
		err       string
	}{
		{"none set", `{image: x}`, nil, ""},
		{"no", `{image: x, restart: "no"}`, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}, ""},
		{"always", `{image: x, restart: always}`, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}, ""},
		{"unless-stopped", `{image: x, restart: unless-stopped}`, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}, ""},
		{"on-failure", `{image: x, restart: on-failure}`, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}, ""},
		{"on-failure:3", `{image: x, restart: "on-failure:3"}`, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &three}, ""},
		{"deploy wins", `{image: x, restart: always, deploy: {restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3}}}`,
			&swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: &delay, MaxAttempts: &three}, ""},
		{"count on always", `{image: x, restart: "always:2"}`, nil, `service "a": restart: "always:2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, _, err := convertOne(t, "services:\n  a: "+tc.svc+"\n", "a", nil)
			if testmodel.WantErr(t, err, tc.err) {
				eq(t, "RestartPolicy", spec.TaskTemplate.RestartPolicy, tc.want)
			}
		})
	}
}

func TestMode(t *testing.T) {
	one, two, four := uint64(1), uint64(2), uint64(4)
	for _, tc := range []struct {
		name, svc string
		want      swarm.ServiceMode
		err       string
	}{
		{"default one replica", `{image: x}`, swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}, ""},
		{"replicas", `{image: x, deploy: {replicas: 2}}`, swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}, ""},
		{"scale", `{image: x, scale: 4}`, swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &four}}, ""},
		{"global", `{image: x, deploy: {mode: global}}`, swarm.ServiceMode{Global: &swarm.GlobalService{}}, ""},
		{"global with replicas", `{image: x, deploy: {mode: global, replicas: 2}}`, swarm.ServiceMode{}, `service "a": deploy.replicas`},
		{"replicated-job", `{image: x, deploy: {mode: replicated-job, replicas: 2}}`, swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &two, TotalCompletions: &two}}, ""},
		{"global-job", `{image: x, deploy: {mode: global-job}}`, swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}, ""},
		{"unknown", `{image: x, deploy: {mode: daemonset}}`, swarm.ServiceMode{}, `service "a": deploy.mode`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, _, err := convertOne(t, "services:\n  a: "+tc.svc+"\n", "a", nil)
			if testmodel.WantErr(t, err, tc.err) {
				eq(t, "Mode", spec.Mode, tc.want)
			}
		})
	}
}

// TestLoaderFillsIngress pins down what endpointSpec relies on: compose-go
// writes mode: ingress into every port, short or long syntax, so an
// explicit ingress cannot be told from the default. Should compose-go stop
// doing so, explicit ingress could become an error without IPVS.
func TestLoaderFillsIngress(t *testing.T) {
	p := load(t, `
services:
  a: {image: x, ports: ["8080:80", {target: 90, published: "9090"}, {target: 91, published: "9191", mode: ingress}]}
`)
	for i, port := range p.Services["a"].Ports {
		if port.Mode != "ingress" {
			t.Errorf("ports[%d].mode = %q, want compose-go's default ingress", i, port.Mode)
		}
	}
}

func TestEndpoint(t *testing.T) {
	const ports = `ports: ["8080:80", "53:53/udp", {target: 90, published: "9090", mode: host}, {target: 91, published: "9191", mode: ingress}]`
	host := swarm.PortConfigPublishModeHost
	ingress := swarm.PortConfigPublishModeIngress
	portsIn := func(m80, m53, m91 swarm.PortConfigPublishMode) []swarm.PortConfig {
		return []swarm.PortConfig{
			{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: m80},
			{Protocol: "udp", TargetPort: 53, PublishedPort: 53, PublishMode: m53},
			{Protocol: "tcp", TargetPort: 90, PublishedPort: 9090, PublishMode: host},
			{Protocol: "tcp", TargetPort: 91, PublishedPort: 9191, PublishMode: m91},
		}
	}
	for _, tc := range []struct {
		name, deploy string
		noIPVS       bool
		want         *swarm.EndpointSpec
		warning      string
		err          string
	}{
		{"vip and ingress by default", "", false,
			&swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: portsIn(ingress, ingress, ingress)}, "", ""},
		{"no IPVS: dnsrr and host ports", "", true,
			&swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: portsIn(host, host, host)},
			`service "a": ports 8080:80/tcp, 53:53/udp, 9191:91/tcp are published in host mode (the kernel has no IPVS`, ""},
		{"explicit dnsrr: ports go host", "deploy: {endpoint_mode: dnsrr}", false,
			&swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: portsIn(host, host, host)},
			`service "a": ports 8080:80/tcp, 53:53/udp, 9191:91/tcp are published in host mode (endpoint_mode is dnsrr`, ""},
		{"no IPVS: explicit vip refused", "deploy: {endpoint_mode: vip}", true, nil, "",
			`service "a": deploy.endpoint_mode: vip: the kernel has no IPVS: Swarm's virtual IPs and routing mesh do not work here; use endpoint_mode: dnsrr / ports mode: host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, warnings, err := convertOne(t, "services:\n  a: {image: x, "+ports+", "+tc.deploy+"}\n", "a", func(o *Options) { o.NoIPVS = tc.noIPVS })
			if !testmodel.WantErr(t, err, tc.err) {
				return
			}
			eq(t, "EndpointSpec", spec.EndpointSpec, tc.want)
			if tc.warning == "" {
				eq(t, "warnings", warnings, []string(nil))
			} else if len(warnings) != 1 || !strings.HasPrefix(warnings[0], tc.warning) {
				t.Errorf("warnings = %q, want one starting %q", warnings, tc.warning)
			}
		})
	}
}

func TestNetworksAndAliases(t *testing.T) {
	spec, _ := mustConvert(t, `
services:
  api:
    image: x
    networks:
      front: {aliases: [web, api]}
      back: {}
      shared: {}
networks:
  front: {}
  back: {}
  shared: {external: true, name: corp-net}
`, "api", nil)
	eq(t, "Networks", spec.TaskTemplate.Networks, []swarm.NetworkAttachmentConfig{
		{Target: "p_back", Aliases: []string{"api"}},
		{Target: "p_front", Aliases: []string{"api", "web"}},
		{Target: "corp-net", Aliases: []string{"api"}},
	})

	_, _, err := convertOne(t, "services:\n  a: {image: x}\n", "a", func(o *Options) { o.Networks = nil })
	testmodel.WantErr(t, err, `service "a": networks: no Swarm network for "default"`)
}

// TestIgnoredFields checks that each field Swarm cannot run is named in a
// warning with its service, and that the service still converts.
func TestIgnoredFields(t *testing.T) {
	for _, tc := range []struct{ field, svc string }{
		{"build", `{image: x, build: .}`},
		{"depends_on", `{image: x, depends_on: [b]}`},
		{"container_name", `{image: x, container_name: ax}`},
		{"links", `{image: x, links: [b]}`},
		{"external_links", `{image: x, external_links: [other]}`},
		{"devices", `{image: x, devices: ["/dev/fuse:/dev/fuse"]}`},
		{"pid", `{image: x, pid: host}`},
		{"ipc", `{image: x, ipc: host}`},
		{"userns_mode", `{image: x, userns_mode: host}`},
		{"cgroup_parent", `{image: x, cgroup_parent: custom}`},
		{"security_opt", `{image: x, security_opt: ["no-new-privileges:true"]}`},
		{"shm_size", `{image: x, shm_size: 64m}`},
		{"volumes_from", `{image: x, volumes_from: [b]}`},
		{"mac_address", `{image: x, mac_address: "02:42:ac:11:65:43"}`},
		{"cpuset", `{image: x, cpuset: "0,1"}`},
		{"cpu_shares", `{image: x, cpu_shares: 512}`},
		{"network_mode: none", `{image: x, network_mode: none}`},
		{"deploy.resources.reservations.devices", `{image: x, deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}}`},
		{"deploy.resources.reservations.generic_resources", `{image: x, deploy: {resources: {reservations: {generic_resources: [{discrete_resource_spec: {kind: gpu, value: 1}}]}}}}`},
		{"ports[0].host_ip", `{image: x, ports: ["127.0.0.1:80:80"]}`},
		{"networks.default.ipv4_address", `{image: x, networks: {default: {ipv4_address: 10.5.0.5}}}`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, warnings := mustConvert(t, "services:\n  a: "+tc.svc+"\n  b: {image: y}\n", "a", nil)
			want := `service "a": ` + tc.field + ` is ignored on a Swarm (`
			for _, w := range warnings {
				if strings.HasPrefix(w, want) {
					return
				}
			}
			t.Errorf("warnings = %q, want one starting %q", warnings, want)
		})
	}
}

func TestRefusedFields(t *testing.T) {
	for _, tc := range []struct{ name, svc, err string }{
		{"network_mode host", `{image: x, network_mode: host}`, `service "a": network_mode: host: `},
		{"network_mode service", `{image: x, network_mode: "service:b"}`, `service "a": network_mode: service:b: `},
		{"privileged", `{image: x, privileged: true}`, `service "a": privileged: true: `},
		{"healthcheck test and disable", `{image: x, healthcheck: {test: [CMD, "true"], disable: true}}`, `service "a": healthcheck: `},
		{"max_failure_ratio", `{image: x, deploy: {update_config: {max_failure_ratio: 2}}}`, `service "a": deploy.update_config.max_failure_ratio`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convertOne(t, "services:\n  a: "+tc.svc+"\n  b: {image: y}\n", "a", nil)
			testmodel.WantErr(t, err, tc.err)
		})
	}
}

func TestMissingInputs(t *testing.T) {
	const yaml = "services:\n  a: {image: x, configs: [conf], secrets: [tok]}\nconfigs: {conf: {file: ./c}}\nsecrets: {tok: {file: ./s}}\n"
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		err  string
	}{
		{"image", func(o *Options) { delete(o.Images, "a") }, `service "a": no image to run`},
		{"config name", func(o *Options) { o.Configs = nil }, `service "a": configs: no Swarm config name for "conf"`},
		{"secret name", func(o *Options) { o.Secrets = nil }, `service "a": secrets: no Swarm secret name for "tok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convertOne(t, yaml, "a", tc.mod)
			testmodel.WantErr(t, err, tc.err)
		})
	}
}

func TestHealthcheckDisable(t *testing.T) {
	spec, _ := mustConvert(t, "services:\n  a: {image: x, healthcheck: {disable: true}}\n", "a", nil)
	eq(t, "Healthcheck", spec.TaskTemplate.ContainerSpec.Healthcheck, &container.HealthConfig{Test: []string{"NONE"}})
}

func TestServicesDeterministic(t *testing.T) {
	const yaml = `
services:
  a:
    image: x
    container_name: ax
    environment: {Z: "1", Y: "2", X: "3", W: "4"}
    networks: {n3: {}, n1: {}, n2: {}}
    ports: ["80:80", "81:81"]
  b: {image: y, links: [a], pid: host}
networks: {n1: {}, n2: {}, n3: {}}
`
	p := load(t, yaml)
	o := options(p)
	first, warnings, err := Services(p, o)
	if err != nil {
		t.Fatal(err)
	}
	// compose-go turns links into depends_on as well: b warns of both.
	if len(first) != 2 || len(warnings) != 4 {
		t.Fatalf("Services = %d specs, warnings %q; want 2 specs, 4 warnings", len(first), warnings)
	}
	for i := 1; i < len(warnings); i++ {
		if warnings[i-1] > warnings[i] {
			t.Errorf("warnings not sorted: %q", warnings)
		}
	}
	for i := 0; i < 5; i++ {
		again, _, err := Services(load(t, yaml), o)
		if err != nil {
			t.Fatal(err)
		}
		for name, spec := range first {
			if SpecHash(again[name]) != SpecHash(spec) {
				t.Fatalf("service %s: SpecHash differs between two conversions", name)
			}
		}
	}
	o.Hashes["a"] = "other"
	changed, _, _ := Services(p, o)
	if SpecHash(changed["a"]) == SpecHash(first["a"]) {
		t.Error("SpecHash did not change with the config hash label")
	}
	if SpecHash(changed["b"]) != SpecHash(first["b"]) {
		t.Error("SpecHash of b changed with a's config hash")
	}

	// The first error in name order names its service.
	delete(o.Images, "a")
	delete(o.Images, "b")
	_, _, err = Services(p, o)
	testmodel.WantErr(t, err, `service "a": no image`)
}

func TestNetwork(t *testing.T) {
	p := load(t, `
services:
  a: {image: x, networks: [front, legacy, ext]}
networks:
  front:
    driver: overlay
    driver_opts: {encrypted: ""}
    internal: true
    labels: {team: core}
    ipam: {config: [{subnet: 10.9.0.0/24, gateway: 10.9.0.1}]}
  legacy: {driver: bridge}
  ext: {external: true}
`)
	got, err := Network("p", "front", p.Networks["front"])
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Driver/Attachable/Internal", []any{got.Driver, got.Attachable, got.Internal}, []any{"overlay", true, true})
	eq(t, "Labels", got.Labels, map[string]string{"team": "core", labels.StackNamespace: "p", labels.Project: "p", labels.Network: "front"})
	eq(t, "Options", got.Options, map[string]string{"encrypted": ""})
	if got.IPAM == nil || len(got.IPAM.Config) != 1 || got.IPAM.Config[0].Subnet != "10.9.0.0/24" || got.IPAM.Config[0].Gateway != "10.9.0.1" {
		t.Errorf("IPAM = %+v", got.IPAM)
	}
	def, err := Network("p", "default", types.NetworkConfig{})
	if err != nil || def.Driver != "overlay" || def.IPAM != nil {
		t.Errorf("default network = %+v, %v; want a plain overlay", def, err)
	}
	_, err = Network("p", "legacy", p.Networks["legacy"])
	testmodel.WantErr(t, err, `network "legacy": driver "bridge"`)
	_, err = Network("p", "ext", p.Networks["ext"])
	testmodel.WantErr(t, err, `network "ext" is external`)
}

func TestServiceName(t *testing.T) {
	eq(t, "ServiceName", ServiceName("shop", "api"), "shop_api")
}

// TestServiceLevelLimits: a file written for compose keeps its limits on a
// Swarm, and platform: becomes a placement platform.
func TestServiceLevelLimits(t *testing.T) {
	spec, warnings := mustConvert(t, "services:\n  a: {image: x, cpus: 1.5, mem_limit: 128m, mem_reservation: 64m, pids_limit: 10, platform: linux/arm64/v8}\n", "a", nil)
	eq(t, "warnings", warnings, []string(nil))
	eq(t, "Resources", spec.TaskTemplate.Resources, &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: 1_500_000_000, MemoryBytes: 128 << 20, Pids: 10},
		Reservations: &swarm.Resources{MemoryBytes: 64 << 20},
	})
	eq(t, "Placement", spec.TaskTemplate.Placement, &swarm.Placement{Platforms: []swarm.Platform{{OS: "linux", Architecture: "arm64"}}})
}
