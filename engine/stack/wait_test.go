package stack

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// fakeSwarm is a TaskAPI whose state moves on one step per poll: the n-th
// ServiceList call reads step n (the last step repeats).
type fakeSwarm struct {
	mu    sync.Mutex
	steps []fakeState
	polls int
	// taskFilters records each TaskList's filters.
	taskFilters []string
	nodes       []swarm.Node
}

type fakeState struct {
	services []swarm.Service
	tasks    []swarm.Task
}

func (f *fakeSwarm) step() fakeState {
	i := min(f.polls, len(f.steps)) - 1
	return f.steps[max(i, 0)]
}

func (f *fakeSwarm) ServiceList(ctx context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	return withLabel(f.step().services, o.Filters), nil
}

// withLabel is what ServiceList answers for a label filter: the services
// that carry one of its labels (the fakes' filters name one).
func withLabel(svcs []swarm.Service, f filters.Args) []swarm.Service {
	var out []swarm.Service
	for _, s := range svcs {
		for _, l := range f.Get("label") {
			k, v, _ := strings.Cut(l, "=")
			if s.Spec.Labels[k] == v {
				out = append(out, s)
			}
		}
	}
	return out
}

func (f *fakeSwarm) TaskList(ctx context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := o.Filters.Get("service")
	slices.Sort(ids)
	f.taskFilters = append(f.taskFilters, strings.Join(ids, ",")+" up-to-date="+strings.Join(o.Filters.Get("_up-to-date"), ""))
	var out []swarm.Task
	for _, t := range f.step().tasks {
		if slices.Contains(ids, t.ServiceID) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeSwarm) NodeList(ctx context.Context, o swarm.NodeListOptions) ([]swarm.Node, error) {
	return f.nodes, nil
}

func threeNodes() []swarm.Node {
	var ns []swarm.Node
	for id, name := range nodeNamesFixture {
		ns = append(ns, swarm.Node{
			ID:     id,
			Spec:   swarm.NodeSpec{Annotations: swarm.Annotations{Labels: map[string]string{labels.Host: name}}, Availability: swarm.NodeAvailabilityActive},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady},
		})
	}
	return ns
}

// stackOf is the services api (3 replicas) and web (1) in namespace p, and
// a service of another stack.
func stackOf() (api, web, foreign swarm.Service) {
	api, web, foreign = repSvc("api", 3), repSvc("web", 1), repSvc("api", 1)
	foreign.ID = "id-foreign"
	foreign.Spec.Labels = map[string]string{labels.StackNamespace: "q", labels.Service: "api"}
	return api, web, foreign
}

func TestWaitDone(t *testing.T) {
	api, web, foreign := stackOf()
	run, pre := swarm.TaskStateRunning, swarm.TaskStatePreparing
	svcs := []swarm.Service{api, web, foreign}
	f := &fakeSwarm{nodes: threeNodes(), steps: []fakeState{
		{svcs, []swarm.Task{mkTask(api, 1, "n1", pre, 0), mkTask(web, 1, "n2", pre, 0)}},
		{svcs, []swarm.Task{mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", pre, 0), mkTask(web, 1, "n2", run, 0)}},
		{svcs, []swarm.Task{mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", pre, 0), mkTask(web, 1, "n2", run, 0)}},
		{svcs, []swarm.Task{mkTask(api, 1, "n1", run, 0), mkTask(api, 2, "n2", run, 0), mkTask(api, 3, "n3", run, 0), mkTask(web, 1, "n2", run, 0)}},
	}}
	var reports []string
	err := Wait(context.Background(), f, WaitOptions{
		Namespace: "p", Since: since0, Interval: time.Millisecond,
		Report: func(p Progress) { reports = append(reports, describeProgress(p, swarm.ServiceMode{})) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.polls != 4 {
		t.Errorf("done after %d polls, want 4", f.polls)
	}
	want := []string{"api 0/3 running", "web 0/1 running", "api 1/3 running", "web 1/1 running", "api 2/3 running", "api 3/3 running"}
	if !slices.Equal(reports, want) {
		t.Errorf("reports\n got %q\nwant %q", reports, want)
	}
	// One TaskList per poll, for the stack's services only, current spec.
	if got := f.taskFilters[0]; got != "id-api,id-web up-to-date=true" {
		t.Errorf("TaskList filters %q", got)
	}
}

func TestWaitSomeServices(t *testing.T) {
	api, web, _ := stackOf()
	f := &fakeSwarm{nodes: threeNodes(), steps: []fakeState{
		{[]swarm.Service{api, web}, []swarm.Task{mkTask(web, 1, "n2", swarm.TaskStateRunning, 0)}},
	}}
	if err := Wait(context.Background(), f, WaitOptions{Namespace: "p", Services: []string{"web"}, Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	err := Wait(context.Background(), f, WaitOptions{Namespace: "p", Services: []string{"web", "db"}, Interval: time.Millisecond})
	if err == nil || err.Error() != `stack "p" has no service "db"` {
		t.Errorf("missing service: %v", err)
	}
}

func TestWaitFailure(t *testing.T) {
	api, web, _ := stackOf()
	run := swarm.TaskStateRunning
	svcs := []swarm.Service{api, web}
	old := taskWith(mkTask(api, 1, "n1", swarm.TaskStateFailed, -time.Hour), swarm.TaskStateShutdown, "task: non-zero exit (2)")
	rejected := taskWith(mkTask(api, 2, "n3", swarm.TaskStateRejected, time.Second), swarm.TaskStateShutdown, "No such image: sha256:0123")
	crashed := taskWith(mkTask(web, 1, "n2", swarm.TaskStateFailed, time.Second), swarm.TaskStateShutdown, "task: non-zero exit (1)")
	crashedAgain := crashed
	crashedAgain.ID += "-again"
	f := &fakeSwarm{nodes: threeNodes(), steps: []fakeState{
		{svcs, []swarm.Task{old, mkTask(api, 1, "n1", run, 0)}},
		{svcs, []swarm.Task{old, mkTask(api, 1, "n1", run, 0), crashed, crashedAgain, rejected}},
	}}
	err := Wait(context.Background(), f, WaitOptions{Namespace: "p", Since: since0, Interval: time.Millisecond})
	want := `service "api" (task api.2 on node h9): rejected: No such image: sha256:0123` + "\n" +
		`service "web" (task web.1 on node h6): failed: task: non-zero exit (1)`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	var te TaskError
	if !errors.As(err, &te) || te.Service != "api" {
		t.Errorf("errors.As TaskError: %+v", te)
	}
	if f.polls != 2 {
		t.Errorf("failed after %d polls, want 2", f.polls)
	}
}

func TestWaitTimeout(t *testing.T) {
	api, web, _ := stackOf()
	agent := globalSvc("agent")
	web = updating(web, swarm.UpdateStateRollbackStarted, "", since0)
	run := swarm.TaskStateRunning
	f := &fakeSwarm{nodes: threeNodes(), steps: []fakeState{
		{[]swarm.Service{api, web, agent}, []swarm.Task{
			mkTask(api, 1, "n1", run, 0), mkTask(web, 1, "n1", run, 0),
			mkTask(agent, 0, "n1", run, 0), mkTask(agent, 0, "n2", run, 0),
		}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := Wait(ctx, f, WaitOptions{Namespace: "p", Since: since0, Interval: time.Millisecond})
	want := "waiting for services: api 1/3 running, web 1/1 running (rollback started): context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error does not wrap the deadline")
	}
	if f.polls < 2 {
		t.Errorf("%d polls in 30ms at 1ms", f.polls)
	}
}

func TestWaitExpiredBeforeReading(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeSwarm{steps: []fakeState{{}}}
	f.nodes = threeNodes()
	err := Wait(ctx, contextAPI{f}, WaitOptions{Namespace: "p", Services: []string{"web", "api"}})
	want := "waiting for services: api, web: context canceled"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// contextAPI fails every call once ctx is done, as the Docker client does.
type contextAPI struct{ *fakeSwarm }

func (c contextAPI) ServiceList(ctx context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.fakeSwarm.ServiceList(ctx, o)
}

func TestWaitEmptyStack(t *testing.T) {
	f := &fakeSwarm{steps: []fakeState{{}}}
	if err := Wait(context.Background(), f, WaitOptions{Namespace: "p"}); err != nil {
		t.Errorf("an empty stack: %v", err)
	}
}
