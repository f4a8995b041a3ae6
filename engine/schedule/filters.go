package schedule

import (
	"strconv"
	"strings"
)

// A filter accepts or refuses one host for one replica. Check is on the hot
// path and must not allocate; Explain is called only for refused hosts and
// says why in one short sentence.
type filter interface {
	Check(n *node, t *task, st *state) bool
	Explain(n *node, t *task, st *state) string
}

// pipeline is the order filters run in: the first refusal is the reason a
// host reports, so the most fundamental ones come first.
func pipeline() []filter {
	return []filter{reachable{}, affinity{}, constraints{}, platform{}, resources{}, ports{}}
}

// feasible is the pipeline's checks written out so the compiler can inline
// them: it runs once per replica and host, the hot loop of a placement. It
// must accept exactly what pipeline accepts (TestFeasibleMatchesPipeline
// checks that over random requests); the order of its checks cannot change
// the answer, only the time to reach it, but keeping pipeline's order makes
// a missing filter easy to see.
func feasible(n *node, t *task, st *state) bool {
	return reachable{}.Check(n, t, st) &&
		affinity{}.Check(n, t, st) &&
		constraints{}.Check(n, t, st) &&
		platform{}.Check(n, t, st) &&
		resources{}.Check(n, t, st) &&
		ports{}.Check(n, t, st)
}

// reachable refuses hosts devorch cannot talk to.
type reachable struct{}

func (reachable) Check(n *node, _ *task, _ *state) bool { return n.reachable }

func (reachable) Explain(n *node, _ *task, _ *state) string {
	if n.err == "" {
		return "unreachable"
	}
	return "unreachable: " + n.err
}

// affinity keeps a replica on the host its group is pinned to: where a
// volume's data is, where a followed service runs, where a colocated
// network's services are.
type affinity struct{}

func (affinity) Check(n *node, t *task, _ *state) bool {
	for i := range t.pins {
		if t.pins[i].host != n.idx {
			return false
		}
	}
	return true
}

func (affinity) Explain(n *node, t *task, _ *state) string {
	for i := range t.pins {
		if t.pins[i].host != n.idx {
			return t.pins[i].refusal
		}
	}
	return ""
}

// constraints applies deploy.placement.constraints, evaluated once per
// request and host (constraint.pass).
type constraints struct{}

func (constraints) Check(n *node, t *task, _ *state) bool {
	for _, c := range t.svc.cons {
		if !c.pass[n.idx] {
			return false
		}
	}
	return true
}

func (constraints) Explain(n *node, t *task, _ *state) string {
	for _, c := range t.svc.cons {
		if !c.pass[n.idx] {
			return c.explain(n)
		}
	}
	return ""
}

// platform refuses a host whose OS or architecture differs from the
// service's platform. Either side left empty matches anything.
type platform struct{}

func (platform) Check(n *node, t *task, _ *state) bool {
	s := t.svc
	return (s.os == "" || n.os == "" || s.os == n.os) &&
		(s.arch == "" || n.arch == "" || s.arch == n.arch)
}

func (platform) Explain(n *node, t *task, _ *state) string {
	return "platform " + platformString(t.svc.os, t.svc.arch) + " needed, host is " + platformString(n.os, n.arch)
}

// resources refuses a host whose free CPU or memory (capacity minus what is
// reserved there, by others and by this placement) is less than the
// service's reservation. Unknown capacity (0) is no limit.
type resources struct{}

func fits(need, used, capacity int64) bool {
	return need == 0 || capacity <= 0 || used+need <= capacity
}

func (resources) Check(n *node, t *task, _ *state) bool {
	return fits(t.svc.cpu, n.cpuUsed, n.cpuCap) && fits(t.svc.mem, n.memUsed, n.memCap)
}

func (resources) Explain(n *node, t *task, _ *state) string {
	var why []string
	if s := t.svc; !fits(s.cpu, n.cpuUsed, n.cpuCap) {
		why = append(why, "needs "+cpus(s.cpu)+" "+cpuWord(s.cpu)+", "+cpus(n.cpuCap-n.cpuUsed)+" free")
	}
	if s := t.svc; !fits(s.mem, n.memUsed, n.memCap) {
		why = append(why, "needs "+bytesIEC(s.mem)+" memory, "+bytesIEC(n.memCap-n.memUsed)+" free")
	}
	return strings.Join(why, "; ")
}

// ports refuses a host where a published port is already taken, by
// something outside the request or by a replica this placement put there.
// All interfaces ("") clash with any address; the protocol must match.
type ports struct{}

func (ports) Check(n *node, t *task, _ *state) bool {
	if len(n.ports) == 0 {
		return true
	}
	for i := range t.svc.ports {
		if clash(n, &t.svc.ports[i]) != nil {
			return false
		}
	}
	return true
}

func (ports) Explain(n *node, t *task, st *state) string {
	for i := range t.svc.ports {
		p := &t.svc.ports[i]
		h := clash(n, p)
		if h == nil {
			continue
		}
		who := h.ext
		if h.svc >= 0 {
			who = st.svcs[h.svc].name + " replica " + strconv.Itoa(int(h.replica)) + " (placed here)"
		} else if who == "" {
			who = "something"
		}
		theirs := PortKey{HostIP: h.ip, Port: p.key.Port, Protocol: p.key.Protocol}
		if theirs == p.key {
			return "port " + p.key.String() + " held by " + who
		}
		return "port " + p.key.String() + " clashes with " + theirs.String() + " held by " + who
	}
	return ""
}

func clash(n *node, p *portSpec) *hold {
	hs := n.ports[p.slot]
	for i := range hs {
		if p.key.HostIP == "" || hs[i].ip == "" || p.key.HostIP == hs[i].ip {
			return &hs[i]
		}
	}
	return nil
}
