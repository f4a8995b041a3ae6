package schedule

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func soft(c, m int64) func(*Service) {
	return func(s *Service) { s.SoftNanoCPUs, s.SoftMemory = c, m }
}

// roundUp is what engine/usage does to a recorded quantile: 20% headroom,
// up to a whole step.
func roundUp(v, step int64) int64 { return (v*12/10 + step - 1) / step * step }

// memRatio is the busiest host's true memory use over the least busy one's.
func memRatio(t *testing.T, res Result, hosts []Host, truth map[string]int64) float64 {
	t.Helper()
	per := map[string]int64{}
	for _, h := range hosts {
		per[h.Name] = 0
	}
	for _, a := range res.Assignments {
		per[a.Host] += truth[a.Service]
	}
	lo, hi := int64(-1), int64(0)
	for _, v := range per {
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		t.Fatalf("a host got nothing: %v", per)
	}
	return float64(hi) / float64(lo)
}

// The figure of issue 12: 30 services of known, unequal use on 3 hosts,
// none declaring a reservation. Without history placement can only count
// containers; with it the busiest host must use at most 1.3× the memory of
// the least busy.
func TestSoftReservationsEvenOutMemory(t *testing.T) {
	hosts := []Host{host("h1"), host("h2"), host("h3")}
	var worstWithout, worstWith, sumWithout float64
	const seeds = 200
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(12, seed))
		truth := map[string]int64{}
		var plain, recorded []Service
		for i, n := range r.Perm(30) {
			mem, c := []int64{400 * mib, 150 * mib, 50 * mib}[i/10], []int64{cpu / 5, cpu / 12, cpu / 30}[i/10]
			name := fmt.Sprintf("svc-%02d", n)
			truth[name] = mem
			plain = append(plain, svc(name))
			recorded = append(recorded, svc(name, soft(roundUp(c, cpu/20), roundUp(mem, 16*mib))))
		}
		without := memRatio(t, mustPlace(t, Request{Hosts: hosts, Services: plain}), hosts, truth)
		res := mustPlace(t, Request{Hosts: hosts, Services: recorded})
		with := memRatio(t, res, hosts, truth)
		worstWithout, worstWith, sumWithout = max(worstWithout, without), max(worstWith, with), sumWithout+without
		if with > 1.3 {
			t.Errorf("seed %d: with history the ratio is %.3f > 1.3", seed, with)
		}
		if len(res.Soft) != 30 {
			t.Fatalf("Result.Soft lists %d services, want 30", len(res.Soft))
		}
		if a := res.Assignments[0]; seed == 0 && a.Why != "spread: least expected use (reserved + recorded)" && a.Why != "spread: first by name" {
			t.Errorf("why: %q", a.Why)
		}
	}
	t.Logf("busiest/least busy host memory over %d name orders: without history mean %.3f, worst %.3f; with it worst %.3f",
		seeds, sumWithout/seeds, worstWithout, worstWith)
	// Scoring by expected use and placing largest first each reach about
	// 1.2 alone; together they even the hosts out exactly. Guard that.
	if worstWith > 1.05 {
		t.Errorf("with history the worst ratio is %.3f, was 1.000", worstWith)
	}
}

// Soft numbers only rank: a host too small for the recorded use still takes
// the service when nothing else can.
func TestSoftNeverFilters(t *testing.T) {
	small := func(h *Host) { h.MemoryBytes = gib }
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a", small), host("b")},
		Services: []Service{svc("api", soft(8*cpu, 4*gib), constrained("node.hostname==a"))},
		Explain:  true,
	})
	if a := find(t, res, "api", 1); a.Host != "a" || a.Why != "only feasible host" {
		t.Errorf("got %+v", a)
	}

	// Both hosts too small: still placed, on the one it overflows least,
	// by either strategy; the verdicts say so.
	for _, s := range []Strategy{Spread, Binpack} {
		res := mustPlace(t, Request{
			Strategy: s,
			Hosts:    []Host{host("a", small), host("b", func(h *Host) { h.MemoryBytes = 2 * gib })},
			Services: []Service{svc("api", soft(0, 4*gib))},
			Explain:  true,
		})
		a := find(t, res, "api", 1)
		if a.Host != "b" {
			t.Errorf("%s: got %+v, want b", s, a)
		}
		for _, v := range res.Reasons[ReplicaKey{"api", 1}] {
			if !v.Feasible || v.Score < 0 || v.Score > 100 {
				t.Errorf("%s: verdict %+v", s, v)
			}
			if !v.Placed && v.Reason != "feasible; expected use (reserved + recorded) exceeds capacity" {
				t.Errorf("%s: verdict %+v", s, v)
			}
		}
	}
}

// A declared reservation wins over the recorded one, per resource.
func TestDeclaredBeatsSoft(t *testing.T) {
	// Counted by its soft 6GiB, x would go first and take a; counted by its
	// declared 1GiB, y (2GiB recorded) is larger and takes a.
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("x", needs(0, gib), soft(cpu/2, 6*gib)), svc("y", soft(0, 2*gib))},
	})
	if got, want := hostsOf(res), map[ReplicaKey]string{{"x", 1}: "b", {"y", 1}: "a"}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	want := []SoftUse{{Service: "x", NanoCPUs: cpu / 2}, {Service: "y", Memory: 2 * gib}}
	if !reflect.DeepEqual(res.Soft, want) {
		t.Errorf("Soft: got %+v, want %+v", res.Soft, want)
	}

	// Declared CPU and memory: the soft numbers do nothing at all.
	st, err := newState(Request{Hosts: []Host{host("a")}, Services: []Service{svc("x", needs(cpu, gib), soft(3*cpu, 6*gib))}})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.svcs[0]; s.softCPU != 0 || s.softMem != 0 {
		t.Errorf("soft kept beside declared: %+v", *s)
	}
}

func TestSoftScoring(t *testing.T) {
	// A replica kept on a counts its recorded use there.
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("db", soft(0, 6*gib)), svc("api", soft(0, gib))},
		Current:  map[ReplicaKey]string{{"db", 1}: "a"},
	})
	if a := find(t, res, "api", 1); a.Host != "b" || a.Why != "spread: least expected use (reserved + recorded)" {
		t.Errorf("api: %+v", a)
	}

	// Declared and recorded add up: a with 3GiB reserved by others and b
	// running 4GiB recorded; the newcomer goes to a.
	res = mustPlace(t, Request{
		Hosts:    []Host{host("a", reservedOn(0, 3*gib)), host("b")},
		Services: []Service{svc("cache", soft(0, 4*gib)), svc("web", soft(0, gib))},
		Current:  map[ReplicaKey]string{{"cache", 1}: "b"},
	})
	if a := find(t, res, "web", 1); a.Host != "a" {
		t.Errorf("web: %+v", a)
	}

	// Binpack fills a host up to its capacity by expected use, then moves
	// on to the next.
	res = mustPlace(t, Request{
		Strategy: Binpack,
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("w", soft(0, 3*gib), replicas(4))},
	})
	if got, want := hostsOf(res), map[ReplicaKey]string{{"w", 1}: "a", {"w", 2}: "a", {"w", 3}: "b", {"w", 4}: "b"}; !maps.Equal(got, want) {
		t.Errorf("binpack: got %v, want %v", got, want)
	}
	if a := find(t, res, "w", 3); a.Why != "binpack: expected use (reserved + recorded) fits" {
		t.Errorf("w/3: %q", a.Why)
	}
	if a := find(t, res, "w", 2); a.Why != "binpack: most expected use (reserved + recorded)" {
		t.Errorf("w/2: %q", a.Why)
	}
}

// Larger services go first, whether their size is declared or recorded;
// equal sizes keep name order.
func TestPlaceLargestFirst(t *testing.T) {
	st, err := newState(Request{
		Hosts: []Host{host("a")},
		Services: []Service{
			svc("a-small", soft(0, 100*mib)), svc("b-big", needs(0, gib)), svc("c-mid", soft(0, 500*mib)),
			svc("d-mid-more-cpu", soft(cpu, 500*mib)), svc("e-none"), svc("f-none"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range st.bySize() {
		got = append(got, u.s.name)
	}
	if want := []string{"b-big", "d-mid-more-cpu", "c-mid", "a-small", "e-none", "f-none"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSoftUseString(t *testing.T) {
	for _, c := range []struct {
		u    SoftUse
		want string
	}{
		{SoftUse{"api", 350_000_000, 240 * mib}, "api 0.35 CPUs 240MiB"},
		{SoftUse{"db", 0, 2 * gib}, "db 2GiB"},
		{SoftUse{"w", cpu, 0}, "w 1 CPU"},
	} {
		if got := c.u.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestSoftNegative(t *testing.T) {
	_, err := Place(Request{Hosts: []Host{host("a")}, Services: []Service{svc("x", soft(0, -1))}})
	if err == nil || err.Error() != `service "x": negative replicas or reservation` {
		t.Errorf("got %v", err)
	}
}
