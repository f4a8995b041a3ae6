package usage

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devorch/devorch/compose"
)

const mib = 1 << 20

// uniform is a history of n samples a second apart, CPU uniform in
// [cpuLo, cpuHi] percent and memory in [memLo, memHi] bytes.
func uniform(n int, cpuLo, cpuHi float64, memLo, memHi uint64) *History {
	r := rand.New(rand.NewPCG(7, 8))
	h := NewHistory()
	for i := range n {
		h.Add(t0.Add(time.Duration(i)*time.Second), cpuLo+(cpuHi-cpuLo)*r.Float64(),
			memLo+uint64(r.Int64N(int64(memHi-memLo+1))), 0, false)
	}
	return h
}

func TestRecommendOnAKnownDistribution(t *testing.T) {
	h := uniform(3600, 40, 60, 100*mib, 200*mib)
	r := Recommend("api", h, Declared{})
	if !r.Enough || r.Samples != 3600 || r.Span != 3599*time.Second || r.Why != "3600 samples over 59m59s" {
		t.Fatalf("enough %v, %d samples over %v, why %q", r.Enough, r.Samples, r.Span, r.Why)
	}
	if math.Abs(r.CPUP95-59)/59 > RelativeError+0.005 {
		t.Errorf("p95 CPU %v, want ≈ 59", r.CPUP95)
	}
	if math.Abs(float64(r.MemP99)-199*mib)/(199*mib) > RelativeError+0.005 {
		t.Errorf("p99 memory %v MiB, want ≈ 199", float64(r.MemP99)/mib)
	}
	// 0.59 × 1.2 = 0.708, which the sketch's 2 % may put on either side of
	// 0.70: 0.70 or 0.75 CPUs, whichever its p95 gives. 199 MiB × 1.2 = 238.8
	// → 240 MiB. Limits: max(peak, reservation) × 1.5: 0.6 × 1.5 = 0.9 is below
	// the reservation × 1.5; 240 MiB × 1.5 = 360 → 368 MiB.
	cpus := math.Ceil(r.CPUP95*1.2/100/0.05) * 0.05
	if cpus < 0.69 || cpus > 0.76 {
		t.Fatalf("p95 %v gives %v CPUs", r.CPUP95, cpus)
	}
	limit := math.Ceil(cpus*1.5/0.05) * 0.05
	want := [4]float64{math.Round(cpus*100) / 100, 240 * mib, math.Round(limit*100) / 100, 368 * mib}
	got := [4]float64{r.ReserveCPUs, float64(r.ReserveMemory), r.LimitCPUs, float64(r.LimitMemory)}
	if got != want {
		t.Errorf("reserve/limit %v, want %v", got, want)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings on a healthy service: %q", r.Warnings)
	}
	cpus, mem, ok := SoftReservation(h)
	if !ok || cpus != r.ReserveCPUs || mem != r.ReserveMemory {
		t.Errorf("SoftReservation %v %v %v, want Recommend's", cpus, mem, ok)
	}
}

func TestReservationRounding(t *testing.T) {
	for _, c := range []struct {
		cpu  float64 // percent
		mem  uint64
		want [2]float64
	}{
		{0, 0, [2]float64{CPUStep, MemStep}},                   // idle still reserves one step
		{50, 10 * mib, [2]float64{0.6, 16 * mib}},              // 0.5 × 1.2 = 0.6 exactly, not 0.65
		{200, 1 << 30, [2]float64{2.4, 1232 * mib}},            // 1228.8 MiB up to 16 MiB
		{41.7, 40 * mib, [2]float64{0.55, 48 * mib}},           // 0.5004 → 0.55; 48 MiB exactly stays
		{1234.5, 3*(1<<30) + 1, [2]float64{14.85, 3696 * mib}}, // 14.814 → 14.85
	} {
		cpus, mem := reservation(c.cpu, c.mem)
		if got := [2]float64{cpus, float64(mem)}; got != c.want {
			t.Errorf("cpu %v mem %d: %v, want %v", c.cpu, c.mem, got, c.want)
		}
	}
}

func TestRoundingToleratesFloatNoise(t *testing.T) {
	// 0.1 × 3 is 0.30000000000000004 in floats; a limit of 1.5 × 0.2 CPUs
	// meets the same noise. Neither may become a step more.
	tenth := 0.1 // a variable, so the product is a float's, not a constant's
	if got := roundUpCPUs(tenth * 3); got != 0.3 {
		t.Errorf("roundUpCPUs(0.1×3) = %v, want 0.3", got)
	}
	if got := roundUpMem(float64(48*mib) * (1 + 1e-12)); got != 48*mib {
		t.Errorf("roundUpMem(48 MiB + noise) = %v, want 48 MiB", got)
	}
}

func TestRecommendWithTooLittleHistory(t *testing.T) {
	h := NewHistory()
	for i := range 12 {
		h.Add(t0.Add(time.Duration(i)*40*time.Second/11), 30, 50*mib, 0, false)
	}
	r := Recommend("api", h, Declared{})
	if r.Enough || r.Why != "too little history: 12 samples over 40s (need ≥ 30 samples over ≥ 30s)" {
		t.Errorf("enough %v why %q", r.Enough, r.Why)
	}
	if r.ReserveCPUs != 0 || r.ReserveMemory != 0 || r.LimitCPUs != 0 || r.LimitMemory != 0 {
		t.Errorf("recommended from too little history: %+v", r)
	}
	if r.CPUP95 == 0 || r.MemPeak != 50*mib {
		t.Errorf("observed numbers missing: %+v", r)
	}
	if _, _, ok := SoftReservation(h); ok {
		t.Error("soft reservation from too little history")
	}
	// Many samples over a short time are not enough either.
	many := uniform(500, 1, 2, mib, 2*mib) // 500 s
	many2 := NewHistory()
	for i := range 500 {
		many2.Add(t0.Add(time.Duration(i)*50*time.Millisecond), 1, mib, 0, false) // 25 s
	}
	if !Recommend("a", many, Declared{}).Enough || Recommend("a", many2, Declared{}).Enough {
		t.Error("span not taken into account")
	}
	if r := Recommend("none", nil, Declared{}); r.Enough || r.Samples != 0 || !strings.Contains(r.Why, "0 samples") {
		t.Errorf("nil history: %+v", r)
	}
}

func TestRecommendWarnings(t *testing.T) {
	busy := uniform(600, 70, 80, 470*mib, 490*mib) // p95 ≈ 0.8 CPUs, p99 ≈ 490 MiB
	idle := uniform(600, 1, 2, 20*mib, 30*mib)
	throttled := NewHistory()
	for i := range 100 {
		throttled.Add(t0.Add(time.Duration(i)*5*time.Second), 100, 10*mib, 0, i%10 < 3)
	}
	growing := NewHistory()
	for i := range 120 { // 1 MiB/s for 10 minutes, to 695 MiB of a 1 GiB limit
		growing.Add(t0.Add(time.Duration(i)*5*time.Second), 10, 100*mib+uint64(i)*5*mib, 1<<30, false)
	}
	for _, c := range []struct {
		name string
		h    *History
		d    Declared
		want []string
	}{
		{"near the declared limit", busy, Declared{LimitMemory: 512 * mib},
			[]string{"memory reached 96% of its limit (512MiB)"}},
		{"growth toward the limit Docker reported", growing, Declared{},
			[]string{"memory grows 60MiB/min; at this rate it reaches its limit (1GiB) in about 5m29s"}},
		{"growth toward the declared limit", growing, Declared{LimitMemory: 4 << 30},
			[]string{"memory grows 60MiB/min; at this rate it reaches its limit (4GiB) in about 56m41s"}},
		{"growth that reaches the limit in days", growing, Declared{LimitMemory: 1 << 40}, nil},
		{"growth past the limit", growing, Declared{LimitMemory: 512 * mib}, []string{
			"memory reached 136% of its limit (512MiB)",
			"memory grows 60MiB/min; at this rate it reaches its limit (512MiB) in about 0s",
		}},
		{"throttled", throttled, Declared{}, []string{"CPU throttled in 30% of samples"}},
		{"over its reservations", busy, Declared{ReserveCPUs: 0.25, ReserveMemory: 128 * mib}, []string{
			"uses 3.2x its reservation of 0.25 CPUs (p95 0.8)",
			"uses 3.8x its memory reservation of 128MiB (p99 490MiB)",
		}},
		{"reserves far more than it uses", idle, Declared{ReserveCPUs: 2, ReserveMemory: 1 << 30}, []string{
			"reserves 2 CPUs but uses 0.02 at p95",
			"reserves 1GiB of memory but uses 29.94MiB at p99",
		}},
		{"reservations that fit", busy, Declared{ReserveCPUs: 0.75, ReserveMemory: 512 * mib, LimitMemory: 2 << 30}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Recommend("s", c.h, c.d)
			if !reflect.DeepEqual(r.Warnings, c.want) {
				t.Errorf("warnings\n%q\nwant\n%q", r.Warnings, c.want)
			}
		})
	}
}

// writeFile writes body to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeclaredFromACompose(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "compose.yaml", `name: p
services:
  api:
    image: x
    deploy:
      resources:
        reservations: {cpus: "0.1", memory: 64M}
        limits: {cpus: "1.5", memory: 1G}
  old:
    image: x
    cpus: 0.3
    mem_limit: 256m
    mem_reservation: 32m
  bare:
    image: x
`)
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{base}, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Declared{
		"api":  {ReserveCPUs: 0.1, ReserveMemory: 64 * mib, LimitCPUs: 1.5, LimitMemory: 1 << 30},
		"old":  {ReserveMemory: 32 * mib, LimitCPUs: 0.3, LimitMemory: 256 * mib},
		"bare": {},
	} {
		if got := DeclaredFrom(p.Services[name]); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
}
