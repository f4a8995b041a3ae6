package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/compose"
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
	poolText := os.Getenv("DEVORCH_SUBNET_POOL")
	if poolText == "" {
		poolText = DefaultSubnetPool
	}
	_, pool, err := net.ParseCIDR(poolText)
	if err != nil {
		return nil, fmt.Errorf("DEVORCH_SUBNET_POOL %q: %w", poolText, err)
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
		return nil, err
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
	for _, hostName := range sortedKeys(netsOn) {
		for _, key := range sortedKeys(netsOn[hostName]) {
			cfg := p.Networks[key]
			name := cfg.Name
			if name == "" {
				name = p.Name + "_" + key
			}
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
