package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/docker/docker/api/types/container"
	"github.com/muesli/termenv"

	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/usage"
)

// fixedNow is the clock of every test: time-dependent fields (uptime,
// ages) are stable.
var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testNow() time.Time { return fixedNow }

// fakeBackend is a Backend with fixed data; it records what it is asked.
type fakeBackend struct {
	mu         sync.Mutex
	project    string
	services   []ServiceInfo
	containers []engine.ContainerState
	logs       []engine.LogLine
	hosts      []engine.HostState
	alerts     []engine.Alert
	images     []engine.ImageEntry
	placement  map[string]string

	events chan engine.Event

	calls     []string
	wanted    [][]string
	every     []time.Duration
	errs      map[string]error // by verb
	shellErr  error
	logsCalls int
	usage     UsageSource // nil: no usage history, as on a Swarm
}

func (f *fakeBackend) Project() string { return f.project }
func (f *fakeBackend) Services() []ServiceInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ServiceInfo(nil), f.services...)
}
func (f *fakeBackend) Containers() []engine.ContainerState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.ContainerState(nil), f.containers...)
}
func (f *fakeBackend) Logs(ids []string, max int) []engine.LogLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logsCalls++
	want := map[string]bool{}
	for _, id := range ids {
		for _, c := range f.containers {
			if c.ID == id {
				want[c.Name] = true
			}
		}
	}
	var out []engine.LogLine
	for _, l := range f.logs {
		if len(ids) == 0 || want[l.Container] {
			out = append(out, l)
		}
	}
	if max > 0 && len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}
func (f *fakeBackend) WantStats(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wanted = append(f.wanted, append([]string(nil), ids...))
}
func (f *fakeBackend) StatsEvery(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.every = append(f.every, d)
}
func (f *fakeBackend) Hosts() []engine.HostState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.HostState(nil), f.hosts...)
}
func (f *fakeBackend) Alerts(all bool) []engine.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Alert
	for _, a := range f.alerts {
		if all || !a.Acked {
			out = append(out, a)
		}
	}
	return out
}
func (f *fakeBackend) Ack(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("ack %d", id))
	for i := range f.alerts {
		if id == 0 || f.alerts[i].ID == id {
			f.alerts[i].Acked = true
		}
	}
}
func (f *fakeBackend) Subscribe(int) (<-chan engine.Event, func()) {
	return f.events, func() {}
}
func (f *fakeBackend) Placement(c engine.ContainerState) string { return f.placement[c.Name] }
func (f *fakeBackend) Images(context.Context) ([]engine.ImageEntry, error) {
	return f.images, f.errs["images"]
}
func (f *fakeBackend) act(verb, service string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, verb+" "+service)
	return f.errs[verb]
}
func (f *fakeBackend) Restart(_ context.Context, s string) error  { return f.act("restart", s) }
func (f *fakeBackend) Stop(_ context.Context, s string) error     { return f.act("stop", s) }
func (f *fakeBackend) Start(_ context.Context, s string) error    { return f.act("start", s) }
func (f *fakeBackend) Recreate(_ context.Context, s string) error { return f.act("recreate", s) }
func (f *fakeBackend) Rebuild(_ context.Context, s string) error  { return f.act("rebuild", s) }
func (f *fakeBackend) Scale(_ context.Context, s string, n int) error {
	return f.act("scale", fmt.Sprintf("%s=%d", s, n))
}
func (f *fakeBackend) Shell(_ context.Context, s string, replica int) (*exec.Cmd, error) {
	if err := f.act("shell", fmt.Sprintf("%s-%d", s, replica)); err != nil {
		return nil, err
	}
	if f.shellErr != nil {
		return nil, f.shellErr
	}
	return exec.Command("true"), nil
}

func (f *fakeBackend) WantLogs(bool) {}

func (f *fakeBackend) Recommendation(service string) (usage.Recommendation, bool) {
	if f.usage == nil {
		return usage.Recommendation{}, false
	}
	return f.usage.Recommend(service)
}

func (f *fakeBackend) WriteTune(_ context.Context, services []string) (string, error) {
	if err := f.act("tune", strings.Join(services, ",")); err != nil {
		return "", err
	}
	if f.usage == nil {
		return "", errors.New("no usage history")
	}
	return f.usage.Write(services)
}

// fakeUsage is a UsageSource with fixed recommendations; it records what
// it is asked to write.
type fakeUsage struct {
	mu     sync.Mutex
	recs   map[string]usage.Recommendation
	path   string
	err    error
	writes [][]string
}

func (u *fakeUsage) Recommend(service string) (usage.Recommendation, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, ok := u.recs[service]
	return r, ok
}

func (u *fakeUsage) Write(services []string) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.writes = append(u.writes, services)
	if u.err != nil {
		return "", u.err
	}
	return u.path, nil
}

// newFakeUsage recommends for api (enough history, one warning) and web
// (too little); the numbers are what usage.Recommend gives such a history.
func newFakeUsage() *fakeUsage {
	return &fakeUsage{
		path: "/src/shop/compose.tune.yaml",
		recs: map[string]usage.Recommendation{
			"api": {
				Service: "api", Samples: 1800, Span: 30 * time.Minute, Enough: true, Why: "1800 samples over 30m",
				CPUP95: 14.2, CPUPeak: 31.5, MemP99: 48*mib + 512*kib, MemPeak: 51 * mib,
				ReserveCPUs: 0.2, ReserveMemory: 64 * mib, LimitCPUs: 0.5, LimitMemory: 96 * mib,
				Warnings: []string{"reserves 256MiB of memory but uses 48.5MiB at p99"},
			},
			"web": {Service: "web", Samples: 12, Span: 22 * time.Second, Why: "too little history"},
		},
	}
}

func (f *fakeBackend) SetWatch(on bool) (bool, error) {
	if err := f.act("watch", fmt.Sprint(on)); err != nil {
		return false, err
	}
	return on, nil
}

func (f *fakeBackend) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const (
	kib = 1024
	mib = 1024 * kib
	gib = 1024 * mib
)

// samples makes n samples ending a second before now, 2 s apart.
func samples(n int, cpu float64, mem, limit uint64) []engine.Sample {
	out := make([]engine.Sample, n)
	for i := range out {
		t := fixedNow.Add(-time.Second - time.Duration(n-1-i)*2*time.Second)
		wave := float64((i*7)%10) / 10
		out[i] = engine.Sample{
			Time: t, CPUPercent: cpu * (0.5 + wave), OnlineCPUs: 8,
			MemUsage: mem - uint64(float64(mem)*0.2*wave), MemLimit: limit,
			NetRx: uint64(i * i * 1500), NetTx: uint64(i * 800), BlockRead: uint64(i * 4096), BlockWrite: uint64(i * i * 512), Pids: 5,
		}
	}
	return out
}

func ctr(name, svc string, replica int, host, state, health string, started time.Duration) engine.ContainerState {
	c := engine.ContainerState{Container: engine.Container{
		ID: "id-" + name, Name: name, Service: svc, Replica: replica, State: state, Health: health,
		Image: "dvt/" + svc + ":latest", ImageID: "sha256:0123456789abcdef" + svc,
		Labels:   map[string]string{"dev.devorch.host": host},
		Networks: map[string]string{"dvt_default": "172.18.0." + fmt.Sprint(10+replica+len(svc))},
	}}
	c.NetworkKinds = map[string]string{"dvt_default": "overlay"}
	if state == "running" {
		c.StartedAt = fixedNow.Add(-started)
	}
	return c
}

// newFake is the stack the goldens show: six services on two hosts,
// healthy, unhealthy, exited and not created.
func newFake() *fakeBackend {
	api := ctr("dvt-api-1", "api", 1, "local", "running", "healthy", 2*time.Hour+3*time.Minute)
	api.Ports = []container.Port{{PublicPort: 8080, PrivatePort: 80, Type: "tcp"}}
	api.Samples = samples(30, 12.5, 45*mib, 512*mib)
	api.MemLimitSet = 512 * mib
	api.Rates = engine.Rates{NetRx: 2048, NetTx: 512, BlockRead: 0, BlockWrite: 4096}
	api.Env = []string{"PATH=/usr/local/bin:/usr/bin", "API_TOKEN=abc123", "DB_PASSWORD=hunter2", "LOG_LEVEL=debug", "AWS_ACCESS_KEY_ID=AKIA", "EMPTY_SECRET="}
	api.Cmd = []string{"/testapp", "serve", "--port", "80"}
	api.Mounts = []string{"volume dvt_data → /data", "bind /src/config → /etc/app (ro)"}
	api.HealthLog = []engine.HealthProbe{
		{Start: fixedNow.Add(-90 * time.Second), ExitCode: 0, Output: "ok"},
		{Start: fixedNow.Add(-60 * time.Second), ExitCode: 1, Output: "connection refused"},
		{Start: fixedNow.Add(-30 * time.Second), ExitCode: 0, Output: "ok"},
	}
	api.Events = []string{"09:56:57 create", "09:56:58 start", "11:59:30 health_status: healthy"}

	cache := ctr("dvt-cache-1", "cache", 1, "b", "running", "unhealthy", 15*time.Minute)
	cache.Samples = samples(30, 3.2, 12*mib, 8*gib)
	cache.RestartCount = 1
	cache.Rates = engine.Rates{NetRx: 100, NetTx: 100}

	db := ctr("dvt-db-1", "db", 1, "local", "running", "", 3*time.Hour)
	db.Ports = []container.Port{{PublicPort: 5432, PrivatePort: 5432, Type: "tcp"}, {PublicPort: 5432, PrivatePort: 5432, Type: "tcp", IP: "::"}}
	db.Samples = samples(30, 1.1, 210*mib, gib)
	db.MemLimitSet = gib

	web1 := ctr("dvt-web-1", "web", 1, "local", "running", "", 26*time.Hour)
	web1.Ports = []container.Port{{PublicPort: 80, PrivatePort: 8000, Type: "tcp"}, {PublicPort: 5353, PrivatePort: 53, Type: "udp"}}
	web1.Samples = samples(30, 25, 80*mib, 16*gib)
	web2 := ctr("dvt-web-2", "web", 2, "b", "running", "starting", 26*time.Hour)
	web2.Samples = samples(30, 30, 82*mib, 8*gib)

	worker := ctr("dvt-worker-1", "worker", 1, "local", "exited", "", 0)
	worker.ExitCode = 1
	worker.RestartCount = 4
	worker.FinishedAt = fixedNow.Add(-5 * time.Minute)

	f := &fakeBackend{
		project: "dvt-shop",
		services: []ServiceInfo{
			{Name: "api", Image: "dvt/api:latest", HasBuild: true, Scale: 1, ReservedCPUs: 0.5, ReservedMemory: 256 * mib},
			{Name: "cache", Image: "redis:7", Scale: 1},
			{Name: "db", Image: "postgres:16", Scale: 1, ReservedCPUs: 1, ReservedMemory: gib},
			{Name: "migrate", Image: "dvt/api:latest", Scale: 0},
			{Name: "web", Image: "dvt/web:latest", HasBuild: true, Scale: 2},
			{Name: "worker", Image: "dvt/api:latest", HasBuild: true, Scale: 1},
		},
		containers: []engine.ContainerState{api, cache, db, web1, web2, worker},
		hosts: []engine.HostState{
			{Name: "b", Endpoint: "tcp://10.99.0.2:2375", Reachable: true, Version: "28.5.2", CPUs: 4, Memory: 8 * gib, Checked: fixedNow},
			{Name: "local", Endpoint: "unix:///var/run/docker.sock", Reachable: true, Version: "28.5.2", CPUs: 8, Memory: 16 * gib, Checked: fixedNow},
		},
		alerts: []engine.Alert{
			{ID: 1, Time: fixedNow.Add(-5 * time.Minute), Service: "worker", Container: "dvt-worker-1", Kind: "exit", Message: "dvt-worker-1 exited with code 1"},
			{ID: 2, Time: fixedNow.Add(-2 * time.Minute), Service: "cache", Container: "dvt-cache-1", Kind: "unhealthy", Message: "dvt-cache-1 turned unhealthy: PING timed out"},
		},
		images: []engine.ImageEntry{
			{Container: "dvt-api-1", Host: "local", Repository: "dvt/api", Tag: "latest", ID: "sha256:aaaaaaaaaaaa1111", Size: 12_300_000, Created: fixedNow.Add(-3 * time.Hour), Built: true},
			{Container: "dvt-worker-1", Host: "local", Repository: "dvt/api", Tag: "latest", ID: "sha256:aaaaaaaaaaaa1111", Size: 12_300_000, Created: fixedNow.Add(-3 * time.Hour), Built: true},
			{Container: "dvt-cache-1", Host: "b", Repository: "redis", Tag: "7", ID: "sha256:bbbbbbbbbbbb2222", Size: 117_000_000, Created: fixedNow.Add(-40 * 24 * time.Hour)},
			{Container: "dvt-db-1", Host: "local", Repository: "postgres", Tag: "16", ID: "sha256:cccccccccccc3333", Size: 432_000_000, Created: fixedNow.Add(-12 * 24 * time.Hour)},
			{Container: "dvt-web-1", Host: "local", Repository: "dvt/web", Tag: "latest", ID: "sha256:dddddddddddd4444", Size: 8_100_000, Created: fixedNow.Add(-20 * time.Minute), Built: true},
			{Container: "dvt-web-2", Host: "b", Repository: "dvt/web", Tag: "latest", ID: "sha256:dddddddddddd4444", Size: 8_100_000, Created: fixedNow.Add(-20 * time.Minute), Built: true},
		},
		placement: map[string]string{"dvt-cache-1": "spread: fewest containers of cache (0 vs 1 on local)"},
		events:    make(chan engine.Event, 1024),
		errs:      map[string]error{},
	}
	names := []struct{ c, s string }{{"dvt-api-1", "api"}, {"dvt-web-1", "web"}, {"dvt-db-1", "db"}, {"dvt-web-2", "web"}, {"dvt-cache-1", "cache"}}
	msgs := []string{
		"GET /healthz 200 0.4ms",
		"listening on :80",
		"checkpoint starting: time",
		"ERROR upstream timed out while reading response header from upstream, client: 172.18.0.1, request: \"GET /api/orders?page=2 HTTP/1.1\"",
		"Ready to accept connections tcp",
		"GET /api/orders 200 12.1ms",
	}
	for i := 0; i < 40; i++ {
		n := names[i%len(names)]
		rep := 1
		if n.c == "dvt-web-2" {
			rep = 2
		}
		f.logs = append(f.logs, engine.LogLine{
			Time: fixedNow.Add(-time.Duration(40-i) * 1500 * time.Millisecond), Container: n.c, Service: n.s, Replica: rep,
			Stream: "stdout", Text: fmt.Sprintf("%s (#%d)", msgs[i%len(msgs)], i),
		})
	}
	return f
}

// testTheme renders without colour so that goldens are plain text.
func testTheme() Theme {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return NewTheme(r)
}

func newTestModel(t testing.TB, b Backend, w, h int) *Model {
	t.Helper()
	m := newModel(b, config{theme: testTheme(), now: testNow})
	t.Cleanup(m.close)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// keyMsg turns "enter", "ctrl+c", "x" ... into a key press.
func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// press sends keys one by one and runs the commands they return, as the
// program would (commands that do not finish quickly, such as ticks and
// the subscription, are dropped).
func press(t testing.TB, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if len(k) > 1 && k != "enter" && k != "esc" && k != "up" && k != "down" && k != "tab" && k != "ctrl+c" && k != "backspace" {
			for _, r := range k {
				send(t, m, keyMsg(string(r)))
			}
			continue
		}
		send(t, m, keyMsg(k))
	}
}

func send(t testing.TB, m *Model, msg tea.Msg) {
	t.Helper()
	_, cmd := m.Update(msg)
	drain(t, m, cmd)
}

func drain(t testing.TB, m *Model, cmd tea.Cmd) {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		done := make(chan tea.Msg, 1)
		go func() { done <- c() }()
		var msg tea.Msg
		select {
		case msg = <-done:
		case <-time.After(200 * time.Millisecond):
			continue
		}
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tea.QuitMsg:
			return
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
}

var errBoom = errors.New("boom: daemon said no")
