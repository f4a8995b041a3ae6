package stack

import (
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

func TestRows(t *testing.T) {
	run, shut := swarm.TaskStateRunning, swarm.TaskStateShutdown
	api := repSvc("api", 2)
	api.Spec.Labels[labels.ImageTag] = "api:dev"
	api.Endpoint.Ports = []swarm.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress},
		{Protocol: "tcp", TargetPort: 9000, PublishedPort: 9000, PublishMode: swarm.PortConfigPublishModeHost},
	}
	// The previous spec ran another image, with its own tag.
	prev := api.Spec
	prev.Labels = map[string]string{labels.ImageTag: "api:old"}
	prev.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "sha256:fedcba9876543210"}
	api.PreviousSpec = &prev

	agent := globalSvc("agent")
	web := repSvc("web", 1)
	web.Spec.TaskTemplate.ContainerSpec.Image = "nginx:1.27@sha256:abcdef"
	orphan := repSvc("gone", 1)

	api2 := mkTask(api, 2, "n2", run, 0)
	api2.Status.PortStatus.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 9000, PublishedPort: 9000, PublishMode: swarm.PortConfigPublishModeHost}}
	api1 := mkTask(api, 1, "n3", run, 0)
	api1.ID = "api1-now"
	api1Failed := taskWith(mkTask(api, 1, "n1", swarm.TaskStateFailed, -time.Minute), shut, "task: non-zero exit (1)")
	api1Failed.ID = "api1-failed"
	api1Older := taskWith(mkTask(api, 1, "n1", swarm.TaskStateFailed, -time.Hour), shut, "task: non-zero exit (2)")
	api1Older.ID = "api1-older"
	api1Old := taskWith(mkTask(api, 1, "n1", shut, -2*time.Hour), shut, "")
	api1Old.ID = "api1-replaced"
	api1Old.Spec.ContainerSpec.Image = "sha256:fedcba9876543210"
	webStopped := taskWith(mkTask(web, 1, "n2", swarm.TaskStateComplete, 0), shut, "")
	webStoppedOld := taskWith(mkTask(web, 1, "n2", swarm.TaskStateComplete, -time.Hour), shut, "")
	webStoppedOld.ID = "web-old"

	rows := Rows(
		[]swarm.Service{web, api, agent},
		[]swarm.Task{
			webStoppedOld, api1Old, mkTask(agent, 0, "n3", run, 0), api2, api1Failed, mkTask(agent, 0, "zzzzzzzzzzzzzzzzzzzzzzzzz", run, 0),
			webStopped, api1Older, api1, mkTask(agent, 0, "n1", run, 0), mkTask(orphan, 1, "n1", run, 0),
		},
		nodeNamesFixture,
	)
	type row struct {
		Name, Node, Image, Desired, Current, Err, ID string
		Ports                                        []string
		History                                      bool
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Name, r.Node, r.Image, r.DesiredState, r.CurrentState, r.Err, r.ID, r.Ports, r.History})
	}
	want := []row{
		{"agent.n1", "h5", "sha256:0123456789ab", "running", "running", "", "id-agent.n1.running", nil, false},
		{"agent.n3", "h9", "sha256:0123456789ab", "running", "running", "", "id-agent.n3.running", nil, false},
		{"agent.zzzzzzzzzzzz", "zzzzzzzzzzzz", "sha256:0123456789ab", "running", "running", "", "id-agent.zzzzzzzzzzzzzzzzzzzzzzzzz.running", nil, false},
		{"api.1", "h9", "api:dev", "running", "running", "", "api1-now", []string{"0.0.0.0:8080->80/tcp"}, false},
		{"api.1", "h5", "api:dev", "shutdown", "failed", "task: non-zero exit (1)", "api1-failed", nil, true},
		{"api.1", "h5", "api:dev", "shutdown", "failed", "task: non-zero exit (2)", "api1-older", nil, true},
		{"api.2", "h6", "api:dev", "running", "running", "", "id-api.2.running", []string{"0.0.0.0:8080->80/tcp", "0.0.0.0:9000->9000/tcp"}, false},
		{"web.1", "h6", "nginx:1.27", "shutdown", "complete", "", "id-web.1.complete", nil, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rows:")
		for i := range max(len(got), len(want)) {
			var g, w any
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			t.Errorf("\n got %+v\nwant %+v", g, w)
		}
	}
	if rows[0].Service != "agent" || rows[3].Slot != 1 || !rows[3].Since.Equal(since0.Add(time.Second)) {
		t.Errorf("row fields: %+v", rows[3])
	}
}

func TestTaskImage(t *testing.T) {
	api := repSvc("api", 1)
	api.Spec.Labels[labels.ImageTag] = "api:dev"
	prev := api.Spec
	prev.Labels = map[string]string{labels.ImageTag: "api:old"}
	prev.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "sha256:fedcba9876543210"}
	api.PreviousSpec = &prev
	for _, tt := range []struct{ image, want string }{
		{api.Spec.TaskTemplate.ContainerSpec.Image, "api:dev"},
		{"sha256:fedcba9876543210", "api:old"},
		{"sha256:1111111111111111111", "sha256:111111111111"},
		{"redis:7@sha256:abc", "redis:7"},
		{"", "api:dev"},
	} {
		tk := mkTask(api, 1, "n1", swarm.TaskStateRunning, 0)
		tk.Spec.ContainerSpec.Image = tt.image
		if got := taskImage(api, tk); got != tt.want {
			t.Errorf("task image %q shows %q, want %q", tt.image, got, tt.want)
		}
	}
}
