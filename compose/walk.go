package compose

import (
	"context"
	"errors"
	"sort"
)

// Direction is the way Walk goes through a Graph.
type Direction int

const (
	// Up visits a service once the services it depends on are visited
	// (create, start). A service whose required dependency failed is not
	// visited.
	Up Direction = iota
	// Down visits a service once the services that depend on it are
	// visited (stop, remove). A failure holds nothing back: taking a
	// project down goes as far as it can.
	Down
)

// A DependencyError is why Walk did not visit a service: a dependency it
// requires failed. The message is compose's.
type DependencyError struct {
	Service    string // the service not visited
	Dependency string // the required dependency that failed
	Err        error  // what the dependency failed with
}

func (e *DependencyError) Error() string { return "dependency failed to start: " + e.Err.Error() }
func (e *DependencyError) Unwrap() error { return e.Err }

// A WalkError says, for every service of a walk that failed or was not
// visited, why: what its visit returned, a *DependencyError, or the
// context's error.
type WalkError struct {
	Failed map[string]error
	order  []string
}

// Unwrap returns the errors in walk order.
func (e *WalkError) Unwrap() []error {
	var out []error
	for _, n := range e.order {
		if err := e.Failed[n]; err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Error is one service's error a line, in walk order, as errors.Join.
func (e *WalkError) Error() string { return errors.Join(e.Unwrap()...).Error() }

// Walk visits every service of g once, going dir: a service as soon as
// the services it waits for (its dependencies going Up, its dependents
// going Down) are visited, independent ones in parallel, at most limit at
// a time. limit <= 0 sets no bound, for visits that spend their time
// waiting rather than working. visit gets, besides the service, the
// services it waited for that failed without holding it back (going Up the
// optional ones, going Down all), with their errors; nil when none did.
//
// Going Up, a service whose required dependency failed is not visited: it
// fails with a *DependencyError, and its own dependents in turn. Once ctx
// is done no further visit begins, and the services not visited fail with
// ctx's error. Walk returns when every visit it began has returned: nil, a
// *WalkError, or the cycle that keeps g from being walked (then nothing is
// visited).
func Walk(ctx context.Context, g Graph, dir Direction, limit int, visit func(ctx context.Context, service string, failed map[string]error) error) error {
	order, err := Order(g, dir)
	if err != nil {
		return err
	}
	rank := make(map[string]int, len(order))
	for i, n := range order {
		rank[n] = i
	}
	waits, next := edges(g, order, dir)
	left := make(map[string]int, len(order)) // waits not yet resolved
	var ready []string
	for _, n := range order {
		left[n] = len(waits[n])
		if left[n] == 0 {
			ready = append(ready, n)
		}
	}
	done := map[string]bool{}
	errs := map[string]error{}
	// resolve records a service's outcome and frees what waited for it;
	// going Up, what required it fails in turn without a visit.
	var resolve func(n string, err error)
	resolve = func(n string, err error) {
		done[n] = true
		if err != nil {
			errs[n] = err
		}
		var freed []string
		for _, m := range next[n] {
			if left[m]--; left[m] == 0 {
				freed = append(freed, m)
			}
		}
		sort.Slice(freed, func(i, j int) bool { return rank[freed[i]] < rank[freed[j]] })
		for _, m := range freed {
			if d := blocker(g, dir, m, waits[m], errs); d != "" {
				resolve(m, &DependencyError{Service: m, Dependency: d, Err: errs[d]})
				continue
			}
			ready = append(ready, m)
		}
	}
	type result struct {
		service string
		err     error
	}
	results := make(chan result)
	running := 0
	stopped := false
	cancelled := ctx.Done()
	for len(done) < len(order) {
		for len(ready) > 0 && !stopped && (limit <= 0 || running < limit) {
			if ctx.Err() != nil {
				stopped = true
				break
			}
			n := ready[0]
			ready = ready[1:]
			failed := failedOf(waits[n], errs)
			running++
			go func() { results <- result{n, visit(ctx, n, failed)} }()
		}
		if running == 0 {
			break // stopped: nothing more begins
		}
		select {
		case r := <-results:
			running--
			resolve(r.service, r.err)
		case <-cancelled:
			stopped, cancelled = true, nil
		}
	}
	for _, n := range order {
		if !done[n] && ctx.Err() != nil {
			errs[n] = ctx.Err()
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &WalkError{Failed: errs, order: order}
}

// blocker returns the first failed dependency that n requires, going Up;
// "" when none did (going Down nothing blocks).
func blocker(g Graph, dir Direction, n string, waits []string, errs map[string]error) string {
	if dir != Up {
		return ""
	}
	for _, d := range waits {
		if errs[d] != nil && g[n][d] {
			return d
		}
	}
	return ""
}

// edges returns, for each service of g, what it waits for going dir
// (sorted, going Up) and what waits for it.
func edges(g Graph, order []string, dir Direction) (waits, next map[string][]string) {
	waits, next = map[string][]string{}, map[string][]string{}
	for _, n := range order {
		for _, d := range g.dependencies(n) {
			waiter, first := n, d
			if dir == Down {
				waiter, first = d, n
			}
			waits[waiter] = append(waits[waiter], first)
			next[first] = append(next[first], waiter)
		}
	}
	return waits, next
}

// failedOf returns the errors of the services in waits that failed; nil
// when none did.
func failedOf(waits []string, errs map[string]error) map[string]error {
	var failed map[string]error
	for _, w := range waits {
		if errs[w] != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[w] = errs[w]
		}
	}
	return failed
}
