package engine

import (
	"context"
	"maps"
	"os"
	"slices"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/swarm"
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
			Manages: func(ctx context.Context) bool {
				info, err := h.Info(ctx, infoAge)
				return err == nil && info.Swarm.ControlAvailable
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

// networkKinds has netctl.Decide decide, with several hosts, which of the
// project's networks are Swarm overlays and which fall back to cross-host
// links, on the hosts that answer and the Swarm membership it observes
// there. It returns each network's kind for the plan, the overlays with
// their managers, and the bridges they replace.
func (e *Engine) networkKinds(ctx context.Context, p *compose.Project, where replicaHosts, views map[string]*hostView) (*netKinds, error) {
	nk := &netKinds{}
	if e.Pool.Single() {
		return nk, nil
	}
	var reachable []swarm.Host
	var hs []*hosts.Host
	for _, h := range e.swarmHosts(infoAge) {
		if v := views[h.Name]; v == nil || v.reachable {
			reachable = append(reachable, h)
			hs = append(hs, e.Pool.Get(h.Name))
		}
	}
	tctx, cancel := context.WithTimeout(ctx, hostTimeout())
	defer cancel()
	t := swarm.Observe(tctx, reachable)
	shared := func(hs []string) (string, bool) {
		_, mgr, ok := t.Shared(hs)
		return mgr, ok
	}
	member := func(host string) (bool, bool) {
		m, _ := t.Member(host)
		return m.Manager, m.Active()
	}
	d, err := netctl.Decide(ctx, e.netPool(hs), p.Name, p.Services, p.Networks, where.hosts, shared, member)
	if err != nil {
		return nil, err
	}
	nk.overlays, nk.replaced, nk.replacedOn = d.Overlays, d.Replaced, d.ReplacedOn
	for _, key := range slices.Sorted(maps.Keys(d.Kinds)) {
		if len(d.Span[key]) > 0 || d.Kinds[key] == netctl.KindOverlay {
			nk.kinds = append(nk.kinds, NetworkKind{Key: key, Kind: string(d.Kinds[key]), Hosts: d.Span[key]})
		}
	}
	return nk, nil
}

// netKinds is what networkKinds decided for a run.
type netKinds struct {
	kinds    []NetworkKind
	overlays map[string]string // key → manager host
	// replaced maps the bridges replaced by overlays to the reason their
	// containers are recreated; replacedOn lists them by host.
	replaced   map[string]string
	replacedOn map[string][]string
}

// replaceBridges takes off the bridges that overlays replace in this run,
// once it is sure every container on them is recreated or removed by it.
func (e *Engine) replaceBridges(ctx context.Context, pn *Plan) error {
	if len(pn.Replaced) == 0 {
		return nil
	}
	moving := map[string]bool{}
	for _, st := range pn.Steps {
		if st.Existing != nil && (st.Action == ActRecreate || st.Action == ActRemove) {
			moving[st.Existing.ID] = true
		}
	}
	return netctl.ReplaceBridges(ctx, e.netPool(e.Pool.Hosts), pn.Replaced, func(id string) bool { return moving[id] })
}
