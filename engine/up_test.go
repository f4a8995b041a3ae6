package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/internal/testmodel"
)

// convergeProject: web needs api healthy and metrics optionally; api needs
// db; sidecar shares api's network namespace (compose-go adds the
// depends_on a loaded file would have).
func convergeProject(t *testing.T) *compose.Project {
	dependsOn := func(deps types.DependsOnConfig) func(*types.ServiceConfig) {
		return func(s *types.ServiceConfig) { s.DependsOn = deps }
	}
	return testProject(t,
		svc("db"), svc("metrics"),
		svc("api", dependsOn(types.DependsOnConfig{"db": {Condition: types.ServiceConditionStarted, Required: true}})),
		svc("web", dependsOn(types.DependsOnConfig{
			"api":     {Condition: types.ServiceConditionHealthy, Required: true},
			"metrics": {Condition: types.ServiceConditionStarted, Required: false},
		})),
		svc("sidecar", func(s *types.ServiceConfig) {
			s.NetworkMode = "service:api"
			s.DependsOn = types.DependsOnConfig{"api": {Condition: types.ServiceConditionStarted, Required: true}}
		}),
	)
}

func TestConvergeGraph(t *testing.T) {
	p := convergeProject(t)
	c := createStep
	for _, tc := range []struct {
		name    string
		set     []string
		noStart bool
		want    compose.Graph
	}{
		{"up", []string{"api", "db", "metrics", "sidecar", "web"}, false, compose.Graph{
			c("db"): {}, c("metrics"): {}, c("api"): {}, c("web"): {},
			c("sidecar"): {c("api"): true},
			"db":         {c("db"): false},
			"metrics":    {c("metrics"): false},
			"api":        {c("api"): false, "db": true},
			"web":        {c("web"): false, "api": true, "metrics": false},
			"sidecar":    {c("sidecar"): false, "api": true},
		}},
		{"create only", []string{"api", "sidecar"}, true, compose.Graph{
			c("api"): {}, c("sidecar"): {c("api"): true},
		}},
		{"what is outside the run is not waited for (--no-deps)", []string{"web", "sidecar"}, false, compose.Graph{
			c("web"): {}, c("sidecar"): {},
			"web":     {c("web"): false},
			"sidecar": {c("sidecar"): false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := convergeGraph(p, tc.set, tc.noStart); !maps.EqualFunc(got, tc.want, maps.Equal) {
				t.Errorf("graph\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// Walking the converge graph as converge does: a service is created while
// what it depends on starts, and a failure reaches the dependents with
// the messages up has always given.
func TestConvergeGraphWalk(t *testing.T) {
	p := convergeProject(t)
	set := []string{"api", "db", "metrics", "sidecar", "web"}
	refused := errors.New("Docker refused")
	for _, tc := range []struct {
		name string
		fail map[string]error // step → its error
		want map[string]string
	}{
		{"all well", nil, map[string]string{}},
		{"a failed create reaches the dependents as it is", map[string]error{createStep("db"): refused}, map[string]string{
			createStep("db"): "Docker refused",
			"db":             "Docker refused",
			"api":            "dependency failed to start: Docker refused",
			"web":            "dependency failed to start: dependency failed to start: Docker refused",
			"sidecar":        "dependency failed to start: dependency failed to start: Docker refused",
		}},
		{"a namespace target not created keeps its sharer from being created", map[string]error{createStep("api"): refused}, map[string]string{
			createStep("api"):     "Docker refused",
			createStep("sidecar"): "dependency failed to start: Docker refused",
			"api":                 "Docker refused",
			"web":                 "dependency failed to start: Docker refused",
			"sidecar":             "dependency failed to start: Docker refused",
		}},
		{"an optional dependency that failed does not hold web back", map[string]error{"metrics": refused}, map[string]string{
			"metrics": "Docker refused",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			begun, ended := map[string]int{}, map[string]int{}
			clock := 0
			err := compose.Walk(context.Background(), convergeGraph(p, set, false), compose.Up, 0, func(_ context.Context, step string, failed map[string]error) error {
				mu.Lock()
				clock++
				begun[step] = clock
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				clock++
				ended[step] = clock
				mu.Unlock()
				if err := failed[createStep(step)]; err != nil {
					return err // as converge's start step does
				}
				return tc.fail[step]
			})
			got := map[string]string{}
			var walked *compose.WalkError
			if errors.As(err, &walked) {
				for n, e := range walked.Failed {
					got[n] = e.Error()
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
			if tc.fail == nil && begun[createStep("web")] > ended["api"] {
				t.Errorf("web was created after api started, not while")
			}
		})
	}
}

// chainProject: web depends on api, api on db; cache stands alone.
func chainProject(t *testing.T) *compose.Project {
	dependsOn := func(d string) func(*types.ServiceConfig) {
		return func(s *types.ServiceConfig) {
			s.DependsOn = types.DependsOnConfig{d: {Condition: types.ServiceConditionStarted, Required: true}}
		}
	}
	return testProject(t, svc("web", dependsOn("api")), svc("api", dependsOn("db")), svc("db"), svc("cache"))
}

func TestRunSet(t *testing.T) {
	p := chainProject(t)
	for _, tc := range []struct {
		name string
		o    UpOptions
		want []string
		err  string
	}{
		{name: "all, sorted", want: []string{"api", "cache", "db", "web"}},
		{name: "named with dependencies", o: UpOptions{Services: []string{"web"}}, want: []string{"api", "db", "web"}},
		{name: "named only with --no-deps", o: UpOptions{Services: []string{"web", "cache"}, NoDeps: true}, want: []string{"cache", "web"}},
		{name: "no such service", o: UpOptions{Services: []string{"nope"}}, err: `"nope"`},
		{name: "scale of no such service", o: UpOptions{Scale: map[string]int{"nope": 1}}, err: `--scale: no such service: "nope"`},
		{name: "negative scale", o: UpOptions{Scale: map[string]int{"web": -1}}, err: "--scale web=-1: replicas cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runSet(p, tc.o)
			if !wantErr(t, err, tc.err) {
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWithoutFailed(t *testing.T) {
	set := []string{"api", "db", "web"}
	placed, left := withoutFailed(set, nil)
	if !slices.Equal(placed, set) || left != nil {
		t.Errorf("nothing failed: placed %v left %v", placed, left)
	}
	placed, left = withoutFailed(set, map[string]string{"db": "why", "other": "why"})
	if !slices.Equal(placed, []string{"api", "web"}) || !slices.Equal(left, []string{"db"}) {
		t.Errorf("db failed: placed %v left %v", placed, left)
	}
	if !slices.Equal(set, []string{"api", "db", "web"}) {
		t.Errorf("the run's set was changed: %v", set)
	}
}

func TestCouldNotMoveError(t *testing.T) {
	if err := couldNotMoveError(nil, []string{"b"}, nil); err != nil {
		t.Errorf("no service left out: %v", err)
	}
	err := couldNotMoveError([]string{"db", "admin"}, []string{"b", "c"}, map[string]string{
		"db":    "cannot place service \"db\" (replica 1):\n  a: not b\n  b: unreachable",
		"admin": "follows db",
	})
	want := "service \"db\" could not move off unreachable host(s) b, c: cannot place service \"db\" (replica 1): a: not b b: unreachable\n" +
		"service \"admin\" could not move off unreachable host(s) b, c: follows db"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestReplicaHosts(t *testing.T) {
	p := chainProject(t)
	a, b, c := testHost("a", "unix://a"), testHost("b", "unix://b"), testHost("c", "unix://c")
	placed := map[schedule.ReplicaKey]string{
		{Service: "web", Replica: 1}: "b", {Service: "web", Replica: 2}: "a", {Service: "web", Replica: 3}: "b",
		{Service: "api", Replica: 1}: "", // not placed
	}
	where := replicaHosts{p: p, set: []string{"api", "web"}, scale: map[string]int{"web": 3},
		place: func(s string, r int) string { return placed[schedule.ReplicaKey{Service: s, Replica: r}] },
		project: []Container{
			running(a, "p", "web", 1), // the run places web: its containers do not count
			running(c, "p", "db", 3), running(b, "p", "db", 2), running(c, "p", "db", 1),
			running(a, "p", "db", 4, func(c *Container) { c.State = "exited" }),
			running(a, "p", "db", 5, func(c *Container) { c.OneOff = true }),
			running(a, "p", "gone", 1), // not in the model any more: where it runs
		}}
	for _, tc := range []struct {
		service string
		hosts   []string
		on      map[string]int // host → lowest replica there
	}{
		{"web", []string{"b", "a"}, map[string]int{"a": 2, "b": 1, "c": 0}},
		{"api", nil, map[string]int{"a": 0}},
		{"db", []string{"c", "b"}, map[string]int{"a": 0, "b": 2, "c": 1}},
		{"gone", []string{"a"}, map[string]int{"a": 1, "b": 0}},
	} {
		if got := where.hosts(tc.service); !slices.Equal(got, tc.hosts) {
			t.Errorf("hosts(%s) = %v, want %v", tc.service, got, tc.hosts)
		}
		for h, want := range tc.on {
			if got := where.replicaOn(tc.service, h); got != want {
				t.Errorf("replicaOn(%s, %s) = %d, want %d", tc.service, h, got, want)
			}
		}
	}

	// Images go where the run's replicas go.
	e := &Engine{Pool: &hosts.Pool{Hosts: []*hosts.Host{a, b, c}}}
	need := e.imageHosts(where.set, where)
	got := map[string][]string{}
	for s, hs := range need {
		for _, h := range hs {
			got[s] = append(got[s], h.Name)
		}
	}
	if want := map[string][]string{"web": {"b", "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("imageHosts = %v, want %v", got, want)
	}
}

func TestForced(t *testing.T) {
	set := []string{"api", "db", "web"}
	for _, tc := range []struct {
		name string
		o    UpOptions
		want []string
	}{
		{"not asked", UpOptions{Services: []string{"web"}}, nil},
		{"all of the run", UpOptions{ForceRecreate: true}, set},
		{"the services named, not their dependencies", UpOptions{ForceRecreate: true, Services: []string{"web"}}, []string{"web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := slices.Sorted(maps.Keys(forced(tc.o, set))); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanInput(t *testing.T) {
	p := chainProject(t)
	a := testHost("a", "unix://a")
	k := schedule.ReplicaKey{Service: "web", Replica: 2}
	pl := &placement{hostOf: map[schedule.ReplicaKey]string{k: "a"}, why: map[schedule.ReplicaKey]string{k: "spread"}}
	w := &world{project: []Container{running(a, "p", "web", 1), running(a, "p", "web", 9, func(c *Container) { c.OneOff = true })}}
	o := UpOptions{Scale: map[string]int{"web": 2}, NoRecreate: true, ForceRecreate: true, Services: []string{"web"}}
	in := planInput(p, []string{"api", "db", "web"}, o, w, pl, nil)
	if in.Project != p || !slices.Equal(in.Services, []string{"api", "db", "web"}) || !in.NoRecreate || in.Scale["web"] != 2 || in.Images != nil {
		t.Errorf("input %+v", in)
	}
	if len(in.Existing) != 1 || in.Existing[0].Replica != 1 {
		t.Errorf("existing %v, want the service containers without one-offs", in.Existing)
	}
	if !maps.Equal(in.Force, map[string]bool{"web": true}) {
		t.Errorf("force %v", in.Force)
	}
	if in.Place("web", 2) != "a" || in.Why("web", 2) != "spread" || in.Place("web", 1) != "" || in.LinkSig("web", "a", 2) != "" {
		t.Errorf("place %q why %q", in.Place("web", 2), in.Why("web", 2))
	}
}

func TestRunTargets(t *testing.T) {
	runs := map[string]*svcRun{
		"db":    {containers: []*Container{{ID: "db1"}, {ID: "db2"}}},
		"cache": {}, // not created (yet)
	}
	s := svc("app", func(s *types.ServiceConfig) {
		s.NetworkMode, s.Ipc, s.VolumesFrom = "service:db", "service:cache", []string{"outside:ro"}
	})
	targets := map[string]string{"outside": "old"}
	runTargets(s, runs, targets)
	if want := map[string]string{"db": "db1", "outside": "old"}; !maps.Equal(targets, want) {
		t.Errorf("targets %v, want %v (replica 1 of what this run created; the rest is fillTargets')", targets, want)
	}
}

func TestToldErrors(t *testing.T) {
	created, started := errors.New("create refused"), errors.New("start refused")
	runs := map[string]*svcRun{"metrics": {err: created}, "logs": {}}
	got := toldErrors(runs, map[string]error{"metrics": started, "logs": started, "outside": started})
	want := map[string]error{"metrics": created, "logs": started, "outside": started}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConvergeOutcome(t *testing.T) {
	refused := &refusedError{errors.New("Docker refused")}
	dep := func(err error) error { return &compose.DependencyError{Service: "x", Dependency: "db", Err: err} }
	c := func(service string, replica int) *Container { return &Container{Service: service, Replica: replica} }
	for _, tc := range []struct {
		name   string
		runs   map[string]*svcRun
		walked map[string]error // nil: the walk visited everything
		errs   []string
		runErr map[string]string // each service's err afterwards
		out    []string
	}{
		{name: "all well", runs: map[string]*svcRun{"db": {containers: []*Container{c("db", 2), c("db", 1)}}, "web": {containers: []*Container{c("web", 1)}}},
			out: []string{"db-1", "db-2", "web-1"}},
		{name: "dependents are not reported again",
			runs:   map[string]*svcRun{"db": {err: refused}, "web": {}},
			walked: map[string]error{"db": refused, "web": dep(refused)},
			errs:   []string{"Docker refused"},
			runErr: map[string]string{"db": "Docker refused", "web": "dependency failed to start: Docker refused"}},
		{name: "a create not visited (no start step: NoStart)",
			runs:   map[string]*svcRun{"db": {}, "web": {}},
			walked: map[string]error{createStep("web"): context.Canceled},
			errs:   []string{"context canceled"},
			runErr: map[string]string{"web": "context canceled"}},
		{name: "the start step's error before the create's",
			runs:   map[string]*svcRun{"db": {}, "web": {}},
			walked: map[string]error{createStep("web"): context.Canceled, "web": refused},
			errs:   []string{"Docker refused"},
			runErr: map[string]string{"web": "Docker refused"}},
		{name: "only dependency errors: the first is reported",
			runs:   map[string]*svcRun{"db": {}, "web": {err: dep(context.Canceled)}},
			walked: map[string]error{"db": dep(refused)},
			errs:   []string{"dependency failed to start: Docker refused"},
			runErr: map[string]string{"db": "dependency failed to start: Docker refused", "web": "dependency failed to start: context canceled"}},
		{name: "a step's own error is kept",
			runs:   map[string]*svcRun{"db": {err: refused}, "web": {}},
			walked: map[string]error{"db": context.Canceled},
			errs:   []string{"Docker refused"},
			runErr: map[string]string{"db": "Docker refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var walked *compose.WalkError
			if tc.walked != nil {
				walked = &compose.WalkError{Failed: tc.walked}
			}
			out, errs := convergeOutcome([]string{"db", "web"}, tc.runs, walked)
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("errs %q, want %q", got, tc.errs)
			}
			for name, r := range tc.runs {
				if want := tc.runErr[name]; (r.err == nil && want != "") || (r.err != nil && r.err.Error() != want) {
					t.Errorf("%s: err %v, want %q", name, r.err, want)
				}
			}
			var names []string
			for _, c := range out {
				names = append(names, fmt.Sprintf("%s-%d", c.Service, c.Replica))
			}
			if !slices.Equal(names, tc.out) {
				t.Errorf("containers %v, want %v", names, tc.out)
			}
		})
	}
}

func TestStartAction(t *testing.T) {
	old := &Container{ID: "old"}
	for _, tc := range []struct {
		act  Action
		c    *Container
		want Action
	}{
		{ActKeep, old, ActKeep},
		{ActRestart, old, ActRestart},
		{ActStart, old, ActStart},
		{ActKeep, &Container{ID: "new"}, ActStart}, // created again: it was gone
		{ActRestart, &Container{ID: "new"}, ActStart},
		{ActCreate, &Container{ID: "new"}, ActCreate},
	} {
		st := Step{Action: tc.act, Existing: old}
		if tc.act == ActCreate {
			st.Existing = nil
		}
		if got := startAction(st, tc.c); got != tc.want {
			t.Errorf("%s of %s: got %s, want %s", tc.act, tc.c.ID, got, tc.want)
		}
	}
}

// The shared model helpers, under the names these tests use.
var (
	testProject = testmodel.Project
	svc         = testmodel.Service
)
