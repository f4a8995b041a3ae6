package engine

import (
	"context"
	"os"

	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/netctl"
)

// netPool is hs as netctl sees them, reporting to the engine's sink.
func (e *Engine) netPool(hs []*hosts.Host) netctl.Pool {
	p := netctl.Pool{
		SubnetPool:  os.Getenv("DEVORCH_SUBNET_POOL"),
		Retry:       e.subnetMu,
		Sink:        e.netEvent,
		SubnetGiven: e.hooks.subnetGiven,
	}
	for _, h := range hs {
		p.Hosts = append(p.Hosts, netctl.Host{
			Name: h.Name, Address: h.Address, Endpoint: h.Endpoint, API: h.Client,
			Alive: func(ctx context.Context) error {
				_, err := h.Info(ctx, 0)
				return err
			},
		})
	}
	return p
}

func (e *Engine) netEvent(ev netctl.Event) {
	if ev.Warning != "" {
		e.warn("%s", ev.Warning)
		return
	}
	e.progress(ResNetwork, ev.Network, ev.Host, ev.Status)
}
