package schedule

// rank is how good one feasible host is for one replica. Scores are
// compared in full, then broken by host name (idx is in name order), so the
// same input always gives the same choice.
type rank struct {
	idx        int
	same       int32   // replicas of the same service already there
	score      float64 // 0..100, higher is better for the strategy
	containers int
}

// reserved is the host's reserved fraction, CPU and memory averaged over
// the dimensions whose capacity is known, once t's reservation is added.
func reserved(n *node, s *service) float64 {
	var f float64
	switch {
	case n.cpuCap > 0 && n.memCap > 0:
		// Division, not multiplication by a cached inverse: equal fractions
		// must compare equal so ties fall through to containers and name.
		f = (float64(n.cpuUsed+s.cpu)/float64(n.cpuCap) + float64(n.memUsed+s.mem)/float64(n.memCap)) * 0.5
	case n.cpuCap > 0:
		f = float64(n.cpuUsed+s.cpu) / float64(n.cpuCap)
	case n.memCap > 0:
		f = float64(n.memUsed+s.mem) / float64(n.memCap)
	default:
		return 0
	}
	if f > 1 {
		return 1 // already over-committed by others
	}
	return f
}

func (st *state) rank(n *node, t *task) rank {
	r := rank{idx: n.idx, containers: n.containers}
	f := reserved(n, t.svc)
	if st.strategy == Binpack {
		r.score = 100 * f
		return r
	}
	r.score = 100 * (1 - f)
	if st.sameFor == t.svc {
		r.same = st.same[n.idx]
	}
	return r
}

// better reports whether a ranks before b.
//
// spread: fewer replicas of the same service, then less reserved, then
// fewer containers, then name. binpack: more reserved, then name.
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
	switch {
	case second.idx < 0:
		return "only feasible host"
	case st.strategy == Binpack && best.score != second.score:
		return "binpack: most reserved"
	case st.strategy == Binpack:
		return "binpack: first by name"
	case best.same != second.same:
		return "spread: fewest replicas of this service"
	case best.score != second.score:
		return "spread: least reserved"
	case best.containers != second.containers:
		return "spread: fewest containers"
	}
	return "spread: first by name"
}
