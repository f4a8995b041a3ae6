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
	"github.com/docker/docker/api/types/network"
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

// networkKinds decides, with several hosts, which of the project's
// networks are Swarm overlays (the hosts they span share a Swarm, or they
// are overlays already) and which fall back to cross-host links, and says
// once which fell back. It returns each network's kind for the plan and
// the overlays with their managers.
func (e *Engine) networkKinds(ctx context.Context, p *compose.Project, where replicaHosts, views map[string]*hostView) (*netKinds, error) {
	nk := &netKinds{}
	if e.Pool.Single() {
		return nk, nil
	}
	var reachable []swarm.Host
	for _, h := range e.swarmHosts(infoAge) {
		if v := views[h.Name]; v == nil || v.reachable {
			reachable = append(reachable, h)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, hostTimeout())
	defer cancel()
	t := swarm.Observe(tctx, reachable)
	existing := netctl.Overlays{}
	onHost := map[string][]network.Summary{}
	for _, h := range reachable {
		nets, err := netctl.List(ctx, e.Pool.Get(h.Name).Client, p.Name)
		if err != nil {
			return nil, fmt.Errorf("list networks on host %q: %w", h.Name, err)
		}
		onHost[h.Name] = nets
		m, _ := t.Member(h.Name)
		for _, n := range nets {
			key := n.Labels[labels.Network]
			if n.Driver != "overlay" || key == "" {
				continue
			}
			if existing[key] == "" || m.Manager && m.Active() {
				existing[key] = h.Name
			}
		}
	}
	// An overlay only workers list (its managers do not answer devorch)
	// stays an overlay, used as it is: the workers' daemons attach
	// containers to it through their Swarm; devorch cannot create or
	// change it there.
	for _, key := range slices.Sorted(maps.Keys(existing)) {
		if m, _ := t.Member(existing[key]); !m.Manager {
			e.warn("network %s is a Swarm overlay and no host that manages its Swarm answers: it is used as it is, through host %q", key, existing[key])
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
	nk.overlays = overlays
	for _, key := range slices.Sorted(maps.Keys(kinds)) {
		if len(span[key]) > 0 || kinds[key] == netctl.KindOverlay {
			nk.kinds = append(nk.kinds, NetworkKind{Key: key, Kind: string(kinds[key]), Hosts: span[key]})
		}
	}
	// A bridge of a network that is now an overlay (the hosts joined a
	// Swarm) is replaced: taken off before the overlay is created
	// (replaceBridges), its containers recreated on the overlay.
	for host, nets := range onHost {
		for _, n := range nets {
			if key := n.Labels[labels.Network]; overlays[key] != "" && n.Driver != "overlay" {
				if nk.replaced == nil {
					nk.replaced, nk.replacedOn = map[string]string{}, map[string][]string{}
				}
				nk.replaced[n.ID] = fmt.Sprintf("network %s becomes a Swarm overlay", key)
				nk.replacedOn[host] = append(nk.replacedOn[host], n.ID)
			}
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
