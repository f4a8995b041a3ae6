package stack

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// since0 is when the deploy began in these tests.
var since0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

var nodeNamesFixture = map[string]string{"n1": "h5", "n2": "h6", "n3": "h9"}

func repSvc(name string, n uint64) swarm.Service {
	return swarm.Service{
		ID: "id-" + name,
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "p_" + name, Labels: map[string]string{
				labels.StackNamespace: "p", labels.Service: name,
			}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "sha256:0123456789abcdef" + name}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
		},
	}
}

func globalSvc(name string) swarm.Service {
	s := repSvc(name, 0)
	s.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	return s
}

// task is a task of svc in slot on node, desired running, in state,
// created at since0 plus age.
func mkTask(svc swarm.Service, slot int, node string, state swarm.TaskState, age time.Duration) swarm.Task {
	id := svc.ID + "." + node + "." + string(state)
	if slot > 0 {
		id = svc.ID + "." + string(rune('0'+slot)) + "." + string(state)
	}
	return swarm.Task{
		ID:           id,
		Meta:         swarm.Meta{CreatedAt: since0.Add(age)},
		ServiceID:    svc.ID,
		Slot:         slot,
		NodeID:       node,
		DesiredState: swarm.TaskStateRunning,
		Status:       swarm.TaskStatus{State: state, Timestamp: since0.Add(age + time.Second)},
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: svc.Spec.TaskTemplate.ContainerSpec.Image}},
	}
}

// withErr gives a task an error and a desired state.
func taskWith(t swarm.Task, desired swarm.TaskState, err string) swarm.Task {
	t.DesiredState = desired
	t.Status.Err = err
	return t
}

func TestEvaluate(t *testing.T) {
	api := repSvc("api", 3)
	run := swarm.TaskStateRunning
	other := repSvc("other", 1)
	tests := []struct {
		name   string
		svc    swarm.Service
		tasks  []swarm.Task
		active int
		want   Progress
	}{
		{"replicated done", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
			mkTask(other, 1, "n1", swarm.TaskStateFailed, time.Second),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Done: true}},
		{"replicated 2/3, one still starting its healthcheck", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", swarm.TaskStateStarting, 0),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3}},
		{"tasks desired shut down do not count", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0),
			taskWith(mkTask(api, 3, "n3", run, 0), swarm.TaskStateShutdown, ""),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3}},
		{"two tasks of one slot count once", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 1, "n2", run, 0), mkTask(api, 2, "n2", run, 0),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3}},
		{"global on every node", globalSvc("agent"), []swarm.Task{
			mkTask(globalSvc("agent"), 0, "n1", run, 0), mkTask(globalSvc("agent"), 0, "n2", run, 0),
		}, 3, Progress{Service: "agent", Running: 2, Desired: 2, Done: true}},
		{"global one node behind", globalSvc("agent"), []swarm.Task{
			mkTask(globalSvc("agent"), 0, "n1", run, 0), mkTask(globalSvc("agent"), 0, "n2", swarm.TaskStatePreparing, 0),
		}, 3, Progress{Service: "agent", Running: 1, Desired: 2}},
		{"global, two tasks on one node count once", globalSvc("agent"), []swarm.Task{
			mkTask(globalSvc("agent"), 0, "n1", run, 0), mkTask(globalSvc("agent"), 0, "n1", swarm.TaskStateStarting, time.Second),
		}, 3, Progress{Service: "agent", Running: 1, Desired: 1, Done: true}},
		{"global without tasks yet", globalSvc("agent"), nil, 3,
			Progress{Service: "agent", Running: 0, Desired: 1}},
		{"global without active nodes", globalSvc("agent"), nil, 0,
			Progress{Service: "agent", Running: 0, Desired: 0, Done: true}},
		{"rejected after since", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0),
			taskWith(mkTask(api, 2, "n3", swarm.TaskStateRejected, time.Second), swarm.TaskStateShutdown, "No such image: sha256:0123"),
		}, 3, Progress{Service: "api", Running: 1, Desired: 3, Failed: []TaskError{
			{Service: "api", Slot: 2, Node: "h9", State: "rejected", Err: "No such image: sha256:0123"},
		}}},
		{"failed before since is history", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
			taskWith(mkTask(api, 2, "n3", swarm.TaskStateFailed, -time.Hour), swarm.TaskStateShutdown, "task: non-zero exit (1)"),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Done: true}},
		{"pending, no suitable node", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0),
			taskWith(mkTask(api, 3, "", swarm.TaskStatePending, 0), swarm.TaskStateRunning,
				"no suitable node (scheduling constraints not satisfied on 3 nodes)"),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3, Failed: []TaskError{
			{Service: "api", Slot: 3, State: "pending", Err: "no suitable node (scheduling constraints not satisfied on 3 nodes)"},
		}}},
		{"pending replacement desired ready, no suitable node", api, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0),
			taskWith(mkTask(api, 3, "", swarm.TaskStatePending, 0), swarm.TaskStateReady,
				"no suitable node (max replicas per node limit exceed; 1 node not available for new tasks)"),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3, Failed: []TaskError{
			{Service: "api", Slot: 3, State: "pending", Err: "no suitable node (max replicas per node limit exceed; 1 node not available for new tasks)"},
		}}},
		{"pending without error waits", api, []swarm.Task{
			mkTask(api, 1, "n1", swarm.TaskStatePending, 0),
		}, 3, Progress{Service: "api", Running: 0, Desired: 3}},
		{"update under way, a slot still on the old spec", updating(api, swarm.UpdateStateUpdating, "", since0), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0),
		}, 3, Progress{Service: "api", Running: 2, Desired: 3, Updating: "updating"}},
		{"update watching its replaced tasks (every slot runs the new spec)", updating(api, swarm.UpdateStateUpdating, "", since0), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Updating: "updating", Done: true}},
		{"rollback under way", updating(api, swarm.UpdateStateRollbackStarted, "", since0), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Updating: "rollback_started"}},
		{"update completed", updating(api, swarm.UpdateStateCompleted, "update completed", since0), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Done: true}},
		{"update paused", updating(api, swarm.UpdateStatePaused, "update paused due to failure or early termination of task x", since0), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Updating: "paused", Failed: []TaskError{
			{Service: "api", State: "update paused", Err: "update paused due to failure or early termination of task x"},
		}}},
		{"rollback paused", updating(api, swarm.UpdateStateRollbackPaused, "", since0.Add(-time.Hour)), nil, 3,
			Progress{Service: "api", Desired: 3, Updating: "rollback_paused", Failed: []TaskError{
				{Service: "api", State: "rollback paused"},
			}}},
		{"rolled back during this deploy", updating(api, swarm.UpdateStateRollbackCompleted, "rollback completed", since0.Add(time.Second)), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Done: true, Failed: []TaskError{
			{Service: "api", State: "rolled back", Err: "rollback completed"},
		}}},
		{"rolled back before this deploy", updating(api, swarm.UpdateStateRollbackCompleted, "rollback completed", since0.Add(-time.Hour)), []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0),
		}, 3, Progress{Service: "api", Running: 3, Desired: 3, Done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(tt.svc, tt.tasks, nodeNamesFixture, tt.active, since0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func updating(s swarm.Service, state swarm.UpdateState, msg string, started time.Time) swarm.Service {
	s.UpdateStatus = &swarm.UpdateStatus{State: state, Message: msg, StartedAt: &started}
	return s
}

func TestEvaluateFailedErr(t *testing.T) {
	api := repSvc("api", 1)
	for _, tt := range []struct {
		name   string
		status swarm.TaskStatus
		want   string
	}{
		{"Swarm's error", swarm.TaskStatus{Err: "task: non-zero exit (1)", Message: "started", ContainerStatus: &swarm.ContainerStatus{ExitCode: 1}}, "task: non-zero exit (1)"},
		{"exit code", swarm.TaskStatus{Message: "started", ContainerStatus: &swarm.ContainerStatus{ExitCode: 137}}, "exit code 137"},
		{"message", swarm.TaskStatus{Message: "shutdown"}, "shutdown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tk := mkTask(api, 1, "n2", swarm.TaskStateFailed, 0)
			tt.status.State = swarm.TaskStateFailed
			tk.Status = tt.status
			p := Evaluate(api, []swarm.Task{tk}, nodeNamesFixture, 3, since0)
			if len(p.Failed) != 1 || p.Failed[0].Err != tt.want {
				t.Fatalf("Failed = %+v, want one with Err %q", p.Failed, tt.want)
			}
		})
	}
}

func TestEvaluateJobs(t *testing.T) {
	two := uint64(2)
	job := repSvc("migrate", 0)
	job.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &two, TotalCompletions: &two}}
	job.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 7}}
	jobTask := func(slot int, state swarm.TaskState, iteration uint64) swarm.Task {
		tk := mkTask(job, slot, "n1", state, 0)
		tk.DesiredState = swarm.TaskStateComplete
		tk.JobIteration = &swarm.Version{Index: iteration}
		return tk
	}
	p := Evaluate(job, []swarm.Task{
		jobTask(0, swarm.TaskStateComplete, 7), jobTask(1, swarm.TaskStateRunning, 7), jobTask(1, swarm.TaskStateComplete, 6),
	}, nodeNamesFixture, 3, since0)
	if p.Running != 1 || p.Desired != 2 || p.Done {
		t.Errorf("one of two completions: %+v", p)
	}
	p = Evaluate(job, []swarm.Task{
		jobTask(0, swarm.TaskStateComplete, 7), jobTask(1, swarm.TaskStateComplete, 7),
	}, nodeNamesFixture, 3, since0)
	if p.Running != 2 || p.Desired != 2 || !p.Done {
		t.Errorf("two of two completions: %+v", p)
	}
}

func TestTaskErrorMessage(t *testing.T) {
	for _, tt := range []struct {
		e    TaskError
		want string
	}{
		{TaskError{Service: "api", Slot: 2, Node: "h3", State: "rejected", Err: "No such image: sha256:abc"},
			`service "api" (task api.2 on node h3): rejected: No such image: sha256:abc`},
		{TaskError{Service: "api", Slot: 1, State: "pending", Err: "no suitable node (scheduling constraints not satisfied on 3 nodes)"},
			`service "api" (task api.1): pending: no suitable node (scheduling constraints not satisfied on 3 nodes)`},
		{TaskError{Service: "agent", Node: "h6", State: "failed", Err: "exit code 1"},
			`service "agent" (task on node h6): failed: exit code 1`},
		{TaskError{Service: "web", State: "update paused"}, `service "web": update paused`},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestNodeNames(t *testing.T) {
	got := NodeNames([]swarm.Node{
		{ID: "n1", Spec: swarm.NodeSpec{Annotations: swarm.Annotations{Labels: map[string]string{labels.Host: "h5"}}},
			Description: swarm.NodeDescription{Hostname: "box5"}},
		{ID: "n2", Description: swarm.NodeDescription{Hostname: "box6"}},
	})
	want := map[string]string{"n1": "h5", "n2": "box6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NodeNames = %v, want %v", got, want)
	}
	if got := nodeName(want, "abcdefghijklmnopqrstuvwxy"); got != "abcdefghijkl" {
		t.Errorf("unnamed node shows %q, want its short ID", got)
	}
}

func TestComposeName(t *testing.T) {
	s := repSvc("api", 1)
	delete(s.Spec.Labels, labels.Service)
	if got := composeName(s); got != "api" {
		t.Errorf("without the service label: %q", got)
	}
	if !strings.HasPrefix(s.Spec.Name, "p_") {
		t.Fatal("fixture")
	}
}
