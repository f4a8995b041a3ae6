package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// randomRequest makes a small request that exercises every rule: tight
// capacity, clashing ports, constraints, platforms, follows, volumes,
// colocated networks and current placements.
func randomRequest(r *rand.Rand) Request {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	ports := []PortKey{tcp(80), tcp(443), tcpOn("127.0.0.1", 80), {Port: 53, Protocol: "udp"}, tcpOn("10.0.0.1", 443)}
	var req Request
	if r.IntN(2) == 0 {
		req.Strategy = Binpack
	}
	for i := range 1 + r.IntN(6) {
		h := Host{
			Name:        fmt.Sprintf("h%d", i),
			Reachable:   r.IntN(8) > 0,
			Err:         "down",
			NanoCPUs:    int64(r.IntN(5)) * 2 * cpu,
			MemoryBytes: int64(r.IntN(4)) * 4 * gib,
			OS:          "linux",
			Arch:        pick("amd64", "x86_64", "arm64", ""),
			Containers:  r.IntN(4),
			Labels:      map[string]string{"zone": pick("eu", "us")},
		}
		if h.NanoCPUs > 0 {
			h.ReservedNanoCPUs = r.Int64N(h.NanoCPUs / 2)
		}
		if h.MemoryBytes > 0 {
			h.ReservedMemory = r.Int64N(h.MemoryBytes / 2)
		}
		for range r.IntN(2) {
			if h.UsedPorts == nil {
				h.UsedPorts = map[PortKey]string{}
			}
			h.UsedPorts[ports[r.IntN(len(ports))]] = "process"
		}
		req.Hosts = append(req.Hosts, h)
	}
	ns := 1 + r.IntN(10)
	for i := range ns {
		s := Service{Name: fmt.Sprintf("s%d", i), Replicas: r.IntN(4)}
		if r.IntN(2) == 0 {
			s.ReservedNanoCPUs = r.Int64N(2 * cpu)
			s.ReservedMemory = r.Int64N(3 * gib)
		}
		for _, j := range r.Perm(len(ports))[:r.IntN(3)*r.IntN(2)] {
			p := ports[j]
			if !slices.ContainsFunc(s.Ports, func(q PortKey) bool { return q.Port == p.Port }) {
				s.Ports = append(s.Ports, p)
			}
		}
		if r.IntN(4) == 0 {
			s.Constraints = append(s.Constraints, pick("node.labels.zone==eu", "node.labels.zone!=eu", "node.hostname!=h0", "node.platform.arch==x86_64"))
		}
		if r.IntN(6) == 0 {
			s.Platform = pick("linux/amd64", "linux/arm64", "linux")
		}
		if r.IntN(5) == 0 {
			s.Volumes = append(s.Volumes, pick("v1", "v2", "v3"))
		}
		if i > 0 && r.IntN(6) == 0 {
			s.Follows = fmt.Sprintf("s%d", r.IntN(i))
		}
		if r.IntN(3) == 0 {
			s.Networks = append(s.Networks, pick("n1", "n2"), "default")
		}
		req.Services = append(req.Services, s)
	}
	req.Networks = []Network{{Name: "n1", Colocate: r.IntN(2) == 0}, {Name: "n2"}, {Name: "default"}}
	req.Current = map[ReplicaKey]string{}
	for range r.IntN(8) {
		req.Current[ReplicaKey{fmt.Sprintf("s%d", r.IntN(ns)), 1 + r.IntN(3)}] = fmt.Sprintf("h%d", r.IntN(7))
	}
	if r.IntN(4) == 0 {
		req.VolumeHosts = map[string]string{pick("v1", "v2"): fmt.Sprintf("h%d", r.IntN(len(req.Hosts)))}
	}
	return req
}

func shuffled(r *rand.Rand, req Request) Request {
	out := req
	out.Hosts = slices.Clone(req.Hosts)
	out.Services = slices.Clone(req.Services)
	out.Networks = slices.Clone(req.Networks)
	r.Shuffle(len(out.Hosts), func(i, j int) { out.Hosts[i], out.Hosts[j] = out.Hosts[j], out.Hosts[i] })
	r.Shuffle(len(out.Services), func(i, j int) { out.Services[i], out.Services[j] = out.Services[j], out.Services[i] })
	r.Shuffle(len(out.Networks), func(i, j int) { out.Networks[i], out.Networks[j] = out.Networks[j], out.Networks[i] })
	for i := range out.Services {
		s := &out.Services[i]
		s.Networks = slices.Clone(s.Networks)
		slices.Reverse(s.Networks)
	}
	return out
}

// withSoft gives about half the services recorded use, beside or instead
// of declared reservations, some of it more than any host has.
func withSoft(r *rand.Rand, req Request) Request {
	for i := range req.Services {
		if r.IntN(2) == 0 {
			req.Services[i].SoftNanoCPUs = r.Int64N(3 * cpu)
			req.Services[i].SoftMemory = r.Int64N(6 * gib)
		}
	}
	return req
}

func TestPlaceProperties(t *testing.T) {
	t.Run("declared", func(t *testing.T) { checkProperties(t, rand.New(rand.NewPCG(1, 2)), randomRequest) })
	t.Run("soft", func(t *testing.T) {
		checkProperties(t, rand.New(rand.NewPCG(5, 6)), func(r *rand.Rand) Request { return withSoft(r, randomRequest(r)) })
	})
}

// checkProperties places 2000 generated requests and checks each against
// the rules: deterministic, unchanged by Explain, valid, converged.
func checkProperties(t *testing.T, r *rand.Rand, gen func(*rand.Rand) Request) {
	var placed, unplaceable int
	for i := range 2000 {
		req := gen(r)
		res, err := Place(req)
		label := fmt.Sprintf("iteration %d", i)

		// Deterministic, whatever the input order.
		res2, err2 := Place(shuffled(r, req))
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(res, res2) {
			t.Fatalf("%s: not deterministic:\n%+v %v\n%+v %v", label, res, err, res2, err2)
		}
		req.Explain = true
		res3, err3 := Place(req)
		req.Explain = false
		if fmt.Sprint(err) != fmt.Sprint(err3) || !reflect.DeepEqual(res.Assignments, res3.Assignments) {
			t.Fatalf("%s: explain changed the result", label)
		}

		if err != nil {
			var u *Unplaceable
			var inv *InvalidRequest
			if errors.As(err, &inv) && strings.Contains(inv.Reason, "0 replicas") {
				continue // the generator may follow a service scaled to zero
			}
			if !errors.As(err, &u) {
				t.Fatalf("%s: unexpected error %v", label, err)
			}
			if len(u.PerHost) != len(req.Hosts) {
				t.Fatalf("%s: %d verdicts for %d hosts", label, len(u.PerHost), len(req.Hosts))
			}
			for _, v := range u.PerHost {
				if v.Feasible || v.Reason == "" {
					t.Fatalf("%s: verdict %+v", label, v)
				}
			}
			unplaceable++
			continue
		}
		placed++
		checkPlacement(t, label, req, res)

		// Converged: placing again from the result keeps every replica.
		again := req
		again.Current = hostsOf(res)
		res4, err := Place(again)
		if err != nil {
			t.Fatalf("%s: placing the result again: %v", label, err)
		}
		for i, a := range res4.Assignments {
			if a.Moved || a.Host != res.Assignments[i].Host {
				t.Fatalf("%s: %+v moved on a second placement (was %s)", label, a, res.Assignments[i].Host)
			}
		}
	}
	t.Logf("%d placed, %d unplaceable", placed, unplaceable)
	if placed < 400 || unplaceable < 100 {
		t.Errorf("generator is off balance: %d placed, %d unplaceable", placed, unplaceable)
	}
}

// checkPlacement verifies a successful placement against the request from
// first principles.
func checkPlacement(t *testing.T, label string, req Request, res Result) {
	t.Helper()
	hosts := map[string]Host{}
	for _, h := range req.Hosts {
		hosts[h.Name] = h
	}
	svcs := map[string]Service{}
	want := 0
	for _, s := range req.Services {
		svcs[s.Name] = s
		want += s.Replicas
	}
	if len(res.Assignments) != want {
		t.Fatalf("%s: %d assignments, want %d", label, len(res.Assignments), want)
	}
	if !slices.IsSortedFunc(res.Assignments, func(a, b Assignment) int {
		if a.Service != b.Service {
			if a.Service < b.Service {
				return -1
			}
			return 1
		}
		return a.Replica - b.Replica
	}) {
		t.Fatalf("%s: assignments not sorted", label)
	}
	var soft []SoftUse
	for _, s := range svcs {
		u := SoftUse{Service: s.Name}
		if s.ReservedNanoCPUs == 0 {
			u.NanoCPUs = s.SoftNanoCPUs
		}
		if s.ReservedMemory == 0 {
			u.Memory = s.SoftMemory
		}
		if s.Replicas > 0 && u.NanoCPUs|u.Memory != 0 {
			soft = append(soft, u)
		}
	}
	slices.SortFunc(soft, func(a, b SoftUse) int { return strings.Compare(a.Service, b.Service) })
	if !reflect.DeepEqual(res.Soft, soft) {
		t.Fatalf("%s: Soft %v, want %v", label, res.Soft, soft)
	}
	where := hostsOf(res)
	cpuUsed, memUsed := map[string]int64{}, map[string]int64{}
	type booked struct {
		k   PortKey
		who string
	}
	portsOn := map[string][]booked{}
	for _, a := range res.Assignments {
		h, ok := hosts[a.Host]
		s := svcs[a.Service]
		if !ok || !h.Reachable {
			t.Fatalf("%s: %+v on a missing or unreachable host", label, a)
		}
		if cur := req.Current[ReplicaKey{a.Service, a.Replica}]; a.Moved != (cur != "" && cur != a.Host) {
			t.Fatalf("%s: %+v moved flag, current %q", label, a, cur)
		}
		cpuUsed[a.Host] += s.ReservedNanoCPUs
		memUsed[a.Host] += s.ReservedMemory
		for _, p := range s.Ports {
			portsOn[a.Host] = append(portsOn[a.Host], booked{p.normal(), fmt.Sprintf("%s/%d", a.Service, a.Replica)})
		}
		for _, c := range s.Constraints {
			pc, err := parseConstraint(c)
			if err != nil {
				t.Fatal(err)
			}
			n := &node{name: h.Name, labels: h.Labels, os: normOS(h.OS), arch: normArch(h.Arch)}
			if !pc.match(n) {
				t.Fatalf("%s: %+v breaks %s", label, a, c)
			}
		}
		if os, arch, _ := parsePlatform(s.Platform); arch != "" && h.Arch != "" && arch != normArch(h.Arch) || os != "" && os != h.OS {
			t.Fatalf("%s: %+v on %s/%s", label, a, h.OS, h.Arch)
		}
		if s.Follows != "" {
			if target := where[ReplicaKey{s.Follows, 1}]; target == "" && req.Current[ReplicaKey{s.Follows, 1}] != a.Host || target != "" && target != a.Host {
				t.Fatalf("%s: %+v does not follow %s", label, a, s.Follows)
			}
		}
		for _, v := range s.Volumes {
			if vh, ok := req.VolumeHosts[v]; ok && vh != a.Host || res.VolumeHosts[v] != a.Host {
				t.Fatalf("%s: %+v away from volume %s (%s)", label, a, v, res.VolumeHosts[v])
			}
		}
		for _, n := range s.Networks {
			for _, o := range req.Services {
				if n == "n1" && req.Networks[0].Colocate && slices.Contains(o.Networks, n) && o.Replicas > 0 && where[ReplicaKey{o.Name, 1}] != a.Host {
					t.Fatalf("%s: %+v not colocated with %s on %s", label, a, o.Name, n)
				}
			}
		}
	}
	for name, h := range hosts {
		if cpuUsed[name] > 0 && h.NanoCPUs > 0 && h.ReservedNanoCPUs+cpuUsed[name] > h.NanoCPUs {
			t.Fatalf("%s: %s CPU over-committed: %d+%d > %d", label, name, h.ReservedNanoCPUs, cpuUsed[name], h.NanoCPUs)
		}
		if memUsed[name] > 0 && h.MemoryBytes > 0 && h.ReservedMemory+memUsed[name] > h.MemoryBytes {
			t.Fatalf("%s: %s memory over-committed", label, name)
		}
		all := portsOn[name]
		for k, who := range h.UsedPorts {
			all = append(all, booked{k.normal(), "ext " + who})
		}
		for i, p := range portsOn[name] {
			for j, q := range all {
				if i != j && p.k.Port == q.k.Port && p.k.Protocol == q.k.Protocol &&
					(p.k.HostIP == "" || q.k.HostIP == "" || p.k.HostIP == q.k.HostIP) {
					t.Fatalf("%s: %s double-books %s (%s) and %s (%s)", label, name, p.k, p.who, q.k, q.who)
				}
			}
		}
	}
}

// feasible is the pipeline written out for speed; it must agree with it.
func TestFeasibleMatchesPipeline(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// Counted so the test cannot pass having compared nothing: random
	// requests must build, and both answers must occur, each refusal by
	// more than one filter.
	var built, accepted, refused int
	refusedBy := map[string]int{}
	for range 300 {
		st, err := newState(randomRequest(r))
		if err != nil {
			continue
		}
		built++
		for _, s := range st.svcs {
			tasks := []task{{svc: s, replica: 1}}
			if s.group != nil {
				tasks = append(tasks, s.group.tasks...)
			}
			for i := range tasks {
				for _, n := range st.nodes {
					want := true
					for _, f := range pipeline() {
						if !f.Check(n, &tasks[i], st) {
							if want {
								refusedBy[fmt.Sprintf("%T", f)]++
							}
							want = false
						}
					}
					if got := feasible(n, &tasks[i], st); got != want {
						t.Fatalf("%s on %s: feasible=%v, pipeline=%v", s.name, n.name, got, want)
					}
					if want {
						accepted++
					} else {
						refused++
					}
				}
			}
		}
	}
	if built < 100 || accepted == 0 || refused == 0 || len(refusedBy) < 3 {
		t.Fatalf("compared too little: %d requests built of 300, %d accepted, %d refused (first refusal by %v)", built, accepted, refused, refusedBy)
	}
	t.Logf("%d requests, %d accepted, %d refused, first refusal by %v", built, accepted, refused, refusedBy)
}
