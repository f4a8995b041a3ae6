package schedule

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// node is a host during placement: its input plus what this placement has
// added to it so far.
type node struct {
	idx              int // position in name order; ties break on it
	name             string
	reachable        bool
	err              string
	labels           map[string]string
	os, arch         string // normalised: "linux", "amd64"
	cpuCap, memCap   int64  // 0: unknown, no limit
	cpuUsed, memUsed int64  // reserved by others plus by this placement
	cpuLoad, memLoad int64  // expected use: Used plus soft reservations
	containers       int
	ports            map[uint32][]hold // by slot(); nil when none
}

// hold is one published port on a host and who has it.
type hold struct {
	ip      string // "" = all interfaces
	ext     string // holder outside the request ("container web-1")
	svc     int32  // index of the service placed here, -1 when ext
	replica int32
}

type portSpec struct {
	key  PortKey // normalised
	slot uint32  // port and interned protocol
}

// service is a Service prepared for placement: parsed, normalised, linked.
type service struct {
	idx        int // position in name order
	name       string
	replicas   int
	cpu, mem   int64 // declared reservation
	softCPU    int64 // soft reservation, 0 where one is declared
	softMem    int64
	cpuLoad    int64 // expected use: cpu + softCPU
	memLoad    int64
	ports      []portSpec
	cons       []*constraint
	os, arch   string
	volumes    []string // sorted, unique
	colo       []string // colocated networks, sorted, unique
	follows    *service // target inside the request
	followsExt string   // target outside the request (pinned via Current)
	group      *group
	bound      bool    // every replica belongs to the group, not only replica 1
	placed     []int32 // host index per replica, -1 while unplaced
	off        int     // index of replica 1 in state.out
	in         int     // index in Request.Services
}

// task is one replica to place, with the hosts it is pinned to.
type task struct {
	svc     *service
	replica int
	pins    []pin
}

// pin requires a host.
type pin struct {
	host     int    // node index; -1 when the host is not in the request
	refusal  string // told by other hosts: "volume data is on b"
	why      string // told by the chosen host: "volume data on b"
	desc     string // for conflicts: `volume "data" of api is on b`
	hostName string
}

// group is a set of replicas that must share one host: services linked by
// follows, by a volume, or by a colocated network. Followed services that
// are not themselves bound join with replica 1 only.
type group struct {
	tasks    []task // in placement order; tasks[0] leads
	pins     []pin  // fixed by volume data or an outside follow target
	conflict string
	done     bool
}

// state is one placement in progress.
type state struct {
	strategy    Strategy
	explain     bool
	filters     []filter
	nodes       []*node // sorted by name
	byName      map[string]int
	svcs        []*service // sorted by name
	order       []*service // follow targets before followers, else by name
	groups      []*group
	volumeHosts map[string]string // requested
	protos      map[string]uint32

	soft    bool     // some service to place has a soft reservation
	same    []int32  // replicas of sameFor per host (spread penalty)
	sameFor *service // nil: all zero

	cur     []string // current host per replica slot; nil when no Current
	out     []Assignment
	reasons map[ReplicaKey][]HostVerdict
}

func (st *state) slot(k PortKey) uint32 {
	id, ok := st.protos[k.Protocol]
	if !ok {
		id = uint32(len(st.protos))
		st.protos[k.Protocol] = id
	}
	return uint32(k.Port) | id<<16
}

func invalid(svc, format string, args ...any) error {
	return &InvalidRequest{Service: svc, Reason: fmt.Sprintf(format, args...)}
}

// newState validates and prepares a request: hosts and services sorted by
// name, constraints parsed and evaluated per host, ports normalised, follow
// order computed, affinity groups formed.
func newState(req Request) (*state, error) {
	st := &state{
		strategy:    req.Strategy,
		explain:     req.Explain,
		filters:     pipeline(),
		volumeHosts: req.VolumeHosts,
		protos:      map[string]uint32{"tcp": 0, "udp": 1, "sctp": 2},
	}
	switch st.strategy {
	case "":
		st.strategy = Spread
	case Spread, Binpack:
	default:
		return nil, invalid("", "unknown strategy %q (want spread or binpack)", req.Strategy)
	}
	if err := st.prepareHosts(req.Hosts); err != nil {
		return nil, err
	}
	if err := st.prepareServices(req); err != nil {
		return nil, err
	}
	if err := st.orderByFollows(); err != nil {
		return nil, err
	}
	if err := st.resolveFollows(req.Current); err != nil {
		return nil, err
	}
	st.formGroups(req.Current)
	if st.explain {
		st.reasons = make(map[ReplicaKey][]HostVerdict, len(st.out))
	}
	return st, nil
}

func (st *state) prepareHosts(hosts []Host) error {
	arr := make([]node, len(hosts))
	st.nodes = make([]*node, len(hosts))
	for i := range hosts {
		h := &hosts[i]
		if h.Name == "" {
			return invalid("", "host %d has no name", i)
		}
		if h.NanoCPUs < 0 || h.MemoryBytes < 0 || h.ReservedNanoCPUs < 0 || h.ReservedMemory < 0 || h.Containers < 0 {
			return invalid("", "host %q: negative capacity, reservation or container count", h.Name)
		}
		n := &arr[i]
		*n = node{
			name:       h.Name,
			reachable:  h.Reachable,
			err:        h.Err,
			labels:     h.Labels,
			os:         normOS(h.OS),
			arch:       normArch(h.Arch),
			cpuCap:     h.NanoCPUs,
			memCap:     h.MemoryBytes,
			cpuUsed:    h.ReservedNanoCPUs,
			memUsed:    h.ReservedMemory,
			cpuLoad:    h.ReservedNanoCPUs,
			memLoad:    h.ReservedMemory,
			containers: h.Containers,
		}
		for k, who := range h.UsedPorts {
			k = k.normal()
			if k.Port == 0 {
				continue
			}
			if n.ports == nil {
				n.ports = make(map[uint32][]hold, len(h.UsedPorts))
			}
			sl := st.slot(k)
			n.ports[sl] = append(n.ports[sl], hold{ip: k.HostIP, ext: who, svc: -1})
		}
		// Map order must not leak into which holder a refusal names.
		for _, hs := range n.ports {
			slices.SortFunc(hs, func(a, b hold) int {
				return cmp.Or(strings.Compare(a.ip, b.ip), strings.Compare(a.ext, b.ext))
			})
		}
		st.nodes[i] = n
	}
	slices.SortFunc(st.nodes, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	st.byName = make(map[string]int, len(st.nodes))
	for i, n := range st.nodes {
		if i > 0 && st.nodes[i-1].name == n.name {
			return invalid("", "host %q is listed twice", n.name)
		}
		n.idx = i
		st.byName[n.name] = i
	}
	return nil
}

func (st *state) prepareServices(req Request) error {
	arr := make([]service, len(req.Services))
	st.svcs = make([]*service, len(req.Services))
	for i := range arr {
		st.svcs[i] = &arr[i]
		arr[i].name = req.Services[i].Name
		arr[i].in = i
	}
	slices.SortFunc(st.svcs, func(a, b *service) int { return strings.Compare(a.name, b.name) })

	colocated := map[string]bool{}
	for _, n := range req.Networks {
		if n.Colocate {
			colocated[n.Name] = true
		}
	}
	parsed := map[string]*constraint{}
	total := 0
	for i, s := range st.svcs {
		in := &req.Services[s.in]
		if s.name == "" {
			return invalid("", "a service has no name")
		}
		if i > 0 && st.svcs[i-1].name == s.name {
			return invalid(s.name, "listed twice")
		}
		if in.Replicas < 0 || in.ReservedNanoCPUs < 0 || in.ReservedMemory < 0 || in.SoftNanoCPUs < 0 || in.SoftMemory < 0 {
			return invalid(s.name, "negative replicas or reservation")
		}
		s.idx = i
		s.replicas = in.Replicas
		s.cpu, s.mem = in.ReservedNanoCPUs, in.ReservedMemory
		// The engine fills Soft only without a declaration; checked again
		// here because a declared number must never be outvoted by a guess.
		if s.cpu == 0 {
			s.softCPU = in.SoftNanoCPUs
		}
		if s.mem == 0 {
			s.softMem = in.SoftMemory
		}
		s.cpuLoad, s.memLoad = s.cpu+s.softCPU, s.mem+s.softMem
		st.soft = st.soft || s.replicas > 0 && s.softCPU|s.softMem != 0
		s.off = total
		total += s.replicas

		for _, raw := range in.Constraints {
			c, ok := parsed[raw]
			if !ok {
				var err error
				if c, err = parseConstraint(raw); err != nil {
					return invalid(s.name, "malformed placement constraint %q: %v", raw, err)
				}
				c.pass = make([]bool, len(st.nodes))
				for _, n := range st.nodes {
					c.pass[n.idx] = c.match(n)
				}
				parsed[raw] = c
			}
			s.cons = append(s.cons, c)
		}

		var ok bool
		if s.os, s.arch, ok = parsePlatform(in.Platform); !ok {
			return invalid(s.name, "malformed platform %q (want os[/arch[/variant]])", in.Platform)
		}

		for _, k := range in.Ports {
			k = k.normal()
			if k.Port == 0 {
				continue // an ephemeral host port clashes with nothing
			}
			p := portSpec{key: k, slot: st.slot(k)}
			for _, q := range s.ports {
				if q.slot == p.slot && (q.key.HostIP == "" || p.key.HostIP == "" || q.key.HostIP == p.key.HostIP) {
					return invalid(s.name, "publishes port %s twice (%s)", q.key, p.key)
				}
			}
			s.ports = append(s.ports, p)
		}

		s.volumes = sortedUnique(in.Volumes, nil)
		s.colo = sortedUnique(in.Networks, colocated)
		s.followsExt = in.Follows // linked to a service by resolveFollows
	}
	st.out = make([]Assignment, total)
	placed := make([]int32, total)
	for i := range placed {
		placed[i] = -1
	}
	for _, s := range st.svcs {
		s.placed = placed[s.off : s.off+s.replicas : s.off+s.replicas]
	}
	if len(req.Current) > 0 {
		st.cur = make([]string, total)
		for _, s := range st.svcs {
			for r := 1; r <= s.replicas; r++ {
				st.cur[s.off+r-1] = req.Current[ReplicaKey{s.name, r}]
			}
		}
	}
	return nil
}

func sortedUnique(in []string, keep map[string]bool) []string {
	var out []string
	for _, v := range in {
		if v != "" && (keep == nil || keep[v]) {
			out = append(out, v)
		}
	}
	if len(out) < 2 {
		return out
	}
	slices.Sort(out)
	return slices.Compact(out)
}
