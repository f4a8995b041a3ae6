package engine

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/monitor"
)

// NewMonitor starts watching project. p may be nil (no compose file). The
// monitor publishes on bus (which the engine's progress events may share).
func (e *Engine) NewMonitor(ctx context.Context, project string, p *compose.Project, bus *Bus, o MonitorOptions) (*Monitor, error) {
	return monitor.New(ctx, monitor.Docker{Hosts: e.Pool.Hosts, List: monitorList, Logs: e.monitorLogs}, project, p, bus, o)
}

// monitorList is what the monitor shows of a host: the project's service
// containers, stopped ones too.
func monitorList(ctx context.Context, h *hosts.Host, project string) ([]Container, error) {
	return listHost(ctx, h, project, listOptions{all: true, skipOneOffs: true})
}

// monitorLogs streams c's logs to line, each split into Docker's timestamp
// and its text.
func (e *Engine) monitorLogs(ctx context.Context, c Container, o container.LogsOptions, line func(stream string, ts time.Time, text string)) error {
	sub := &Engine{Pool: e.Pool, Sink: func(ev Event) {
		ts, text := splitTimestamp(ev.Line)
		line(ev.Stream, ts, text)
	}}
	return sub.streamLogs(ctx, c, o)
}
