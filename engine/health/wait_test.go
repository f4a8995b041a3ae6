package health

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// hub is a host's event hub whose events and failure the test makes.
type hub struct {
	events chan struct{}
	ready  chan struct{}
	mu     sync.Mutex
	err    error
}

func newHub() *hub {
	h := &hub{events: make(chan struct{}, 1), ready: make(chan struct{})}
	close(h.ready)
	return h
}

func (h *hub) Subscribe(string) (<-chan struct{}, func()) { return h.events, func() {} }
func (h *hub) Ready() <-chan struct{}                     { return h.ready }
func (h *hub) Failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// api answers each inspect with the next state of states (the last one
// repeats), or with err.
type api struct {
	mu      sync.Mutex
	states  []*container.State
	check   *container.HealthConfig
	err     error
	inspect int
	// first, when set, is closed by the first inspect.
	first chan struct{}
}

func (a *api) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return container.InspectResponse{}, a.err
	}
	st := a.states[min(a.inspect, len(a.states)-1)]
	a.inspect++
	if a.inspect == 1 && a.first != nil {
		close(a.first)
	}
	insp := inspected(st)
	insp.Config.Healthcheck = a.check
	return insp, nil
}

func (a *api) inspects() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inspect
}

// waitResult runs Wait in the background.
func waitResult(ctx context.Context, h Host, cond Condition) <-chan error {
	out := make(chan error, 1)
	go func() { out <- Wait(ctx, h, "c1", "p-db-1", cond) }()
	return out
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
		return nil
	}
}

var (
	starting = &container.State{Status: "running", Running: true, Health: &container.Health{Status: container.Starting}}
	healthy  = &container.State{Status: "running", Running: true, Health: &container.Health{Status: container.Healthy}}
)

func TestWaitMetAtOnce(t *testing.T) {
	a := &api{states: []*container.State{healthy}}
	if err := Wait(context.Background(), Host{Name: "h", Events: newHub(), API: a}, "c1", "p-db-1", Healthy); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadsAgainOnEvent(t *testing.T) {
	hb := newHub()
	a := &api{states: []*container.State{starting, healthy}, first: make(chan struct{})}
	done := waitResult(context.Background(), Host{Name: "h", Events: hb, API: a}, RunningOrHealthy)
	select {
	case <-a.first:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait never inspected the container")
	}
	select {
	case err := <-done:
		t.Fatalf("returned before the event: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	hb.events <- struct{}{}
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if n := a.inspects(); n != 2 {
		t.Errorf("%d inspects, want 2", n)
	}
}

func TestWaitInspectFailureNamesHost(t *testing.T) {
	gone := errors.New("connection refused")
	err := Wait(context.Background(), Host{Name: "far", Events: newHub(), API: &api{err: gone}}, "c1", "p-db-1", Healthy)
	if !errors.Is(err, gone) || err.Error() != `container p-db-1 on host "far": connection refused` {
		t.Errorf("err = %v", err)
	}
}

func TestWaitEventStreamFailed(t *testing.T) {
	hb := newHub()
	hb.err = errors.New(`docker events on host "h": EOF`)
	err := Wait(context.Background(), Host{Name: "h", Events: hb, API: &api{states: []*container.State{starting}}}, "c1", "p-db-1", RunningOrHealthy)
	if err != hb.err {
		t.Errorf("err = %v, want the hub's", err)
	}
}

func TestWaitNotReady(t *testing.T) {
	hb := &hub{ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := &api{states: []*container.State{healthy}}
	if err := Wait(ctx, Host{Name: "h", Events: hb, API: a}, "c1", "p-db-1", Healthy); !errors.Is(err, context.Canceled) || a.inspects() != 0 {
		t.Errorf("err = %v after %d inspects, want cancelled before any", err, a.inspects())
	}
}

// execs counts the healthcheck runs and succeeds from the okFrom-th on.
type execs struct {
	mu     sync.Mutex
	cmds   [][]string
	okFrom int
}

func (e *execs) run(_ context.Context, id string, cmd []string, timeout time.Duration) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cmds = append(e.cmds, cmd)
	if id != "c1" || timeout != 5*time.Second {
		return -1, errors.New("wrong container or timeout")
	}
	if len(e.cmds) >= e.okFrom {
		return 0, nil
	}
	return 1, nil
}

func (e *execs) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.cmds)
}

func TestWaitProbesEarly(t *testing.T) {
	check := &container.HealthConfig{Test: []string{"CMD-SHELL", "pg_isready"}, StartInterval: 10 * time.Millisecond}
	t.Run("healthy: the probe's first success opens the gate", func(t *testing.T) {
		ex := &execs{okFrom: 3}
		a := &api{states: []*container.State{starting}, check: check}
		if err := result(t, waitResult(context.Background(), Host{Name: "h", Events: newHub(), API: a, Exec: ex.run}, Healthy)); err != nil {
			t.Fatal(err)
		}
		if ex.count() != 3 || len(ex.cmds[0]) != 3 || ex.cmds[0][2] != "pg_isready" {
			t.Errorf("ran %q, want /bin/sh -c pg_isready three times", ex.cmds)
		}
	})
	t.Run("running or healthy: no probe", func(t *testing.T) {
		ex := &execs{okFrom: 1}
		a := &api{states: []*container.State{starting}, check: check}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := Wait(ctx, Host{Name: "h", Events: newHub(), API: a, Exec: ex.run}, "c1", "p-db-1", RunningOrHealthy); !errors.Is(err, context.DeadlineExceeded) || ex.count() != 0 {
			t.Errorf("err = %v after %d probes, want the deadline and none", err, ex.count())
		}
	})
	t.Run("DEVORCH_FAST_HEALTH=0: no probe", func(t *testing.T) {
		t.Setenv("DEVORCH_FAST_HEALTH", "0")
		ex := &execs{okFrom: 1}
		a := &api{states: []*container.State{starting}, check: check}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := Wait(ctx, Host{Name: "h", Events: newHub(), API: a, Exec: ex.run}, "c1", "p-db-1", Healthy); !errors.Is(err, context.DeadlineExceeded) || ex.count() != 0 {
			t.Errorf("err = %v after %d probes, want the deadline and none", err, ex.count())
		}
	})
}

func TestStartProbeCommand(t *testing.T) {
	cases := []struct {
		test []string
		want []string // nil: no probe
	}{
		{[]string{"CMD", "curl", "-f", "localhost"}, []string{"curl", "-f", "localhost"}},
		{[]string{"CMD-SHELL", "curl -f localhost || exit 1"}, []string{"/bin/sh", "-c", "curl -f localhost || exit 1"}},
		{[]string{"NONE"}, nil},
		{[]string{"CMD"}, nil},
		{nil, nil},
	}
	for _, c := range cases {
		got := make(chan []string, 1)
		exec := func(_ context.Context, _ string, cmd []string, _ time.Duration) (int, error) {
			got <- cmd
			return 0, nil
		}
		insp := inspected(starting)
		insp.Config.Healthcheck = &container.HealthConfig{Test: c.test}
		ok := startProbe(context.Background(), exec, insp)
		if c.want == nil {
			if ok != nil {
				t.Errorf("%q: a probe, want none", c.test)
			}
			continue
		}
		if ok == nil {
			t.Fatalf("%q: no probe", c.test)
		}
		<-ok
		if cmd := <-got; len(cmd) != len(c.want) || cmd[len(cmd)-1] != c.want[len(c.want)-1] || cmd[0] != c.want[0] {
			t.Errorf("%q: ran %q, want %q", c.test, cmd, c.want)
		}
	}
	insp := inspected(starting)
	insp.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "true"}}
	if startProbe(context.Background(), nil, insp) != nil {
		t.Error("a probe without exec")
	}
}
