package engine

import (
	"strings"
	"testing"

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

func running(p *compose.Project, service string, replica int, mods ...func(*Container)) Container {
	c := Container{ID: service + "-id", Name: ContainerName(p, p.Services[service], replica), Service: service, Replica: replica,
		Hash: p.Hashes[service], State: "running", ImageID: "sha256:img", Labels: map[string]string{"dev.devorch.host": "local"}}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func actions(plan *Plan) map[string]Action {
	out := map[string]Action{}
	for _, s := range plan.Steps {
		out[s.Name] = s.Action
	}
	return out
}

func TestPlan(t *testing.T) {
	dep := func(on string, restart bool) func(*types.ServiceConfig) {
		return func(s *types.ServiceConfig) {
			if s.DependsOn == nil {
				s.DependsOn = types.DependsOnConfig{}
			}
			s.DependsOn[on] = types.ServiceDependency{Condition: "service_started", Required: true, Restart: restart}
		}
	}
	p := testProject(t,
		svc("db"),
		svc("api", dep("db", true)),
		svc("side", func(s *types.ServiceConfig) { s.NetworkMode = "service:db" }),
		svc("web", dep("api", false)),
	)
	img := map[string]map[string]string{"db": {"local": "sha256:img"}, "api": {"local": "sha256:img"}, "side": {"local": "sha256:img"}, "web": {"local": "sha256:img"}}
	all := []string{"api", "db", "side", "web"}
	place := func(string, int) string { return "local" }
	cases := []struct {
		name     string
		existing []Container
		images   map[string]map[string]string
		scale    map[string]int
		force    map[string]bool
		noRecr   bool
		want     map[string]Action
	}{
		{"all missing", nil, img, nil, nil, false, map[string]Action{"p-db-1": ActCreate, "p-api-1": ActCreate, "p-side-1": ActCreate, "p-web-1": ActCreate}},
		{"all up to date", []Container{running(p, "db", 1), running(p, "api", 1), running(p, "side", 1), running(p, "web", 1)}, img, nil, nil, false,
			map[string]Action{"p-db-1": ActKeep, "p-api-1": ActKeep, "p-side-1": ActKeep, "p-web-1": ActKeep}},
		{"db config changed: side follows, api restarts, web kept",
			[]Container{running(p, "db", 1, func(c *Container) { c.Hash = "old" }), running(p, "api", 1), running(p, "side", 1), running(p, "web", 1)}, img, nil, nil, false,
			map[string]Action{"p-db-1": ActRecreate, "p-side-1": ActRecreate, "p-api-1": ActRestart, "p-web-1": ActKeep}},
		{"image changed", []Container{running(p, "db", 1), running(p, "api", 1, func(c *Container) { c.ImageID = "sha256:old" }), running(p, "side", 1), running(p, "web", 1)}, img, nil, nil, false,
			map[string]Action{"p-db-1": ActKeep, "p-api-1": ActRecreate, "p-side-1": ActKeep, "p-web-1": ActKeep}},
		{"stopped is started", []Container{running(p, "db", 1, func(c *Container) { c.State = "exited" }), running(p, "api", 1), running(p, "side", 1), running(p, "web", 1)}, img, nil, nil, false,
			map[string]Action{"p-db-1": ActStart, "p-api-1": ActKeep, "p-side-1": ActKeep, "p-web-1": ActKeep}},
		{"no-recreate keeps a changed one", []Container{running(p, "db", 1), running(p, "api", 1), running(p, "side", 1), running(p, "web", 1, func(c *Container) { c.Hash = "x" })}, img, nil, nil, true,
			map[string]Action{"p-db-1": ActKeep, "p-api-1": ActKeep, "p-side-1": ActKeep, "p-web-1": ActKeep}},
		{"force only web", []Container{running(p, "db", 1), running(p, "api", 1), running(p, "side", 1), running(p, "web", 1)}, img, nil, map[string]bool{"web": true}, false,
			map[string]Action{"p-db-1": ActKeep, "p-api-1": ActKeep, "p-side-1": ActKeep, "p-web-1": ActRecreate}},
		{"scale up and down", []Container{running(p, "db", 1), running(p, "api", 1), running(p, "api", 2), running(p, "api", 3), running(p, "side", 1), running(p, "web", 1)}, img,
			map[string]int{"api": 2, "web": 2}, nil, false,
			map[string]Action{"p-db-1": ActKeep, "p-api-1": ActKeep, "p-api-2": ActKeep, "p-api-3": ActRemove, "p-side-1": ActKeep, "p-web-1": ActKeep, "p-web-2": ActCreate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := makePlan(planInput{project: p, services: all, existing: c.existing, images: c.images, scale: c.scale, force: c.force, noRecreate: c.noRecr, place: place})
			if err != nil {
				t.Fatal(err)
			}
			got := actions(plan)
			if len(got) != len(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s: got %s, want %s (plan:\n%s)", k, got[k], v, plan)
				}
			}
		})
	}
}

// After an interrupted recreate two containers exist for a replica: the up
// to date one (under a temporary name) is kept and renamed, the other removed.
func TestPlanResolvesInterruptedRecreate(t *testing.T) {
	p := testProject(t, svc("db"))
	old := running(p, "db", 1, func(c *Container) { c.Hash = "old"; c.ID = "old" })
	fresh := running(p, "db", 1, func(c *Container) { c.Name = "0123456789ab_p-db-1"; c.ID = "new"; c.State = "created" })
	plan, err := makePlan(planInput{project: p, services: []string{"db"}, existing: []Container{old, fresh}, place: func(string, int) string { return "local" }})
	if err != nil {
		t.Fatal(err)
	}
	var kept, removed *Step
	for i := range plan.Steps {
		switch plan.Steps[i].Action {
		case ActStart:
			kept = &plan.Steps[i]
		case ActRemove:
			removed = &plan.Steps[i]
		}
	}
	if kept == nil || kept.Existing.ID != "new" || !kept.Rename || kept.Name != "p-db-1" {
		t.Errorf("kept: %+v", kept)
	}
	if removed == nil || removed.Existing.ID != "old" {
		t.Errorf("removed: %+v", removed)
	}
}

func TestPlanOrphans(t *testing.T) {
	p := testProject(t, svc("db"))
	gone := running(p, "db", 1, func(c *Container) { c.Service = "gone"; c.Name = "p-gone-1" })
	plan, err := makePlan(planInput{project: p, services: []string{"db"}, existing: []Container{gone}, place: func(string, int) string { return "local" }})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Orphans) != 1 || plan.Orphans[0].Name != "p-gone-1" {
		t.Errorf("orphans: %v", plan.Orphans)
	}
}

func TestCheckDockerfile(t *testing.T) {
	cases := map[string]string{
		"FROM scratch\nRUN --mount=type=cache,target=/x true\n":            "Dockerfile:2 uses RUN --mount",
		"FROM scratch\nRUN \\\n  --mount=type=cache,target=/x true\n":      "Dockerfile:2 uses RUN --mount",
		"# syntax=docker/dockerfile:1\nFROM scratch\nCOPY --link a /a\n":   "Dockerfile:3 uses COPY --link",
		"# syntax=docker/dockerfile:1\nFROM scratch\nRUN echo --mount=x\n": "",
		"FROM scratch\nCOPY --chown=1:1 a /a\n":                            "",
	}
	for df, want := range cases {
		err := checkDockerfile("s", "Dockerfile", []byte(df))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: unexpected %v", df, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want %q", df, err, want)
		}
	}
}

func TestWithLabels(t *testing.T) {
	l := map[string]string{"dev.devorch.project": "p", "note": `a "b" $HOME`}
	got := string(withLabels([]byte("FROM a AS base\nRUN x\nFROM base AS app\nCOPY . /\nFROM scratch AS tiny\n"), "app", l))
	want := "FROM a AS base\nRUN x\nFROM base AS app\nCOPY . /\nLABEL \"dev.devorch.project\"=\"p\" \"note\"=\"a \\\"b\\\" \\$HOME\"\nFROM scratch AS tiny\n"
	if got != want {
		t.Errorf("target stage:\n%s\nwant:\n%s", got, want)
	}
	got = string(withLabels([]byte("FROM a\nRUN x"), "", map[string]string{"k": "v"}))
	if got != "FROM a\nRUN x\nLABEL \"k\"=\"v\"" {
		t.Errorf("last stage: %q", got)
	}
}
