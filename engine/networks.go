package engine

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/swarm"
	"github.com/devorch/devorch/internal/labels"
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

// networkKinds decides, with several hosts, which of the project's
// networks are Swarm overlays (the hosts they span share a Swarm, or they
// are overlays already) and which fall back to cross-host links, and says
// once which fell back. It returns each network's kind for the plan and
// the overlays with their managers.
func (e *Engine) networkKinds(ctx context.Context, p *compose.Project, where replicaHosts, views map[string]*hostView) ([]NetworkKind, map[string]string, error) {
	if e.Pool.Single() {
		return nil, nil, nil
	}
	var reachable []swarm.Host
	for _, h := range e.swarmHosts() {
		if v := views[h.Name]; v == nil || v.reachable {
			reachable = append(reachable, h)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, hostTimeout())
	defer cancel()
	t := swarm.Observe(tctx, reachable)
	existing := netctl.Overlays{}
	for _, m := range t.Members {
		if !m.Manager || !m.Active() {
			continue
		}
		nets, err := netctl.List(ctx, e.Pool.Get(m.Host).Client, p.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("list networks on host %q: %w", m.Host, err)
		}
		for _, n := range nets {
			if n.Driver == "overlay" && n.Labels[labels.Network] != "" {
				existing[n.Labels[labels.Network]] = m.Host
			}
		}
	}
	span := netctl.Span(p.Services, where.hosts)
	shared := func(hs []string) (string, bool) {
		_, mgr, ok := t.Shared(hs)
		return mgr, ok
	}
	kinds, overlays := netctl.Kinds(p.Networks, span, shared, existing)
	if note := netctl.FallbackNote(kinds, span); note != "" {
		e.warn("%s", note)
	}
	var out []NetworkKind
	for _, key := range slices.Sorted(maps.Keys(kinds)) {
		if len(span[key]) > 0 || kinds[key] == netctl.KindOverlay {
			out = append(out, NetworkKind{Key: key, Kind: string(kinds[key]), Hosts: span[key]})
		}
	}
	return out, overlays, nil
}
