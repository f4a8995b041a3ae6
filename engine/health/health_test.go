package health

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/internal/testmodel"
)

func TestConditionOf(t *testing.T) {
	for in, want := range map[string]Condition{
		types.ServiceConditionStarted:               Started,
		types.ServiceConditionHealthy:               Healthy,
		types.ServiceConditionCompletedSuccessfully: Completed,
		"": Started,
	} {
		if got := ConditionOf(in); got != want {
			t.Errorf("ConditionOf(%q) = %d, want %d", in, got, want)
		}
	}
}

// inspected is a container of service "db" in state st.
func inspected(st *container.State) container.InspectResponse {
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "c1", State: st},
		Config:            &container.Config{Labels: map[string]string{labels.Service: "db"}},
	}
}

func TestMet(t *testing.T) {
	running := &container.State{Status: "running", Running: true}
	restarting := &container.State{Status: "restarting", Restarting: true}
	created := &container.State{Status: "created"}
	exited := func(code int) *container.State { return &container.State{Status: "exited", ExitCode: code} }
	health := func(status string, log ...*container.HealthcheckResult) *container.State {
		return &container.State{Status: "running", Running: true, Health: &container.Health{Status: status, Log: log}}
	}
	exitedHealthy := &container.State{Status: "exited", ExitCode: 3, Health: &container.Health{Status: container.Starting}}
	long := strings.Repeat("x", 250)
	cases := []struct {
		name string
		st   *container.State
		cond Condition
		done bool
		want string // error; "" for none
	}{
		{"no state yet", nil, Healthy, false, ""},
		{"started: created", created, Started, false, ""},
		{"started: running", running, Started, true, ""},
		{"started: restarting", restarting, Started, true, ""},
		{"started: exited", exited(1), Started, true, ""},
		{"completed: running", running, Completed, false, ""},
		{"completed: exit 0", exited(0), Completed, true, ""},
		{"completed: exit 2", exited(2), Completed, false, `service "db" didn't complete successfully: container p-db-1 exited with code 2`},
		{"completed: dead", &container.State{Status: "dead", ExitCode: 137}, Completed, false, "exited with code 137"},
		{"healthy: no healthcheck", running, Healthy, false, "container p-db-1 has no healthcheck configured"},
		{"healthy: starting", health(container.Starting), Healthy, false, ""},
		{"healthy: healthy", health(container.Healthy), Healthy, true, ""},
		{"healthy: unhealthy, last output", health(container.Unhealthy, &container.HealthcheckResult{Output: "old"}, &container.HealthcheckResult{Output: " refused \n", ExitCode: 1}), Healthy, false,
			"container p-db-1 is unhealthy: refused"},
		{"healthy: unhealthy, no output", health(container.Unhealthy, &container.HealthcheckResult{ExitCode: 7}), Healthy, false,
			"container p-db-1 is unhealthy: last check exited 7"},
		{"healthy: unhealthy, long output", health(container.Unhealthy, &container.HealthcheckResult{Output: long}), Healthy, false,
			"container p-db-1 is unhealthy: " + long[:200] + "…"},
		{"healthy: unhealthy, no log", health(container.Unhealthy), Healthy, false, "container p-db-1 is unhealthy"},
		{"healthy: exited while starting", exitedHealthy, Healthy, false, "container p-db-1 exited (3)"},
		{"running or healthy: running, no healthcheck", running, RunningOrHealthy, true, ""},
		{"running or healthy: created, no healthcheck", created, RunningOrHealthy, false, ""},
		{"running or healthy: exited, no healthcheck", exited(1), RunningOrHealthy, false, "container p-db-1 exited (1)"},
		{"running or healthy: starting", health(container.Starting), RunningOrHealthy, false, ""},
		{"running or healthy: healthy", health(container.Healthy), RunningOrHealthy, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done, err := Met(inspected(c.st), "p-db-1", c.cond)
			if done != c.done {
				t.Errorf("done = %v, want %v", done, c.done)
			}
			if testmodel.WantErr(t, err, c.want) {
				return
			}
			if !strings.HasSuffix(err.Error(), c.want) {
				t.Errorf("error %q does not end with %q", err, c.want)
			}
		})
	}
}
