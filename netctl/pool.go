package netctl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"
)

// Host is one host of the pool, as its networks need it.
type Host struct {
	Name string
	// Address is where other hosts reach this one (kept out of subnets,
	// published on by cross-host links); Endpoint is its Docker endpoint,
	// for messages.
	Address, Endpoint string
	API               API
	// Alive reports whether the host answers now; nil means it does. The
	// networks of a host that does not are not read when subnets are
	// allocated: nothing is created there.
	Alive func(ctx context.Context) error
	// Manages reports whether the host manages a Swarm (where overlay
	// networks are removed); nil means it does not.
	Manages func(ctx context.Context) bool
}

// Manager says whether the host manages a Swarm.
func (h Host) Manager(ctx context.Context) bool { return h.Manages != nil && h.Manages(ctx) }

// Pool is the hosts a run's networks are on, and where it reports.
type Pool struct {
	Hosts []Host
	// SubnetPool is where subnets come from when there are several hosts
	// (DEVORCH_SUBNET_POOL); "" means DefaultSubnetPool.
	SubnetPool string
	// Retry serialises giving a network another subnet; shared by the
	// runs of a process, nil for none.
	Retry *sync.Mutex
	// Sink receives progress and warnings; nil discards them.
	Sink Sink
	// LocalAddrs lists this machine's addresses, kept out of subnets;
	// nil means net.InterfaceAddrs.
	LocalAddrs func() ([]net.Addr, error)
	// SubnetGiven, set by tests, is called when a network is about to be
	// created on host with the subnet this run allocated it: another run
	// may take that subnet there.
	SubnetGiven func(host, key, subnet string)
	// Overlays are the networks that are Swarm overlays in this run (see
	// Kinds): each is created once, on its manager, and used by name on
	// every host; services that share one need no cross-host link.
	Overlays Overlays
}

func (p Pool) host(name string) (Host, bool) {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Event is what netctl reports: a network's progress on a host (Status
// "Created", "Removing", "Removed" or "Left"), or a warning for the user.
type Event struct {
	Host, Network, Status string
	Warning               string
}

// Sink receives events.
type Sink func(Event)

func (s Sink) progress(host, name, status string) {
	if s != nil {
		s(Event{Host: host, Network: name, Status: status})
	}
}

func (s Sink) warn(format string, args ...any) {
	if s != nil {
		s(Event{Warning: fmt.Sprintf(format, args...)})
	}
}

// Need is the networks a run needs on each host: host → compose keys.
type Need map[string]map[string]bool

// Add records that a container of s runs on host: it joins the service's
// networks, unless it shares another's network namespace or uses host or
// none.
func (n Need) Add(host string, s types.ServiceConfig) {
	if n[host] == nil {
		n[host] = map[string]bool{}
	}
	if s.NetworkMode == "" {
		for k := range s.Networks {
			n[host][k] = true
		}
	}
}

// Requests returns what need asks for, one request per host and network
// in host then key order, each with the subnet allocated for it (see
// allocateSubnets).
func Requests(ctx context.Context, pool Pool, project string, networks types.Networks, need Need) ([]Request, error) {
	var reqs []Request
	overlay := map[string]int{} // key → its request
	for _, host := range slices.Sorted(maps.Keys(need)) {
		for _, key := range slices.Sorted(maps.Keys(need[host])) {
			cfg, ok := networks[key]
			if !ok {
				return nil, fmt.Errorf("network %q is used but not declared", key)
			}
			mgr := pool.Overlays[key]
			if mgr == "" {
				reqs = append(reqs, Request{Project: project, Key: key, Config: cfg, Host: host})
				continue
			}
			i, seen := overlay[key]
			if !seen {
				i = len(reqs)
				overlay[key] = i
				reqs = append(reqs, Request{Project: project, Key: key, Config: cfg, Host: mgr, Overlay: true})
			}
			reqs[i].Span = append(reqs[i].Span, host)
		}
	}
	if err := allocateSubnets(ctx, pool, reqs); err != nil {
		return nil, err
	}
	return reqs, nil
}

// EnsureAll ensures every requested network, in parallel, and returns them
// by host and compose key. A network whose subnet another run took
// meanwhile is given another (see ensure).
func EnsureAll(ctx context.Context, pool Pool, reqs []Request) (map[string]map[string]Ref, error) {
	out := map[string]map[string]Ref{}
	hs := make([]Host, len(reqs))
	for i, r := range reqs {
		h, ok := pool.host(r.Host)
		if !ok {
			return nil, fmt.Errorf("network %q: host %q is not in the pool", r.Key, r.Host)
		}
		hs[i] = h
		for _, on := range append([]string{r.Host}, r.Span...) {
			if out[on] == nil {
				out[on] = map[string]Ref{}
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range reqs {
		g.Go(func() error {
			// Uncancelled, as container creates: a create cut short
			// when a sibling fails may still happen in the daemon,
			// after the rollback has looked.
			res, err := pool.ensure(context.WithoutCancel(gctx), hs[i], r, reqs)
			if err != nil {
				return err
			}
			if res.Warning != "" {
				pool.Sink.warn("%s", res.Warning)
			}
			if res.Created {
				pool.Sink.progress(r.Host, res.Name, "Created")
			}
			mu.Lock()
			if !r.Overlay {
				out[r.Host][r.Key] = Ref{Name: res.Name, ID: res.ID}
			}
			for _, on := range r.Span {
				out[on][r.Key] = Ref{Name: res.Name, ID: res.ID}
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveAll removes the project's networks on every host of the pool. A
// network Docker keeps for a stale endpoint (ErrStaleEndpoint) is left
// with a warning: nothing devorch can do removes it, the project is down
// all the same, and the next up reuses it. An overlay is removed on a host
// that manages its Swarm; with none of those answering it is left, said.
func RemoveAll(ctx context.Context, pool Pool, project string) error {
	manages := map[string]bool{}
	anyManager := false
	for _, h := range pool.Hosts {
		manages[h.Name] = h.Manager(ctx)
		anyManager = anyManager || manages[h.Name]
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range pool.Hosts {
		g.Go(func() error {
			nets, err := List(gctx, h.API, project)
			if err != nil {
				return fmt.Errorf("list networks on host %q: %w", h.Name, err)
			}
			for _, n := range nets {
				if n.Scope == "swarm" && !manages[h.Name] {
					// An overlay seen from a worker: its manager removes
					// it, and the worker drops its copy soon after.
					if !anyManager {
						pool.Sink.warn("overlay network %s is left: no host that manages its Swarm answers (host %q is a worker); the next down with its manager reachable removes it", n.Name, h.Name)
						continue
					}
					if !awaitGone(gctx, h.API, n.ID, overlayGone) {
						pool.Sink.warn("overlay network %s is still listed on host %q %s after its removal; Docker drops it there when the Swarm catches up", n.Name, h.Name, overlayGone)
					}
					continue
				}
				pool.Sink.progress(h.Name, n.Name, "Removing")
				err := Remove(gctx, h.API, n.ID)
				if errors.Is(err, ErrStaleEndpoint) {
					pool.Sink.warn("network %s on host %q is left behind: %v; the next up reuses it, and restarting that Docker daemon removes it", n.Name, h.Name, err)
					pool.Sink.progress(h.Name, n.Name, "Left")
					continue
				}
				if err != nil {
					return fmt.Errorf("remove network %s on host %q: %w", n.Name, h.Name, err)
				}
				pool.Sink.progress(h.Name, n.Name, "Removed")
			}
			return nil
		})
	}
	return g.Wait()
}
