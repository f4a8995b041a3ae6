package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/usage"
)

// Backend is everything the TUI reads and does. The monitor's methods are
// in-memory snapshots and may be called from Update; the others do IO and
// are only ever called from tea.Cmds, each with its own context.
type Backend interface {
	// Project is the compose project's name.
	Project() string
	// Services describes the project's services from the compose model
	// (or from the containers when there is no compose file), sorted.
	Services() []ServiceInfo
	Containers() []engine.ContainerState
	Logs(ids []string, max int) []engine.LogLine
	// WantStats says which containers' resources to sample; the others stop.
	WantStats(ids []string)
	// StatsEvery sets how often they are sampled (0: the monitor's
	// default).
	StatsEvery(d time.Duration)
	// WantLogs starts or stops streaming the containers' logs (only the
	// logs view needs them).
	WantLogs(on bool)
	Hosts() []engine.HostState
	Alerts(all bool) []engine.Alert
	Ack(id int)
	// Subscribe is the one event stream the TUI reads.
	Subscribe(buffer int) (<-chan engine.Event, func())
	// Placement is why a container runs on its host ("" when the backend
	// does not know).
	Placement(c engine.ContainerState) string
	// Recommendation is the deploy.resources a service's usage history
	// suggests, with what this session recorded so far (it improves while
	// the TUI is open); false when the backend keeps no history (a Swarm's
	// tasks are not sampled) or has no such service. It does no IO.
	Recommendation(service string) (usage.Recommendation, bool)

	Images(ctx context.Context) ([]engine.ImageEntry, error)
	Restart(ctx context.Context, service string) error
	Stop(ctx context.Context, service string) error
	Start(ctx context.Context, service string) error
	// Recreate is up --force-recreate --no-deps for one service.
	Recreate(ctx context.Context, service string) error
	// Rebuild is up --build --force-recreate --no-deps for one service.
	Rebuild(ctx context.Context, service string) error
	// Scale sets the service's number of replicas.
	Scale(ctx context.Context, service string, replicas int) error
	// Shell checks that a replica has a shell and returns the command that
	// opens one (run with tea.ExecProcess); ErrNoShell when it has none.
	Shell(ctx context.Context, service string, replica int) (*exec.Cmd, error)
	// SetWatch turns hot reload (develop.watch) on or off; its batches
	// arrive as KindWatch events. It reports whether it is now on.
	SetWatch(on bool) (bool, error)
	// WriteTune writes the recommendations of services (none: every
	// service with enough history) as a compose override file and returns
	// its path.
	WriteTune(ctx context.Context, services []string) (string, error)
}

// UsageSource is where EngineBackend gets recommendations and writes the
// override file; usage.Live is one, tests fake it.
type UsageSource interface {
	Recommend(service string) (usage.Recommendation, bool)
	Write(services []string) (string, error)
}

// ErrNoShell says a container's image has no sh (scratch images).
var ErrNoShell = errors.New("the image has no shell (sh)")

// ServiceInfo is what the compose model says about a service.
type ServiceInfo struct {
	Name     string
	Image    string
	HasBuild bool
	Scale    int
	// Reservations (deploy.resources.reservations) per replica: CPUs and
	// bytes, 0 when none.
	ReservedCPUs   float64
	ReservedMemory int64
	// Swarm says the service runs as Swarm tasks (SwarmBackend): Scale is
	// then its desired tasks, Running those that run, and Update its
	// rolling update's status ("updating 2/3", "rollback paused: …"; ""
	// when none).
	Swarm   bool
	Running int
	Update  string
}

// EngineBackend implements Backend with the engine and its monitor; it
// never talks to Docker itself.
type EngineBackend struct {
	e       *engine.Engine
	m       *engine.Monitor
	p       *compose.Project
	project string
	// Exe and GlobalArgs build the shell command: Exe GlobalArgs -p PROJECT
	// exec [--index N] SERVICE sh. Exe defaults to os.Args[0]; GlobalArgs
	// carries flags the child needs to find the same hosts (-f, --host).
	Exe        string
	GlobalArgs []string
	// Reload loads the compose model again for hot reload's compose-file
	// edits (nil: edits to the compose file are not followed).
	Reload func(ctx context.Context) (*compose.Project, error)
	// Usage gives the detail view its recommendations and T its override
	// file (nil: no usage history, and the TUI offers neither).
	Usage UsageSource

	watchMu     sync.Mutex
	watchCancel context.CancelFunc
}

// WantLogs implements Backend.
func (b *EngineBackend) WantLogs(on bool) { b.m.WantLogs(on) }

// SetWatch implements Backend: hot reload runs in the background until
// turned off; its batches and errors arrive on the bus.
func (b *EngineBackend) SetWatch(on bool) (bool, error) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	if !on {
		if b.watchCancel != nil {
			b.watchCancel()
			b.watchCancel = nil
		}
		return false, nil
	}
	if b.watchCancel != nil {
		return true, nil
	}
	if b.p == nil {
		return false, errors.New("hot reload needs the compose file")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.watchCancel = cancel
	go func() {
		err := b.e.Watch(ctx, b.p, engine.WatchOptions{Reload: b.Reload})
		if err != nil && ctx.Err() == nil {
			b.e.Sink(engine.Event{Kind: engine.KindWarning, Detail: "hot reload stopped: " + err.Error()})
		}
		b.watchMu.Lock()
		if b.watchCancel != nil && ctx.Err() == nil {
			b.watchCancel = nil
		}
		b.watchMu.Unlock()
	}()
	return true, nil
}

// NewEngineBackend adapts an engine and the monitor watching project. p may
// be nil (no compose file: recreate, rebuild and scale then fail with a
// clear error). Actions started from the TUI report their progress on the
// monitor's bus, whatever e's own sink is.
func NewEngineBackend(e *engine.Engine, m *engine.Monitor, p *compose.Project, project string) *EngineBackend {
	ae := *e
	ae.Sink = m.Bus().Publish
	return &EngineBackend{e: &ae, m: m, p: p, project: project, Exe: os.Args[0]}
}

// Project implements Backend.
func (b *EngineBackend) Project() string { return b.project }

// Services implements Backend.
func (b *EngineBackend) Services() []ServiceInfo {
	if b.p == nil {
		seen := map[string]int{}
		img := map[string]string{}
		for _, c := range b.m.Containers() {
			seen[c.Service]++
			img[c.Service] = c.Image
		}
		out := make([]ServiceInfo, 0, len(seen))
		for name, n := range seen {
			out = append(out, ServiceInfo{Name: name, Image: img[name], Scale: n})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	out := make([]ServiceInfo, 0, len(b.p.Services))
	for name, s := range b.p.Services {
		si := ServiceInfo{Name: name, Image: s.Image, HasBuild: s.Build != nil, Scale: s.GetScale()}
		if s.Deploy != nil && s.Deploy.Resources.Reservations != nil {
			r := s.Deploy.Resources.Reservations
			si.ReservedCPUs = float64(r.NanoCPUs)
			si.ReservedMemory = int64(r.MemoryBytes)
		}
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Containers implements Backend.
func (b *EngineBackend) Containers() []engine.ContainerState { return b.m.Containers() }

// Logs implements Backend.
func (b *EngineBackend) Logs(ids []string, max int) []engine.LogLine { return b.m.Logs(ids, max) }

// WantStats implements Backend.
func (b *EngineBackend) WantStats(ids []string) { b.m.WantStats(ids) }

// StatsEvery implements Backend.
func (b *EngineBackend) StatsEvery(d time.Duration) { b.m.SetStatsInterval(d) }

// Hosts implements Backend.
func (b *EngineBackend) Hosts() []engine.HostState { return b.m.Hosts() }

// Alerts implements Backend.
func (b *EngineBackend) Alerts(all bool) []engine.Alert { return b.m.Alerts(all) }

// Ack implements Backend.
func (b *EngineBackend) Ack(id int) { b.m.Ack(id) }

// Subscribe implements Backend.
func (b *EngineBackend) Subscribe(buffer int) (<-chan engine.Event, func()) {
	return b.m.Bus().Subscribe(buffer)
}

// Placement implements Backend. The engine does not record placement
// reasons on containers yet.
func (b *EngineBackend) Placement(c engine.ContainerState) string { return c.Placement }

// Images implements Backend.
func (b *EngineBackend) Images(ctx context.Context) ([]engine.ImageEntry, error) {
	imgs, err := b.e.Images(ctx, b.project, nil)
	if err != nil {
		return nil, fmt.Errorf("list images of project %q: %w", b.project, err)
	}
	return imgs, nil
}

// Restart implements Backend.
func (b *EngineBackend) Restart(ctx context.Context, service string) error {
	return b.e.Restart(ctx, b.project, []string{service}, nil)
}

// Stop implements Backend.
func (b *EngineBackend) Stop(ctx context.Context, service string) error {
	return b.e.Stop(ctx, b.project, []string{service}, nil)
}

// Start implements Backend.
func (b *EngineBackend) Start(ctx context.Context, service string) error {
	return b.e.Start(ctx, b.project, b.p, []string{service})
}

func (b *EngineBackend) up(ctx context.Context, what string, o engine.UpOptions) error {
	if b.p == nil {
		return fmt.Errorf("%s needs the compose file: run devorch from the project's directory or with -f", what)
	}
	_, err := b.e.Up(ctx, b.p, o)
	return err
}

// Recreate implements Backend.
func (b *EngineBackend) Recreate(ctx context.Context, service string) error {
	return b.up(ctx, "recreate", engine.UpOptions{Services: []string{service}, NoDeps: true, ForceRecreate: true})
}

// Rebuild implements Backend.
func (b *EngineBackend) Rebuild(ctx context.Context, service string) error {
	return b.up(ctx, "rebuild", engine.UpOptions{Services: []string{service}, NoDeps: true, ForceRecreate: true,
		Images: engine.ImageOptions{Build: true}})
}

// Scale implements Backend.
func (b *EngineBackend) Scale(ctx context.Context, service string, replicas int) error {
	return b.up(ctx, "scale", engine.UpOptions{Services: []string{service}, NoDeps: true,
		Scale: map[string]int{service: replicas}})
}

// Shell implements Backend: it runs `sh -c true` in the replica first, so
// that an image without a shell is reported instead of a failed exec
// flashing by.
func (b *EngineBackend) Shell(ctx context.Context, service string, replica int) (*exec.Cmd, error) {
	return shellCommand(ctx, b.e.Exec, b.Exe, append(append([]string(nil), b.GlobalArgs...), "-p", b.project), b.project, service, replica)
}

// shellCommand checks with run (an exec) that the replica has sh, and
// returns the devorch command line that opens one in it: exe, then args
// (the global flags), then exec [--index N] SERVICE sh.
func shellCommand(ctx context.Context, run func(context.Context, string, engine.ExecOptions, engine.Streams) (int, error), exe string, args []string, project, service string, replica int) (*exec.Cmd, error) {
	var out bytes.Buffer
	code, err := run(ctx, project, engine.ExecOptions{Service: service, Index: replica, Cmd: []string{"sh", "-c", "true"}},
		engine.Streams{Out: io.Discard, Err: &out})
	if err != nil {
		if noShell(err.Error()) {
			return nil, ErrNoShell
		}
		return nil, err
	}
	if code != 0 {
		if code == 126 || code == 127 || noShell(out.String()) {
			return nil, ErrNoShell
		}
		return nil, fmt.Errorf("sh -c true exited %d in %s: %w", code, service, ErrNoShell)
	}
	if exe == "" {
		exe = os.Args[0]
	}
	args = append(args, "exec")
	if replica > 1 {
		args = append(args, "--index", strconv.Itoa(replica))
	}
	args = append(args, service, "sh")
	return exec.Command(exe, args...), nil
}

func noShell(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory")
}

// Recommendation implements Backend.
func (b *EngineBackend) Recommendation(service string) (usage.Recommendation, bool) {
	if b.Usage == nil {
		return usage.Recommendation{}, false
	}
	return b.Usage.Recommend(service)
}

// WriteTune implements Backend.
func (b *EngineBackend) WriteTune(ctx context.Context, services []string) (string, error) {
	if b.Usage == nil {
		return "", errors.New("no usage history: neither XDG_STATE_HOME nor HOME is set, or there is no compose file")
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return b.Usage.Write(services)
}
