package usage

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// exact is the quantile the sketch promises to approximate: the sorted
// samples indexed at q·(n−1), rounded down.
func exact(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func within(est, want float64) bool {
	if want == 0 {
		return est == 0
	}
	return math.Abs(est-want) <= RelativeError*want*(1+1e-9)
}

func TestQuantilesWithinRelativeErrorAndSizeBounded(t *testing.T) {
	if got := cpuRange.buckets() + memRange.buckets(); got > MaxBuckets {
		t.Fatalf("the ranges allow %d buckets, more than MaxBuckets %d", got, MaxBuckets)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1_000_000
	h := NewHistory()
	cpus, mems := make([]float64, n), make([]float64, n)
	for i := range n {
		cpu := 0.0
		if r.IntN(10) > 0 { // a tenth idle
			cpu = math.Exp(r.NormFloat64()*1.5 + math.Log(30)) // long-tailed around 30 %
			cpu = min(max(cpu, 0.02), 5000)
		}
		mem := uint64(math.Exp(r.Float64()*math.Log(8192) + math.Log(1<<20))) // 1 MiB .. 8 GiB, log-uniform
		cpus[i], mems[i] = cpu, float64(mem)
		h.Add(t0.Add(time.Duration(i)*time.Second), cpu, mem, 0, false)
		if i%100_000 == 0 && h.Buckets() > MaxBuckets {
			t.Fatalf("after %d samples %d buckets > %d", i, h.Buckets(), MaxBuckets)
		}
	}
	sort.Float64s(cpus)
	sort.Float64s(mems)
	if h.Samples() != n {
		t.Fatalf("Samples = %d", h.Samples())
	}
	check := func(h *History) {
		t.Helper()
		for _, q := range []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1} {
			if got, want := h.CPUQuantile(q), exact(cpus, q); !within(got, want) {
				t.Errorf("CPU q%.3f = %v, exact %v: off by %.2f%%", q, got, want, 100*math.Abs(got-want)/want)
			}
			if got, want := float64(h.MemQuantile(q)), exact(mems, q); !within(got, want) {
				t.Errorf("mem q%.3f = %v, exact %v: off by %.2f%%", q, got, want, 100*math.Abs(got-want)/want)
			}
		}
	}
	check(h)
	if h.CPUPeak() != cpus[n-1] || float64(h.MemPeak()) != mems[n-1] {
		t.Errorf("peaks %v %v, want %v %v", h.CPUPeak(), h.MemPeak(), cpus[n-1], mems[n-1])
	}
	if h.Buckets() > MaxBuckets {
		t.Errorf("%d buckets > %d", h.Buckets(), MaxBuckets)
	}
	// The stored form reads back to the same answers.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	check(&back)
}

func TestSizeBoundAtTheExtremes(t *testing.T) {
	h := NewHistory()
	// Every bucket of both ranges and beyond them on both sides.
	for v := 1e-6; v < 1e9; v *= 1.01 {
		h.Add(t0, v, uint64(min(v*1e7, 1<<62)), 0, false)
	}
	h.Add(t0, math.NaN(), math.MaxUint64, 0, false)
	h.Add(t0, math.Inf(1), 0, 0, false)
	if got, want := h.Buckets(), cpuRange.buckets()+memRange.buckets(); got != want || got > MaxBuckets {
		t.Fatalf("Buckets = %d, want the full ranges %d (≤ %d)", got, want, MaxBuckets)
	}
	if h.CPUQuantile(1) != h.CPUPeak() {
		t.Errorf("top quantile %v is not capped by the peak %v", h.CPUQuantile(1), h.CPUPeak())
	}
}

func TestQuantileRanksOnASmallSet(t *testing.T) {
	// Ten values a decade apart in ratio terms: each quantile must land on
	// the one sorting would, not on a neighbour.
	h := NewHistory()
	vals := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, v := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
		h.Add(t0, vals[v], uint64(vals[v])<<20, 0, false)
	}
	for k, want := range vals {
		q := float64(k) / 9
		if got := h.CPUQuantile(q); !within(got, want) {
			t.Errorf("CPU q%.3f = %v, want %v", q, got, want)
		}
		if got := float64(h.MemQuantile(q)) / (1 << 20); !within(got, want) {
			t.Errorf("mem q%.3f = %v MiB, want %v", q, got, want)
		}
	}
}

func TestEmptyHistory(t *testing.T) {
	var h History // the zero value works
	if h.Samples() != 0 || h.Span() != 0 || h.CPUQuantile(0.5) != 0 || h.MemQuantile(0.99) != 0 {
		t.Fatal("an empty history reports usage")
	}
	h.Add(t0, 50, 100<<20, 0, false)
	if h.CPUQuantile(0.5) < 49 || h.CPUQuantile(0.5) > 51 {
		t.Fatalf("zero value History after one sample: %v", h.CPUQuantile(0.5))
	}
}

func TestMergeEqualsAddingEverythingToOne(t *testing.T) {
	a, b, all := NewHistory(), NewHistory(), NewHistory()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		ta := t0.Add(time.Duration(i) * time.Second)
		ca, ma := 10+10*r.Float64(), uint64(100<<20+r.IntN(50<<20))
		a.Add(ta, ca, ma, 1<<30, i%10 == 0)
		all.Add(ta, ca, ma, 1<<30, i%10 == 0)
		tb := t0.Add(time.Hour + time.Duration(i)*time.Second)
		cb, mb := 70+10*r.Float64(), uint64(900<<20+r.IntN(50<<20))
		b.Add(tb, cb, mb, 2<<30, i%20 == 0)
		all.Add(tb, cb, mb, 2<<30, i%20 == 0)
	}
	bBefore := b.Clone()
	a.Merge(b)
	if a.Samples() != 10000 || a.Throttled() != 750 {
		t.Fatalf("merged %d samples, %d throttled", a.Samples(), a.Throttled())
	}
	for _, q := range []float64{0, 0.25, 0.49, 0.5, 0.51, 0.9, 1} {
		if a.CPUQuantile(q) != all.CPUQuantile(q) || a.MemQuantile(q) != all.MemQuantile(q) {
			t.Errorf("q%v: merged %v/%v, all %v/%v", q, a.CPUQuantile(q), a.MemQuantile(q), all.CPUQuantile(q), all.MemQuantile(q))
		}
	}
	if a.CPUPeak() != all.CPUPeak() || a.MemPeak() != all.MemPeak() || a.Span() != all.Span() || !a.First().Equal(t0) {
		t.Errorf("merged peaks/span %v %v %v, want %v %v %v", a.CPUPeak(), a.MemPeak(), a.Span(), all.CPUPeak(), all.MemPeak(), all.Span())
	}
	if a.MemLimit() != 2<<30 {
		t.Errorf("merged limit %d, want the later one", a.MemLimit())
	}
	if m := a.CPUQuantile(0.25); m > 20.5 {
		t.Errorf("merged p25 %v belongs to b: a's samples were lost", m)
	}
	// The trend is the most recent ring: b's, whose points are later.
	if got, want := a.ring[0].mem, bBefore.ring[0].mem; got != want {
		t.Errorf("merged ring starts at %d, want b's %d", got, want)
	}
	// b is untouched and not aliased.
	a.Add(t0.Add(3*time.Hour), 99, 5<<30, 0, false)
	if b.Samples() != bBefore.Samples() || b.MemPeak() != bBefore.MemPeak() || b.CPUQuantile(0.5) != bBefore.CPUQuantile(0.5) {
		t.Error("Merge changed or aliased its argument")
	}
}

func TestMemGrowth(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	series := func(n int, step time.Duration, mem func(i int, s float64) float64) *History {
		h := NewHistory()
		for i := range n {
			d := time.Duration(i) * step
			h.Add(t0.Add(d), 10, uint64(mem(i, d.Seconds())), 0, false)
		}
		return h
	}
	const mib = 1 << 20
	t.Run("linear", func(t *testing.T) {
		// Sampled every second for 20 minutes: the ring keeps one point per
		// 5 s and the last 120 of them.
		h := series(1200, time.Second, func(_ int, s float64) float64 { return 100*mib + 1*mib*s + r.NormFloat64()*2*mib })
		slope, ok := h.MemGrowth()
		if !ok || math.Abs(slope-mib)/mib > 0.03 {
			t.Fatalf("slope %v ok %v, want ≈ %d", slope, ok, mib)
		}
		if len(h.ring) != RingSize || h.ring[RingSize-1].t.Sub(h.ring[0].t) != (RingSize-1)*RingStep {
			t.Errorf("ring holds %d points spanning %v", len(h.ring), h.ring[len(h.ring)-1].t.Sub(h.ring[0].t))
		}
	})
	t.Run("shrinking", func(t *testing.T) {
		h := series(120, 5*time.Second, func(_ int, s float64) float64 { return 900*mib - 0.5*mib*s })
		if slope, ok := h.MemGrowth(); !ok || math.Abs(slope+mib/2) > 1 {
			t.Fatalf("slope %v ok %v, want -0.5 MiB/s", slope, ok)
		}
	})
	for name, h := range map[string]*History{
		"noise":     series(120, 5*time.Second, func(int, float64) float64 { return 100*mib + r.NormFloat64()*10*mib }),
		"flat":      series(120, 5*time.Second, func(int, float64) float64 { return 100 * mib }),
		"too short": series(11, 5*time.Second, func(_ int, s float64) float64 { return 100*mib + mib*s }),
		// Yesterday's growth is not today's trend: a gap restarts the ring.
		"after a gap": func() *History {
			h := series(120, 5*time.Second, func(_ int, s float64) float64 { return 100*mib + mib*s })
			for i := range 5 {
				h.Add(t0.Add(24*time.Hour+time.Duration(i)*5*time.Second), 10, 300*mib+uint64(i)*mib, 0, false)
			}
			return h
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "after a gap" && len(h.ring) != 5 {
				t.Errorf("the ring kept %d points across a gap", len(h.ring))
			}
			if slope, ok := h.MemGrowth(); ok {
				t.Fatalf("slope %v reported as a trend", slope)
			}
		})
	}
}

func TestTimeToLimit(t *testing.T) {
	for _, c := range []struct {
		name           string
		current, limit uint64
		slope          float64
		want           time.Duration
		ok             bool
	}{
		{"a MiB a second, 100 MiB left", 412 << 20, 512 << 20, 1 << 20, 100 * time.Second, true},
		{"slow", 0, 1 << 30, 1 << 10, time.Duration(1<<20) * time.Second, true},
		{"at the limit", 512 << 20, 512 << 20, 1, 0, true},
		{"over the limit", 600 << 20, 512 << 20, 1, 0, true},
		{"no limit", 1, 0, 1, 0, false},
		{"no growth", 1, 2, 0, 0, false},
		{"shrinking", 1, 2, -5, 0, false},
		{"NaN", 1, 2, math.NaN(), 0, false},
		{"beyond a Duration", 0, math.MaxUint64, 1e-9, 0, false},
	} {
		got, ok := TimeToLimit(c.current, c.limit, c.slope)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestUnmarshalRefusesBrokenInvariants(t *testing.T) {
	h := NewHistory()
	for i := range 40 {
		h.Add(t0.Add(time.Duration(i)*5*time.Second), 50, 100<<20, 0, i%2 == 0)
	}
	good, _ := json.Marshal(h)
	var j map[string]any
	for name, edit := range map[string]func(){
		"cpu buckets out of range": func() { j["cpu"].(map[string]any)["lo"] = float64(cpuRange.maxIdx + 1) },
		"counts disagree":          func() { j["mem"].(map[string]any)["zero"] = float64(7) },
		"throttled > samples":      func() { j["throttled"] = float64(1000) },
		"negative peak":            func() { j["cpu_peak"] = float64(-1) },
		"ring lengths":             func() { j["ring_mem"] = []any{} },
		"last before first":        func() { j["last"] = "2000-01-01T00:00:00Z" },
	} {
		j = nil
		if err := json.Unmarshal(good, &j); err != nil {
			t.Fatal(err)
		}
		edit()
		b, _ := json.Marshal(j)
		var back History
		if err := json.Unmarshal(b, &back); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var back History
	if err := json.Unmarshal(good, &back); err != nil || back.Samples() != 40 || back.Throttled() != 20 {
		t.Fatalf("good history: %v, %d samples", err, back.Samples())
	}
}

// BenchmarkAdd is the monitor's cost per sample and service.
func BenchmarkAdd(b *testing.B) {
	h := NewHistory()
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; b.Loop(); i++ {
		h.Add(t0.Add(time.Duration(i)*time.Second), r.Float64()*200, uint64(r.Int64N(1<<30)), 1<<31, false)
	}
}
