package schedule

import (
	"slices"
	"strconv"
	"strings"
)

// orderByFollows links each Follows to its target and orders services so a
// target comes before its followers, otherwise by name. A follow cycle is an
// error naming the services in it.
func (st *state) orderByFollows() error {
	for _, s := range st.svcs {
		if s.followsExt == "" {
			continue
		}
		if i, ok := slices.BinarySearchFunc(st.svcs, s.followsExt, func(x *service, name string) int {
			return strings.Compare(x.name, name)
		}); ok {
			s.follows, s.followsExt = st.svcs[i], ""
		}
	}
	const (
		seen = 1 // on the chain being walked
		done = 2
	)
	color := make([]uint8, len(st.svcs))
	st.order = make([]*service, 0, len(st.svcs))
	var chain []*service
	for _, s := range st.svcs {
		chain = chain[:0]
		for x := s; x != nil && color[x.idx] != done; x = x.follows {
			if color[x.idx] == seen {
				var names []string
				for _, y := range append(chain[slices.Index(chain, x):], x) {
					names = append(names, strconv.Quote(y.name))
				}
				return invalid("", "follow cycle: %s", strings.Join(names, " follows "))
			}
			color[x.idx] = seen
			chain = append(chain, x)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			color[chain[i].idx] = done
			st.order = append(st.order, chain[i])
		}
	}
	return nil
}

// resolveFollows checks that every follow target will run somewhere: inside
// the request with at least one replica, or outside it with a current host
// for its replica 1.
func (st *state) resolveFollows(current map[ReplicaKey]string) error {
	for _, s := range st.svcs {
		switch {
		case s.replicas == 0:
		case s.follows != nil && s.follows.replicas == 0:
			return invalid(s.name, "follows %q, which has 0 replicas", s.follows.name)
		case s.followsExt != "" && current[ReplicaKey{s.followsExt, 1}] == "":
			return invalid(s.name, "follows %q, which is neither in this placement nor running", s.followsExt)
		}
	}
	return nil
}

// formGroups joins services that must share a host — a follower and its
// target, the users of one volume, the services of one colocated network —
// and pins each group where its fixed facts say: the host of a volume's
// data, the host an outside follow target runs on.
func (st *state) formGroups(current map[ReplicaKey]string) {
	var parent []int32
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(int32(a)), find(int32(b))
		if ra != rb {
			parent[max(ra, rb)] = min(ra, rb)
		}
	}
	firstUser := map[string]int{} // "v:" volume or "n:" network → service
	link := func(s *service, key string) {
		if f, ok := firstUser[key]; ok {
			union(s.idx, f)
		} else {
			firstUser[key] = s.idx
		}
	}
	for _, s := range st.svcs {
		if s.replicas == 0 {
			continue
		}
		s.bound = s.follows != nil || s.followsExt != "" || len(s.volumes) > 0 || len(s.colo) > 0
		if !s.bound {
			continue
		}
		if parent == nil {
			parent = make([]int32, len(st.svcs))
			for i := range parent {
				parent[i] = int32(i)
			}
		}
		if s.follows != nil {
			union(s.idx, s.follows.idx)
		}
		for _, v := range s.volumes {
			link(s, "v:"+v)
		}
		for _, n := range s.colo {
			link(s, "n:"+n)
		}
	}
	if parent == nil {
		return
	}
	byRoot := map[int32]*group{}
	for _, s := range st.svcs {
		if s.bound {
			byRoot[find(int32(s.idx))] = nil
		}
	}
	for _, s := range st.order {
		if s.replicas == 0 {
			continue
		}
		r := find(int32(s.idx))
		g, ok := byRoot[r]
		if !ok {
			continue
		}
		if g == nil {
			g = &group{}
			byRoot[r] = g
			st.groups = append(st.groups, g)
		}
		s.group = g
		n := 1
		if s.bound {
			n = s.replicas
		}
		for rep := 1; rep <= n; rep++ {
			g.tasks = append(g.tasks, task{svc: s, replica: rep})
		}
	}
	for _, g := range st.groups {
		st.pinGroup(g, current)
	}
}

func (st *state) pinGroup(g *group, current map[ReplicaKey]string) {
	seenVol := map[string]bool{}
	for i := range g.tasks {
		s := g.tasks[i].svc
		if g.tasks[i].replica != 1 || !s.bound {
			continue
		}
		if s.followsExt != "" {
			h := current[ReplicaKey{s.followsExt, 1}]
			g.pins = append(g.pins, st.newPin(h,
				"follows "+s.followsExt+", which runs on "+h,
				"follows "+s.followsExt+" on "+h,
				s.name+" follows "+strconv.Quote(s.followsExt)+", which runs on "+h))
		}
		for _, v := range s.volumes {
			h, ok := st.volumeHosts[v]
			if !ok || h == "" || seenVol[v] {
				continue
			}
			seenVol[v] = true
			g.pins = append(g.pins, st.newPin(h,
				"volume "+v+" is on "+h,
				"volume "+v+" on "+h,
				"volume "+strconv.Quote(v)+" of "+s.name+" is on "+h))
		}
	}
	if len(g.pins) > 1 {
		for _, p := range g.pins[1:] {
			if p.hostName != g.pins[0].hostName {
				g.conflict = g.pins[0].desc + ", but " + p.desc
				break
			}
		}
		if g.conflict == "" {
			g.pins = g.pins[:1]
		}
	}
	for i := range g.tasks {
		g.tasks[i].pins = g.pins
	}
}

func (st *state) newPin(host, refusal, why, desc string) pin {
	i, ok := st.byName[host]
	if !ok {
		i = -1
		refusal += ", which is not a known host"
	}
	return pin{host: i, hostName: host, refusal: refusal, why: why, desc: desc}
}

// relations explains, task by task in placement order, why each replica
// of a group shares the group's host. It remembers the first user of each
// volume and colocated network seen so far, so a group costs linear time.
type relations struct {
	host        string
	volumeHosts map[string]string
	volumeUser  map[string]string // volume → first service seen using it
	netUser     map[string]string // colocated network → first service seen on it
	follower    map[*service]string
}

func newRelations(g *group, host string, volumeHosts map[string]string) *relations {
	r := &relations{host: host, volumeHosts: volumeHosts, volumeUser: map[string]string{}, netUser: map[string]string{}, follower: map[*service]string{}}
	for i := range g.tasks {
		if f := g.tasks[i].svc.follows; f != nil && r.follower[f] == "" {
			r.follower[f] = g.tasks[i].svc.name
		}
	}
	return r
}

// next returns the short why for task t's assignment and the refusal other
// hosts give it; tasks must come in group order, the leader first.
func (r *relations) next(t *task) (why, refusal string) {
	m := t.svc
	defer func() {
		for _, v := range m.volumes {
			if r.volumeUser[v] == "" {
				r.volumeUser[v] = m.name
			}
		}
		for _, c := range m.colo {
			if r.netUser[c] == "" {
				r.netUser[c] = m.name
			}
		}
	}()
	if m.follows != nil {
		return "follows " + m.follows.name, "follows " + m.follows.name + ", which is on " + r.host
	}
	if m.followsExt != "" {
		return "follows " + m.followsExt, "follows " + m.followsExt + ", which runs on " + r.host
	}
	for _, v := range m.volumes {
		if h := r.volumeHosts[v]; h != "" {
			return "volume " + v + " on " + h, "volume " + v + " is on " + h
		}
		if x := r.volumeUser[v]; x != "" {
			return "volume " + v + " with " + x, "volume " + v + " is used by " + x + " on " + r.host
		}
	}
	for _, c := range m.colo {
		if x := r.netUser[c]; x != "" {
			return "colocated network " + c + " with " + x, "colocated network " + c + " is on " + r.host + " (with " + x + ")"
		}
	}
	if y := r.follower[m]; y != "" {
		return "followed by " + y, "followed by " + y + ", which must run on " + r.host
	}
	return "group on " + r.host, "its group is on " + r.host
}
