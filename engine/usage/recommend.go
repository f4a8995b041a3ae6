package usage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
)

// A history is Enough for a recommendation with at least MinSamples samples
// spanning at least MinSpan: fewer describe a start-up, not a workload.
// That is a floor, met by `devorch stats --record 40s` (one reading a
// second): the numbers describe what the stack did while it was observed,
// so record it while it does its usual work, or keep the TUI open through a
// working session; every later run adds to the history.
const (
	MinSamples = 30
	MinSpan    = 30 * time.Second
)

// How reservations and limits follow from a history:
//
//	reserve CPUs   = p95 CPU × (1 + Headroom), up to a multiple of CPUStep
//	reserve memory = p99 memory × (1 + Headroom), up to a multiple of MemStep
//	limit          = max(peak, reservation) × (1 + LimitMargin), rounded up alike
//
// CPU is reserved at p95 because a CPU short of it only slows down; memory
// at p99 because memory short of it gets the container killed. Each is at
// least one step, so the reservation is never 0 and the limit is always
// above it.
const (
	CPUQuantile   = 0.95
	MemQuantile   = 0.99
	Headroom      = 0.20
	LimitMargin   = 0.50
	CPUStep       = 0.05
	MemStep       = 16 << 20
	GrowthHorizon = 24 * time.Hour // growth warns when the limit is nearer than this
)

// Warning thresholds of Recommend.
const (
	NearLimit    = 0.90 // peak memory at this share of its limit
	ThrottleWarn = 0.10 // share of samples with the CPU throttled
	OverUse      = 1.5  // the quantile is this many times the declared reservation
	OverReserve  = 4.0  // the declared reservation is this many times the quantile
)

// Enough says whether h has at least MinSamples samples over MinSpan, the
// least Recommend and SoftReservation base numbers on.
func Enough(h *History) bool {
	return h != nil && h.Samples() >= MinSamples && h.Span() >= MinSpan
}

// Declared is what the compose file sets for a service today, zero where it
// sets nothing. CPUs are in CPUs (0.5 is half of one).
type Declared struct {
	ReserveCPUs   float64
	ReserveMemory uint64
	LimitCPUs     float64
	LimitMemory   uint64
}

// DeclaredFrom reads deploy.resources (and the older mem_limit, cpus and
// mem_reservation when deploy sets none) of a compose service.
func DeclaredFrom(s types.ServiceConfig) Declared {
	d := Declared{
		ReserveMemory: uint64(max(s.MemReservation, 0)),
		LimitCPUs:     roundTo(float64(s.CPUS), 0.001),
		LimitMemory:   uint64(max(s.MemLimit, 0)),
	}
	if s.Deploy == nil {
		return d
	}
	if l := s.Deploy.Resources.Limits; l != nil {
		if l.NanoCPUs > 0 {
			d.LimitCPUs = roundTo(float64(l.NanoCPUs), 0.001)
		}
		if l.MemoryBytes > 0 {
			d.LimitMemory = uint64(l.MemoryBytes)
		}
	}
	if r := s.Deploy.Resources.Reservations; r != nil {
		if r.NanoCPUs > 0 {
			d.ReserveCPUs = roundTo(float64(r.NanoCPUs), 0.001)
		}
		if r.MemoryBytes > 0 {
			d.ReserveMemory = uint64(r.MemoryBytes)
		}
	}
	return d
}

// Recommendation is what `devorch tune` says about one service. The
// quantiles and peaks are always filled from the history; reservations and
// limits only when Enough. Why explains Enough in a sentence.
type Recommendation struct {
	Service string
	Samples int
	Span    time.Duration
	Enough  bool
	Why     string

	CPUP95  float64 // percent of one CPU
	MemP99  uint64  // bytes
	CPUPeak float64
	MemPeak uint64

	ReserveCPUs   float64
	ReserveMemory uint64
	LimitCPUs     float64
	LimitMemory   uint64

	Warnings []string
}

// Recommend turns a service's history into reservations and limits, and
// warns about what the history shows against what the compose file declares.
// A nil history is no history.
func Recommend(service string, h *History, declared Declared) Recommendation {
	if h == nil {
		h = NewHistory()
	}
	r := Recommendation{
		Service: service, Samples: h.Samples(), Span: h.Span(),
		CPUP95: h.CPUQuantile(CPUQuantile), MemP99: h.MemQuantile(MemQuantile),
		CPUPeak: h.CPUPeak(), MemPeak: h.MemPeak(),
	}
	r.Enough = Enough(h)
	if r.Enough {
		r.Why = fmt.Sprintf("%d samples over %s", r.Samples, fmtDuration(r.Span))
		r.ReserveCPUs, r.ReserveMemory = reservation(r.CPUP95, r.MemP99)
		r.LimitCPUs = roundUpCPUs(max(r.CPUPeak/100, r.ReserveCPUs) * (1 + LimitMargin))
		r.LimitMemory = roundUpMem(float64(max(r.MemPeak, r.ReserveMemory)) * (1 + LimitMargin))
	} else {
		r.Why = fmt.Sprintf("too little history: %d samples over %s (need ≥ %d samples over ≥ %s)",
			r.Samples, fmtDuration(r.Span), MinSamples, fmtDuration(MinSpan))
	}

	limit := declared.LimitMemory
	if limit == 0 {
		limit = h.MemLimit()
	}
	if limit > 0 && r.Samples > 0 && float64(r.MemPeak) >= NearLimit*float64(limit) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("memory reached %.0f%% of its limit (%s)",
			100*float64(r.MemPeak)/float64(limit), fmtBytes(limit)))
	}
	if w, ok := GrowthWarning(h, limit); ok {
		r.Warnings = append(r.Warnings, w)
	}
	if r.Samples > 0 {
		if f := float64(h.Throttled()) / float64(r.Samples); f >= ThrottleWarn {
			r.Warnings = append(r.Warnings, fmt.Sprintf("CPU throttled in %.0f%% of samples", 100*f))
		}
	}
	if r.Enough {
		r.Warnings = append(r.Warnings, reservationWarnings(r, declared)...)
	}
	return r
}

// reservationWarnings compares the declared reservations with what the
// service used: a reservation far below use misleads placement, one far
// above it wastes capacity.
func reservationWarnings(r Recommendation, d Declared) []string {
	var w []string
	cpu := r.CPUP95 / 100
	if d.ReserveCPUs > 0 {
		switch {
		case cpu >= OverUse*d.ReserveCPUs:
			w = append(w, fmt.Sprintf("uses %.1fx its reservation of %s CPUs (p95 %s)",
				cpu/d.ReserveCPUs, fmtCPUs(d.ReserveCPUs), fmtCPUs(roundTo(cpu, 0.01))))
		case d.ReserveCPUs >= OverReserve*max(cpu, CPUStep):
			w = append(w, fmt.Sprintf("reserves %s CPUs but uses %s at p95",
				fmtCPUs(d.ReserveCPUs), fmtCPUs(roundTo(cpu, 0.01))))
		}
	}
	if d.ReserveMemory > 0 {
		mem := float64(r.MemP99)
		switch {
		case mem >= OverUse*float64(d.ReserveMemory):
			w = append(w, fmt.Sprintf("uses %.1fx its memory reservation of %s (p99 %s)",
				mem/float64(d.ReserveMemory), fmtBytes(d.ReserveMemory), fmtBytes(r.MemP99)))
		case float64(d.ReserveMemory) >= OverReserve*max(mem, MemStep):
			w = append(w, fmt.Sprintf("reserves %s of memory but uses %s at p99",
				fmtBytes(d.ReserveMemory), fmtBytes(r.MemP99)))
		}
	}
	return w
}

// GrowthWarning says when memory is growing steadily (see MemGrowth) and
// would reach limit within GrowthHorizon at the current rate; the monitor
// can show it live, Recommend includes it.
func GrowthWarning(h *History, limit uint64) (string, bool) {
	return GrowthWithin(h, limit, GrowthHorizon)
}

// GrowthWithin is GrowthWarning with another horizon: the monitor's live
// alert looks minutes ahead, tune a day.
func GrowthWithin(h *History, limit uint64, horizon time.Duration) (string, bool) {
	slope, ok := h.MemGrowth()
	if !ok || slope <= 0 || limit == 0 || len(h.ring) == 0 {
		return "", false
	}
	ttl, ok := TimeToLimit(h.ring[len(h.ring)-1].mem, limit, slope)
	if !ok || ttl > horizon {
		return "", false
	}
	return fmt.Sprintf("memory grows %s/min; at this rate it reaches its limit (%s) in about %s",
		fmtBytes(uint64(slope*60)), fmtBytes(limit), fmtDuration(ttl)), true
}

// SoftReservation is the reservation Recommend would give h, for the
// scheduler to count a service without declared reservations by what it
// uses; ok is false when the history is not Enough.
func SoftReservation(h *History) (cpus float64, mem uint64, ok bool) {
	if !Enough(h) {
		return 0, 0, false
	}
	cpus, mem = reservation(h.CPUQuantile(CPUQuantile), h.MemQuantile(MemQuantile))
	return cpus, mem, true
}

func reservation(cpuPercent float64, mem uint64) (float64, uint64) {
	return roundUpCPUs(cpuPercent / 100 * (1 + Headroom)), roundUpMem(float64(mem) * (1 + Headroom))
}

// roundUpCPUs rounds up to a multiple of CPUStep, at least one step. The
// small tolerance keeps 0.6 from becoming 0.65 through float error.
func roundUpCPUs(c float64) float64 {
	steps := max(math.Ceil(c/CPUStep-1e-9), 1)
	return roundTo(steps*CPUStep, 0.01)
}

// roundUpMem rounds up to a multiple of MemStep, at least one step, with
// the same tolerance as roundUpCPUs.
func roundUpMem(b float64) uint64 {
	steps := max(math.Ceil(b/MemStep-1e-9), 1)
	return uint64(steps) * MemStep
}

// roundTo rounds to a multiple of unit (0.01, 0.001), dividing by the
// inverse so 0.7 comes out as 0.7 and not 0.7000000000000001.
func roundTo(v, unit float64) float64 {
	inv := math.Round(1 / unit)
	return math.Round(v*inv) / inv
}

func fmtCPUs(c float64) string { return strconv.FormatFloat(c, 'f', -1, 64) }

func fmtBytes(b uint64) string { return units.BytesSize(float64(b)) }

// fmtDuration prints whole seconds without trailing zero units: 40s, 2m, 1h5m.
func fmtDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
