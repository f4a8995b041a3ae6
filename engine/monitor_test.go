package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// upProject loads a compose file and runs up on the local daemon.
func upProject(t *testing.T, yaml string) (*Engine, *compose.Project) {
	t.Helper()
	cli := testenv.Images(t)
	name := testenv.NewProject(t, cli)
	dir := testenv.WriteFiles(t, "", map[string]string{"compose.yaml": yaml})
	p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	e := localEngine(t)
	if _, err := e.Up(context.Background(), p, UpOptions{Wait: true, WaitTimeout: eventDeadline}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Down(context.Background(), p.Name, p, DownOptions{Volumes: true}) })
	return e, p
}

// localEngine is an engine on the default host alone.
func localEngine(t *testing.T) *Engine {
	t.Helper()
	def, err := hosts.Default(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := hosts.Open([]hosts.Spec{def}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return New(pool, nil)
}

// eventDeadline bounds a wait for an event: generous, since a busy machine
// is slow, not wrong.
const eventDeadline = 2 * time.Minute

// waitEvent reads events until one matches or the time is up.
func waitEvent(t *testing.T, ch <-chan Event, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(eventDeadline)
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", what, eventDeadline)
		}
	}
}

func TestMonitorFollowsStateLogsStatsAndAlerts(t *testing.T) {
	e, p := upProject(t, `
services:
  web:
    image: devorch-test/testapp:latest
    environment: {LOG_RATE: "10", LOG_LINE: "web", UNHEALTHY_FILE: /tmp/unhealthy}
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 500ms, retries: 2}
  worker:
    image: devorch-test/testapp:latest
    x-devorch:
      alerts: {memory: "0.0001%/1s"}
`)
	bus := NewBus()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, unsub := bus.Subscribe(4096)
	defer unsub()
	m, err := e.NewMonitor(ctx, p.Name, p, bus, MonitorOptions{StatsInterval: 300 * time.Millisecond, LogLines: 50, FollowLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitEvent(t, ch, "state of worker", func(ev Event) bool { return ev.Kind == KindState && ev.Service == "worker" })
	waitEvent(t, ch, "log line from web", func(ev Event) bool { return ev.Kind == KindLog && strings.Contains(ev.Line, "web tick") })
	cs := m.Containers()
	if len(cs) != 2 || cs[0].Service != "web" || cs[1].Service != "worker" {
		t.Fatalf("containers: %+v", cs)
	}
	web, worker := cs[0], cs[1]
	if web.Health != "healthy" || web.State != "running" || len(web.HealthLog) == 0 {
		t.Errorf("web state %q health %q", web.State, web.Health)
	}
	// The ring buffer is bounded: once more lines than it holds have come.
	for n := 0; n <= 50; n++ {
		waitEvent(t, ch, "log line from web", func(ev Event) bool { return ev.Kind == KindLog && ev.ID == web.ID })
	}
	if n := len(m.Logs([]string{web.ID}, 0)); n == 0 || n > 50 {
		t.Errorf("web log ring holds %d lines, want 1..50", n)
	}
	// Stats only for the containers asked for.
	m.WantStats([]string{worker.ID})
	st := waitEvent(t, ch, "stats", func(ev Event) bool { return ev.Kind == KindStats })
	if st.ID != worker.ID || st.Stats.MemUsage == 0 {
		t.Errorf("stats event %+v", st)
	}
	// A threshold rule held for its duration raises an alert.
	al := waitEvent(t, ch, "memory alert", func(ev Event) bool { return ev.Kind == KindAlert && ev.Status == "memory" })
	if al.Service != "worker" {
		t.Errorf("alert %+v", al)
	}
	// A longer interval applies to the loop already running: after the
	// change at most the one reading already in flight lands, and going
	// back to the default takes effect at once. The readings' own pace
	// (300 ms apart, plus however long a reading takes on this machine)
	// sets how long to watch: long enough for four more of them.
	isStats := func(ev Event) bool { return ev.Kind == KindStats }
	a := waitEvent(t, ch, "a stats reading", isStats).Stats.SampledAt
	pace := waitEvent(t, ch, "the next stats reading", isStats).Stats.SampledAt.Sub(a)
	watch := max(3*time.Second, 4*pace)
	changed := time.Now()
	m.SetStatsInterval(time.Hour)
	var late []string
	quiet := time.After(watch)
	for waiting := true; waiting; {
		select {
		case ev := <-ch:
			if ev.Kind == KindStats && ev.Stats.SampledAt.After(changed) {
				late = append(late, ev.Stats.SampledAt.Format(time.StampMilli))
			}
		case <-quiet:
			waiting = false
		}
	}
	if len(late) > 1 {
		t.Fatalf("%d stats readings (sampled %v) in %v after the interval became an hour (they came %v apart before), want at most the one in flight", len(late), late, watch, pace)
	}
	m.SetStatsInterval(0)
	kicked := time.Now()
	waitEvent(t, ch, "stats after the interval came back", func(ev Event) bool { return ev.Kind == KindStats && ev.Stats.SampledAt.After(kicked) })
	if d := time.Since(kicked); d > time.Minute {
		t.Errorf("the default interval took %v to apply (the hour's wait was not cut short)", d)
	}
	// Turning unhealthy raises an alert.
	if _, code := execIn(t, e, web, "/testapp", "write", "/tmp/unhealthy", "1"); code != 0 {
		t.Fatal("write failed")
	}
	un := waitEvent(t, ch, "unhealthy alert", func(ev Event) bool { return ev.Kind == KindAlert && ev.Status == "unhealthy" })
	if un.Service != "web" || !strings.Contains(un.Detail, "503") {
		t.Errorf("unhealthy alert %+v", un)
	}
	// A non-zero exit raises an alert.
	cli := web.Host.Client
	if err := cli.ContainerKill(ctx, worker.ID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	ex := waitEvent(t, ch, "exit alert", func(ev Event) bool { return ev.Kind == KindAlert && ev.Status == "exit" })
	if !strings.Contains(ex.Detail, "exited with code 137") {
		t.Errorf("exit alert %q", ex.Detail)
	}
	if n := len(m.Alerts(false)); n < 3 {
		t.Errorf("%d open alerts", n)
	}
	m.Ack(0)
	if n := len(m.Alerts(false)); n != 0 {
		t.Errorf("%d open alerts after ack", n)
	}
	// Someone else removes a container: it disappears.
	if err := cli.ContainerRemove(ctx, worker.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "removal", func(ev Event) bool { return ev.Kind == KindState && ev.ID == worker.ID && ev.Status == "removed" })
	if cs := m.Containers(); len(cs) != 1 {
		t.Errorf("after docker rm: %d containers", len(cs))
	}
	// Someone else starts a container with the project's labels: it appears.
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: "devorch-test/testapp:latest", Labels: map[string]string{"dev.devorch.project": p.Name, "dev.devorch.service": "extra", "dev.devorch.replica": "1"}}, nil, nil, nil, p.Name+"-extra-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "foreign start", func(ev Event) bool { return ev.Kind == KindState && ev.ID == created.ID && ev.Status == "running" })
	hs := m.Hosts()
	if len(hs) != 1 || !hs[0].Reachable || hs[0].CPUs == 0 {
		t.Errorf("hosts %+v", hs)
	}
}

// execIn runs a command in a container through the engine's host client.
func execIn(t *testing.T, e *Engine, c ContainerState, cmd ...string) (string, int) {
	t.Helper()
	var out strings.Builder
	code, err := e.Exec(context.Background(), c.Labels["dev.devorch.project"], ExecOptions{Service: c.Service, Index: c.Replica, Cmd: cmd}, Streams{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// The monitor survives its host's daemon restarting: it reports the host
// unreachable, reconnects, and shows the containers again. It uses the
// test host h4, which no other test touches, and restarts its dockerd
// with scripts/testhosts.sh.
func TestMonitorSurvivesDaemonRestart(t *testing.T) {
	h := testenv.HostNamed(t, "h4")
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cli := testenv.Images(t)
	name := testenv.NewProject(t, cli)
	dir := testenv.WriteFiles(t, "", map[string]string{"compose.yaml": "services:\n  steady:\n    image: devorch-test/testapp:latest\n    restart: always\n"})
	p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := hosts.Open([]hosts.Spec{{Name: "h4", Endpoint: h.Endpoint, Address: h.Address}}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := New(pool, nil)
	ctx := context.Background()
	if _, err := e.Up(ctx, p, UpOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Down(context.Background(), p.Name, p, DownOptions{}) })
	bus := NewBus()
	ch, unsub := bus.Subscribe(4096)
	defer unsub()
	m, err := e.NewMonitor(ctx, p.Name, p, bus, MonitorOptions{HostInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitEvent(t, ch, "steady running", func(ev Event) bool { return ev.Kind == KindState && ev.Service == "steady" && ev.Status == "running" })
	pidb, err := os.ReadFile("/run/devorch-testhosts/h4.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ch, "h4 unreachable", func(ev Event) bool { return ev.Kind == KindHost && ev.Host == "h4" && ev.Status == "unreachable" })
	for deadline := time.Now().Add(eventDeadline); syscall.Kill(pid, 0) == nil; { // wait until it is really gone
		if time.Now().After(deadline) {
			t.Fatalf("h4's dockerd (pid %d) still runs %s after SIGTERM", pid, eventDeadline)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	// restart, not up N: up stops the hosts above N and takes hosts out
	// of Swarms other tests formed.
	up := exec.Command(filepath.Join(root, "scripts/testhosts.sh"), "restart", "4")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("restart h4: %v\n%s", err, out)
	}
	waitEvent(t, ch, "h4 reachable", func(ev Event) bool { return ev.Kind == KindHost && ev.Host == "h4" && ev.Status == "reachable" })
	waitEvent(t, ch, "steady running again", func(ev Event) bool { return ev.Kind == KindState && ev.Service == "steady" && ev.Status == "running" })
	if cs := m.Containers(); len(cs) != 1 || cs[0].State != "running" {
		t.Errorf("after the restart: %+v", cs)
	}
}
