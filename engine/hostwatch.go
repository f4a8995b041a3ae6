package engine

import (
	"context"
	"os"

	"github.com/devorch/devorch/engine/hosts"
)

// watchHosts watches the reachable hosts for the rest of a run (see
// hosts.Watch): a host that stops answering is declared lost, so that the
// run's calls to it end instead of waiting forever. It returns the stop.
func (e *Engine) watchHosts(ctx context.Context, views map[string]*hostView) func() {
	var hs []*hosts.Host
	for _, h := range e.Pool.Hosts {
		if v := views[h.Name]; v != nil && v.reachable {
			hs = append(hs, h)
		}
	}
	// Not cancelled with the run: an interrupted run still waits for the
	// calls it sent, and those must not wait for a lost host forever.
	return hosts.Watch(context.WithoutCancel(ctx), hs, hosts.HostTimeout(os.Getenv), func(h *hosts.Host, err error) {
		e.warn("%v; what this run was doing there is abandoned", err)
	})
}
