package schedule

import (
	"cmp"
	"slices"
	"strconv"
)

// Place decides a host for every replica of every service in req.
//
// It runs in two passes over the services (follow targets first, then by
// name). The first keeps every existing replica on its current host when
// that host still passes every filter, so a new service never pushes an
// existing one away. The second places the rest, groups pinned to a host
// first, then largest first by expected use: an affinity group on the
// best-ranked host where all of its replicas fit, any other replica on the
// best-ranked feasible host.
//
// A request that cannot be understood returns *InvalidRequest; a replica
// that fits nowhere returns *Unplaceable with every host's reason.
func Place(req Request) (Result, error) {
	st, err := newState(req)
	if err != nil {
		return Result{}, err
	}
	if st.cur != nil {
		st.keepCurrent()
	}
	if err := st.placeRest(); err != nil {
		return Result{}, err
	}
	return st.result(), nil
}

func (st *state) keepCurrent() {
	for _, s := range st.order {
		if g := s.group; g != nil && !g.done {
			st.keepGroup(g)
		}
		for r := 1; r <= s.replicas; r++ {
			if s.placed[r-1] >= 0 || st.inGroup(s, r) {
				continue
			}
			i, ok := st.byName[st.cur[s.off+r-1]]
			if !ok {
				continue
			}
			t := task{svc: s, replica: r}
			st.prepSame(s)
			if n := st.nodes[i]; st.feasible(n, &t) {
				if st.explain {
					st.reasons[ReplicaKey{s.name, r}] = st.verdicts(&t, n.idx, "kept")
				}
				st.commit(n, &t, "kept")
			}
		}
	}
}

func (st *state) placeRest() error {
	// Groups pinned by volume data or an outside follow target go first:
	// they have no choice, and spreading the rest around them is better
	// than spreading the rest first and crowding the pinned host.
	for _, s := range st.order {
		if g := s.group; g != nil && !g.done && len(g.pins) > 0 {
			if err := st.placeGroup(g); err != nil {
				return err
			}
		}
	}
	for _, u := range st.bySize() {
		if u.g != nil {
			if !u.g.done {
				if err := st.placeGroup(u.g); err != nil {
					return err
				}
			}
			continue
		}
		for r := 1; r <= u.s.replicas; r++ {
			if u.s.placed[r-1] < 0 {
				if err := st.placeOne(u.s, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// unit is what the second pass places in one go: a group, or the replicas
// of one service that belong to no group. mem and cpu are its size
// (declared plus soft) per placement: the group's sum, or one replica's.
type unit struct {
	g        *group
	s        *service
	mem, cpu int64
	pos      int // in st.order, for ties
}

// bySize is what is left to place, largest first (memory, then CPU), else
// in st.order, which puts follow targets first, then names.
//
// Placing the largest first is greedy longest-processing-time: each later,
// smaller piece evens out what the larger ones left, where the reverse
// order ends with a large piece landing on an already even spread. With
// every size equal, as when nothing declares or records use, the order is
// st.order unchanged.
func (st *state) bySize() []unit {
	units := make([]unit, 0, len(st.order))
	var queued map[*group]bool
	for _, s := range st.order {
		if g := s.group; g != nil && !g.done && !queued[g] {
			if queued == nil {
				queued = map[*group]bool{}
			}
			queued[g] = true
			u := unit{g: g, pos: len(units)}
			for i := range g.tasks {
				ts := g.tasks[i].svc
				u.mem += ts.memLoad
				u.cpu += ts.cpuLoad
			}
			units = append(units, u)
		}
		if s.replicas > 0 && (s.group == nil || !s.bound && s.replicas > 1) {
			units = append(units, unit{s: s, mem: s.memLoad, cpu: s.cpuLoad, pos: len(units)})
		}
	}
	larger := func(a, b unit) int {
		return cmp.Or(cmp.Compare(b.mem, a.mem), cmp.Compare(b.cpu, a.cpu), cmp.Compare(a.pos, b.pos))
	}
	if !slices.IsSortedFunc(units, larger) {
		slices.SortFunc(units, larger)
	}
	return units
}

func (st *state) inGroup(s *service, replica int) bool {
	return s.group != nil && (s.bound || replica == 1)
}

// placeOne places a replica that belongs to no group on the best-ranked
// feasible host.
func (st *state) placeOne(s *service, replica int) error {
	t := task{svc: s, replica: replica}
	st.prepSame(s)
	best, second := rank{idx: -1}, rank{idx: -1}
	for _, n := range st.nodes {
		if !st.feasible(n, &t) {
			continue
		}
		rk := st.rank(n, &t)
		switch {
		case best.idx < 0 || st.better(rk, best):
			best, second = rk, best
		case second.idx < 0 || st.better(rk, second):
			second = rk
		}
	}
	if best.idx < 0 {
		return &Unplaceable{Service: s.name, Replica: replica, PerHost: st.verdicts(&t, -1, "")}
	}
	why := st.whyRank(best, second)
	n := st.nodes[best.idx]
	if st.explain {
		st.reasons[ReplicaKey{s.name, replica}] = st.verdicts(&t, n.idx, why)
	}
	st.commit(n, &t, why)
	return nil
}

// keepGroup keeps a group together on a current host of one of its
// replicas when all of the group fits there.
func (st *state) keepGroup(g *group) {
	st.prepSame(g.tasks[0].svc)
	var tried []int
	for i := range g.tasks {
		t := &g.tasks[i]
		h, ok := st.byName[st.cur[t.svc.off+t.replica-1]]
		if !ok || slices.Contains(tried, h) {
			continue
		}
		tried = append(tried, h)
		if ok, _ := st.trial(g, st.nodes[h], false); ok {
			why := "kept"
			if len(g.pins) > 0 {
				why = g.pins[0].why
			}
			st.commitGroup(g, st.nodes[h], why)
			return
		}
	}
}

// placeGroup puts a whole group on the best-ranked host (for its leading
// replica) where every replica of the group fits.
func (st *state) placeGroup(g *group) error {
	lead := &g.tasks[0]
	st.prepSame(lead.svc)
	var cands []rank
	for _, n := range st.nodes {
		if st.feasible(n, lead) {
			cands = append(cands, st.rank(n, lead))
		}
	}
	slices.SortFunc(cands, func(a, b rank) int {
		switch {
		case a.idx == b.idx:
			return 0
		case st.better(a, b):
			return -1
		}
		return 1
	})
	for i, c := range cands {
		n := st.nodes[c.idx]
		if ok, _ := st.trial(g, n, false); !ok {
			continue
		}
		var why string
		switch {
		case len(g.pins) > 0:
			why = g.pins[0].why
		case i == 0 && len(cands) == 1:
			why = "only feasible host"
		case i == 0:
			why = st.whyRank(cands[0], cands[1])
		default:
			why = string(st.strategy) + ": first host where the group fits"
		}
		st.commitGroup(g, n, why)
		return nil
	}
	err := &Unplaceable{Service: lead.svc.name, Replica: lead.replica, Conflict: g.conflict}
	for i := range g.tasks {
		if name := g.tasks[i].svc.name; name != lead.svc.name {
			err.Group = append(err.Group, name)
		}
	}
	slices.Sort(err.Group)
	err.Group = slices.Compact(err.Group)
	err.PerHost = st.groupVerdicts(g, -1, "")
	return err
}

// trial places the whole group on n and takes it back, saying whether it
// fit and, when asked, why not.
func (st *state) trial(g *group, n *node, explain bool) (bool, string) {
	for i := range g.tasks {
		t := &g.tasks[i]
		if !st.feasible(n, t) {
			var why string
			if explain {
				why = st.refusal(n, t)
				if i > 0 {
					why = t.svc.name + " replica " + strconv.Itoa(t.replica) + ": " + why
				}
			}
			for j := i - 1; j >= 0; j-- {
				st.undo(n, &g.tasks[j])
			}
			return false, why
		}
		st.apply(n, t)
	}
	for j := len(g.tasks) - 1; j >= 0; j-- {
		st.undo(n, &g.tasks[j])
	}
	return true, ""
}

func (st *state) commitGroup(g *group, n *node, why string) {
	var leadVerdicts []HostVerdict
	if st.explain {
		leadVerdicts = st.groupVerdicts(g, n.idx, why)
	}
	rel := newRelations(g, n.name, st.volumeHosts)
	for i := range g.tasks {
		t := &g.tasks[i]
		w, refusal := rel.next(t)
		switch {
		case i == 0:
			w = why
			if st.explain {
				st.reasons[ReplicaKey{t.svc.name, t.replica}] = leadVerdicts
			}
		case st.explain:
			// Judged as pinned to the group's host, with why it is pinned.
			st.prepSame(t.svc)
			pinned := task{svc: t.svc, replica: t.replica, pins: []pin{{host: n.idx, hostName: n.name, refusal: refusal}}}
			st.reasons[ReplicaKey{t.svc.name, t.replica}] = st.verdicts(&pinned, n.idx, w)
		}
		st.commit(n, t, w)
	}
	g.done = true
}

// groupVerdicts is verdicts for the group's leading replica, where a host
// that suits the leader but not the whole group is refused with the reason
// of the first replica that does not fit.
func (st *state) groupVerdicts(g *group, chosen int, why string) []HostVerdict {
	st.prepSame(g.tasks[0].svc)
	vs := st.verdicts(&g.tasks[0], chosen, why)
	for i := range vs {
		if !vs[i].Feasible || i == chosen {
			continue
		}
		if ok, reason := st.trial(g, st.nodes[i], true); !ok {
			vs[i] = HostVerdict{Host: vs[i].Host, Reason: reason}
		}
	}
	return vs
}

func (st *state) feasible(n *node, t *task) bool { return feasible(n, t, st) }

// refusal is the first filter's explanation for refusing n, "" if none does.
func (st *state) refusal(n *node, t *task) string {
	for _, f := range st.filters {
		if !f.Check(n, t, st) {
			return f.Explain(n, t, st)
		}
	}
	return ""
}

// verdicts judges every host for t; chosen (or -1) is marked placed with
// why as its reason.
func (st *state) verdicts(t *task, chosen int, why string) []HostVerdict {
	vs := make([]HostVerdict, len(st.nodes))
	for i, n := range st.nodes {
		v := HostVerdict{Host: n.name}
		if r := st.refusal(n, t); r != "" {
			v.Reason = r
		} else {
			rk := st.rank(n, t)
			v.Feasible, v.Score, v.Reason = true, shownScore(rk), "feasible"
			if rk.same > 0 {
				v.Reason += "; already runs " + strconv.Itoa(int(rk.same)) + " replica(s) of " + t.svc.name
			}
			if rk.over && st.soft {
				v.Reason += "; expected use (reserved + recorded) exceeds capacity"
			}
		}
		if i == chosen {
			v.Placed, v.Reason = true, why
		}
		vs[i] = v
	}
	return vs
}

// apply books t's reservation, container and ports on n.
func (st *state) apply(n *node, t *task) {
	s := t.svc
	n.cpuUsed += s.cpu
	n.memUsed += s.mem
	n.cpuLoad += s.cpuLoad
	n.memLoad += s.memLoad
	n.containers++
	if len(s.ports) > 0 && n.ports == nil {
		n.ports = make(map[uint32][]hold)
	}
	for _, p := range s.ports {
		n.ports[p.slot] = append(n.ports[p.slot], hold{ip: p.key.HostIP, svc: int32(s.idx), replica: int32(t.replica)})
	}
	s.placed[t.replica-1] = int32(n.idx)
	if st.sameFor == s {
		st.same[n.idx]++
	}
}

// undo takes back the last apply of t on n.
func (st *state) undo(n *node, t *task) {
	s := t.svc
	n.cpuUsed -= s.cpu
	n.memUsed -= s.mem
	n.cpuLoad -= s.cpuLoad
	n.memLoad -= s.memLoad
	n.containers--
	for i := len(s.ports) - 1; i >= 0; i-- {
		hs := n.ports[s.ports[i].slot]
		n.ports[s.ports[i].slot] = hs[:len(hs)-1]
	}
	s.placed[t.replica-1] = -1
	if st.sameFor == s {
		st.same[n.idx]--
	}
}

func (st *state) commit(n *node, t *task, why string) {
	st.apply(n, t)
	i := t.svc.off + t.replica - 1
	a := &st.out[i]
	a.Service, a.Replica, a.Host, a.Why = t.svc.name, t.replica, n.name, why
	if st.cur != nil {
		a.Moved = st.cur[i] != "" && st.cur[i] != n.name
	}
}

// prepSame makes st.same count, per host, the replicas of s placed so far.
// Only services with several replicas need it.
func (st *state) prepSame(s *service) {
	if st.sameFor == s || (st.sameFor == nil && s.replicas < 2) {
		return
	}
	if st.sameFor != nil {
		for _, h := range st.sameFor.placed {
			if h >= 0 {
				st.same[h] = 0
			}
		}
		st.sameFor = nil
	}
	if s.replicas < 2 {
		return
	}
	if st.same == nil {
		st.same = make([]int32, len(st.nodes))
	}
	for _, h := range s.placed {
		if h >= 0 {
			st.same[h]++
		}
	}
	st.sameFor = s
}

func (st *state) result() Result {
	res := Result{Assignments: st.out, Reasons: st.reasons}
	for _, s := range st.svcs {
		if s.replicas > 0 && s.softCPU|s.softMem != 0 {
			res.Soft = append(res.Soft, SoftUse{Service: s.name, NanoCPUs: s.softCPU, Memory: s.softMem})
		}
	}
	for _, s := range st.svcs {
		if s.replicas == 0 || len(s.volumes) == 0 {
			continue
		}
		if res.VolumeHosts == nil {
			res.VolumeHosts = map[string]string{}
		}
		for _, v := range s.volumes {
			res.VolumeHosts[v] = st.nodes[s.placed[0]].name
		}
	}
	return res
}
