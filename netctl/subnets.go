package netctl

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/network"
	"golang.org/x/sync/errgroup"
)

// DefaultSubnetPool is where devorch takes subnets for a project's
// networks when it runs on several hosts (DEVORCH_SUBNET_POOL overrides).
const DefaultSubnetPool = "10.210.0.0/16"

// allocateSubnets gives every network devorch must create on a host, when
// there are several hosts, a /24 that overlaps no network on any reachable
// host, no host address and no other allocation of this run. With one
// host, Docker picks as it always does. Networks with an ipam config in
// the file, and existing ones, keep theirs.
func allocateSubnets(ctx context.Context, pool Pool, reqs []Request) error {
	if len(pool.Hosts) == 1 {
		return nil
	}
	subnetPool, existing, used, err := pool.subnetsInUse(ctx)
	if err != nil {
		return err
	}
	for i := range reqs {
		r := &reqs[i]
		cfg := r.Config
		name := Name(r.Project, r.Key, cfg)
		if bool(cfg.External) || len(cfg.Ipam.Config) > 0 || (!r.Overlay && cfg.Driver != "" && cfg.Driver != "bridge") {
			continue
		}
		if _, exists := existing[r.Host][name]; exists {
			continue
		}
		sn, err := allocate(subnetPool, 24, used)
		if err != nil {
			return fmt.Errorf("network %q on host %q: %w", name, r.Host, err)
		}
		used = append(used, sn)
		r.Subnet = sn.String()
	}
	return nil
}

// subnetsInUse reads the subnet pool and what it must not hand out: the
// subnets of every network on every reachable host (by host and network
// name), the hosts' addresses and this machine's own.
func (p Pool) subnetsInUse(ctx context.Context) (*net.IPNet, map[string]map[string][]*net.IPNet, []*net.IPNet, error) {
	poolText := p.SubnetPool
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
	for _, h := range p.Hosts {
		if h.Alive != nil {
			if err := h.Alive(gctx); err != nil {
				continue // unreachable: nothing to create there
			}
		}
		g.Go(func() error {
			sn, err := subnets(gctx, h.API)
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
	for _, h := range p.Hosts {
		if ip := net.ParseIP(h.Address); ip != nil && ip.To4() != nil {
			used = append(used, &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)})
		}
	}
	localAddrs := p.LocalAddrs
	if localAddrs == nil {
		localAddrs = net.InterfaceAddrs
	}
	if addrs, err := localAddrs(); err == nil {
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

// ensure ensures one network on a host with the subnet allocateSubnets
// gave it. Allocation reads the hosts and creation comes later: another run
// (another project on the same host, at the same moment) may create a
// network with that subnet in between, and Docker refuses the create with
// "Pool overlaps with other one on this address space". The hosts are then
// read again and the network gets the next free subnet, a few times at
// most. run is this run's allocation, kept clear of. Retries are
// serialised (Pool.Retry), so that two networks of one run retried at once
// cannot take the same subnet on two hosts.
func (p Pool) ensure(ctx context.Context, h Host, r Request, run []Request) (Result, error) {
	if r.Subnet != "" && p.SubnetGiven != nil {
		p.SubnetGiven(r.Host, r.Key, r.Subnet)
	}
	res, err := Ensure(ctx, h.API, r)
	for try := 1; err != nil && r.Subnet != "" && isPoolOverlap(err) && try <= subnetRetries; try++ {
		res, err = p.ensureAgain(ctx, h, &r, run)
	}
	return res, err
}

func (p Pool) ensureAgain(ctx context.Context, h Host, r *Request, run []Request) (Result, error) {
	if p.Retry != nil {
		p.Retry.Lock()
		defer p.Retry.Unlock()
	}
	pool, _, used, err := p.subnetsInUse(ctx)
	if err != nil {
		return Result{}, err
	}
	for _, other := range run {
		if _, n, err := net.ParseCIDR(other.Subnet); err == nil {
			used = append(used, n)
		}
	}
	if _, n, err := net.ParseCIDR(r.Subnet); err == nil {
		used = append(used, n)
	}
	sn, err := allocate(pool, 24, used)
	if err != nil {
		return Result{}, fmt.Errorf("network %q on host %q: subnet %s was taken meanwhile: %w", r.Key, r.Host, r.Subnet, err)
	}
	r.Subnet = sn.String()
	return Ensure(ctx, h.API, *r)
}

// isPoolOverlap reports Docker's refusal of a subnet another network on the
// host already has.
func isPoolOverlap(err error) bool {
	return strings.Contains(err.Error(), "overlaps with other one")
}

// allocate returns the first subnet of the given prefix length inside pool
// that overlaps none of used: devorch gives each of a project's networks on
// each host its own subnet, so that no two hosts pick the same one (every
// daemon starts from the same default pools).
func allocate(pool *net.IPNet, prefix int, used []*net.IPNet) (*net.IPNet, error) {
	ones, bits := pool.Mask.Size()
	if bits != 32 || prefix < ones || prefix > 30 {
		return nil, fmt.Errorf("subnet pool %s cannot hold /%d subnets", pool, prefix)
	}
	base := binary.BigEndian.Uint32(pool.IP.To4())
	step := uint32(1) << (32 - prefix)
	count := uint32(1) << (prefix - ones)
	for i := uint32(0); i < count; i++ {
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+i*step)
		cand := &net.IPNet{IP: ip, Mask: net.CIDRMask(prefix, 32)}
		free := true
		for _, u := range used {
			if u != nil && (u.Contains(cand.IP) || cand.Contains(u.IP)) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return nil, fmt.Errorf("no free /%d subnet left in %s (%d in use)", prefix, pool, len(used))
}

// subnets returns the subnets of every network on a host.
func subnets(ctx context.Context, api API) (map[string][]*net.IPNet, error) {
	list, err := api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string][]*net.IPNet{}
	for _, n := range list {
		for _, c := range n.IPAM.Config {
			if _, sn, err := net.ParseCIDR(c.Subnet); err == nil {
				out[n.Name] = append(out[n.Name], sn)
			}
		}
	}
	return out, nil
}
