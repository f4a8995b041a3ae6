package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/netctl"
)

// DefaultSubnetPool is where devorch takes subnets for a project's
// networks when it runs on several hosts (DEVORCH_SUBNET_POOL overrides).
const DefaultSubnetPool = "10.210.0.0/16"

// allocateSubnets gives every network devorch must create on a host, when
// there are several hosts, a /24 that overlaps no network on any reachable
// host, no host address and no other allocation of this run. With one
// host, Docker picks as it always does. Networks with an ipam config in
// the file, and existing ones, keep theirs.
func (e *Engine) allocateSubnets(ctx context.Context, p *compose.Project, netsOn map[string]map[string]bool) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if e.Pool.Single() {
		return out, nil
	}
	pool, existing, used, err := e.subnetsInUse(ctx)
	if err != nil {
		return nil, err
	}
	for _, hostName := range sortedKeys(netsOn) {
		for _, key := range sortedKeys(netsOn[hostName]) {
			cfg := p.Networks[key]
			name := netctl.Name(p.Name, key, cfg)
			if bool(cfg.External) || len(cfg.Ipam.Config) > 0 || (cfg.Driver != "" && cfg.Driver != "bridge") {
				continue
			}
			if _, exists := existing[hostName][name]; exists {
				continue
			}
			sn, err := netctl.Allocate(pool, 24, used)
			if err != nil {
				return nil, fmt.Errorf("network %q on host %q: %w", name, hostName, err)
			}
			used = append(used, sn)
			if out[hostName] == nil {
				out[hostName] = map[string]string{}
			}
			out[hostName][key] = sn.String()
		}
	}
	return out, nil
}

// subnetsInUse reads the subnet pool and what it must not hand out: the
// subnets of every network on every reachable host (by host and network
// name), the hosts' addresses and this machine's own.
func (e *Engine) subnetsInUse(ctx context.Context) (*net.IPNet, map[string]map[string][]*net.IPNet, []*net.IPNet, error) {
	poolText := os.Getenv("DEVORCH_SUBNET_POOL")
	if poolText == "" {
		poolText = DefaultSubnetPool
	}
	_, pool, err := net.ParseCIDR(poolText)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("DEVORCH_SUBNET_POOL %q: %w", poolText, err)
	}
	existing := map[string]map[string][]*net.IPNet{} // host → network name → subnets
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range e.Pool.Hosts {
		if _, err := h.Info(gctx, 0); err != nil {
			continue // unreachable: nothing to create there
		}
		g.Go(func() error {
			sn, err := netctl.Subnets(gctx, h.Client)
			if err != nil {
				return fmt.Errorf("list networks on host %q: %w", h.Name, err)
			}
			mu.Lock()
			existing[h.Name] = sn
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, nil, err
	}
	var used []*net.IPNet
	for _, byName := range existing {
		for _, sns := range byName {
			used = append(used, sns...)
		}
	}
	for _, h := range e.Pool.Hosts {
		if ip := net.ParseIP(h.Address); ip != nil && ip.To4() != nil {
			used = append(used, &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)})
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				used = append(used, n)
			}
		}
	}
	return pool, existing, used, nil
}

// subnetRetries bounds how often a network whose subnet was taken meanwhile
// is given another.
const subnetRetries = 5

// ensureNetwork ensures one network on a host with the subnet allocateSubnets
// gave it. Allocation reads the hosts and creation comes later: another run
// (another project on the same host, at the same moment) may create a
// network with that subnet in between, and Docker refuses the create with
// "Pool overlaps with other one on this address space". The hosts are then
// read again and the network gets the next free subnet, a few times at
// most. run is this run's allocation (host → key → subnet), kept clear of.
// Retries are serialised, so that two networks of one run retried at once
// cannot take the same subnet on two hosts.
func (e *Engine) ensureNetwork(ctx context.Context, h *hosts.Host, r netctl.Request, run map[string]map[string]string) (netctl.Result, error) {
	if r.Subnet != "" && e.hooks.subnetGiven != nil {
		e.hooks.subnetGiven(r.Host, r.Key, r.Subnet)
	}
	res, err := netctl.Ensure(ctx, h.Client, r)
	for try := 1; err != nil && r.Subnet != "" && isPoolOverlap(err) && try <= subnetRetries; try++ {
		res, err = e.ensureNetworkAgain(ctx, h, &r, run)
	}
	return res, err
}

func (e *Engine) ensureNetworkAgain(ctx context.Context, h *hosts.Host, r *netctl.Request, run map[string]map[string]string) (netctl.Result, error) {
	if e.subnetMu != nil {
		e.subnetMu.Lock()
		defer e.subnetMu.Unlock()
	}
	pool, _, used, err := e.subnetsInUse(ctx)
	if err != nil {
		return netctl.Result{}, err
	}
	for _, byKey := range run {
		for _, sn := range byKey {
			if _, n, err := net.ParseCIDR(sn); err == nil {
				used = append(used, n)
			}
		}
	}
	if _, n, err := net.ParseCIDR(r.Subnet); err == nil {
		used = append(used, n)
	}
	sn, err := netctl.Allocate(pool, 24, used)
	if err != nil {
		return netctl.Result{}, fmt.Errorf("network %q on host %q: subnet %s was taken meanwhile: %w", r.Key, r.Host, r.Subnet, err)
	}
	r.Subnet = sn.String()
	return netctl.Ensure(ctx, h.Client, *r)
}

// isPoolOverlap reports Docker's refusal of a subnet another network on the
// host already has.
func isPoolOverlap(err error) bool {
	return strings.Contains(err.Error(), "overlaps with other one")
}
