package netctl

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

// Kind is how a project network connects its containers across hosts.
type Kind string

const (
	// KindBridge: a bridge on one host.
	KindBridge Kind = "bridge"
	// KindOverlay: one Swarm overlay network (attachable) on every host it
	// spans; names, aliases and addresses work across hosts on every port.
	KindOverlay Kind = "overlay"
	// KindLink: a bridge on each host it spans, joined by cross-host links
	// (a dependency's declared ports published on its host's address).
	KindLink Kind = "link fallback"
)

// Overlays maps the compose key of every network that is a Swarm overlay
// in this run to the host that manages its Swarm (where it is created).
type Overlays map[string]string

// Swarms says whether the named hosts are all active members of one Swarm
// and, if so, a host of the pool that manages it.
type Swarms func(hosts []string) (manager string, ok bool)

// Span returns the hosts each network of the project connects containers
// on: the hosts of the services that join it (hostsOf), sorted.
func Span(services types.Services, hostsOf func(service string) []string) map[string][]string {
	span := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.NetworkMode != "" {
			continue
		}
		for key := range s.Networks {
			for _, h := range hostsOf(name) {
				if !slices.Contains(span[key], h) {
					span[key] = append(span[key], h)
				}
			}
		}
	}
	for k := range span {
		slices.Sort(span[k])
	}
	return span
}

// Kinds decides each network's kind. A network devorch creates (not
// external, no driver but the default or overlay) that spans several hosts
// is an overlay when those hosts share a Swarm, else a link fallback; a
// network that is an overlay already (overlay: key → its manager) stays
// one, so that a run that now places its containers on one host does not
// churn it. Everything else is a bridge (or the file's driver).
func Kinds(networks types.Networks, span map[string][]string, shared Swarms, overlay Overlays) (map[string]Kind, Overlays) {
	kinds := map[string]Kind{}
	out := Overlays{}
	for _, key := range slices.Sorted(maps.Keys(networks)) {
		cfg := networks[key]
		hs := span[key]
		auto := !bool(cfg.External) && (cfg.Driver == "" || cfg.Driver == "default" || cfg.Driver == "overlay")
		switch {
		case !auto:
			kinds[key] = KindBridge
		case overlay[key] != "":
			kinds[key], out[key] = KindOverlay, overlay[key]
		case len(hs) < 2:
			kinds[key] = KindBridge
		default:
			if mgr, ok := shared(hs); ok {
				kinds[key], out[key] = KindOverlay, mgr
			} else {
				kinds[key] = KindLink
			}
		}
	}
	return kinds, out
}

// FallbackNote is the one message of a run whose networks fell back to
// cross-host links, naming them and what gives full networking; "" when
// none did.
func FallbackNote(kinds map[string]Kind, span map[string][]string) string {
	var fell []string
	for _, key := range slices.Sorted(maps.Keys(kinds)) {
		if kinds[key] == KindLink {
			fell = append(fell, fmt.Sprintf("%s (hosts %s)", key, strings.Join(span[key], ", ")))
		}
	}
	if len(fell) == 0 {
		return ""
	}
	return fmt.Sprintf("network(s) %s span hosts that are not in one Swarm: services reach dependencies on other hosts only on their declared ports, through ports published on the hosts' addresses; run devorch hosts join to give them overlay networks (names, aliases and every port across hosts)", strings.Join(fell, ", "))
}

// Member says how a host stands in its Swarm, as the run observed it:
// whether it manages it, and whether it is an active member.
type Member func(host string) (manager, active bool)

// Decision is what Decide found for a run's networks.
type Decision struct {
	Kinds map[string]Kind
	// Span is the hosts each network connects containers on (Span).
	Span     map[string][]string
	Overlays Overlays
	// Replaced maps the bridges that overlays replace in this run (their
	// IDs) to why their containers are recreated; ReplacedOn lists them
	// by host.
	Replaced   map[string]string
	ReplacedOn map[string][]string
}

// Decide decides, for a run on several hosts (the pool: those that
// answer), which of the project's networks are Swarm overlays and which
// fall back to cross-host links (Kinds). It lists the project's networks
// on every host: a network that is an overlay already stays one, as the
// copy an active manager lists, else a worker's; the latter, which devorch
// cannot create or change without a manager, is named in a warning. It
// says once which networks fell back (FallbackNote), and finds the bridges
// of networks that are now overlays (the hosts joined a Swarm): they are
// replaced, their containers recreated on the overlay.
func Decide(ctx context.Context, pool Pool, project string, services types.Services, networks types.Networks, hostsOf func(service string) []string, shared Swarms, member Member) (Decision, error) {
	existing := Overlays{}
	onHost := map[string][]network.Summary{}
	for _, h := range pool.Hosts {
		nets, err := List(ctx, h.API, project)
		if err != nil {
			return Decision{}, fmt.Errorf("list networks on host %q: %w", h.Name, err)
		}
		onHost[h.Name] = nets
		mgr, active := member(h.Name)
		for _, n := range nets {
			key := n.Labels[labels.Network]
			if n.Driver != "overlay" || key == "" {
				continue
			}
			if existing[key] == "" || mgr && active {
				existing[key] = h.Name
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(existing)) {
		if mgr, _ := member(existing[key]); !mgr {
			pool.Sink.warn("network %s is a Swarm overlay and no host that manages its Swarm answers: it is used as it is, through host %q", key, existing[key])
		}
	}
	d := Decision{Span: Span(services, hostsOf)}
	d.Kinds, d.Overlays = Kinds(networks, d.Span, shared, existing)
	if note := FallbackNote(d.Kinds, d.Span); note != "" {
		pool.Sink.warn("%s", note)
	}
	for _, host := range slices.Sorted(maps.Keys(onHost)) {
		for _, n := range onHost[host] {
			if key := n.Labels[labels.Network]; d.Overlays[key] != "" && n.Driver != "overlay" {
				if d.Replaced == nil {
					d.Replaced, d.ReplacedOn = map[string]string{}, map[string][]string{}
				}
				d.Replaced[n.ID] = fmt.Sprintf("network %s becomes a Swarm overlay", key)
				d.ReplacedOn[host] = append(d.ReplacedOn[host], n.ID)
			}
		}
	}
	return d, nil
}

// sharesOverlay says whether two services have a network in common that
// is an overlay: they reach each other on it as on one host.
func sharesOverlay(a, b types.ServiceConfig, overlays Overlays) bool {
	if a.NetworkMode != "" || b.NetworkMode != "" {
		return false
	}
	for key := range a.Networks {
		if _, ok := b.Networks[key]; ok && overlays[key] != "" {
			return true
		}
	}
	return false
}

// overlayGone bounds how long down waits for a worker to drop its copy of
// an overlay network its manager removed.
const overlayGone = 20 * time.Second

// awaitGone waits until the host no longer lists the network, at most d;
// it says whether it went. An overlay's removal reaches the hosts' own
// lists a moment after the Swarm's, the manager's included.
func awaitGone(ctx context.Context, api API, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		list, err := api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("id", id))})
		if err == nil && !slices.ContainsFunc(list, func(n network.Summary) bool { return n.ID == id }) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ReplaceBridges takes off their hosts the bridges that overlays replace
// (on: host → network IDs), before the overlays are created: Docker
// refuses an overlay named as a bridge on its manager, and a worker would
// resolve the name to its bridge. Every container on them must be one the
// run recreates or removes (moving): one that is not (a service left out
// of the run) would lose its network, and the run is refused before
// anything changes. Then the containers are disconnected (their
// replacements join the overlay) and the bridges removed.
func ReplaceBridges(ctx context.Context, pool Pool, on map[string][]string, moving func(containerID string) bool) error {
	type bridge struct {
		host Host
		net  network.Inspect
	}
	var bridges []bridge
	var stuck []string
	for _, host := range slices.Sorted(maps.Keys(on)) {
		h, ok := pool.host(host)
		if !ok {
			continue
		}
		for _, id := range on[host] {
			n, err := h.API.NetworkInspect(ctx, id, network.InspectOptions{})
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("inspect network %s on host %q: %w", short(id), host, err)
			}
			for cid, ep := range n.Containers {
				if !moving(cid) {
					stuck = append(stuck, fmt.Sprintf("%s on host %q", ep.Name, host))
				}
			}
			bridges = append(bridges, bridge{h, n})
		}
	}
	if len(stuck) > 0 {
		slices.Sort(stuck)
		return fmt.Errorf("the project's networks become Swarm overlays, but containers this run does not recreate are on their bridges (%s): run devorch up for the whole project, without naming services", strings.Join(stuck, ", "))
	}
	for _, b := range bridges {
		for cid := range b.net.Containers {
			if err := b.host.API.NetworkDisconnect(ctx, b.net.ID, cid, true); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("disconnect container %s from network %s on host %q: %w", short(cid), b.net.Name, b.host.Name, err)
			}
		}
		if err := Remove(ctx, b.host.API, b.net.ID); err != nil {
			return fmt.Errorf("remove network %s on host %q (an overlay replaces it): %w", b.net.Name, b.host.Name, err)
		}
		pool.Sink.progress(b.host.Name, b.net.Name, "Removed")
	}
	return nil
}
