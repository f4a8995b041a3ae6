package compose

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/devorch/devorch/internal/errtext"
)

// Validate checks, without Docker and without side effects, what Docker or
// the container spec would otherwise refuse only once networks and the
// first containers exist: resource values, restart policies, expose, ulimit,
// capability, sysctl and signal names, mounts and the files behind secrets
// and configs, health gates, IPAM addresses, container names and devorch's
// own alert rules. compose-go has checked the schema and the references
// between services, networks, volumes, secrets and configs; this covers
// what it leaves to the engine. It returns the first problem, in service
// name order, naming the service (or network) and the field.
func Validate(p *Project) error {
	return withFiles(p.ComposeFiles, validate(p))
}

func validate(p *Project) error {
	// compose-go's CheckContainerNameUnicity (which compose runs at create)
	// names a struct{} instead of the first service, and which pair it
	// reports depends on map order: the same check, by name order.
	names := map[string]string{}
	for _, name := range p.ServiceNames() {
		cn := p.Services[name].ContainerName
		if cn == "" {
			continue
		}
		if first, ok := names[cn]; ok {
			return fmt.Errorf("service %q: container_name %s is already used by service %q: container names must be unique", name, errtext.Quote(cn), first)
		}
		names[cn] = name
	}
	checks := []func(*Project, types.ServiceConfig) error{
		checkResources, checkRestart, checkExpose, checkUlimits, checkCapabilities,
		checkSysctls, checkStopSignal, checkMounts, checkFileObjects, checkHealthGates,
		checkServiceNetworks, checkAlerts,
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for _, check := range checks {
			if err := check(p, s); err != nil {
				return fmt.Errorf("service %q: %w", name, err)
			}
		}
	}
	for _, name := range sortedNames(p.Networks) {
		if err := checkIPAM(p.Networks[name]); err != nil {
			return fmt.Errorf("network %q: %w", name, err)
		}
	}
	return nil
}

// CheckSelected refuses a project with no service to run, as compose's up
// does ("no service selected"), saying why: no services at all, or only
// services behind profiles.
func CheckSelected(p *Project) error {
	if len(p.Services) > 0 {
		return nil
	}
	if len(p.DisabledServices) == 0 {
		return fmt.Errorf("no service selected: %s declares no services", filesText(p.ComposeFiles))
	}
	set := map[string]bool{}
	for _, s := range p.DisabledServices {
		for _, pr := range s.Profiles {
			set[pr] = true
		}
	}
	profiles := make([]string, 0, len(set))
	for pr := range set {
		profiles = append(profiles, pr)
	}
	sort.Strings(profiles)
	return fmt.Errorf("no service selected: every service needs a profile; enable one with --profile (%s)", strings.Join(profiles, ", "))
}

func filesText(files []string) string {
	if len(files) == 0 {
		return "the project"
	}
	rel := make([]string, len(files))
	for i, f := range files {
		rel[i] = relPath(f)
	}
	return strings.Join(rel, ", ")
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 32) }

// checkResources refuses values the Docker daemon refuses at create time
// (its ranges, from the daemon's own checks), and negative ones it would
// accept and silently treat as "no limit".
func checkResources(_ *Project, s types.ServiceConfig) error {
	neg := func(field string, v float64) error {
		if v < 0 {
			return fmt.Errorf("%s %s: must not be negative", field, fmtFloat(v))
		}
		return nil
	}
	limit, reservation := int64(s.MemLimit), int64(s.MemReservation)
	if d := s.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			if err := neg("deploy.resources.limits.cpus", float64(l.NanoCPUs)); err != nil {
				return err
			}
			if err := neg("deploy.resources.limits.memory", float64(l.MemoryBytes)); err != nil {
				return err
			}
			if l.Pids < -1 {
				return fmt.Errorf("deploy.resources.limits.pids %d: want -1 (unlimited) or more", l.Pids)
			}
			if l.MemoryBytes > 0 {
				limit = int64(l.MemoryBytes)
			}
		}
		if r := d.Resources.Reservations; r != nil {
			if err := neg("deploy.resources.reservations.cpus", float64(r.NanoCPUs)); err != nil {
				return err
			}
			if err := neg("deploy.resources.reservations.memory", float64(r.MemoryBytes)); err != nil {
				return err
			}
			if r.MemoryBytes > 0 {
				reservation = int64(r.MemoryBytes)
			}
		}
	}
	for _, c := range []struct {
		field string
		v     float64
	}{
		{"cpus", float64(s.CPUS)}, {"cpu_shares", float64(s.CPUShares)},
		{"cpu_rt_period", float64(s.CPURTPeriod)}, {"cpu_rt_runtime", float64(s.CPURTRuntime)},
		{"cpu_count", float64(s.CPUCount)}, {"mem_limit", float64(s.MemLimit)},
		{"mem_reservation", float64(s.MemReservation)}, {"shm_size", float64(s.ShmSize)},
	} {
		if err := neg(c.field, c.v); err != nil {
			return err
		}
	}
	if s.CPUPercent < 0 || s.CPUPercent > 100 {
		return fmt.Errorf("cpu_percent %s: want 0 to 100", fmtFloat(float64(s.CPUPercent)))
	}
	if q := s.CPUQuota; q < -1 || q > 0 && q < 1000 {
		return fmt.Errorf("cpu_quota %d: want -1, 0, or at least 1000 (microseconds)", q)
	}
	if p := s.CPUPeriod; p < 0 || p > 0 && (p < 1000 || p > 1000000) {
		return fmt.Errorf("cpu_period %d: want 1000 to 1000000 (microseconds)", p)
	}
	if s.PidsLimit < -1 {
		return fmt.Errorf("pids_limit %d: want -1 (unlimited) or more", s.PidsLimit)
	}
	if v := int64(s.MemSwappiness); v < 0 || v > 100 {
		return fmt.Errorf("mem_swappiness %d: want 0 to 100", v)
	}
	if v := s.OomScoreAdj; v < -1000 || v > 1000 {
		return fmt.Errorf("oom_score_adj %d: want -1000 to 1000", v)
	}
	if sw := int64(s.MemSwapLimit); sw < -1 {
		return fmt.Errorf("memswap_limit %d: want -1 (unlimited swap) or a size", sw)
	} else if sw > 0 && limit > 0 && sw < limit {
		return fmt.Errorf("memswap_limit %s is less than the memory limit %s: it counts memory plus swap", units.BytesSize(float64(sw)), units.BytesSize(float64(limit)))
	}
	if limit > 0 && reservation > limit {
		return fmt.Errorf("memory reservation %s is more than the memory limit %s", units.BytesSize(float64(reservation)), units.BytesSize(float64(limit)))
	}
	if b := s.BlkioConfig; b != nil {
		if w := b.Weight; w != 0 && (w < 10 || w > 1000) {
			return fmt.Errorf("blkio_config.weight %d: want 10 to 1000", w)
		}
		for _, wd := range b.WeightDevice {
			if w := wd.Weight; w != 0 && (w < 10 || w > 1000) {
				return fmt.Errorf("blkio_config.weight_device %s: weight %d: want 10 to 1000", errtext.Quote(wd.Path), w)
			}
		}
	}
	return nil
}

// checkRestart accepts the policies Docker knows: no, always,
// unless-stopped, on-failure[:N]; and deploy.restart_policy's conditions.
func checkRestart(_ *Project, s types.ServiceConfig) error {
	if r := s.Restart; r != "" {
		name, count, hasCount := strings.Cut(r, ":")
		switch name {
		case "no", "always", "unless-stopped":
			if hasCount {
				return fmt.Errorf("restart %s: only on-failure takes a retry count", errtext.Quote(r))
			}
		case "on-failure":
			if n, err := strconv.Atoi(count); hasCount && (err != nil || n < 0) {
				return fmt.Errorf("restart %s: the retry count after on-failure: must be a number, 0 or more", errtext.Quote(r))
			}
		default:
			return fmt.Errorf("restart %s: want no, always, unless-stopped or on-failure[:MAX_RETRIES]", errtext.Quote(r))
		}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		switch c := s.Deploy.RestartPolicy.Condition; c {
		case "", "none", "on-failure", "any":
		default:
			return fmt.Errorf("deploy.restart_policy.condition %s: want none, on-failure or any", errtext.Quote(c))
		}
	}
	return nil
}

// checkExpose accepts PORT, START-END, each with an optional /tcp, /udp or
// /sctp, as the spec builder reads them.
func checkExpose(_ *Project, s types.ServiceConfig) error {
	for _, e := range s.Expose {
		port, proto, hasProto := strings.Cut(e, "/")
		if _, _, err := nat.ParsePortRangeToInt(port); err != nil || port == "" {
			return fmt.Errorf("expose %s: want a port or a range such as 8080 or 8000-8010, with an optional /tcp, /udp or /sctp", errtext.Quote(e))
		}
		if hasProto && proto != "tcp" && proto != "udp" && proto != "sctp" {
			return fmt.Errorf("expose %s: protocol %s is not tcp, udp or sctp", errtext.Quote(e), errtext.Quote(proto))
		}
	}
	return nil
}

// checkUlimits uses the Docker CLI's own parser (go-units): known names
// only, soft not above hard.
func checkUlimits(_ *Project, s types.ServiceConfig) error {
	for _, name := range sortedNames(s.Ulimits) {
		l := s.Ulimits[name]
		if l == nil {
			continue
		}
		spec := fmt.Sprintf("%s=%d:%d", name, l.Soft, l.Hard)
		if l.Single != 0 {
			spec = fmt.Sprintf("%s=%d", name, l.Single)
		}
		if _, err := units.ParseUlimit(spec); err != nil {
			if strings.HasPrefix(err.Error(), "invalid ulimit type") {
				return fmt.Errorf("ulimits.%s: unknown ulimit; Docker knows core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack", errtext.Quote(name))
			}
			return fmt.Errorf("ulimits.%s: %v", name, err)
		}
	}
	return nil
}

// linuxCapabilities are capabilities(7), which Docker accepts with or
// without the CAP_ prefix, in any case. Docker's own list (oci/caps) is read
// from the client's kernel and exists only on Linux; the names are fixed.
var linuxCapabilities = map[string]bool{
	"CHOWN": true, "DAC_OVERRIDE": true, "DAC_READ_SEARCH": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "SETGID": true, "SETUID": true, "SETPCAP": true, "LINUX_IMMUTABLE": true,
	"NET_BIND_SERVICE": true, "NET_BROADCAST": true, "NET_ADMIN": true, "NET_RAW": true,
	"IPC_LOCK": true, "IPC_OWNER": true, "SYS_MODULE": true, "SYS_RAWIO": true, "SYS_CHROOT": true,
	"SYS_PTRACE": true, "SYS_PACCT": true, "SYS_ADMIN": true, "SYS_BOOT": true, "SYS_NICE": true,
	"SYS_RESOURCE": true, "SYS_TIME": true, "SYS_TTY_CONFIG": true, "MKNOD": true, "LEASE": true,
	"AUDIT_WRITE": true, "AUDIT_CONTROL": true, "SETFCAP": true, "MAC_OVERRIDE": true,
	"MAC_ADMIN": true, "SYSLOG": true, "WAKE_ALARM": true, "BLOCK_SUSPEND": true,
	"AUDIT_READ": true, "PERFMON": true, "BPF": true, "CHECKPOINT_RESTORE": true,
}

func checkCapabilities(_ *Project, s types.ServiceConfig) error {
	for _, f := range []struct {
		field string
		caps  []string
	}{{"cap_add", s.CapAdd}, {"cap_drop", s.CapDrop}} {
		for _, c := range f.caps {
			name := strings.TrimPrefix(strings.ToUpper(c), "CAP_")
			if name != "ALL" && !linuxCapabilities[name] {
				return fmt.Errorf("%s %s: not a Linux capability (see capabilities(7): NET_ADMIN, SYS_PTRACE, …, or ALL)", f.field, errtext.Quote(c))
			}
		}
	}
	return nil
}

// namespacedSysctls are the sysctls a container may set, as `docker run
// --sysctl` checks them: IPC ones, and the net.* and fs.mqueue.* trees.
var namespacedSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

func checkSysctls(_ *Project, s types.ServiceConfig) error {
	for _, k := range sortedNames(s.Sysctls) {
		isNet := strings.HasPrefix(k, "net.")
		if !namespacedSysctls[k] && !isNet && !strings.HasPrefix(k, "fs.mqueue.") {
			return fmt.Errorf("sysctls %s: not a sysctl a container can set (only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.*)", errtext.Quote(k))
		}
		if isNet && s.NetworkMode == "host" {
			return fmt.Errorf("sysctls %s: a net.* sysctl cannot be set with network_mode: host (it would change the host's)", errtext.Quote(k))
		}
		if namespacedSysctls[k] && s.Ipc == "host" {
			return fmt.Errorf("sysctls %s: an IPC sysctl cannot be set with ipc: host (it would change the host's)", errtext.Quote(k))
		}
	}
	return nil
}

// linuxSignals are the names Docker's signal parser knows on Linux (without
// SIG, in any case); RTMIN+n and RTMAX-n are handled apart.
var linuxSignals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true,
	"HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true,
	"POLL": true, "PROF": true, "PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true,
	"STOP": true, "SYS": true, "TERM": true, "TRAP": true, "TSTP": true, "TTIN": true, "TTOU": true,
	"URG": true, "USR1": true, "USR2": true, "VTALRM": true, "WINCH": true, "XCPU": true,
	"XFSZ": true, "RTMIN": true, "RTMAX": true,
}

func validSignal(sig string) bool {
	if n, err := strconv.Atoi(sig); err == nil {
		return n >= 1 && n <= 64
	}
	name := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	if linuxSignals[name] {
		return true
	}
	for _, rt := range []struct {
		prefix string
		max    int
	}{{"RTMIN+", 15}, {"RTMAX-", 14}} {
		if rest, ok := strings.CutPrefix(name, rt.prefix); ok {
			n, err := strconv.Atoi(rest)
			return err == nil && n >= 1 && n <= rt.max
		}
	}
	return false
}

func checkStopSignal(_ *Project, s types.ServiceConfig) error {
	if s.StopSignal != "" && !validSignal(s.StopSignal) {
		return fmt.Errorf("stop_signal %s: not a signal (e.g. SIGTERM, SIGINT, SIGQUIT, SIGUSR1 or a number)", errtext.Quote(s.StopSignal))
	}
	return nil
}

// checkMounts refuses what the spec builder or Docker would: a bind whose
// source is missing when it may not be created (create_host_path: false,
// or the long syntax without a bind block, which devorch sends as a mount,
// as compose does), SELinux relabelling on such a mount, and volume types
// devorch does not implement.
func checkMounts(p *Project, s types.ServiceConfig) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			create := v.Bind != nil && bool(v.Bind.CreateHostPath)
			if create && v.Bind.Recursive == "" {
				continue
			}
			if v.Bind != nil && v.Bind.SELinux != "" {
				return fmt.Errorf("volumes %s: bind.selinux %q cannot be combined with create_host_path: false or recursive", v.Target, v.Bind.SELinux)
			}
			if create {
				continue
			}
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(p.WorkingDir, src)
			}
			if _, err := os.Stat(src); err != nil {
				return fmt.Errorf("volumes %s: bind source %s does not exist (create_host_path is false: create it first, or drop create_host_path: false)", v.Target, relPath(src))
			}
		case types.VolumeTypeNamedPipe, types.VolumeTypeCluster, types.VolumeTypeImage:
			return fmt.Errorf("volumes %s: volume type %q is not supported by devorch", v.Target, v.Type)
		}
	}
	return nil
}

// checkFileObjects checks the source of every secret and config a service
// uses: a file: that exists, an environment: variable that is set (looked
// up as the engine will, in the project's environment). External ones are
// Docker's business.
func checkFileObjects(p *Project, s types.ServiceConfig) error {
	check := func(kind, name string, def types.FileObjectConfig) error {
		switch {
		case bool(def.External):
			return nil
		case def.File != "":
			if _, err := os.Stat(def.File); err != nil {
				return fmt.Errorf("%s %q: file %s does not exist", kind, name, relPath(def.File))
			}
		case def.Environment != "":
			if _, ok := p.Environment[def.Environment]; !ok {
				return fmt.Errorf("%s %q: environment variable %s is not set", kind, name, def.Environment)
			}
		}
		return nil
	}
	for _, ref := range s.Secrets {
		if def, ok := p.Secrets[ref.Source]; ok {
			if err := check("secret", ref.Source, types.FileObjectConfig(def)); err != nil {
				return err
			}
		}
	}
	for _, ref := range s.Configs {
		if def, ok := p.Configs[ref.Source]; ok {
			if err := check("config", ref.Source, types.FileObjectConfig(def)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkHealthGates refuses depends_on condition service_healthy on a
// service whose healthcheck is disabled in the file: it can never become
// healthy. (One without a healthcheck in the file may get one from its
// image; the engine checks that once the image is there.)
func checkHealthGates(p *Project, s types.ServiceConfig) error {
	for _, dep := range sortedNames(s.DependsOn) {
		if s.DependsOn[dep].Condition != types.ServiceConditionHealthy {
			continue
		}
		d, ok := p.Services[dep]
		if !ok {
			continue
		}
		if hc := d.HealthCheck; hc != nil && (hc.Disable || len(hc.Test) > 0 && hc.Test[0] == "NONE") {
			return fmt.Errorf("depends_on.%s: condition service_healthy, but service %q has no healthcheck configured (it is disabled)", dep, dep)
		}
	}
	return nil
}

func checkServiceNetworks(_ *Project, s types.ServiceConfig) error {
	for _, key := range sortedNames(s.Networks) {
		n := s.Networks[key]
		if n == nil {
			continue
		}
		if a := n.Ipv4Address; a != "" {
			if ip := net.ParseIP(a); ip == nil || ip.To4() == nil {
				return fmt.Errorf("networks.%s.ipv4_address %s: not an IPv4 address", key, errtext.Quote(a))
			}
		}
		if a := n.Ipv6Address; a != "" {
			if ip := net.ParseIP(a); ip == nil || ip.To4() != nil {
				return fmt.Errorf("networks.%s.ipv6_address %s: not an IPv6 address", key, errtext.Quote(a))
			}
		}
	}
	return nil
}

func checkAlerts(_ *Project, s types.ServiceConfig) error {
	_, err := ParseAlerts(ServiceX(s).Alerts)
	return err
}

// checkIPAM checks a network's ipam.config the way Docker does when it
// creates the network: subnet and ip_range in CIDR form, gateway and aux
// addresses inside the subnet.
func checkIPAM(n types.NetworkConfig) error {
	for i, c := range n.Ipam.Config {
		if c == nil {
			continue
		}
		where := fmt.Sprintf("ipam.config[%d]", i)
		var subnet *net.IPNet
		if c.Subnet != "" {
			_, sn, err := net.ParseCIDR(c.Subnet)
			if err != nil {
				return fmt.Errorf("%s.subnet %s: not a CIDR such as 172.28.0.0/16", where, errtext.Quote(c.Subnet))
			}
			subnet = sn
		}
		if c.IPRange != "" {
			ip, rng, err := net.ParseCIDR(c.IPRange)
			if err != nil {
				return fmt.Errorf("%s.ip_range %s: not a CIDR such as 172.28.5.0/24", where, errtext.Quote(c.IPRange))
			}
			if subnet != nil && !within(subnet, ip, rng) {
				return fmt.Errorf("%s.ip_range %s is not inside subnet %s", where, c.IPRange, c.Subnet)
			}
		}
		addrs := map[string]string{"gateway": c.Gateway}
		for k, v := range c.AuxiliaryAddresses {
			addrs["aux_addresses."+k] = v
		}
		for _, field := range sortedNames(addrs) {
			a := addrs[field]
			if a == "" {
				continue
			}
			ip := net.ParseIP(a)
			if ip == nil {
				return fmt.Errorf("%s.%s %s: not an IP address", where, field, errtext.Quote(a))
			}
			if subnet != nil && !subnet.Contains(ip) {
				return fmt.Errorf("%s.%s %s is not inside subnet %s", where, field, a, c.Subnet)
			}
		}
	}
	return nil
}

// within reports whether the range ip/rng lies inside subnet.
func within(subnet *net.IPNet, ip net.IP, rng *net.IPNet) bool {
	sOnes, sBits := subnet.Mask.Size()
	rOnes, rBits := rng.Mask.Size()
	return sBits == rBits && rOnes >= sOnes && subnet.Contains(ip)
}
