package usage

import (
	"fmt"
	"math"
)

// RelativeError bounds how far a quantile of a History may be from the
// exact quantile of the samples it saw: |estimate − exact| ≤ RelativeError ×
// exact, for values inside the tracked ranges (see cpuRange and memRange).
const RelativeError = 0.02

// MaxBuckets bounds the buckets one History holds, CPU and memory together,
// whatever the number of samples or the run time: the memory of a History is
// at most MaxBuckets counters plus a ring of RingSize points.
const MaxBuckets = 2048

// gamma is the ratio between the bounds of consecutive buckets. A value v in
// bucket i lies in (γ^(i−1), γ^i]; reporting 2γ^i/(γ+1) for it is off by at
// most (γ−1)/(γ+1) = RelativeError of v (DDSketch's construction).
var (
	gamma    = (1 + RelativeError) / (1 - RelativeError)
	lnGamma  = math.Log(gamma)
	cpuRange = newBounds(0.01, 1e5)            // percent of one CPU: 0.01 % to 1000 CPUs
	memRange = newBounds(1024, float64(1<<50)) // bytes: 1 KiB to 1 PiB
)

// bounds is the index range of one kind of value. Values below min count as
// zero (an idle CPU, not a measurement worth 2 %); values above max fall into
// the top bucket, where the exact peak kept beside the sketch still caps them.
type bounds struct {
	min            float64
	minIdx, maxIdx int
}

func newBounds(min, max float64) bounds {
	return bounds{min: min, minIdx: index(min), maxIdx: index(max)}
}

// buckets is how many buckets the range can ever use, its zero bucket included.
func (b bounds) buckets() int { return b.maxIdx - b.minIdx + 2 }

func index(v float64) int { return int(math.Ceil(math.Log(v) / lnGamma)) }

// sketch is a log-bucketed histogram with a dense store that grows only to
// the indices seen, and never beyond its bounds.
type sketch struct {
	b      bounds
	zero   uint64   // values below b.min
	lo     int      // index of counts[0]
	counts []uint64 // counts[i] is bucket lo+i
	n      uint64
}

func (s *sketch) add(v float64, count uint64) {
	s.n += count
	if !(v >= s.b.min) { // also NaN
		s.zero += count
		return
	}
	i := min(max(index(v), s.b.minIdx), s.b.maxIdx)
	s.grow(i, i)
	s.counts[i-s.lo] += count
}

// grow makes the store cover indices lo..hi.
func (s *sketch) grow(lo, hi int) {
	if len(s.counts) == 0 {
		s.lo, s.counts = lo, make([]uint64, hi-lo+1)
		return
	}
	curHi := s.lo + len(s.counts) - 1
	if lo >= s.lo && hi <= curHi {
		return
	}
	newLo, newHi := min(lo, s.lo), max(hi, curHi)
	c := make([]uint64, newHi-newLo+1)
	copy(c[s.lo-newLo:], s.counts)
	s.lo, s.counts = newLo, c
}

// quantile returns the value at rank q·(n−1) (0-based, rounded down), as
// sorting the samples and indexing would, within RelativeError.
func (s *sketch) quantile(q float64) float64 {
	if s.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(s.n-1)
	cum := s.zero
	if float64(cum) > rank {
		return 0
	}
	for i, c := range s.counts {
		cum += c
		if float64(cum) > rank {
			return 2 * math.Pow(gamma, float64(s.lo+i)) / (gamma + 1)
		}
	}
	// Only rounding can bring us here; the top bucket holds the answer.
	return 2 * math.Pow(gamma, float64(s.lo+len(s.counts)-1)) / (gamma + 1)
}

func (s *sketch) merge(o *sketch) {
	s.n += o.n
	s.zero += o.zero
	if len(o.counts) == 0 {
		return
	}
	s.grow(o.lo, o.lo+len(o.counts)-1)
	for i, c := range o.counts {
		s.counts[o.lo+i-s.lo] += c
	}
}

func (s *sketch) buckets() int { return len(s.counts) + 1 }

// sketchJSON is a sketch on disk: the dense counts from index lo.
type sketchJSON struct {
	Zero   uint64   `json:"zero"`
	Lo     int      `json:"lo"`
	Counts []uint64 `json:"counts"`
}

func (s *sketch) toJSON() sketchJSON {
	return sketchJSON{Zero: s.zero, Lo: s.lo, Counts: s.counts}
}

// fromJSON checks a stored sketch against the bounds before using it, so a
// damaged file cannot make a History larger than MaxBuckets.
func (s *sketch) fromJSON(j sketchJSON) error {
	if len(j.Counts) > 0 && (j.Lo < s.b.minIdx || j.Lo+len(j.Counts)-1 > s.b.maxIdx) {
		return fmt.Errorf("buckets %d..%d outside %d..%d", j.Lo, j.Lo+len(j.Counts)-1, s.b.minIdx, s.b.maxIdx)
	}
	n := j.Zero
	for _, c := range j.Counts {
		if n+c < n {
			return fmt.Errorf("bucket counts overflow")
		}
		n += c
	}
	s.zero, s.n, s.lo = j.Zero, n, j.Lo
	s.counts = append([]uint64(nil), j.Counts...)
	if len(s.counts) == 0 {
		s.lo = 0
	}
	return nil
}
