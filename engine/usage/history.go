// Package usage keeps what each service of a stack really used — CPU and
// memory distributions, peaks and a recent memory trend — in a History of
// fixed size, persists them per user and project (Store), and turns them
// into recommendations: reservations and limits for `devorch tune`, a
// compose override file, soft reservations for the scheduler, and a warning
// when memory grows toward its limit. It is pure apart from the Store's
// files; the monitor feeds it samples and the CLI, TUI and scheduler read it.
package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Key names one history: a service of a project under one config hash. A
// changed service (new image, command, limits…) gets a new hash and so a
// fresh history; the old one is kept under its own key (see Store.Save and
// Find).
type Key struct{ Project, Service, ConfigHash string }

// The memory trend ring: one point per RingStep at most, the last RingSize
// of them (10 minutes or more), restarted after a gap of RingGap (a new run).
const (
	RingSize = 120
	RingStep = 5 * time.Second
	RingGap  = 5 * time.Minute
)

// MemGrowth reports a slope only when the ring spans GrowthMinSpan and a
// straight line explains at least GrowthMinR2 of the variance.
const (
	GrowthMinSpan = 60 * time.Second
	GrowthMinR2   = 0.8
)

// History is what one service used: CPU and memory distributions in
// log-bucketed sketches (quantiles within RelativeError, at most MaxBuckets
// buckets), exact peaks, how often the CPU was throttled, and a ring of
// recent memory points for the growth trend. Its size does not depend on how
// long it ran. The zero value is ready to use; a History is not safe for
// concurrent use.
type History struct {
	cpu, mem    sketch
	cpuPeak     float64
	memPeak     uint64
	first, last time.Time
	throttled   uint64
	memLimit    uint64 // the last nonzero limit Docker reported
	ring        []point
}

type point struct {
	t   time.Time
	mem uint64
}

// NewHistory returns an empty History.
func NewHistory() *History {
	h := &History{}
	h.init()
	return h
}

// init sets the sketches' bounds, so the zero History works too.
func (h *History) init() {
	if h.cpu.b.maxIdx == 0 {
		h.cpu.b, h.mem.b = cpuRange, memRange
	}
}

// Add records one sample: CPU in percent of one CPU (200 is two CPUs, as the
// monitor's Sample), memory in use and its limit in bytes (0: unknown), and
// whether the CPU was throttled since the previous sample. A negative or NaN
// CPU counts as 0.
func (h *History) Add(t time.Time, cpuPercent float64, memBytes, memLimit uint64, throttled bool) {
	h.init()
	if !(cpuPercent > 0) || math.IsInf(cpuPercent, 0) {
		cpuPercent = 0
	}
	h.cpu.add(cpuPercent, 1)
	h.mem.add(float64(memBytes), 1)
	h.cpuPeak = max(h.cpuPeak, cpuPercent)
	h.memPeak = max(h.memPeak, memBytes)
	if throttled {
		h.throttled++
	}
	if memLimit > 0 {
		h.memLimit = memLimit
	}
	if !t.IsZero() {
		if h.first.IsZero() || t.Before(h.first) {
			h.first = t
		}
		if t.After(h.last) {
			h.last = t
		}
		h.addPoint(t, memBytes)
	}
}

func (h *History) addPoint(t time.Time, mem uint64) {
	if n := len(h.ring); n > 0 {
		d := t.Sub(h.ring[n-1].t)
		switch {
		case d < 0 || d > RingGap:
			h.ring = h.ring[:0] // another run, or the clock went back
		case d < RingStep:
			return
		}
	}
	if len(h.ring) == RingSize {
		copy(h.ring, h.ring[1:])
		h.ring = h.ring[:RingSize-1]
	}
	h.ring = append(h.ring, point{t, mem})
}

// Samples is how many samples were added.
func (h *History) Samples() int { return int(h.cpu.n) }

// Span is the time from the first sample observed to the last; across runs
// it includes the time between them.
func (h *History) Span() time.Duration {
	if h.first.IsZero() {
		return 0
	}
	return h.last.Sub(h.first)
}

// First and Last are the times of the earliest and latest samples.
func (h *History) First() time.Time { return h.first }

// Last is the time of the latest sample (see First).
func (h *History) Last() time.Time { return h.last }

// CPUQuantile is the q-quantile (0..1) of CPU in percent of one CPU, within
// RelativeError; values under 0.01 % count as 0, values over 1000 CPUs as
// 1000 CPUs. The 1-quantile is the exact peak.
func (h *History) CPUQuantile(q float64) float64 {
	if q >= 1 {
		return h.cpuPeak
	}
	return min(h.cpu.quantile(q), h.cpuPeak)
}

// MemQuantile is the q-quantile (0..1) of memory in bytes, within
// RelativeError; values under 1 KiB count as 0, values over 1 PiB as 1 PiB.
// The 1-quantile is the exact peak.
func (h *History) MemQuantile(q float64) uint64 {
	if q >= 1 {
		return h.memPeak
	}
	return min(uint64(math.Round(h.mem.quantile(q))), h.memPeak)
}

// CPUPeak is the highest CPU seen, in percent of one CPU.
func (h *History) CPUPeak() float64 { return h.cpuPeak }

// MemPeak is the highest memory seen, in bytes.
func (h *History) MemPeak() uint64 { return h.memPeak }

// Throttled is how many samples saw the CPU throttled.
func (h *History) Throttled() int { return int(h.throttled) }

// MemLimit is the last nonzero memory limit Docker reported (with no limit
// set, that is the host's memory).
func (h *History) MemLimit() uint64 { return h.memLimit }

// Buckets is how many histogram buckets the History holds; it never exceeds
// MaxBuckets.
func (h *History) Buckets() int { return h.cpu.buckets() + h.mem.buckets() }

// Merge adds o's samples to h: several replicas of one service, or an
// earlier run and this one. Distributions, counts and peaks add up; the span
// covers both. The trend is not a sum: h keeps whichever ring has the most
// recent point, since a trend describes one series.
func (h *History) Merge(o *History) {
	if o == nil || o == h {
		return
	}
	h.init()
	o.init()
	h.cpu.merge(&o.cpu)
	h.mem.merge(&o.mem)
	h.cpuPeak = max(h.cpuPeak, o.cpuPeak)
	h.memPeak = max(h.memPeak, o.memPeak)
	h.throttled += o.throttled
	if !o.first.IsZero() && (h.first.IsZero() || o.first.Before(h.first)) {
		h.first = o.first
	}
	if o.last.After(h.last) {
		h.last = o.last
		if o.memLimit > 0 {
			h.memLimit = o.memLimit
		}
	} else if h.memLimit == 0 {
		h.memLimit = o.memLimit
	}
	if n, m := len(h.ring), len(o.ring); m > 0 && (n == 0 || o.ring[m-1].t.After(h.ring[n-1].t)) {
		h.ring = append(h.ring[:0:0], o.ring...)
	}
}

// Clone returns an independent copy of h.
func (h *History) Clone() *History {
	c := NewHistory()
	c.Merge(h) // an empty History takes everything, the ring copied
	return c
}

// MemGrowth is the least-squares slope of memory over the recent ring, in
// bytes per second. ok is false unless the ring spans GrowthMinSpan and the
// fit has R² ≥ GrowthMinR2: noise or a flat line has no trend. A negative
// slope (memory being freed) is reported as such.
func (h *History) MemGrowth() (bytesPerSecond float64, ok bool) {
	n := len(h.ring)
	if n < 3 || h.ring[n-1].t.Sub(h.ring[0].t) < GrowthMinSpan {
		return 0, false
	}
	t0 := h.ring[0].t
	var sx, sy float64
	for _, p := range h.ring {
		sx += p.t.Sub(t0).Seconds()
		sy += float64(p.mem)
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxx, syy, sxy float64
	for _, p := range h.ring {
		dx, dy := p.t.Sub(t0).Seconds()-mx, float64(p.mem)-my
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	if sxx == 0 || syy == 0 {
		return 0, false
	}
	slope := sxy / sxx
	if r2 := sxy * sxy / (sxx * syy); r2 < GrowthMinR2 {
		return slope, false
	}
	return slope, true
}

// TimeToLimit is how long memory at current, growing by slope bytes per
// second, takes to reach limit. ok is false with no limit, no growth, or a
// time too long for a Duration; at or over the limit it is 0.
func TimeToLimit(current, limit uint64, slope float64) (time.Duration, bool) {
	if limit == 0 || !(slope > 0) || math.IsInf(slope, 0) {
		return 0, false
	}
	if current >= limit {
		return 0, true
	}
	s := float64(limit-current) / slope
	if s*float64(time.Second) >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// historyJSON is a History on disk. The sketch bounds are fixed by the
// store's format version, so they are not written.
type historyJSON struct {
	First     time.Time  `json:"first"`
	Last      time.Time  `json:"last"`
	CPU       sketchJSON `json:"cpu"`
	Mem       sketchJSON `json:"mem"`
	CPUPeak   float64    `json:"cpu_peak"`
	MemPeak   uint64     `json:"mem_peak"`
	Throttled uint64     `json:"throttled"`
	MemLimit  uint64     `json:"mem_limit"`
	RingTimes []int64    `json:"ring_unix_ms"`
	RingMem   []uint64   `json:"ring_mem"`
}

// MarshalJSON writes h in the store's format.
func (h *History) MarshalJSON() ([]byte, error) {
	h.init()
	j := historyJSON{
		First: h.first, Last: h.last, CPU: h.cpu.toJSON(), Mem: h.mem.toJSON(),
		CPUPeak: h.cpuPeak, MemPeak: h.memPeak, Throttled: h.throttled, MemLimit: h.memLimit,
		RingTimes: make([]int64, len(h.ring)), RingMem: make([]uint64, len(h.ring)),
	}
	for i, p := range h.ring {
		j.RingTimes[i], j.RingMem[i] = p.t.UnixMilli(), p.mem
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads h from the store's format, refusing anything that
// breaks its invariants (bucket bounds, counts, ring order and size).
func (h *History) UnmarshalJSON(b []byte) error {
	var j historyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var n History
	n.init()
	if err := n.cpu.fromJSON(j.CPU); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	if err := n.mem.fromJSON(j.Mem); err != nil {
		return fmt.Errorf("mem: %w", err)
	}
	switch {
	case n.cpu.n != n.mem.n:
		return fmt.Errorf("cpu has %d samples, mem %d", n.cpu.n, n.mem.n)
	case j.Throttled > n.cpu.n:
		return errors.New("more throttled samples than samples")
	case !(j.CPUPeak >= 0) || math.IsInf(j.CPUPeak, 0):
		return errors.New("bad cpu peak")
	case len(j.RingTimes) != len(j.RingMem) || len(j.RingTimes) > RingSize:
		return errors.New("bad memory ring")
	case j.Last.Before(j.First):
		return errors.New("last sample before first")
	}
	n.cpuPeak, n.memPeak, n.throttled, n.memLimit = j.CPUPeak, j.MemPeak, j.Throttled, j.MemLimit
	n.first, n.last = j.First, j.Last
	for i, ms := range j.RingTimes {
		if i > 0 && ms < j.RingTimes[i-1] {
			return errors.New("memory ring out of order")
		}
		n.ring = append(n.ring, point{time.UnixMilli(ms), j.RingMem[i]})
	}
	*h = n
	return nil
}
