package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/devorch/devorch/internal/testenv"
)

// These tests check that compose service fields reach Docker as compose v2
// would send them: each brings up one stack that uses many fields at once
// and inspects the containers, networks and volumes through the Docker API.

// fieldsServices exercises container-level fields. {{...}} placeholders are
// filled per run (ports, subnet, names) so parallel runs do not clash.
const fieldsServices = `
services:
  full:
    image: devorch-test/testapp:latest
    entrypoint: ["/testapp"]
    command: ["serve"]
    environment:
      MAP_VAR: map-value
      EMPTY_VAR: ""
      OVERRIDE: from-environment
      EXTRA_PORTS: "8081"
    env_file: [app.env]
    ports:
      - "{{P0}}-{{P1}}:8080-8081"
      - "127.0.0.1:{{P2}}:8080"
      - "{{P3}}:9999/udp"
    expose: ["7000", "7100-7101/udp"]
    volumes:
      - data:/data
      - data:/data-ro:ro
      - ./hostdir:/host:ro
      - ./hostdir:/host-z:z
      - type: bind
        source: ./hostdir
        target: /long
        read_only: true
    tmpfs: ["/tmp:size=2m"]
    networks:
      front:
        aliases: [full-alias]
        ipv4_address: "{{NET}}.10"
    healthcheck:
      test: ["CMD", "/testapp", "health"]
      interval: 1s
      timeout: 3s
      retries: 4
      start_period: 5s
    restart: on-failure:3
    labels:
      com.example.map: "m"
      com.example.empty: ""
    user: "0:0"
    working_dir: /data
    hostname: fullhost
    domainname: example.test
    container_name: "{{PROJECT}}-custom"
    extra_hosts:
      - "somehost:10.1.2.3"
      - "host.docker.internal:host-gateway"
    dns: [9.9.9.9]
    dns_search: [search.example]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 3s
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    sysctls:
      net.core.somaxconn: "1024"
    tty: true
    stdin_open: true
    deploy:
      resources:
        limits: {cpus: "0.3", memory: 64M, pids: 100}
        reservations: {memory: 32M}
    secrets:
      - token
      - source: token
        target: renamed
    configs:
      - appconf
      - source: appconf
        target: /etc/app.conf
      - source: appconf
        target: etc/relative.conf
    devices: ["/dev/null:/dev/mynull"]
    shm_size: 64m
    oom_score_adj: 500
    group_add: ["100"]
    security_opt: ["no-new-privileges:true"]
    ipc: shareable
  peer:
    image: devorch-test/testapp:latest
    environment:
      - LIST_VAR=list-value
      - FROM_DOTENV
      - DVT_FIELDS_SURELY_UNSET
    depends_on:
      full:
        condition: service_healthy
    networks: [default, front]
    healthcheck:
      disable: true
    restart: unless-stopped
    labels: ["com.example.list=l", "com.example.other=o"]
    user: "1000:1000"
    pids_limit: 64
    # A long-syntax tmpfs mount lives here, not on full: Docker refuses
    # volumes_from a container that has one (moby/moby#35194).
    volumes:
      - type: tmpfs
        target: /scratch
        tmpfs:
          size: 1048576
  joiner:
    image: devorch-test/testapp:latest
    environment:
      PORT: "8090"
      NAME: joiner
    network_mode: "service:full"
    ipc: "service:full"
    volumes_from: ["full:ro"]
    restart: "no"
  rep:
    image: devorch-test/testapp:latest
    deploy:
      replicas: 2
    restart: always
  sc:
    image: devorch-test/testapp:latest
    scale: 2
  priv:
    image: devorch-test/testapp:latest
    profiles: [priv]
    privileged: true
networks:
  front:
    ipam:
      config:
        - subnet: "{{NET}}.0/24"
volumes:
  data:
secrets:
  token:
    file: ./secret.txt
configs:
  appconf:
    file: ./app.conf
`

// fieldsFreePorts returns the first of n consecutive host ports that are
// free for TCP and UDP right now, away from the kernel's ephemeral range.
func fieldsFreePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(10000)
		ok := true
		var closers []func() error
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", base+i))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, l.Close)
			u, err := net.ListenPacket("udp", fmt.Sprintf(":%d", base+i))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, u.Close)
		}
		for _, c := range closers {
			c()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free host ports found")
	return 0
}

// fieldsSubnet returns a /24 prefix ("10.213.17") that overlaps no
// existing network, so a fixed ipv4_address can be asked for.
func fieldsSubnet(t *testing.T, cli *client.Client, second int) string {
	t.Helper()
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var used []*net.IPNet
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if _, ipn, err := net.ParseCIDR(c.Subnet); err == nil {
				used = append(used, ipn)
			}
		}
	}
	for try := 0; try < 100; try++ {
		p := fmt.Sprintf("10.%d.%d", second, rand.IntN(256))
		_, cand, _ := net.ParseCIDR(p + ".0/24")
		free := true
		for _, u := range used {
			if u.Contains(cand.IP) || cand.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			return p
		}
	}
	t.Fatal("no free subnet found")
	return ""
}

func TestFieldsReachDocker(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"hostdir/hello.txt": "from-host\n",
		"secret.txt":        "s3cret\n",
		"app.conf":          "conf-content\n",
		"app.env":           "FROM_FILE=yes\nOVERRIDE=from-env-file\n",
		".env":              "FROM_DOTENV=dot\n",
	})
	port := fieldsFreePorts(t, 4)
	subnet := fieldsSubnet(t, s.cli, 213)
	s.write("compose.yaml", strings.NewReplacer(
		"{{P0}}", fmt.Sprint(port), "{{P1}}", fmt.Sprint(port+1), "{{P2}}", fmt.Sprint(port+2), "{{P3}}", fmt.Sprint(port+3),
		"{{NET}}", subnet, "{{PROJECT}}", s.project,
	).Replace(fieldsServices))

	r := s.must("up", "-d")
	full := s.project + "-custom"
	ids := s.ids()
	// Every field is hashed stably: a second up changes nothing.
	s.must("up", "-d")
	if again := s.ids(); !sameMap(again, ids) {
		t.Errorf("second up recreated containers: %v -> %v", ids, again)
	}

	// depends_on service_healthy: full was healthy before peer started.
	iHealthy := strings.Index(r.stderr, "Container "+full+"  Healthy")
	iPeer := strings.Index(r.stderr, "Container "+s.name("peer", 1)+"  Started")
	if iHealthy < 0 || iPeer < 0 || iHealthy > iPeer {
		t.Errorf("peer was not started after full was healthy:\n%s", r.stderr)
	}
	if got := s.inspect(s.name("peer", 1)).Config.Labels["dev.devorch.depends-on"]; got != "full" {
		t.Errorf("peer depends-on label = %q, want full", got)
	}

	// Replicas: deploy.replicas and scale, and the profile-only service
	// is not created by a plain up.
	for _, n := range []string{full, s.name("peer", 1), s.name("joiner", 1), s.name("rep", 1), s.name("rep", 2), s.name("sc", 1), s.name("sc", 2)} {
		if ids[n] == "" {
			t.Errorf("container %s missing; have %v", n, ids)
		}
	}
	if len(ids) != 7 {
		t.Errorf("want 7 containers, got %v", ids)
	}

	f := s.inspect(full)
	cfg, hc := f.Config, f.HostConfig

	t.Run("process", func(t *testing.T) {
		s := fieldsOn(s, t)
		fieldsEq(t, "image", cfg.Image, "devorch-test/testapp:latest")
		fieldsEq(t, "entrypoint", []string(cfg.Entrypoint), []string{"/testapp"})
		fieldsEq(t, "command", []string(cfg.Cmd), []string{"serve"})
		fieldsEq(t, "user", cfg.User, "0:0")
		fieldsEq(t, "working_dir", cfg.WorkingDir, "/data")
		fieldsEq(t, "hostname", cfg.Hostname, "fullhost")
		fieldsEq(t, "domainname", cfg.Domainname, "example.test")
		fieldsEq(t, "container_name", strings.TrimPrefix(f.Name, "/"), full)
		fieldsEq(t, "tty", cfg.Tty, true)
		fieldsEq(t, "stdin_open", cfg.OpenStdin, true)
		fieldsEq(t, "stop_signal", cfg.StopSignal, "SIGINT")
		if cfg.StopTimeout == nil || *cfg.StopTimeout != 3 {
			t.Errorf("stop_grace_period 3s: StopTimeout = %v", cfg.StopTimeout)
		}
		if hc.Init == nil || !*hc.Init {
			t.Errorf("init: Init = %v", hc.Init)
		}
		out, _ := s.execOut(full, "/testapp", "cat", "/proc/1/cmdline")
		if !strings.HasPrefix(out, "/sbin/docker-init\x00") {
			t.Errorf("init: PID 1 is %q, want docker-init", out)
		}
	})

	t.Run("environment", func(t *testing.T) {
		s := fieldsOn(s, t)
		env := cfg.Env
		for _, want := range []string{"MAP_VAR=map-value", "EMPTY_VAR=", "OVERRIDE=from-environment", "FROM_FILE=yes"} {
			if !contains(env, want) {
				t.Errorf("env lacks %q: %v", want, env)
			}
		}
		if contains(env, "OVERRIDE=from-env-file") {
			t.Errorf("env_file overrode environment: %v", env)
		}
		penv := s.inspect(s.name("peer", 1)).Config.Env
		// A variable without a value takes it from the project environment
		// (.env); one that is nowhere set is passed by name only, which
		// Docker leaves unset in the process, as compose v2 does.
		for _, want := range []string{"LIST_VAR=list-value", "FROM_DOTENV=dot"} {
			if !contains(penv, want) {
				t.Errorf("peer env lacks %q: %v", want, penv)
			}
		}
		for _, e := range penv {
			if strings.HasPrefix(e, "DVT_FIELDS_SURELY_UNSET=") {
				t.Errorf("unset variable got a value: %v", penv)
			}
		}
		out, _ := s.execOut(s.name("peer", 1), "/testapp", "env")
		if !strings.Contains(out, "FROM_DOTENV=dot\n") || strings.Contains(out, "DVT_FIELDS_SURELY_UNSET") {
			t.Errorf("peer process env:\n%s", out)
		}
	})

	t.Run("ports", func(t *testing.T) {
		want := nat.PortMap{
			"8080/tcp": {{HostPort: fmt.Sprint(port)}, {HostIP: "127.0.0.1", HostPort: fmt.Sprint(port + 2)}},
			"8081/tcp": {{HostPort: fmt.Sprint(port + 1)}},
			"9999/udp": {{HostPort: fmt.Sprint(port + 3)}},
		}
		fieldsEq(t, "ports", hc.PortBindings, want)
		var exposed []string
		for p := range cfg.ExposedPorts {
			exposed = append(exposed, string(p))
		}
		sort.Strings(exposed)
		fieldsEq(t, "expose", exposed, []string{"7000/tcp", "7100/udp", "7101/udp", "8080/tcp", "8081/tcp", "9999/udp"})
		// The range and the loopback binding really serve.
		for _, p := range []int{port, port + 1, port + 2} {
			if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", p)); got != "fullhost\n" {
				t.Errorf("port %d answered %q", p, got)
			}
		}
		if bs := f.NetworkSettings.Ports["8080/tcp"]; !fieldsHasBinding(bs, "127.0.0.1", fmt.Sprint(port+2)) {
			t.Errorf("127.0.0.1:%d not published: %v", port+2, bs)
		}
		if bs := f.NetworkSettings.Ports["9999/udp"]; !fieldsHasBinding(bs, "0.0.0.0", fmt.Sprint(port+3)) {
			t.Errorf("udp %d not published: %v", port+3, bs)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		s := fieldsOn(s, t)
		vol := s.project + "_data"
		// A relative bind source is resolved against the project directory;
		// the SELinux relabel flag is kept (it needs the bind string form).
		fieldsEq(t, "binds", hc.Binds, []string{s.dir + "/hostdir:/host:ro", s.dir + "/hostdir:/host-z:z"})
		mounts := map[string]container.MountPoint{}
		for _, m := range f.Mounts {
			mounts[m.Destination] = m
		}
		check := func(dst string, typ mount.Type, src string, rw bool) {
			t.Helper()
			m, ok := mounts[dst]
			switch {
			case !ok:
				t.Errorf("no mount at %s: %v", dst, f.Mounts)
			case m.Type != typ || m.RW != rw:
				t.Errorf("mount %s: type %s rw %v, want %s rw %v", dst, m.Type, m.RW, typ, rw)
			case typ == mount.TypeVolume && m.Name != src, typ == mount.TypeBind && m.Source != src:
				t.Errorf("mount %s: source %s/%s, want %s", dst, m.Name, m.Source, src)
			}
		}
		check("/data", mount.TypeVolume, vol, true)
		check("/data-ro", mount.TypeVolume, vol, false)
		check("/host", mount.TypeBind, s.dir+"/hostdir", false)
		check("/run/secrets/token", mount.TypeBind, s.dir+"/secret.txt", false)
		check("/run/secrets/renamed", mount.TypeBind, s.dir+"/secret.txt", false)
		check("/appconf", mount.TypeBind, s.dir+"/app.conf", false)
		check("/etc/app.conf", mount.TypeBind, s.dir+"/app.conf", false)
		check("/etc/relative.conf", mount.TypeBind, s.dir+"/app.conf", false)
		check("/host-z", mount.TypeBind, s.dir+"/hostdir", true)
		check("/long", mount.TypeBind, s.dir+"/hostdir", false)
		// The long syntax without create_host_path is a mount, as with
		// compose: Docker refuses it if the source is missing.
		var long bool
		for _, m := range hc.Mounts {
			long = long || (m.Type == mount.TypeBind && m.Target == "/long" && m.Source == s.dir+"/hostdir" && m.ReadOnly)
		}
		if !long {
			t.Errorf("long-syntax bind is not a read-only mount: %+v", hc.Mounts)
		}
		p := s.inspect(s.name("peer", 1))
		if len(p.Mounts) != 1 || p.Mounts[0].Type != mount.TypeTmpfs || p.Mounts[0].Destination != "/scratch" || !p.Mounts[0].RW {
			t.Errorf("peer tmpfs volume: %+v", p.Mounts)
		}
		var tmpfsSize int64
		for _, m := range p.HostConfig.Mounts {
			if m.Target == "/scratch" && m.TmpfsOptions != nil {
				tmpfsSize = m.TmpfsOptions.SizeBytes
			}
		}
		fieldsEq(t, "tmpfs volume size", tmpfsSize, int64(1048576))
		fieldsEq(t, "tmpfs", hc.Tmpfs, map[string]string{"/tmp": "size=2m"})
		fieldsEq(t, "read_only", hc.ReadonlyRootfs, true)

		// Content, through `devorch exec` as a user would.
		for path, want := range map[string]string{
			"/host/hello.txt":      "from-host\n",
			"/run/secrets/token":   "s3cret\n",
			"/run/secrets/renamed": "s3cret\n",
			"/appconf":             "conf-content\n",
			"/etc/app.conf":        "conf-content\n",
			"/etc/relative.conf":   "conf-content\n",
		} {
			if r := s.must("exec", "-T", "full", "/testapp", "cat", path); r.stdout != want {
				t.Errorf("cat %s = %q, want %q", path, r.stdout, want)
			}
		}
		s.must("exec", "-T", "full", "/testapp", "write", "/data/x", "hello")
		for _, path := range []string{"/data-ro/x", "/run/secrets/x", "/host/x", "/x"} {
			if r := s.devorch("exec", "-T", "full", "/testapp", "write", path, "no"); r.code == 0 {
				t.Errorf("writing %s succeeded on a read-only mount or root", path)
			}
		}
		s.must("exec", "-T", "full", "/testapp", "write", "/tmp/x", "ok")
		s.must("exec", "-T", "peer", "/testapp", "write", "/scratch/x", "ok")
	})

	t.Run("network", func(t *testing.T) {
		s := fieldsOn(s, t)
		ep := f.NetworkSettings.Networks[s.project+"_front"]
		if ep == nil {
			t.Fatalf("full not on %s_front: %v", s.project, f.NetworkSettings.Networks)
		}
		if len(f.NetworkSettings.Networks) != 1 {
			t.Errorf("full on networks %v, want only front", fieldsKeys(f.NetworkSettings.Networks))
		}
		if !contains(ep.Aliases, "full") || !contains(ep.Aliases, "full-alias") {
			t.Errorf("aliases = %v", ep.Aliases)
		}
		fieldsEq(t, "ipv4_address", ep.IPAddress, subnet+".10")
		if ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address != subnet+".10" {
			t.Errorf("IPAMConfig = %+v", ep.IPAMConfig)
		}
		fieldsEq(t, "dns", hc.DNS, []string{"9.9.9.9"})
		fieldsEq(t, "dns_search", hc.DNSSearch, []string{"search.example"})
		hosts := append([]string(nil), hc.ExtraHosts...)
		sort.Strings(hosts)
		fieldsEq(t, "extra_hosts", hosts, []string{"host.docker.internal:host-gateway", "somehost:10.1.2.3"})
		etc, _ := s.execOut(full, "/testapp", "cat", "/etc/hosts")
		if !strings.Contains(etc, "10.1.2.3\tsomehost") || !strings.Contains(etc, "\thost.docker.internal") {
			t.Errorf("/etc/hosts:\n%s", etc)
		}
		resolv, _ := s.execOut(full, "/testapp", "cat", "/etc/resolv.conf")
		if !strings.Contains(resolv, "search search.example") {
			t.Errorf("/etc/resolv.conf:\n%s", resolv)
		}
		// DNS by service name, by alias and by container name from another
		// service on the same network.
		for _, host := range []string{"full", "full-alias", full} {
			r := s.must("exec", "-T", "peer", "/testapp", "get", "http://"+host+":8080/")
			if r.stdout != "fullhost\n" {
				t.Errorf("peer GET %s = %q", host, r.stdout)
			}
		}
		p := s.inspect(s.name("peer", 1))
		fieldsEq(t, "peer networks", fieldsKeys(p.NetworkSettings.Networks), []string{s.project + "_default", s.project + "_front"})
	})

	t.Run("health and restart", func(t *testing.T) {
		s := fieldsOn(s, t)
		want := &container.HealthConfig{Test: []string{"CMD", "/testapp", "health"}, Interval: time.Second, Timeout: 3 * time.Second, Retries: 4, StartPeriod: 5 * time.Second}
		fieldsEq(t, "healthcheck", cfg.Healthcheck, want)
		// up -d gates dependents on devorch's own early probe; Docker's
		// status follows at its first interval.
		health := f.State.Health
		for deadline := time.Now().Add(waitDeadline); (health == nil || health.Status != "healthy") && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond) // poll interval
			health = s.inspect(full).State.Health
		}
		if health == nil || health.Status != "healthy" {
			t.Errorf("full health = %+v", health)
		}
		p := s.inspect(s.name("peer", 1))
		fieldsEq(t, "healthcheck disable", p.Config.Healthcheck, &container.HealthConfig{Test: []string{"NONE"}})
		for name, want := range map[string]container.RestartPolicy{
			full:                {Name: "on-failure", MaximumRetryCount: 3},
			s.name("peer", 1):   {Name: "unless-stopped"},
			s.name("rep", 2):    {Name: "always"},
			s.name("joiner", 1): {Name: "no"},
			s.name("sc", 1):     {Name: "no"},
		} {
			fieldsEq(t, "restart of "+name, s.inspect(name).HostConfig.RestartPolicy, want)
		}
	})

	t.Run("labels", func(t *testing.T) {
		s := fieldsOn(s, t)
		if cfg.Labels["com.example.map"] != "m" {
			t.Errorf("map labels: %v", cfg.Labels)
		}
		if v, ok := cfg.Labels["com.example.empty"]; !ok || v != "" {
			t.Errorf("empty label: %v", cfg.Labels)
		}
		pl := s.inspect(s.name("peer", 1)).Config.Labels
		if pl["com.example.list"] != "l" || pl["com.example.other"] != "o" {
			t.Errorf("list labels: %v", pl)
		}
		fieldsEq(t, "peer user", s.inspect(s.name("peer", 1)).Config.User, "1000:1000")
	})

	t.Run("security and resources", func(t *testing.T) {
		s := fieldsOn(s, t)
		fieldsEq(t, "cap_add", fieldsNormCaps(hc.CapAdd), []string{"CAP_NET_ADMIN"})
		fieldsEq(t, "cap_drop", fieldsNormCaps(hc.CapDrop), []string{"CAP_MKNOD"})
		fieldsEq(t, "security_opt", hc.SecurityOpt, []string{"no-new-privileges:true"})
		fieldsEq(t, "group_add", hc.GroupAdd, []string{"100"})
		fieldsEq(t, "oom_score_adj", hc.OomScoreAdj, 500)
		fieldsEq(t, "shm_size", hc.ShmSize, int64(64<<20))
		fieldsEq(t, "cpus", hc.NanoCPUs, int64(300_000_000))
		fieldsEq(t, "memory", hc.Memory, int64(64<<20))
		fieldsEq(t, "memory reservation", hc.MemoryReservation, int64(32<<20))
		if hc.PidsLimit == nil || *hc.PidsLimit != 100 {
			t.Errorf("deploy pids: PidsLimit = %v", hc.PidsLimit)
		}
		if pl := s.inspect(s.name("peer", 1)).HostConfig.PidsLimit; pl == nil || *pl != 64 {
			t.Errorf("pids_limit: PidsLimit = %v", pl)
		}
		fieldsEq(t, "ulimits", hc.Ulimits, []*units.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 512, Hard: 512}})
		fieldsEq(t, "sysctls", hc.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
		if out, _ := s.execOut(full, "/testapp", "cat", "/proc/sys/net/core/somaxconn"); out != "1024\n" {
			t.Errorf("somaxconn in container = %q", out)
		}
		fieldsEq(t, "devices", hc.Devices, []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm"}})
		if out, _ := s.execOut(full, "/testapp", "ls", "/dev"); !strings.Contains(out, "mynull\n") {
			t.Errorf("/dev/mynull missing:\n%s", out)
		}
		fieldsEq(t, "ipc", string(hc.IpcMode), "shareable")
	})

	t.Run("shared namespaces", func(t *testing.T) {
		s := fieldsOn(s, t)
		j := s.inspect(s.name("joiner", 1))
		fieldsEq(t, "network_mode", string(j.HostConfig.NetworkMode), "container:"+f.ID)
		fieldsEq(t, "ipc service", string(j.HostConfig.IpcMode), "container:"+f.ID)
		fieldsEq(t, "volumes_from", j.HostConfig.VolumesFrom, []string{f.ID + ":ro"})
		// Same network namespace: full reaches joiner on localhost.
		if out, code := s.execOut(full, "/testapp", "get", "http://127.0.0.1:8090/"); code != 0 || out != "joiner\n" {
			t.Errorf("full GET localhost:8090 = %q (exit %d)", out, code)
		}
		// Same IPC namespace: /dev/shm is shared.
		if out, code := s.execOut(full, "/testapp", "write", "/dev/shm/seg", "shared"); code != 0 {
			t.Errorf("write /dev/shm: %s", out)
		}
		if out, _ := s.execOut(s.name("joiner", 1), "/testapp", "cat", "/dev/shm/seg"); out != "shared" {
			t.Errorf("joiner /dev/shm/seg = %q", out)
		}
		// volumes_from :ro: full's volume, read-only.
		if out, _ := s.execOut(s.name("joiner", 1), "/testapp", "cat", "/data/x"); out != "hello" {
			t.Errorf("joiner /data/x = %q", out)
		}
		if _, code := s.execOut(s.name("joiner", 1), "/testapp", "write", "/data/y", "no"); code == 0 {
			t.Errorf("volumes_from :ro mounted /data writable")
		}
	})

	t.Run("privileged", func(t *testing.T) {
		s := fieldsOn(s, t)
		// This host's runtime may refuse to start privileged containers,
		// so the container is only created.
		s.must("--profile", "priv", "create", "priv")
		fieldsEq(t, "privileged", s.inspect(s.name("priv", 1)).HostConfig.Privileged, true)
	})

	s.must("--profile", "priv", "down", "-v")
	s.assertNothingLeft()
}

// fieldsTopLevel exercises top-level networks and volumes.
const fieldsTopLevel = `
services:
  store:
    image: devorch-test/testapp:latest
    volumes:
      - data:/data
      - mem:/mem
      - ext:/ext
    networks:
      back:
        aliases: [store-alias]
      outside: {}
      named: {}
  client:
    image: devorch-test/testapp:latest
    networks: [back]
networks:
  back:
    internal: true
    labels:
      com.example.net: back
    driver_opts:
      com.docker.network.driver.mtu: "1400"
    ipam:
      config:
        - subnet: "{{NET}}.0/24"
  outside:
    external: true
    name: "{{PROJECT}}-ext"
  named:
    name: "{{PROJECT}}-named"
volumes:
  data:
    labels: ["com.example.vol=data"]
  mem:
    name: "{{PROJECT}}-mem"
    driver: local
    driver_opts:
      type: tmpfs
      device: tmpfs
      o: size=1m
    labels:
      com.example.vol: mem
  ext:
    external: true
    name: "{{PROJECT}}-extvol"
`

func TestFieldsTopLevelNetworksAndVolumes(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	ctx := context.Background()
	extNet, extVol := s.project+"-ext", s.project+"-extvol"
	// External resources are the test's, not the project's: no project
	// label, so `down -v` must leave them and the test removes them.
	testLabel := map[string]string{testenv.LabelTest: "1"}
	if _, err := s.cli.NetworkCreate(ctx, extNet, network.CreateOptions{Driver: "bridge", Labels: testLabel}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.VolumeCreate(ctx, volume.CreateOptions{Name: extVol, Labels: testLabel}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testenv.Cleanup(ctx, s.cli, s.project); err != nil {
			t.Log(err)
		}
		if err := s.cli.NetworkRemove(ctx, extNet); err != nil {
			t.Errorf("removing external network: %v", err)
		}
		if err := s.cli.VolumeRemove(ctx, extVol, true); err != nil {
			t.Errorf("removing external volume: %v", err)
		}
	})
	subnet := fieldsSubnet(t, s.cli, 214)
	s.write("compose.yaml", strings.NewReplacer("{{NET}}", subnet, "{{PROJECT}}", s.project).Replace(fieldsTopLevel))
	s.must("up", "-d")

	back, err := s.cli.NetworkInspect(ctx, s.project+"_back", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fieldsEq(t, "internal", back.Internal, true)
	fieldsEq(t, "network label", back.Labels["com.example.net"], "back")
	fieldsEq(t, "network project label", back.Labels["dev.devorch.project"], s.project)
	fieldsEq(t, "driver_opts", back.Options["com.docker.network.driver.mtu"], "1400")
	if len(back.IPAM.Config) != 1 || back.IPAM.Config[0].Subnet != subnet+".0/24" {
		t.Errorf("ipam = %+v", back.IPAM)
	}
	named, err := s.cli.NetworkInspect(ctx, s.project+"-named", network.InspectOptions{})
	if err != nil {
		t.Errorf("network name: %v", err)
	} else if named.Labels["dev.devorch.network"] != "named" {
		t.Errorf("named network labels: %v", named.Labels)
	}
	st := s.inspect(s.name("store", 1))
	fieldsEq(t, "store networks", fieldsKeys(st.NetworkSettings.Networks), []string{extNet, s.project + "-named", s.project + "_back"})
	if ep := st.NetworkSettings.Networks[s.project+"_back"]; ep == nil || !contains(ep.Aliases, "store-alias") || !strings.HasPrefix(ep.IPAddress, subnet+".") {
		t.Errorf("store on back: %+v", ep)
	}
	// Alias DNS on the internal network.
	if r := s.must("exec", "-T", "client", "/testapp", "get", "http://store-alias:8080/health"); !strings.Contains(r.stdout, "ok") {
		t.Errorf("client GET store-alias: %q", r.stdout)
	}

	data, err := s.cli.VolumeInspect(ctx, s.project+"_data")
	if err != nil {
		t.Fatal(err)
	}
	fieldsEq(t, "volume label", data.Labels["com.example.vol"], "data")
	mem, err := s.cli.VolumeInspect(ctx, s.project+"-mem")
	if err != nil {
		t.Fatal(err)
	}
	fieldsEq(t, "volume driver", mem.Driver, "local")
	fieldsEq(t, "volume driver_opts", mem.Options, map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
	fieldsEq(t, "volume labels", mem.Labels["com.example.vol"], "mem")
	mounts := map[string]string{}
	for _, m := range st.Mounts {
		mounts[m.Destination] = m.Name
	}
	fieldsEq(t, "store volumes", mounts, map[string]string{"/data": s.project + "_data", "/mem": s.project + "-mem", "/ext": extVol})

	// A named volume outlives down, not down -v; external ones outlive both.
	s.must("exec", "-T", "store", "/testapp", "write", "/data/x", "hello")
	s.must("exec", "-T", "store", "/testapp", "write", "/ext/x", "external")
	s.must("down")
	if _, err := s.cli.VolumeInspect(ctx, s.project+"_data"); err != nil {
		t.Errorf("volume gone after down: %v", err)
	}
	s.must("up", "-d", "store")
	if r := s.must("exec", "-T", "store", "/testapp", "cat", "/data/x"); r.stdout != "hello" {
		t.Errorf("/data/x after down+up = %q", r.stdout)
	}
	s.must("down", "-v")
	for _, v := range []string{s.project + "_data", s.project + "-mem"} {
		if _, err := s.cli.VolumeInspect(ctx, v); err == nil {
			t.Errorf("volume %s survived down -v", v)
		}
	}
	if _, err := s.cli.VolumeInspect(ctx, extVol); err != nil {
		t.Errorf("external volume removed by down -v: %v", err)
	}
	if _, err := s.cli.NetworkInspect(ctx, extNet, network.InspectOptions{}); err != nil {
		t.Errorf("external network removed by down: %v", err)
	}
	if _, err := s.cli.NetworkInspect(ctx, s.project+"-named", network.InspectOptions{}); err == nil {
		t.Errorf("named network survived down")
	}
	s.assertNothingLeft()
}

// fieldsOn is the stack with a subtest's t, so that s.must fails the
// subtest from its own goroutine.
func fieldsOn(s *stack, t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

func fieldsEq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func fieldsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fieldsHasBinding(bs []nat.PortBinding, ip, port string) bool {
	for _, b := range bs {
		if b.HostIP == ip && b.HostPort == port {
			return true
		}
	}
	return false
}

// fieldsNormCaps adds the CAP_ prefix Docker's client adds for API ≥ 1.40, so
// values from any client compare.
func fieldsNormCaps(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
