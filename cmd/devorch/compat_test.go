package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/devorch/devorch/internal/testenv"
)

// The compatibility test brings the same compose files up twice, once with
// docker-compose v1 (Debian's 1.29, Python) and once with devorch, and
// compares what each asked Docker for, container by container.
//
// Where v1 and compose v2 differ, devorch follows v2, and the comparison
// normalises those differences away:
//   - container names: v1 names replicas PROJECT_SERVICE_1, v2 and devorch
//     PROJECT-SERVICE-1; containers are matched by their service label
//     (com.docker.compose.service for v1, dev.devorch.service for devorch);
//   - project labels: v1 sets com.docker.compose.*, devorch dev.devorch.*;
//     both are ignored, only the labels the file sets are compared;
//   - networks and volumes are PROJECT_KEY with both, so only the project
//     name is replaced;
//   - env order: v1 keeps the file's order, devorch sorts it;
//   - named volumes: v1 sends them as Binds ("vol:/data:rw"), devorch as
//     Mounts; Docker reports the Mode of the first as "rw" and of the second
//     as "z", so mounts are compared by type, source, destination and RW;
//   - restart: with no restart key v1 sends an empty policy name, devorch
//     "no" (as v2); both mean the same;
//   - capabilities: the Go client adds the CAP_ prefix, docker-py does not;
//   - unset list fields: v1 sends [] where devorch sends null.
//
// Differences left out of the files on purpose:
//   - links: v1 (and v2) link to container names (PROJECT_b_1:alias plus
//     extra aliases), devorch to the service name ("b:alias"), which the
//     network's DNS resolves the same way; endpoint links are not compared;
//   - configs outside swarm are silently dropped by v1, deploy.* too without
//     --compatibility; devorch (as v2) honours both;
//   - depends_on service_healthy on a service without a healthcheck: v1
//     refuses the file, devorch (as v2) fails when it waits.

// compatStacks are the compose files compared: files in load order.
var compatStacks = []struct {
	name  string
	files map[string]string
	order []string
}{
	{
		name:  "web-api-db",
		order: []string{"compose.yaml", "compose.override.yaml"},
		files: map[string]string{
			"conf/app.ini": "k=v\n",
			"token.txt":    "tok\n",
			"web.env":      "FROM_FILE=1\nSHARED=file\n",
			"compose.yaml": `
services:
  db:
    image: devorch-test/testapp:latest
    environment:
      NAME: db
      ROLE: database
    healthcheck:
      test: ["CMD", "/testapp", "health"]
      interval: 1s
      timeout: 2s
      retries: 5
      start_period: 1s
    volumes:
      - dbdata:/data
      - ./conf:/conf:ro
    networks:
      back:
        aliases: [database]
    restart: unless-stopped
    labels:
      com.example.tier: db
  api:
    image: devorch-test/testapp:latest
    command: ["serve"]
    environment:
      - NAME=api
      - DB_URL=http://database:8080
    depends_on:
      db:
        condition: service_healthy
    ports:
      - "8080"
      - "127.0.0.1::8081"
    expose: ["9000"]
    volumes:
      - /cache
      - type: tmpfs
        target: /scratch
    networks: [back, front]
    restart: on-failure
    labels: ["com.example.tier=api"]
    secrets: [token]
  web:
    image: devorch-test/busybox:latest
    entrypoint: ["sh", "-c"]
    command: ["sleep 3600"]
    working_dir: /tmp
    stop_signal: SIGKILL
    env_file: [web.env]
    environment:
      SHARED: environment
    healthcheck:
      disable: true
    depends_on: [api]
    networks:
      front:
        aliases: [www]
    restart: always
    user: "1000"
networks:
  back:
  front:
    labels:
      com.example.net: front
volumes:
  dbdata:
    labels:
      com.example.vol: db
secrets:
  token:
    file: ./token.txt
`,
			// The override exercises merging: maps merge, ports and volumes
			// are appended, command and healthcheck fields replace.
			"compose.override.yaml": `
services:
  db:
    healthcheck:
      retries: 3
  api:
    environment:
      - NAME=api-override
      - EXTRA=1
    labels:
      com.example.override: "yes"
    ports:
      - "127.0.0.1::9090"
    volumes:
      - ./conf:/conf2:ro
    restart: "on-failure:2"
  web:
    command: ["sleep 7200"]
    labels:
      com.example.web: "1"
`,
		},
	},
	{
		// The 2.x file format v1 knows best, with many host settings and
		// namespaces shared between services.
		name:  "v2-format",
		order: []string{"compose.yaml"},
		files: map[string]string{
			"app.env":  "FROM_FILE=1\n",
			"sub/keep": "",
			"compose.yaml": `
version: "2.4"
services:
  app:
    image: devorch-test/testapp:latest
    hostname: apphost
    domainname: example.test
    mem_limit: 64m
    mem_reservation: 32m
    cpus: 0.5
    pids_limit: 64
    shm_size: 32m
    init: true
    ipc: shareable
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    dns: [9.9.9.9]
    dns_search: [example.test]
    extra_hosts: ["somehost:10.1.2.3"]
    sysctls:
      net.core.somaxconn: "1024"
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    tmpfs: ["/run/x:size=1m"]
    read_only: true
    security_opt: ["no-new-privileges:true"]
    group_add: ["100"]
    oom_score_adj: 100
    stop_grace_period: 5s
    tty: true
    stdin_open: true
    env_file: [app.env]
    environment: [EXTRA=1]
    labels:
      com.example.app: "1"
    volumes:
      - data:/data
    ports:
      - "127.0.0.1::8080"
  side:
    image: devorch-test/testapp:latest
    environment:
      PORT: "8090"
    network_mode: "service:app"
    volumes_from: ["app:ro"]
  ipcuser:
    image: devorch-test/testapp:latest
    ipc: "service:app"
    depends_on:
      app:
        condition: service_started
    healthcheck:
      test: ["CMD", "/testapp", "health"]
      interval: 1s
  misc:
    image: devorch-test/testapp:latest
    entrypoint: /testapp
    command: serve --quiet
    expose: ["7000-7001", "7100/udp"]
    ports: ["127.0.0.1::8080", "9999/udp"]
    extra_hosts:
      somehost: 10.1.2.3
    dns_opt: ["ndots:2"]
    devices: ["/dev/null:/dev/mynull:r"]
    cpu_shares: 512
    cpuset: "0"
    mem_limit: 64m
    memswap_limit: 128m
    mem_swappiness: 10
    oom_kill_disable: true
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2"}
    mac_address: "02:42:ac:11:65:43"
    stop_signal: SIGTERM
    healthcheck:
      test: /testapp health
      interval: 1500ms
    volumes:
      - type: volume
        source: data
        target: /nocopy
        volume: {nocopy: true}
      - type: bind
        source: .
        target: /src
        read_only: true
      - ./sub:/sub:rw
volumes:
  data:
`,
		},
	},
}

func TestCompatWithComposeV1(t *testing.T) {
	t.Parallel()
	testenv.Images(t)
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv(testenv.EnvRequireDocker) == "1" {
			t.Fatalf("docker-compose (v1) is not installed (%s=1): %v", testenv.EnvRequireDocker, err)
		}
		t.Skipf("docker-compose (v1) is not installed: %v", err)
	}
	for _, st := range compatStacks {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, st.files)
			v1 := s.project + "-v1"
			// -f paths are relative to the working directory, not the
			// project directory, for compose and devorch alike.
			var fileArgs []string
			for _, f := range st.order {
				fileArgs = append(fileArgs, "-f", filepath.Join(s.dir, f))
			}
			compose := func(args ...string) ([]byte, error) {
				cmd := exec.Command(bin, append(append([]string{"--ansi", "never", "-p", v1}, fileArgs...), args...)...)
				cmd.Dir = s.dir
				cmd.Env = compatEnv()
				return cmd.CombinedOutput()
			}
			t.Cleanup(func() {
				if out, err := compose("down", "-v", "--remove-orphans", "-t", "2"); err != nil {
					t.Errorf("docker-compose down: %v\n%s", err, out)
				}
				compatSweep(t, s, v1)
			})

			// Both up at once: they share nothing but the daemon.
			var wg sync.WaitGroup
			var v1Out []byte
			var v1Err error
			wg.Add(1)
			go func() {
				defer wg.Done()
				v1Out, v1Err = compose("up", "-d")
			}()
			r := s.devorch(append(fileArgs, "up", "-d")...)
			wg.Wait()
			if v1Err != nil {
				t.Fatalf("docker-compose up: %v\n%s", v1Err, v1Out)
			}
			if r.code != 0 {
				t.Fatalf("devorch up: %s", r)
			}

			old := compatContainers(t, s, "com.docker.compose.project", v1, "com.docker.compose.service")
			ours := compatContainers(t, s, "dev.devorch.project", s.project, "dev.devorch.service")
			if !reflect.DeepEqual(fieldsKeys(old), fieldsKeys(ours)) {
				t.Fatalf("services differ: v1 %v, devorch %v", fieldsKeys(old), fieldsKeys(ours))
			}
			nOld := compatNormaliser(s.dir, v1, old)
			nOurs := compatNormaliser(s.dir, s.project, ours)
			for _, svc := range fieldsKeys(old) {
				a, b := compatViewOf(old[svc], nOld), compatViewOf(ours[svc], nOurs)
				for _, d := range compatDiff(a, b) {
					t.Errorf("service %s: %s", svc, d)
				}
			}
			compatCompareResources(t, s, v1)

			s.must(append(fileArgs, "down", "-v")...)
			s.assertNothingLeft()
		})
	}
}

// compatEnv is the environment for docker-compose: no inherited COMPOSE_*
// settings, and the classic builder (nothing is built, but v1 checks).
func compatEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	return append(env, "COMPOSE_DOCKER_CLI_BUILD=0", "DOCKER_BUILDKIT=0", "COMPOSE_INTERACTIVE_NO_CLI=1")
}

// compatSweep removes whatever of the v1 project docker-compose down left.
func compatSweep(t *testing.T, s *stack, project string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))
	cs, _ := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	for _, c := range cs {
		t.Errorf("docker-compose down left container %s", c.Names)
		_ = s.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	ns, _ := s.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	for _, n := range ns {
		t.Errorf("docker-compose down left network %s", n.Name)
		_ = s.cli.NetworkRemove(ctx, n.ID)
	}
	vs, _ := s.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		t.Errorf("docker-compose down -v left volume %s", v.Name)
		_ = s.cli.VolumeRemove(ctx, v.Name, true)
	}
}

// compatContainers returns replica 1 of each service of a project.
func compatContainers(t *testing.T, s *stack, projectLabel, project, serviceLabel string) map[string]container.InspectResponse {
	t.Helper()
	ctx := context.Background()
	list, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", projectLabel+"="+project))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]container.InspectResponse{}
	for _, c := range list {
		svc := c.Labels[serviceLabel]
		if _, dup := out[svc]; dup {
			t.Fatalf("service %s of %s has several containers", svc, project)
		}
		insp, err := s.cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[svc] = insp
	}
	return out
}

// compatNorm rewrites one side's names to a common form: the project
// directory becomes $DIR, the project name $PROJECT, container IDs (full and
// short) <service>, and anonymous volume names <anonymous>.
type compatNorm struct {
	repl *strings.Replacer
}

var compatAnonVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

func compatNormaliser(dir, project string, cs map[string]container.InspectResponse) compatNorm {
	var pairs []string
	for svc, c := range cs {
		pairs = append(pairs, c.ID, "<"+svc+">")
	}
	for svc, c := range cs {
		pairs = append(pairs, c.ID[:12], "<"+svc+">")
	}
	pairs = append(pairs, dir, "$DIR", project, "$PROJECT")
	return compatNorm{repl: strings.NewReplacer(pairs...)}
}

func (n compatNorm) s(v string) string {
	if compatAnonVolume.MatchString(v) {
		return "<anonymous>"
	}
	return n.repl.Replace(v)
}

func (n compatNorm) list(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, n.s(v))
	}
	return out
}

func (n compatNorm) sorted(vs []string) []string {
	out := n.list(vs)
	sort.Strings(out)
	return out
}

// compatView is what is compared of one container.
type compatView struct {
	Image, ImageID            string
	Cmd, Entrypoint           []string
	Env                       []string
	User, WorkingDir          string
	StopSignal                string
	StopTimeout               string
	Hostname, Domainname      string
	Tty, OpenStdin            bool
	Health                    *container.HealthConfig
	Restart                   string
	Labels                    map[string]string
	Mounts                    []string
	PortBindings, Published   []string
	Exposed                   []string
	NetworkMode               string
	Networks                  map[string][]string
	IpcMode, PidMode          string
	VolumesFrom               []string
	CapAdd, CapDrop           []string
	DNS, DNSSearch            []string
	ExtraHosts, GroupAdd      []string
	SecurityOpt               []string
	Init, Privileged          bool
	ReadonlyRootfs            bool
	ShmSize                   int64
	Memory, MemoryReservation int64
	NanoCPUs                  int64
	PidsLimit                 string
	OomScoreAdj               int
	Sysctls, Tmpfs            map[string]string
	Ulimits                   []string
	DNSOptions, Devices       []string
	CPUShares                 int64
	CpusetCpus                string
	MemorySwap                int64
	MemorySwappiness          string
	OomKillDisable            bool
	LogConfig                 string
	MacAddress                string
}

func compatViewOf(c container.InspectResponse, n compatNorm) compatView {
	cfg, hc := c.Config, c.HostConfig
	v := compatView{
		Image:       cfg.Image,
		ImageID:     c.Image,
		Cmd:         n.list(cfg.Cmd),
		Entrypoint:  n.list(cfg.Entrypoint),
		User:        cfg.User,
		WorkingDir:  cfg.WorkingDir,
		StopSignal:  cfg.StopSignal,
		Hostname:    n.s(cfg.Hostname),
		Domainname:  cfg.Domainname,
		Tty:         cfg.Tty,
		OpenStdin:   cfg.OpenStdin,
		Health:      cfg.Healthcheck,
		Labels:      map[string]string{},
		Networks:    map[string][]string{},
		NetworkMode: n.s(string(hc.NetworkMode)),
		IpcMode:     n.s(string(hc.IpcMode)),
		PidMode:     n.s(string(hc.PidMode)),
		VolumesFrom: n.sorted(hc.VolumesFrom),
		CapAdd:      fieldsNormCaps(hc.CapAdd),
		CapDrop:     fieldsNormCaps(hc.CapDrop),
		DNS:         n.list(hc.DNS),
		DNSSearch:   n.list(hc.DNSSearch),
		ExtraHosts:  n.sorted(hc.ExtraHosts),
		GroupAdd:    n.sorted(hc.GroupAdd),
		SecurityOpt: n.sorted(hc.SecurityOpt),
		Init:        hc.Init != nil && *hc.Init,
		Privileged:  hc.Privileged,

		ReadonlyRootfs:    hc.ReadonlyRootfs,
		ShmSize:           hc.ShmSize,
		Memory:            hc.Memory,
		MemoryReservation: hc.MemoryReservation,
		NanoCPUs:          hc.NanoCPUs,
		OomScoreAdj:       hc.OomScoreAdj,
		Sysctls:           map[string]string{},
		Tmpfs:             map[string]string{},
	}
	if cfg.StopTimeout != nil {
		v.StopTimeout = fmt.Sprint(*cfg.StopTimeout)
	}
	if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
		v.PidsLimit = fmt.Sprint(*hc.PidsLimit)
	}
	for _, e := range cfg.Env {
		if !strings.HasPrefix(e, "PATH=") {
			v.Env = append(v.Env, n.s(e))
		}
	}
	sort.Strings(v.Env)
	v.Restart = string(hc.RestartPolicy.Name)
	if v.Restart == "" {
		v.Restart = "no"
	}
	if hc.RestartPolicy.MaximumRetryCount > 0 {
		v.Restart += fmt.Sprintf(":%d", hc.RestartPolicy.MaximumRetryCount)
	}
	for k, val := range cfg.Labels {
		if !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "dev.devorch.") {
			v.Labels[k] = val
		}
	}
	for _, m := range c.Mounts {
		src := m.Source
		if m.Type == "volume" {
			src = m.Name
		}
		v.Mounts = append(v.Mounts, fmt.Sprintf("%s %s:%s rw=%v", m.Type, n.s(src), m.Destination, m.RW))
	}
	sort.Strings(v.Mounts)
	for p, bs := range hc.PortBindings {
		for _, b := range bs {
			v.PortBindings = append(v.PortBindings, fmt.Sprintf("%s -> %s:%s", p, b.HostIP, b.HostPort))
		}
	}
	sort.Strings(v.PortBindings)
	// Published: what Docker bound; ephemeral host ports differ per run.
	for p, bs := range c.NetworkSettings.Ports {
		for _, b := range bs {
			v.Published = append(v.Published, fmt.Sprintf("%s -> %s:*", p, b.HostIP))
		}
	}
	sort.Strings(v.Published)
	for p := range cfg.ExposedPorts {
		v.Exposed = append(v.Exposed, string(p))
	}
	sort.Strings(v.Exposed)
	for name, ep := range c.NetworkSettings.Networks {
		// compose v2 (and devorch) also give a container its own name as
		// an alias; v1 does not. The rest must match.
		var aliases []string
		for _, a := range ep.Aliases {
			if a != strings.TrimPrefix(c.Name, "/") {
				aliases = append(aliases, a)
			}
		}
		v.Networks[n.s(name)] = n.sorted(aliases)
	}
	for k, val := range hc.Sysctls {
		v.Sysctls[k] = val
	}
	for k, val := range hc.Tmpfs {
		v.Tmpfs[k] = val
	}
	for _, u := range hc.Ulimits {
		v.Ulimits = append(v.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	sort.Strings(v.Ulimits)
	v.DNSOptions = n.list(hc.DNSOptions)
	for _, d := range hc.Devices {
		v.Devices = append(v.Devices, fmt.Sprintf("%s:%s:%s", d.PathOnHost, d.PathInContainer, d.CgroupPermissions))
	}
	v.CPUShares, v.CpusetCpus, v.MemorySwap = hc.CPUShares, hc.CpusetCpus, hc.MemorySwap
	if hc.MemorySwappiness != nil {
		v.MemorySwappiness = fmt.Sprint(*hc.MemorySwappiness)
	}
	v.OomKillDisable = hc.OomKillDisable != nil && *hc.OomKillDisable
	v.LogConfig = fmt.Sprintf("%s %v", hc.LogConfig.Type, hc.LogConfig.Config)
	v.MacAddress = cfg.MacAddress //nolint:staticcheck // the API 1.41 field
	return v
}

// compatDiff lists the fields where v1 (a) and devorch (b) differ. Empty
// and nil lists and maps are equal.
func compatDiff(a, b compatView) []string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if (fa.Kind() == reflect.Slice || fa.Kind() == reflect.Map) && fa.Len() == 0 && fb.Len() == 0 {
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			out = append(out, fmt.Sprintf("%s: docker-compose v1 %s, devorch %s", va.Type().Field(i).Name, compatFmt(fa), compatFmt(fb)))
		}
	}
	return out
}

func compatFmt(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return fmt.Sprintf("%+v", v.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v.Interface())
}

// compatCompareResources compares the networks and volumes the two runs
// created: the same keys, drivers, options and user labels.
func compatCompareResources(t *testing.T, s *stack, v1 string) {
	t.Helper()
	ctx := context.Background()
	userLabels := func(l map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			if !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "dev.devorch.") {
				out[k] = v
			}
		}
		return out
	}
	nets := func(label, project string) map[string]string {
		list, err := s.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label+"="+project))})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, n := range list {
			out[strings.Replace(n.Name, project, "$PROJECT", 1)] = fmt.Sprintf("driver=%s internal=%v options=%v labels=%v", n.Driver, n.Internal, n.Options, userLabels(n.Labels))
		}
		return out
	}
	vols := func(label, project string) map[string]string {
		list, err := s.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label+"="+project))})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, v := range list.Volumes {
			out[strings.Replace(v.Name, project, "$PROJECT", 1)] = fmt.Sprintf("driver=%s options=%v labels=%v", v.Driver, v.Options, userLabels(v.Labels))
		}
		return out
	}
	if a, b := nets("com.docker.compose.project", v1), nets("dev.devorch.project", s.project); !reflect.DeepEqual(a, b) {
		t.Errorf("networks differ:\n  docker-compose v1 %v\n  devorch           %v", a, b)
	}
	if a, b := vols("com.docker.compose.project", v1), vols("dev.devorch.project", s.project); !reflect.DeepEqual(a, b) {
		t.Errorf("volumes differ:\n  docker-compose v1 %v\n  devorch           %v", a, b)
	}
}
