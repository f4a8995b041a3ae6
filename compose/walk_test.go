package compose

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// req and opt build a service's dependencies: required or not.
func req(names ...string) map[string]bool { return deps(true, names) }
func opt(names ...string) map[string]bool { return deps(false, names) }

func deps(required bool, names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = required
	}
	return m
}

// stack is a small project's graph: web and worker use api, api uses db
// and cache, docs stands alone.
var stack = Graph{
	"web":    req("api"),
	"worker": req("api"),
	"api":    req("db", "cache"),
	"db":     nil,
	"cache":  nil,
	"docs":   nil,
}

func TestOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		g    Graph
		dir  Direction
		want string
	}{
		{"empty", Graph{}, Up, ""},
		{"up: dependencies first, ties by name", stack, Up, "cache db api docs web worker"},
		{"down: dependents first", stack, Down, "worker web docs api db cache"},
		{"a dependency outside the graph is not waited for", Graph{"b": req("a", "z"), "a": nil}, Up, "a b"},
		{"optional dependencies order as required ones", Graph{"a": opt("b"), "b": nil}, Up, "b a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Order(c.g, c.dir)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != c.want {
				t.Errorf("order %q, want %q", s, c.want)
			}
		})
	}
}

func TestOrderNamesTheCycle(t *testing.T) {
	for _, c := range []struct {
		name string
		g    Graph
		want string
	}{
		{"two", Graph{"a": req("b"), "b": req("a")}, "dependency cycle detected: a -> b -> a"},
		{"self", Graph{"a": req("a")}, "dependency cycle detected: a -> a"},
		{"reached through another service", Graph{"x": req("y"), "y": req("z"), "z": opt("y")}, "dependency cycle detected: y -> z -> y"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, dir := range []Direction{Up, Down} {
				if _, err := Order(c.g, dir); err == nil || err.Error() != c.want {
					t.Errorf("dir %d: error %v, want %q", dir, err, c.want)
				}
			}
		})
	}
}

func TestNewGraph(t *testing.T) {
	api := types.ServiceConfig{Name: "api"}
	api.DependsOn = types.DependsOnConfig{
		"db":    {Condition: types.ServiceConditionHealthy, Required: true},
		"cache": {Condition: types.ServiceConditionStarted, Required: false},
	}
	// A namespace target that depends_on does not name is required.
	app := types.ServiceConfig{Name: "app"}
	app.NetworkMode = "service:vpn"
	app.DependsOn = types.DependsOnConfig{"api": {Required: true}}
	p := &types.Project{Services: types.Services{
		"db": {Name: "db"}, "cache": {Name: "cache"}, "vpn": {Name: "vpn"}, "api": api, "app": app,
	}}
	for _, c := range []struct {
		name  string
		names []string
		want  Graph
	}{
		{"all", []string{"db", "cache", "vpn", "api", "app"}, Graph{
			"db": nil, "cache": nil, "vpn": nil,
			"api": {"db": true, "cache": false},
			"app": {"api": true, "vpn": true},
		}},
		{"dependencies outside the names are dropped", []string{"api", "app"}, Graph{"api": nil, "app": {"api": true}}},
		{"a name the project lacks has no dependencies", []string{"gone", "db"}, Graph{"gone": nil, "db": nil}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NewGraph(p, c.names); !maps.EqualFunc(got, c.want, maps.Equal) {
				t.Errorf("graph %v, want %v", got, c.want)
			}
		})
	}
}

// recorder is a visitor that logs when each visit begins and ends on one
// clock, and fails the services told to.
type recorder struct {
	mu         sync.Mutex
	clock      int
	begin, end map[string]int
	failed     map[string]map[string]error // what each visit was told
	fail       map[string]error
}

func newRecorder(fail map[string]error) *recorder {
	return &recorder{begin: map[string]int{}, end: map[string]int{}, failed: map[string]map[string]error{}, fail: fail}
}

func (r *recorder) visit(ctx context.Context, s string, failed map[string]error) error {
	r.mu.Lock()
	r.clock++
	r.begin[s], r.failed[s] = r.clock, failed
	r.mu.Unlock()
	// Long enough for a walk that does not wait to start the next ones.
	time.Sleep(5 * time.Millisecond)
	r.mu.Lock()
	r.clock++
	r.end[s] = r.clock
	r.mu.Unlock()
	return r.fail[s]
}

func (r *recorder) visited() []string { return slices.Sorted(maps.Keys(r.begin)) }

func TestWalkVisitsAfterWhatEachWaitsFor(t *testing.T) {
	chain := Graph{"a": nil, "b": req("a"), "c": req("b"), "d": req("c")}
	for _, c := range []struct {
		name  string
		g     Graph
		dir   Direction
		limit int
	}{
		{"up", stack, Up, 0},
		{"down", stack, Down, 0},
		{"up, one at a time", stack, Up, 1},
		{"down, two at a time", stack, Down, 2},
		{"chain up", chain, Up, 0},
		{"chain down", chain, Down, 3},
		{"optional dependencies are waited for", Graph{"a": opt("b"), "b": nil}, Up, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder(nil)
			if err := Walk(context.Background(), c.g, c.dir, c.limit, r.visit); err != nil {
				t.Fatal(err)
			}
			if got, want := r.visited(), slices.Sorted(maps.Keys(c.g)); !slices.Equal(got, want) {
				t.Fatalf("visited %v, want %v", got, want)
			}
			for n, ds := range c.g {
				for d := range ds {
					first, then := d, n
					if c.dir == Down {
						first, then = n, d
					}
					if r.end[first] > r.begin[then] {
						t.Errorf("%s began (at %d) before %s ended (at %d)", then, r.begin[then], first, r.end[first])
					}
				}
			}
		})
	}
}

func TestWalkRunsAtMostLimitAtOnce(t *testing.T) {
	g := Graph{}
	for i := range 8 {
		g[fmt.Sprintf("s%d", i)] = nil
	}
	g["after"] = req("s0", "s1") // freed in the middle of the walk
	for _, c := range []struct {
		limit, want int
	}{{1, 1}, {2, 2}, {3, 3}, {0, 8}, {-1, 8}, {20, 8}} {
		t.Run(fmt.Sprint(c.limit), func(t *testing.T) {
			var mu sync.Mutex
			active, most := 0, 0
			// One deadline for the whole walk: generous for a busy machine,
			// and a walk running fewer than want waits it out only once.
			deadline := time.Now().Add(30 * time.Second)
			err := Walk(context.Background(), g, Up, c.limit, func(ctx context.Context, s string, _ map[string]error) error {
				mu.Lock()
				active++
				most = max(most, active)
				mu.Unlock()
				// Hold the slot until as many visits as may run at once
				// have been seen together, so that a walk running fewer
				// fails too (bounded, for such a walk).
				for ; time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					mu.Lock()
					enough := most >= c.want
					mu.Unlock()
					if enough {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				active--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if most != c.want {
				t.Errorf("%d visits at once, want %d", most, c.want)
			}
		})
	}
}

func TestWalkFailures(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		g       Graph
		dir     Direction
		fail    map[string]error
		visited string
		errs    map[string]string          // service → error message
		told    map[string]map[string]bool // service → the failed services its visit was told of
	}{
		{
			name: "up: what requires a failed service is not visited, the rest is",
			g:    stack, dir: Up, fail: map[string]error{"db": boom},
			visited: "cache db docs",
			errs: map[string]string{
				"db":     "boom",
				"api":    "dependency failed to start: boom",
				"web":    "dependency failed to start: dependency failed to start: boom",
				"worker": "dependency failed to start: dependency failed to start: boom",
			},
		},
		{
			name: "up: the first failed required dependency by name is the one named",
			g:    Graph{"a": nil, "b": nil, "c": req("a", "b")}, dir: Up,
			fail:    map[string]error{"a": errors.New("a broke"), "b": errors.New("b broke")},
			visited: "a b",
			errs:    map[string]string{"a": "a broke", "b": "b broke", "c": "dependency failed to start: a broke"},
		},
		{
			name: "up: required: false does not hold a service back",
			g:    Graph{"db": nil, "metrics": nil, "api": {"db": true, "metrics": false}, "web": req("api")}, dir: Up,
			fail:    map[string]error{"metrics": boom},
			visited: "api db metrics web",
			errs:    map[string]string{"metrics": "boom"},
			told:    map[string]map[string]bool{"api": {"metrics": true}},
		},
		{
			name: "up: an optional dependency that was not visited is told too",
			g:    Graph{"db": nil, "metrics": req("db"), "api": opt("metrics")}, dir: Up,
			fail:    map[string]error{"db": boom},
			visited: "api db",
			errs:    map[string]string{"db": "boom", "metrics": "dependency failed to start: boom"},
			told:    map[string]map[string]bool{"api": {"metrics": true}},
		},
		{
			name: "down: a failure holds nothing back",
			g:    stack, dir: Down, fail: map[string]error{"web": boom, "api": boom},
			visited: "api cache db docs web worker",
			errs:    map[string]string{"web": "boom", "api": "boom"},
			told:    map[string]map[string]bool{"api": {"web": true}, "db": {"api": true}, "cache": {"api": true}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder(c.fail)
			err := Walk(context.Background(), c.g, c.dir, 0, r.visit)
			if got := strings.Join(r.visited(), " "); got != c.visited {
				t.Errorf("visited %q, want %q", got, c.visited)
			}
			var we *WalkError
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *WalkError", err)
			}
			got := map[string]string{}
			for n, e := range we.Failed {
				got[n] = e.Error()
			}
			if !maps.Equal(got, c.errs) {
				t.Errorf("errors %q, want %q", got, c.errs)
			}
			for _, e := range c.fail {
				if !errors.Is(err, e) {
					t.Errorf("errors.Is(%v, %v) is false", err, e)
				}
			}
			for n, e := range we.Failed {
				var de *DependencyError
				if errors.As(e, &de) && (de.Service != n || we.Failed[de.Dependency] == nil || !c.g[n][de.Dependency]) {
					t.Errorf("%s: %+v does not name a failed required dependency of its service", n, de)
				}
			}
			for n := range c.g {
				told := map[string]bool{}
				for f := range r.failed[n] {
					told[f] = true
				}
				if want := c.told[n]; len(told)+len(want) > 0 && !maps.Equal(told, want) {
					t.Errorf("%s was told of failed %v, want %v", n, told, want)
				}
			}
		})
	}
}

func TestWalkErrorListsInWalkOrder(t *testing.T) {
	g := Graph{"b": nil, "a": req("b"), "c": nil}
	err := Walk(context.Background(), g, Up, 0, func(_ context.Context, s string, _ map[string]error) error {
		return errors.New(s + " failed")
	})
	// The walk order is b a c: a right after what it waits for.
	if want := "b failed\ndependency failed to start: b failed\nc failed"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestWalkRefusesACycle(t *testing.T) {
	g := Graph{"a": req("b"), "b": opt("c"), "c": req("a"), "d": nil}
	for _, dir := range []Direction{Up, Down} {
		visited := false
		err := Walk(context.Background(), g, dir, 0, func(context.Context, string, map[string]error) error {
			visited = true
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
			t.Errorf("dir %d: error %v, want the cycle", dir, err)
		}
		if visited {
			t.Errorf("dir %d: a service was visited", dir)
		}
	}
}

func TestWalkStopsWhenCancelled(t *testing.T) {
	g := Graph{"a": nil, "b": req("a"), "c": req("b"), "slow": nil}
	for _, c := range []struct {
		name     string
		before   bool // cancelled before the walk
		visited  string
		canceled string
	}{
		{"during", false, "a slow", "b c"},
		{"before", true, "", "a b c slow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.before {
				cancel()
			}
			var mu sync.Mutex
			var visited []string
			slowReturned := false
			err := Walk(ctx, g, Up, 0, func(ctx context.Context, s string, _ map[string]error) error {
				mu.Lock()
				visited = append(visited, s)
				mu.Unlock()
				switch s {
				case "a":
					cancel()
				case "slow":
					// A visit under way is waited for.
					<-ctx.Done()
					time.Sleep(20 * time.Millisecond)
					mu.Lock()
					slowReturned = true
					mu.Unlock()
				}
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(visited)
			if got := strings.Join(visited, " "); got != c.visited {
				t.Errorf("visited %q, want %q", got, c.visited)
			}
			if !c.before && !slowReturned {
				t.Error("Walk returned before a visit under way did")
			}
			var we *WalkError
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *WalkError", err)
			}
			var canceled []string
			for n, e := range we.Failed {
				if !errors.Is(e, context.Canceled) {
					t.Errorf("%s: %v, want context.Canceled", n, e)
				}
				canceled = append(canceled, n)
			}
			slices.Sort(canceled)
			if got := strings.Join(canceled, " "); got != c.canceled {
				t.Errorf("cancelled %q, want %q", got, c.canceled)
			}
		})
	}
}
