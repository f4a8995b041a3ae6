package engine

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
)

func testProject(t *testing.T, services ...types.ServiceConfig) *compose.Project {
	t.Helper()
	tp := &types.Project{Name: "p", Services: types.Services{}}
	for _, s := range services {
		tp.Services[s.Name] = s
	}
	p, err := compose.FromTypes(tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func svc(name string, mods ...func(*types.ServiceConfig)) types.ServiceConfig {
	s := types.ServiceConfig{Name: name}
	s.Image = "img"
	for _, m := range mods {
		m(&s)
	}
	return s
}

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
