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
	return e.watch(ctx, hs)
}

// watchPool is watchHosts for the verbs that act on what they list
// without probing the hosts first (down, stop, restart): every host of the
// pool is watched, so that a stop or remove sent to a host that then stops
// answering ends with an error naming it, and the other hosts' work goes on.
func (e *Engine) watchPool(ctx context.Context) func() {
	return e.watch(ctx, e.Pool.Hosts)
}

func (e *Engine) watch(ctx context.Context, hs []*hosts.Host) func() {
	// Not cancelled with the run: an interrupted run still waits for the
	// calls it sent, and those must not wait for a lost host forever.
	return hosts.Watch(context.WithoutCancel(ctx), hs, hosts.HostTimeout(os.Getenv), func(h *hosts.Host, err error) {
		e.warn("%v; what this run was doing there is abandoned", err)
	})
}
