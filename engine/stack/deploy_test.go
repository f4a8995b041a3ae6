package stack

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
)

// planAPI answers PlanDeploy's one question: the stack's services.
type planAPI struct {
	API
	services []swarm.Service
}

func (f planAPI) ServiceList(context.Context, swarm.ServiceListOptions) ([]swarm.Service, error) {
	return f.services, nil
}

// nodeVolumes is a node's daemon holding some of the stack's volumes.
type nodeVolumes struct {
	NodeAPI
	names []string
}

func (f nodeVolumes) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	var out volume.ListResponse
	for _, n := range f.names {
		out.Volumes = append(out.Volumes, &volume.Volume{Name: n})
	}
	return out, nil
}

// PlanDeploy: a new service is created, one whose spec hash label matches
// is left alone, a changed one updated, one the file lost is an orphan; a
// node devorch has no endpoint for is excluded by constraint; a volume's
// data on one node pins its service there, after the hash.
func TestPlanDeploy(t *testing.T) {
	p := load(t, `
services:
  same: {image: x}
  changed: {image: x}
  fresh: {image: x}
  db:
    image: x
    volumes: [data:/data]
volumes:
  data: {}
`)
	o := options(p)
	specs, _, err := Services(p, o)
	if err != nil {
		t.Fatal(err)
	}
	existing := func(name, hash string) swarm.Service {
		s := swarm.Service{ID: "id-" + name, Spec: specs[name]}
		s.Spec.Labels = map[string]string{"dev.devorch.service": name, SpecHashLabel: hash}
		return s
	}
	tg := &Target{
		Manager: "m",
		Nodes:   []Node{{ID: "n1", Host: "h1"}, {ID: "n2", Host: "h2"}, {ID: "n3", Hostname: "far"}},
		Hosts: map[string]Host{
			"n1": {Name: "h1", API: nodeVolumes{}},
			"n2": {Name: "h2", API: nodeVolumes{names: []string{"p_data"}}},
		},
	}
	// The labels the next run compares are hashed with the constraint on
	// the unknown node, as PlanDeploy adds it.
	withUnknown := func(name string) swarm.ServiceSpec {
		s := specs[name]
		var pl swarm.Placement
		if s.TaskTemplate.Placement != nil {
			pl = *s.TaskTemplate.Placement
		}
		pl.Constraints = append(append([]string{}, pl.Constraints...), "node.id!=n3")
		s.TaskTemplate.Placement = &pl
		return s
	}
	tg.API = planAPI{services: []swarm.Service{
		existing("same", hashOf(withUnknown("same"))),
		existing("changed", "stale"),
		existing("db", hashOf(withUnknown("db"))),
		{ID: "id-gone", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "p_gone", Labels: map[string]string{"dev.devorch.service": "gone"}}}},
	}}
	pl, err := PlanDeploy(context.Background(), tg, p, o, DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"same": "Unchanged", "changed": "Update", "fresh": "Create", "db": "Unchanged"}
	for name, a := range want {
		if pl.Actions[name] != a {
			t.Errorf("%s: %s, want %s", name, pl.Actions[name], a)
		}
	}
	if len(pl.Orphans) != 1 || pl.Orphans[0].ID != "id-gone" {
		t.Errorf("orphans: %+v", pl.Orphans)
	}
	if c := pl.Services["fresh"].TaskTemplate.Placement.Constraints; len(c) != 1 || c[0] != "node.id!=n3" {
		t.Errorf("fresh's constraints %v, want the unknown node excluded", c)
	}
	if c := pl.Services["db"].TaskTemplate.Placement.Constraints; len(c) != 2 || c[1] != "node.id==n2" {
		t.Errorf("db's constraints %v, want it pinned to n2 where its data is", c)
	}
	if len(pl.Notes) != 1 || !strings.Contains(pl.Notes[0], `"db" runs on node h2`) {
		t.Errorf("notes: %v", pl.Notes)
	}
	if !strings.Contains(strings.Join(pl.Warnings, "\n"), "far/n3") {
		t.Errorf("warnings do not name the node devorch cannot reach: %v", pl.Warnings)
	}
	out := pl.String()
	for _, w := range []string{"db       unchanged", "node.id==n2", "PLACEMENT NOTES", "gone     orphan"} {
		if !strings.Contains(out, w) {
			t.Errorf("plan does not show %q:\n%s", w, out)
		}
	}

	// With the volume on two nodes there is no single place for it.
	tg.Hosts["n1"] = Host{Name: "h1", API: nodeVolumes{names: []string{"p_data"}}}
	pl, err = PlanDeploy(context.Background(), tg, p, o, DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := pl.Services["db"].TaskTemplate.Placement.Constraints; len(c) != 1 {
		t.Errorf("db's constraints %v with its volume on two nodes", c)
	}
}

// hashOf ignores config and secret IDs (their names carry the content).
func TestHashOfIgnoresFileIDs(t *testing.T) {
	spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
		Configs: []*swarm.ConfigReference{{ConfigName: "p_c_1", ConfigID: "a"}},
		Secrets: []*swarm.SecretReference{{SecretName: "p_s_1", SecretID: "b"}},
	}}}
	other := spec
	cs := *spec.TaskTemplate.ContainerSpec
	cs.Configs = []*swarm.ConfigReference{{ConfigName: "p_c_1"}}
	cs.Secrets = []*swarm.SecretReference{{SecretName: "p_s_1", SecretID: "c"}}
	other.TaskTemplate.ContainerSpec = &cs
	if hashOf(spec) != hashOf(other) {
		t.Error("IDs change the hash")
	}
	if spec.TaskTemplate.ContainerSpec.Configs[0].ConfigID != "a" {
		t.Error("hashOf changed its argument")
	}
	cs.Configs = []*swarm.ConfigReference{{ConfigName: "p_c_2"}}
	if hashOf(spec) == hashOf(other) {
		t.Error("a config's name does not change the hash")
	}
}
