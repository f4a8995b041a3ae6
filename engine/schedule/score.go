package schedule

// rank is how good one feasible host is for one replica. Scores are
// compared in full, then broken by host name (idx is in name order), so the
// same input always gives the same choice.
type rank struct {
	idx        int
	same       int32   // replicas of the same service already there
	over       bool    // expected use would exceed a known capacity
	score      float64 // higher is better; below 0 when over, else to 100
	containers int
}

// load is the host's expected use once s is added: declared plus soft
// reservations, CPU and memory each as a fraction of capacity, averaged
// over the dimensions whose capacity is known, so a CPU weighs as much of
// a host as its memory does. over says whether either dimension would
// exceed capacity, which only soft numbers (or others over-committing the
// host) can do since the resources filter holds declared ones.
func load(n *node, s *service) (f float64, over bool) {
	c, m := n.cpuLoad+s.cpuLoad, n.memLoad+s.memLoad
	// Division, not multiplication by a cached inverse: equal fractions
	// must compare equal so ties fall through to containers and name.
	switch {
	case n.cpuCap > 0 && n.memCap > 0:
		f = (float64(c)/float64(n.cpuCap) + float64(m)/float64(n.memCap)) * 0.5
		over = c > n.cpuCap || m > n.memCap
	case n.cpuCap > 0:
		f, over = float64(c)/float64(n.cpuCap), c > n.cpuCap
	case n.memCap > 0:
		f, over = float64(m)/float64(n.memCap), m > n.memCap
	}
	return f, over
}

func (st *state) rank(n *node, t *task) rank {
	s := t.svc
	r := rank{idx: n.idx, containers: n.containers}
	f, over := load(n, s)
	r.over = over
	if st.strategy == Binpack {
		r.score = 100 * f
		if over {
			// Past capacity the fuller host is the worse one.
			r.score = -100 * (1 + f)
		}
		return r
	}
	r.score = 100 * (1 - f)
	if over {
		r.score -= 200
	}
	if st.sameFor == s {
		r.same = st.same[n.idx]
	}
	return r
}

// shownScore is a rank's score clamped to the 0..100 a verdict promises.
func shownScore(r rank) float64 { return min(max(r.score, 0), 100) }

// better reports whether a ranks before b.
//
// spread: fewer replicas of the same service, then expected use within
// capacity, then less expected use, then fewer containers, then name.
// binpack: expected use within capacity, then more expected use (less
// when both would exceed capacity), then name. A host over capacity scores
// below 0 and one within at 0 or more, so one comparison of scores covers
// both of the middle steps and better stays small enough to inline.
func (st *state) better(a, b rank) bool {
	if st.strategy == Spread {
		if a.same != b.same {
			return a.same < b.same
		}
		if a.score != b.score {
			return a.score > b.score
		}
		if a.containers != b.containers {
			return a.containers < b.containers
		}
		return a.idx < b.idx
	}
	if a.score != b.score {
		return a.score > b.score
	}
	return a.idx < b.idx
}

// whyRank names the criterion that set the best host apart from the
// runner-up (idx -1 when there is none).
func (st *state) whyRank(best, second rank) string {
	soft := st.soft
	switch {
	case second.idx < 0:
		return "only feasible host"
	case st.strategy == Spread && best.same != second.same:
		return "spread: fewest replicas of this service"
	case best.over != second.over && soft:
		return string(st.strategy) + ": expected use (reserved + recorded) fits"
	case best.over != second.over:
		return string(st.strategy) + ": not over-committed"
	case best.score != second.score && st.strategy == Binpack && best.over:
		return "binpack: least over capacity (reserved + recorded)"
	case best.score != second.score && st.strategy == Binpack && soft:
		return "binpack: most expected use (reserved + recorded)"
	case best.score != second.score && st.strategy == Binpack:
		return "binpack: most reserved"
	case best.score != second.score && soft:
		return "spread: least expected use (reserved + recorded)"
	case best.score != second.score:
		return "spread: least reserved"
	case st.strategy == Spread && best.containers != second.containers:
		return "spread: fewest containers"
	}
	return string(st.strategy) + ": first by name"
}
