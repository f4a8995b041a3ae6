// Package monitor owns the live view of one project on the pool of hosts,
// behind the TUI and alerts: container states followed from Docker's event
// stream (debounced), bounded log buffers, resource samples for the
// containers someone looks at, host reachability, and alerts from state
// changes and x-devorch thresholds, all published on an event.Bus. It
// reads Docker through the hosts and the few functions in Docker, which
// the engine provides; it does not import the engine.
package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/dockerev"
	"github.com/devorch/devorch/engine/event"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/engine/usage"
	"github.com/devorch/devorch/internal/labels"
)

// Docker is what the monitor reads from the hosts beyond their clients:
// listing and log streaming, which the engine owns and hands in.
type Docker struct {
	Hosts []*hosts.Host
	// List returns the project's service containers on h, stopped ones
	// too, no one-offs.
	List func(ctx context.Context, h *hosts.Host, project string) ([]plan.Container, error)
	// Logs streams c's logs with o (Timestamps set) until ctx ends or the
	// stream does, calling line for each line with its stream ("stdout" or
	// "stderr"), Docker's timestamp and its text.
	Logs func(ctx context.Context, c plan.Container, o container.LogsOptions, line func(stream string, ts time.Time, text string)) error
}

// Options tune a Monitor.
type Options struct {
	// LogLines bounds the log ring buffer of each container (default 2000).
	LogLines int
	// StatsInterval is how often a wanted container's resources are read
	// (default 2s). Readings are one-shot: nothing streams while nobody
	// looks.
	StatsInterval time.Duration
	// History is how many samples are kept per container (default 90).
	History int
	// Debounce coalesces bursts of Docker events per container (default 250ms).
	Debounce time.Duration
	// HostInterval is how often hosts are pinged (default 5s).
	HostInterval time.Duration
	// NoLogs disables log following (the plain printer streams its own).
	NoLogs bool
	// FollowLogs follows every running container's logs from the start
	// (else only once WantLogs(true) is called).
	FollowLogs bool
	// GrowthHorizon is how far ahead the memory growth alert looks: it
	// fires when a container's memory, growing steadily, would reach its
	// limit (or the host's memory) within it at the current rate
	// (default 30 minutes).
	GrowthHorizon time.Duration
	// Record, when set, has every running container's resources read
	// (not only the wanted ones) and is given each reading: the usage
	// history (engine/usage) is fed from it.
	Record func(c ContainerState, s Sample)
}

// LogLine is one line a container wrote.
type LogLine struct {
	Time      time.Time
	Container string
	Service   string
	Replica   int
	Stream    string
	Text      string
}

// ContainerState is what the monitor knows of one container.
type ContainerState struct {
	plan.Container
	StartedAt    time.Time
	FinishedAt   time.Time
	RestartCount int
	OOMKilled    bool
	HealthLog    []HealthProbe
	Env          []string
	Cmd          []string
	Entrypoint   []string
	Mounts       []string
	Samples      []Sample // oldest first, bounded by History
	Rates        Rates    // latest IO rates
	CPULimit     float64  // CPUs (0: none)
	MemLimitSet  uint64   // bytes (0: none)
	Events       []string // recent Docker events, newest last
	// ReservedNanoCPUs and ReservedMemory are what the container reserved
	// (deploy.resources.reservations), from its labels.
	ReservedNanoCPUs, ReservedMemory int64
	// Placement is the scheduler's reason for its host ("" with one host).
	Placement string
	// NetworkKinds is each network's kind: "overlay" (one Swarm network
	// across hosts), "bridge", or "link fallback" (a bridge, with
	// dependencies on other hosts reached through cross-host links).
	NetworkKinds map[string]string
}

// HealthProbe is one health check result.
type HealthProbe struct {
	Start    time.Time
	ExitCode int
	Output   string
}

// HostState is one host's reachability and capacity.
type HostState struct {
	Name      string
	Endpoint  string
	Reachable bool
	Err       string
	Version   string
	CPUs      int
	Memory    int64
	Checked   time.Time
	// Role, Availability and NodeState are a Swarm node's ("manager",
	// "active", "ready"); empty for a host that is not shown as a node.
	Role, Availability, NodeState string
}

// Alert is something that needs a developer's attention; it stays listed
// until acknowledged.
type Alert struct {
	ID        int
	Time      time.Time
	Service   string
	Container string
	Kind      string // unhealthy, restart-loop, oom, exit, cpu, memory
	Message   string
	Acked     bool
}

// Monitor watches one project on every host and publishes what changes as
// events on a Bus: container states (from Docker's event stream, debounced),
// log lines (bounded ring buffers), resource samples (for the containers
// someone wants), host reachability and alerts. The TUI reads only this.
type Monitor struct {
	d       Docker
	project string
	p       *compose.Project
	o       Options
	bus     *event.Bus
	ctx     context.Context
	cancel  context.CancelFunc

	mu         sync.Mutex
	states     map[string]*ContainerState
	logs       map[string]*ring
	following  map[string]*logFollow
	statsWant  map[string]bool
	statsRun   map[string]context.CancelFunc
	statsEvery time.Duration // 0: Options.StatsInterval
	statsKick  chan struct{} // closed (and replaced) when statsEvery changes
	hostStates map[string]*HostState
	alerts     []Alert
	nextAlert  int
	pending    map[string]*time.Timer
	restarts   map[string][]time.Time
	overSince  map[string]time.Time      // container+kind → when the threshold was first exceeded
	growth     map[string]*usage.History // container → its readings, for the memory trend
	rules      map[string][]alertRule
	logSeq     uint64
	inflight   sync.WaitGroup    // debounced refreshes not yet done
	logsWanted bool              // someone looks at logs: follow them
	drivers    map[string]string // network ID → driver (an ID's driver never changes)
}

// WantLogs starts or stops following the containers' logs. While nobody
// looks at logs they are not streamed (dockerd pays for every line sent);
// turning them on again refills each container's buffer from Docker's own
// log (its last LogLines lines), then follows.
func (m *Monitor) WantLogs(on bool) {
	m.mu.Lock()
	if m.logsWanted == on || (on && m.o.NoLogs) {
		m.mu.Unlock()
		return
	}
	m.logsWanted = on
	var run []*ContainerState
	if on {
		for id, st := range m.states {
			if st.Running() {
				if _, ok := m.following[id]; !ok {
					m.logs[id] = newRing(m.o.LogLines)
					run = append(run, st)
				}
			}
		}
	} else {
		for id, f := range m.following {
			f.cancel()
			delete(m.following, id)
		}
	}
	m.mu.Unlock()
	for _, st := range run {
		m.follow(st.Host, st, true)
	}
}

// Settle waits, up to d, until the Docker events seen so far have been
// applied (debounced refreshes done): an attached run calls it before it
// ends, so the last exits still raise their alerts.
func (m *Monitor) Settle(d time.Duration) {
	done := make(chan struct{})
	go func() {
		m.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// New starts watching project on d's hosts. p may be nil (no compose
// file). The monitor publishes on bus (which the engine's progress events
// may share).
func New(ctx context.Context, d Docker, project string, p *compose.Project, bus *event.Bus, o Options) (*Monitor, error) {
	if o.LogLines <= 0 {
		o.LogLines = 2000
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = 2 * time.Second
	}
	if o.History <= 0 {
		o.History = 90
	}
	if o.Debounce <= 0 {
		o.Debounce = 250 * time.Millisecond
	}
	if o.HostInterval <= 0 {
		o.HostInterval = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Monitor{
		d: d, project: project, p: p, o: o, bus: bus, ctx: ctx, cancel: cancel,
		states: map[string]*ContainerState{}, logs: map[string]*ring{}, following: map[string]*logFollow{},
		statsWant: map[string]bool{}, statsRun: map[string]context.CancelFunc{}, statsKick: make(chan struct{}), hostStates: map[string]*HostState{},
		pending: map[string]*time.Timer{}, restarts: map[string][]time.Time{}, overSince: map[string]time.Time{},
		rules:      map[string][]alertRule{},
		logsWanted: o.FollowLogs && !o.NoLogs,
	}
	if p != nil {
		for name, s := range p.Services {
			rules, err := parseAlertRules(name, compose.ServiceX(s).Alerts)
			if err != nil {
				cancel()
				return nil, err
			}
			m.rules[name] = rules
		}
	}
	for _, h := range d.Hosts {
		m.hostStates[h.Name] = &HostState{Name: h.Name, Endpoint: h.Endpoint}
		go m.watchHost(h)
	}
	go m.pingHosts()
	return m, nil
}

// Close stops every stream.
func (m *Monitor) Close() { m.cancel() }

// Bus is where the monitor publishes.
func (m *Monitor) Bus() *event.Bus { return m.bus }

func (m *Monitor) publish(ev event.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	m.bus.Publish(ev)
}

// watchHost lists the host's containers of the project, then follows its
// event stream; when the stream breaks (daemon restart), it reconnects.
func (m *Monitor) watchHost(h *hosts.Host) {
	backoff := 500 * time.Millisecond
	for m.ctx.Err() == nil {
		hb := dockerev.Watch(m.ctx, h, m.project)
		ch, unsub := hb.SubscribeAll(1024)
		cs, err := m.d.List(m.ctx, h, m.project)
		if err == nil {
			backoff = 500 * time.Millisecond
			m.setHost(h, true, "")
			seen := map[string]bool{}
			for _, c := range cs {
				seen[c.ID] = true
				m.refresh(h, c.ID)
			}
			m.dropMissing(h.Name, seen)
			m.loop(h, hb, ch)
		} else {
			m.setHost(h, false, err.Error())
		}
		unsub()
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (m *Monitor) loop(h *hosts.Host, hb *dockerev.Hub, ch <-chan events.Message) {
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-hb.Done():
			m.setHost(h, false, "event stream ended: "+errString(hb.Failed()))
			return
		case ev := <-ch:
			if ev.Actor.Attributes[labels.OneOff] == "true" {
				continue
			}
			// Every healthcheck probe is an exec: its events change nothing
			// the monitor shows (health_status events do).
			if strings.HasPrefix(string(ev.Action), "exec_") {
				continue
			}
			m.noteEvent(ev)
			m.debounce(h, ev.Actor.ID, ev.Action == events.ActionDestroy)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

func (m *Monitor) noteEvent(ev events.Message) {
	action := string(ev.Action)
	if strings.HasPrefix(action, "exec_") || action == "top" || action == "attach" || action == "resize" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[ev.Actor.ID]
	if !ok {
		return
	}
	line := fmt.Sprintf("%s %s", time.Unix(0, ev.TimeNano).Format("15:04:05"), action)
	if code := ev.Actor.Attributes["exitCode"]; code != "" {
		line += " (exit " + code + ")"
	}
	st.Events = append(st.Events, line)
	if len(st.Events) > 20 {
		st.Events = st.Events[len(st.Events)-20:]
	}
	if ev.Action == events.ActionRestart || (ev.Action == events.ActionStart && st.State == "restarting") {
		m.restarts[ev.Actor.ID] = append(m.restarts[ev.Actor.ID], time.Now())
	}
}

// debounce coalesces a burst of events on one container into one refresh.
func (m *Monitor) debounce(h *hosts.Host, id string, destroyed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if destroyed {
		if t := m.pending[id]; t != nil {
			if t.Stop() {
				m.inflight.Done()
			}
			delete(m.pending, id)
		}
		go m.remove(id)
		return
	}
	if _, ok := m.pending[id]; ok {
		return
	}
	m.inflight.Add(1)
	m.pending[id] = time.AfterFunc(m.o.Debounce, func() {
		defer m.inflight.Done()
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
		m.refresh(h, id)
	})
}

// refresh re-reads one container and publishes the change.
func (m *Monitor) refresh(h *hosts.Host, id string) {
	insp, err := h.Client.ContainerInspect(m.ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			m.remove(id)
		}
		return
	}
	if insp.Config == nil || insp.Config.Labels[labels.Project] != m.project || insp.Config.Labels[labels.OneOff] == "true" {
		return
	}
	st := stateFromInspect(h, insp)
	st.NetworkKinds = m.networkKinds(h, insp)
	m.mu.Lock()
	old := m.states[id]
	if old != nil {
		st.Samples, st.Rates, st.Events = old.Samples, old.Rates, old.Events
	}
	m.states[id] = st
	running := st.Running()
	_, following := m.following[id]
	wantLogs := m.logsWanted
	if m.o.Record != nil {
		if m.sampledLocked(id) {
			m.startSamplingLocked(id)
		} else if cancel, ok := m.statsRun[id]; ok {
			cancel()
			delete(m.statsRun, id)
		}
	}
	m.mu.Unlock()
	m.checkAlerts(old, st)
	if running && !following && wantLogs {
		m.follow(h, st, old == nil)
	}
	m.publish(event.Event{Kind: event.KindState, Resource: event.ResContainer, Name: st.Name, Host: h.Name, Service: st.Service, Replica: st.Replica, ID: id, Status: st.State, Health: st.Health, ExitCode: st.ExitCode})
}

func stateFromInspect(h *hosts.Host, insp container.InspectResponse) *ContainerState {
	cfg := insp.Config
	st := &ContainerState{Container: plan.Container{
		Host: h, ID: insp.ID, Name: strings.TrimPrefix(insp.Name, "/"), Image: cfg.Image, ImageID: insp.Image,
		Service: cfg.Labels[labels.Service], Hash: cfg.Labels[labels.ConfigHash], Labels: cfg.Labels,
	}}
	fmt.Sscanf(cfg.Labels[labels.Replica], "%d", &st.Replica)
	st.Created, _ = time.Parse(time.RFC3339Nano, insp.Created)
	st.Env, st.Cmd, st.Entrypoint = cfg.Env, cfg.Cmd, cfg.Entrypoint
	if s := insp.State; s != nil {
		st.State, st.ExitCode, st.OOMKilled = s.Status, s.ExitCode, s.OOMKilled
		st.StartedAt, _ = time.Parse(time.RFC3339Nano, s.StartedAt)
		st.FinishedAt, _ = time.Parse(time.RFC3339Nano, s.FinishedAt)
		if s.Health != nil {
			st.Health = string(s.Health.Status)
			for _, l := range s.Health.Log {
				st.HealthLog = append(st.HealthLog, HealthProbe{Start: l.Start, ExitCode: l.ExitCode, Output: strings.TrimSpace(l.Output)})
			}
		}
		st.Status = s.Status
	}
	st.RestartCount = insp.RestartCount
	st.ReservedNanoCPUs, _ = strconv.ParseInt(cfg.Labels[labels.ReserveCPUs], 10, 64)
	st.ReservedMemory, _ = strconv.ParseInt(cfg.Labels[labels.ReserveMemory], 10, 64)
	st.Placement = cfg.Labels[labels.Placement]
	for _, mt := range insp.Mounts {
		src := mt.Name
		if src == "" {
			src = mt.Source
		}
		ro := ""
		if !mt.RW {
			ro = " (ro)"
		}
		st.Mounts = append(st.Mounts, fmt.Sprintf("%s %s → %s%s", mt.Type, src, mt.Destination, ro))
	}
	if insp.NetworkSettings != nil {
		st.Networks = map[string]string{}
		for n, es := range insp.NetworkSettings.Networks {
			if es != nil {
				st.Networks[n] = es.IPAddress
			}
		}
		for port, bs := range insp.NetworkSettings.Ports {
			for _, b := range bs {
				var pub uint16
				fmt.Sscanf(b.HostPort, "%d", &pub)
				st.Ports = append(st.Ports, container.Port{IP: b.HostIP, PrivatePort: uint16(port.Int()), PublicPort: pub, Type: port.Proto()})
			}
		}
	}
	if hc := insp.HostConfig; hc != nil {
		if hc.NanoCPUs > 0 {
			st.CPULimit = float64(hc.NanoCPUs) / 1e9
		} else if hc.CPUQuota > 0 && hc.CPUPeriod > 0 {
			st.CPULimit = float64(hc.CPUQuota) / float64(hc.CPUPeriod)
		}
		if hc.Memory > 0 {
			st.MemLimitSet = uint64(hc.Memory)
		}
	}
	return st
}

func (m *Monitor) remove(id string) {
	m.mu.Lock()
	st, ok := m.states[id]
	delete(m.states, id)
	if f, ok := m.following[id]; ok {
		f.cancel()
		delete(m.following, id)
	}
	if cancel, ok := m.statsRun[id]; ok {
		cancel()
		delete(m.statsRun, id)
	}
	delete(m.growth, id)
	m.mu.Unlock()
	if ok {
		m.publish(event.Event{Kind: event.KindState, Resource: event.ResContainer, Name: st.Name, Host: st.HostName(), Service: st.Service, Replica: st.Replica, ID: id, Status: "removed"})
	}
}

func (m *Monitor) dropMissing(host string, seen map[string]bool) {
	m.mu.Lock()
	var gone []string
	for id, st := range m.states {
		if st.HostName() == host && !seen[id] {
			gone = append(gone, id)
		}
	}
	m.mu.Unlock()
	for _, id := range gone {
		m.remove(id)
	}
}

// logFollow is one log stream of one container.
type logFollow struct{ cancel context.CancelFunc }

// follow streams a container's logs into its ring buffer and the bus.
func (m *Monitor) follow(h *hosts.Host, st *ContainerState, initial bool) {
	ctx, cancel := context.WithCancel(m.ctx)
	m.mu.Lock()
	if _, ok := m.following[st.ID]; ok {
		m.mu.Unlock()
		cancel()
		return
	}
	me := &logFollow{cancel: cancel}
	m.following[st.ID] = me
	r := m.logs[st.ID]
	if r == nil {
		r = newRing(m.o.LogLines)
		m.logs[st.ID] = r
	}
	m.mu.Unlock()
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if initial || r.len() == 0 {
		opts.Tail = fmt.Sprint(m.o.LogLines)
	} else {
		opts.Since = fmt.Sprintf("%d.%09d", st.StartedAt.Unix(), st.StartedAt.Nanosecond())
	}
	// Lines Docker stamped before now are the container's backlog. The
	// stamps are the daemon's clock: on another host with a skewed clock
	// a few lines around the start may be classed wrongly, which only
	// moves them by that skew.
	since := time.Now()
	go func() {
		defer func() {
			m.mu.Lock()
			if m.following[st.ID] == me { // not a newer follow of the same container
				delete(m.following, st.ID)
			}
			m.mu.Unlock()
		}()
		c := st.Container
		_ = m.d.Logs(ctx, c, opts, func(stream string, ts time.Time, text string) {
			line := LogLine{Time: ts, Container: c.Name, Service: c.Service, Replica: c.Replica, Stream: stream, Text: text}
			r.add(line)
			m.publish(event.Event{Kind: event.KindLog, Resource: event.ResContainer, Name: c.Name, Host: c.HostName(), Service: c.Service, Replica: c.Replica, ID: c.ID, Stream: stream, Line: text, Time: ts, Backlog: ts.Before(since)})
		})
	}()
}

// Containers returns a snapshot of every known container, sorted by
// service and replica.
func (m *Monitor) Containers() []ContainerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ContainerState, 0, len(m.states))
	for _, st := range m.states {
		cp := *st
		cp.Samples = append([]Sample(nil), st.Samples...)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Replica != out[j].Replica {
			return out[i].Replica < out[j].Replica
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Logs returns the buffered lines of the containers (all when ids is
// empty), in time order, at most max (0: all).
func (m *Monitor) Logs(ids []string, max int) []LogLine {
	m.mu.Lock()
	var rings []*ring
	if len(ids) == 0 {
		for _, r := range m.logs {
			rings = append(rings, r)
		}
	} else {
		for _, id := range ids {
			if r := m.logs[id]; r != nil {
				rings = append(rings, r)
			}
		}
	}
	m.mu.Unlock()
	var out []LogLine
	for _, r := range rings {
		out = append(out, r.snapshot()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if max > 0 && len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// WantStats says which containers' resources to read; readings for others
// stop.
func (m *Monitor) WantStats(ids []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	m.statsWant = want
	for id, cancel := range m.statsRun {
		if !m.sampledLocked(id) {
			cancel()
			delete(m.statsRun, id)
		}
	}
	for id := range want {
		m.startSamplingLocked(id)
	}
}

// sampledLocked says whether a container's resources are to be read: it
// is wanted, or running while the monitor records every container.
func (m *Monitor) sampledLocked(id string) bool {
	if m.statsWant[id] {
		return true
	}
	st, ok := m.states[id]
	return ok && m.o.Record != nil && st.Running()
}

// startSamplingLocked starts reading a container's resources unless it is
// read already.
func (m *Monitor) startSamplingLocked(id string) {
	st, ok := m.states[id]
	if _, running := m.statsRun[id]; running || !ok {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.statsRun[id] = cancel
	go m.sampleLoop(ctx, st.Host, id)
}

// SetStatsInterval changes how often the wanted containers' resources are
// read (0: Options.StatsInterval); running loops take it at once. A
// glance (the services table) can be served less often than the resource
// view's sparklines: each reading costs dockerd, containerd and the shim.
func (m *Monitor) SetStatsInterval(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d == m.statsEvery {
		return
	}
	m.statsEvery = d
	close(m.statsKick)
	m.statsKick = make(chan struct{})
}

func (m *Monitor) statsTiming() (time.Duration, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.statsEvery
	if d <= 0 {
		d = m.o.StatsInterval
	}
	return d, m.statsKick
}

// sampleLoop reads one container's resources every stats interval with
// one-shot reads and computes rates from consecutive readings.
func (m *Monitor) sampleLoop(ctx context.Context, h *hosts.Host, id string) {
	var prevCPU *container.CPUStats
	var prev *Sample
	first := true
	last := time.Now()
	for {
		// The first reading waits for Docker's own second sample, so that
		// it carries a CPU figure; later ones are one-shot and use ours.
		var resp container.StatsResponseReader
		var err error
		if first {
			resp, err = h.Client.ContainerStats(ctx, id, false)
		} else {
			resp, err = h.Client.ContainerStatsOneShot(ctx, id)
		}
		first = false
		if err == nil {
			var s container.StatsResponse
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err == nil && !s.Read.IsZero() {
				smp := computeSample(&s, prevCPU)
				cpu := s.CPUStats
				prevCPU = &cpu
				var rt Rates
				if prev != nil {
					rt = rates(*prev, smp)
				}

				cur := smp
				prev = &cur
				m.addSample(id, smp, rt, prev != nil)
			}
		}
		if !m.waitStats(ctx, last) {
			return
		}
		last = time.Now()
	}
}

// waitStats waits until one stats interval after last; an interval that
// changes meanwhile applies to the wait in progress. False when ctx ends.
func (m *Monitor) waitStats(ctx context.Context, last time.Time) bool {
	for {
		every, kick := m.statsTiming()
		t := time.NewTimer(time.Until(last.Add(every)))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-kick:
			t.Stop()
		case <-t.C:
			return true
		}
	}
}

func (m *Monitor) addSample(id string, s Sample, r Rates, _ bool) {
	m.mu.Lock()
	st, ok := m.states[id]
	if !ok {
		m.mu.Unlock()
		return
	}
	st.Samples = append(st.Samples, s)
	if len(st.Samples) > m.o.History {
		st.Samples = st.Samples[len(st.Samples)-m.o.History:]
	}
	st.Rates = r
	cp := *st
	m.mu.Unlock()
	m.checkThresholds(&cp, s)
	m.checkGrowth(&cp, s)
	if m.o.Record != nil {
		m.o.Record(cp, s)
	}
	m.publish(event.Event{Kind: event.KindStats, Resource: event.ResContainer, Name: cp.Name, Host: cp.HostName(), Service: cp.Service, Replica: cp.Replica, ID: id,
		Stats: &event.Stats{CPUPercent: s.CPUPercent, MemUsage: s.MemUsage, MemLimit: s.MemLimit, NetRx: s.NetRx, NetTx: s.NetTx, BlockRead: s.BlockRead, BlockWrite: s.BlockWrite, Pids: s.Pids, SampledAt: s.Time, OnlineCPUs: s.OnlineCPUs}})
}

// Hosts returns every host's last known state.
func (m *Monitor) Hosts() []HostState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []HostState
	for _, h := range m.hostStates {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *Monitor) setHost(h *hosts.Host, ok bool, msg string) {
	m.mu.Lock()
	hs := m.hostStates[h.Name]
	changed := hs.Reachable != ok || hs.Checked.IsZero()
	hs.Reachable, hs.Err, hs.Checked = ok, msg, time.Now()
	m.mu.Unlock()
	if changed {
		status := "reachable"
		if !ok {
			status = "unreachable"
		}
		m.publish(event.Event{Kind: event.KindHost, Host: h.Name, Status: status, Detail: msg})
	}
}

// pingHosts refreshes each host's reachability and capacity.
func (m *Monitor) pingHosts() {
	t := time.NewTicker(m.o.HostInterval)
	defer t.Stop()
	for {
		for _, h := range m.d.Hosts {
			info, err := h.Info(m.ctx, m.o.HostInterval/2)
			if err != nil {
				m.setHost(h, false, err.Error())
				continue
			}
			m.mu.Lock()
			hs := m.hostStates[h.Name]
			hs.Version, hs.CPUs, hs.Memory = info.ServerVersion, info.NCPU, info.MemTotal
			m.mu.Unlock()
			m.setHost(h, true, "")
		}
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ring is a bounded buffer of log lines.
type ring struct {
	mu    sync.Mutex
	lines []LogLine
	start int
	n     int
}

func newRing(size int) *ring { return &ring{lines: make([]LogLine, size)} }

func (r *ring) add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < len(r.lines) {
		r.lines[(r.start+r.n)%len(r.lines)] = l
		r.n++
		return
	}
	r.lines[r.start] = l
	r.start = (r.start + 1) % len(r.lines)
}

func (r *ring) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *ring) snapshot() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]LogLine, r.n)
	for i := 0; i < r.n; i++ {
		out[i] = r.lines[(r.start+i)%len(r.lines)]
	}
	return out
}

// networkKinds is the kind of each of a container's networks, from the
// network's driver (inspected once per network) and the container's
// cross-host links.
func (m *Monitor) networkKinds(h *hosts.Host, insp container.InspectResponse) map[string]string {
	if insp.NetworkSettings == nil {
		return nil
	}
	out := map[string]string{}
	for name, es := range insp.NetworkSettings.Networks {
		if es == nil {
			continue
		}
		m.mu.Lock()
		driver, known := m.drivers[es.NetworkID]
		m.mu.Unlock()
		if !known {
			n, err := h.Client.NetworkInspect(m.ctx, es.NetworkID, network.InspectOptions{})
			if err != nil {
				continue
			}
			driver = n.Driver
			m.mu.Lock()
			if m.drivers == nil {
				m.drivers = map[string]string{}
			}
			m.drivers[es.NetworkID] = driver
			m.mu.Unlock()
		}
		out[name] = NetworkKind(driver, insp.Config != nil && insp.Config.Labels[labels.Links] != "")
	}
	return out
}

// NetworkKind names a network's kind for a container on it: its driver,
// but a bridge whose container is linked to other hosts is the link
// fallback.
func NetworkKind(driver string, linked bool) string {
	if driver == "bridge" && linked {
		return "link fallback"
	}
	return driver
}
