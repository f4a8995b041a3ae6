package engine

import (
	"context"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/logstream"
	"github.com/devorch/devorch/engine/monitor"
)

// NewMonitor starts watching project. p may be nil (no compose file). The
// monitor publishes on bus (which the engine's progress events may share).
func (e *Engine) NewMonitor(ctx context.Context, project string, p *compose.Project, bus *Bus, o MonitorOptions) (*Monitor, error) {
	return monitor.New(ctx, monitor.Docker{Hosts: e.Pool.Hosts, List: monitorList, Logs: logstream.Lines}, project, p, bus, o)
}

// monitorList is what the monitor shows of a host: the project's service
// containers, stopped ones too.
func monitorList(ctx context.Context, h *hosts.Host, project string) ([]Container, error) {
	return listHost(ctx, h, project, listOptions{all: true, skipOneOffs: true})
}
