package plan

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/internal/testmodel"
)

func running(p *compose.Project, service string, replica int, mods ...func(*Container)) Container {
	c := Container{ID: service + "-id", Name: ContainerName(p, p.Services[service], replica), Service: service, Replica: replica,
		Hash: p.Hashes[service], State: "running", ImageID: "sha256:img", Labels: map[string]string{labels.Host: "local"}}
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

func dep(on string, restart bool) func(*types.ServiceConfig) {
	return func(s *types.ServiceConfig) {
		if s.DependsOn == nil {
			s.DependsOn = types.DependsOnConfig{}
		}
		s.DependsOn[on] = types.ServiceDependency{Condition: "service_started", Required: true, Restart: restart}
	}
}

func local(string, int) string { return "local" }

func TestPlan(t *testing.T) {
	p := testProject(t,
		svc("db"),
		svc("api", dep("db", true)),
		svc("side", func(s *types.ServiceConfig) { s.NetworkMode = "service:db" }),
		svc("web", dep("api", false)),
	)
	img := map[string]map[string]string{"db": {"local": "sha256:img"}, "api": {"local": "sha256:img"}, "side": {"local": "sha256:img"}, "web": {"local": "sha256:img"}}
	all := []string{"api", "db", "side", "web"}
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
			plan, err := Make(Input{Project: p, Services: all, Existing: c.existing, Images: c.images, Scale: c.scale, Force: c.force, NoRecreate: c.noRecr, Place: local})
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

// describe renders every step with what the engine acts on: the host, the
// reason, the container acted on and whether it is renamed.
func describe(plan *Plan) []string {
	var out []string
	for _, s := range plan.Steps {
		line := fmt.Sprintf("%s %s@%s", s.Action, s.Name, s.Host)
		if s.Reason != "" {
			line += " (" + s.Reason + ")"
		}
		if s.Existing != nil {
			line += " from " + s.Existing.ID
		}
		if s.Rename {
			line += " renamed"
		}
		if s.Why != "" {
			line += " why=" + s.Why
		}
		out = append(out, line)
	}
	for _, o := range plan.Orphans {
		out = append(out, "orphan "+o.Name)
	}
	return out
}

// TestPlanSteps checks whole plans: order, hosts, reasons, the container
// acted on, renames and orphans.
func TestPlanSteps(t *testing.T) {
	p := testProject(t,
		svc("db"),
		svc("api", dep("db", true)),
		svc("fixed", func(s *types.ServiceConfig) { s.ContainerName = "the-one" }),
	)
	id := func(id string) func(*Container) { return func(c *Container) { c.ID = id } }
	cases := []struct {
		name     string
		services []string
		existing []Container
		scale    map[string]int
		noRecr   bool
		place    func(string, int) string
		linkSig  func(string, string, int) string
		why      func(string, int) string
		want     []string
		wantErr  string
	}{
		{name: "an interrupted recreate: the up-to-date copy under a temporary name is kept and renamed, the other removed",
			services: []string{"db"},
			existing: []Container{
				running(p, "db", 1, id("old"), func(c *Container) { c.Hash = "old" }),
				running(p, "db", 1, id("new"), func(c *Container) { c.Name = "0123456789ab_p-db-1"; c.State = "created" }),
			},
			want: []string{"remove p-db-1@local (duplicate replica) from old", "start p-db-1@local (created) from new renamed"}},
		{name: "containers of a service no longer in the model are orphans",
			services: []string{"db"},
			existing: []Container{running(p, "db", 1, id("db")), running(p, "db", 1, id("gone"), func(c *Container) { c.Service = "gone"; c.Name = "p-gone-1" })},
			want:     []string{"keep p-db-1@local from db", "orphan p-gone-1"}},
		{name: "replicas beyond the scale go, highest first",
			services: []string{"db"}, scale: map[string]int{"db": 1},
			existing: []Container{running(p, "db", 1, id("1")), running(p, "db", 2, id("2")), running(p, "db", 3, id("3"))},
			want:     []string{"keep p-db-1@local from 1", "remove p-db-3@local (scaled down) from 3", "remove p-db-2@local (scaled down) from 2"}},
		{name: "a replica the scheduler moves is recreated on its new host",
			services: []string{"db"},
			existing: []Container{running(p, "db", 1, id("db"))},
			place:    func(string, int) string { return "b" },
			why:      func(s string, r int) string { return fmt.Sprintf("%s-%d fits", s, r) },
			want:     []string{"recreate p-db-1@b (moved from host local to b) from db why=db-1 fits"}},
		{name: "changed cross-host links recreate",
			services: []string{"db"},
			existing: []Container{running(p, "db", 1, id("db"))},
			linkSig:  func(string, string, int) string { return "db->x" },
			want:     []string{"recreate p-db-1@local (cross-host links changed) from db"}},
		{name: "unchanged cross-host links keep",
			services: []string{"db"},
			existing: []Container{running(p, "db", 1, id("db"), func(c *Container) { c.Labels[labels.Links] = "db->x" })},
			linkSig:  func(string, string, int) string { return "db->x" },
			want:     []string{"keep p-db-1@local from db"}},
		{name: "--no-recreate says what it kept back",
			services: []string{"db"}, noRecr: true,
			existing: []Container{running(p, "db", 1, id("db"), func(c *Container) { c.Hash = "old" })},
			want:     []string{"keep p-db-1@local (configuration changed (--no-recreate)) from db"}},
		{name: "a dependency outside the run does not restart its dependents",
			services: []string{"api"},
			existing: []Container{running(p, "api", 1, id("api"))},
			want:     []string{"keep p-api-1@local from api"}},
		{name: "a dependency created restarts a dependent with restart: true",
			services: []string{"api", "db"},
			existing: []Container{running(p, "api", 1, id("api"))},
			want:     []string{"create p-db-1@local (missing)", "restart p-api-1@local (db changed) from api"}},
		{name: "container_name is the name of the only replica",
			services: []string{"fixed"},
			want:     []string{"create the-one@local (missing)"}},
		{name: "container_name cannot be scaled",
			services: []string{"fixed"}, scale: map[string]int{"fixed": 2},
			wantErr: `service "fixed": container_name "the-one" cannot be used with 2 replicas: container names must be unique`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			place := c.place
			if place == nil {
				place = local
			}
			plan, err := Make(Input{Project: p, Services: c.services, Existing: c.existing, Scale: c.scale, NoRecreate: c.noRecr, Place: place, LinkSig: c.linkSig, Why: c.why})
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("got error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(plan); !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestPlanString(t *testing.T) {
	p := testProject(t, svc("db"), svc("web"))
	plan, err := Make(Input{Project: p, Services: []string{"db", "web"}, Existing: []Container{running(p, "gone", 1, func(c *Container) { c.Name = "p-gone-1"; c.Service = "gone" })}, Place: local})
	if err != nil {
		t.Fatal(err)
	}
	plain := "create    p-db-1                         host=local  (missing)\n" +
		"create    p-web-1                        host=local  (missing)\n" +
		"orphan    p-gone-1                       host=local  (orphan: service gone is not in the model)\n"
	if got := plan.String(); got != plain {
		t.Errorf("without placement:\n%s\nwant:\n%s", got, plain)
	}
	plan.Placement = []Placed{
		{Service: "web", Replica: 1, Host: "b", Why: "least loaded", Verdicts: []schedule.HostVerdict{{Host: "a", Reason: "needs 2 CPUs, 0.5 free"}, {Host: "b", Placed: true, Reason: "least loaded"}}},
		{Service: "db", Replica: 1, Host: "a", Why: "volume data is here"},
	}
	want := "PLACEMENT\n" +
		"  db-1 → a  (volume data is here)\n" +
		"  web-1 → b  (least loaded)\n" +
		"      a: needs 2 CPUs, 0.5 free\n" +
		"PLAN\n" + plain
	if got := plan.String(); got != want {
		t.Errorf("with placement:\n%s\nwant:\n%s", got, want)
	}
}

// TestPickReplica: of several containers for one replica, the one kept is
// up to date first, then has the replica's name, then runs, then is newest.
func TestPickReplica(t *testing.T) {
	at := func(id, name, hash, image, state string, minute int) Container {
		return Container{ID: id, Name: name, Hash: hash, ImageID: image, State: state,
			Created: time.Date(2025, 1, 1, 0, minute, 0, 0, time.UTC), Labels: map[string]string{labels.Host: "local"}}
	}
	want := map[string]string{"local": "sha256:new"}
	cases := []struct {
		name   string
		cs     []Container
		want   map[string]string
		keep   string
		remove []string
	}{
		{"up to date beats the name", []Container{at("named", "p-db-1", "old", "sha256:new", "running", 2), at("fresh", "tmp_p-db-1", "h", "sha256:new", "created", 1)}, want, "fresh", []string{"named"}},
		{"a stale image is not up to date", []Container{at("stale", "p-db-1", "h", "sha256:old", "running", 2), at("fresh", "tmp_p-db-1", "h", "sha256:new", "exited", 1)}, want, "fresh", []string{"stale"}},
		{"any image is up to date when none is wanted", []Container{at("named", "p-db-1", "old", "sha256:x", "running", 2), at("fresh", "tmp_p-db-1", "h", "sha256:old", "exited", 1)}, nil, "fresh", []string{"named"}},
		{"the name beats running", []Container{at("other", "tmp_p-db-1", "old", "", "running", 2), at("named", "p-db-1", "old", "", "exited", 1)}, nil, "named", []string{"other"}},
		{"running beats newer", []Container{at("newer", "x_p-db-1", "old", "", "exited", 2), at("up", "y_p-db-1", "old", "", "running", 1)}, nil, "up", []string{"newer"}},
		{"otherwise the newest", []Container{at("a", "x_p-db-1", "old", "", "exited", 1), at("c", "z_p-db-1", "old", "", "exited", 3), at("b", "y_p-db-1", "old", "", "exited", 2)}, nil, "c", []string{"b", "a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			best, extras := pickReplica(c.cs, "p-db-1", "h", c.want)
			var removed []string
			for _, x := range extras {
				removed = append(removed, x.ID)
			}
			if best.ID != c.keep || !slices.Equal(removed, c.remove) {
				t.Errorf("kept %s, removed %v; want %s, %v", best.ID, removed, c.keep, c.remove)
			}
		})
	}
}

// TestNewerIsATotalOrder: two copies of one replica on two hosts, created
// in the same second or a few milliseconds apart, order the same way
// whichever is looked at first, and a later copy always wins — the rule
// placement's current host and the plan's kept copy both follow.
func TestNewerIsATotalOrder(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)
	on := func(id, host string, d time.Duration) Container {
		return Container{ID: id, Created: base.Add(d), Labels: map[string]string{labels.Host: host}}
	}
	cases := []struct {
		name         string
		a, b         Container
		wantAIsNewer bool
	}{
		{"later wins", on("x", "hp", 300*time.Millisecond), on("y", "h1", 0), true},
		{"later wins whatever the host", on("x", "h1", 0), on("y", "hp", 300*time.Millisecond), false},
		{"same time: host name decides", on("x", "h1", 0), on("y", "hp", 0), true},
		{"same time and host: ID decides", on("a", "h1", 0), on("b", "h1", 0), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Newer(c.a, c.b); got != c.wantAIsNewer {
				t.Errorf("Newer(a, b) = %v, want %v", got, c.wantAIsNewer)
			}
			if got := Newer(c.b, c.a); got == c.wantAIsNewer {
				t.Errorf("Newer(b, a) = %v, want %v", got, !c.wantAIsNewer)
			}
			best, _ := pickReplica([]Container{c.b, c.a}, "n", "h", nil)
			other, _ := pickReplica([]Container{c.a, c.b}, "n", "h", nil)
			if best.ID != other.ID {
				t.Errorf("pickReplica keeps %s or %s depending on list order", best.ID, other.ID)
			}
		})
	}
}

// The shared model helpers, under the names these tests use.
var (
	testProject = testmodel.Project
	svc         = testmodel.Service
)

// TestReplacedNetworkRecreates: a container on a bridge that an overlay
// replaces is recreated, saying why; one on another network is kept.
func TestReplacedNetworkRecreates(t *testing.T) {
	p := testProject(t, svc("db"), svc("web"))
	on := func(ids ...string) func(*Container) { return func(c *Container) { c.NetworkIDs = ids } }
	plan, err := Make(Input{Project: p, Services: []string{"db", "web"}, Place: func(string, int) string { return "local" },
		Existing: []Container{running(p, "db", 1, on("bridge1")), running(p, "web", 1, on("other"))},
		Replaced: map[string]string{"bridge1": "network default becomes a Swarm overlay"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"recreate p-db-1@local (network default becomes a Swarm overlay)", "keep p-web-1@local"}
	got := describe(plan)
	for i := range got {
		got[i], _, _ = strings.Cut(got[i], " from ")
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan %q, want %q", got, want)
	}
}

// TestPlanUses: the networks and named volumes each host's planned
// containers use; a removed container uses nothing, a bind mount is no
// volume, a service on another's network namespace joins no network.
func TestPlanUses(t *testing.T) {
	withNet := func(keys ...string) func(*types.ServiceConfig) {
		return func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{}
			for _, k := range keys {
				s.Networks[k] = nil
			}
		}
	}
	p := testProject(t,
		svc("db", withNet("back"), func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/d"}, {Type: types.VolumeTypeBind, Source: "/tmp", Target: "/t"}}
		}),
		svc("web", withNet("front", "back")),
		svc("side", func(s *types.ServiceConfig) { s.NetworkMode = "service:web" }),
	)
	pn := &Plan{Steps: []Step{
		{Service: "db", Host: "a", Action: ActKeep},
		{Service: "web", Host: "b", Action: ActCreate},
		{Service: "side", Host: "b", Action: ActCreate},
		{Service: "web", Host: "c", Action: ActRemove},
	}}
	nets, vols := pn.Uses(p)
	wantNets := map[string]map[string]bool{"a": {"back": true}, "b": {"front": true, "back": true}}
	wantVols := map[string]map[string]bool{"a": {"data": true}, "b": {}}
	if !reflect.DeepEqual(map[string]map[string]bool(nets), wantNets) || !reflect.DeepEqual(vols, wantVols) {
		t.Errorf("uses: networks %v, volumes %v; want %v, %v", nets, vols, wantNets, wantVols)
	}
}
