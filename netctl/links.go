package netctl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Link is what cross-host links add to a service's containers on one
// host: names of dependencies elsewhere mapped to their host's address, and
// ports published on this host's address for dependents elsewhere. One
// address and port can be bound once: only one replica on the host (the
// publisher) publishes, and the name leads to it.
type Link struct {
	ExtraHosts []string
	Publish    []Publish
	publisher  int // the replica that publishes
}

// Publish is a container port a cross-host link publishes, on the same
// port number, bound to the address other hosts reach this one at, never
// to every interface.
type Publish struct {
	HostIP string
	Port   string // container port with protocol, "8080/tcp"
}

// Signature sums up the link, for a label: a change of placement that
// changes it recreates the container. No link, no signature.
func (l Link) Signature() string {
	if len(l.ExtraHosts) == 0 && len(l.Publish) == 0 {
		return ""
	}
	var parts []string
	parts = append(parts, l.ExtraHosts...)
	for _, p := range l.Publish {
		parts = append(parts, p.HostIP+":"+p.Port)
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:8])
}

// Links maps service → host → what its replicas there get.
type Links map[string]map[string]*Link

// Get returns what a replica of service on host gets.
func (l Links) Get(service, host string, replica int) Link {
	if l == nil || l[service] == nil || l[service][host] == nil {
		return Link{}
	}
	ls := *l[service][host]
	if replica != ls.publisher {
		ls.Publish = nil
	}
	return ls
}

func (l Links) at(service, host string) *Link {
	if l[service] == nil {
		l[service] = map[string]*Link{}
	}
	if l[service][host] == nil {
		l[service][host] = &Link{}
	}
	return l[service][host]
}

// linkPorts are the container ports a service declares (ports and expose):
// the only ones a cross-host link publishes.
func linkPorts(s types.ServiceConfig) []string {
	set := map[string]bool{}
	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		set[fmt.Sprintf("%d/%s", p.Target, proto)] = true
	}
	for _, e := range s.Expose {
		port, proto, ok := strings.Cut(e, "/")
		if !ok {
			proto = "tcp"
		}
		if _, err := strconv.Atoi(port); err == nil {
			set[port+"/"+proto] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// CrossHostLinks computes, for dependencies of the services in set that
// run on another host than their dependent, the name mapping (extra_hosts
// to the dependency host's address) and the publishing (the dependency's
// declared ports, bound to that address only, by one replica). hostsOf
// gives the hosts each service runs on, its replica 1's host first;
// publisherOn the replica of a service on a host that publishes (its
// lowest there). A dependency that declares no port is warned about.
func CrossHostLinks(pool Pool, services types.Services, set []string, hostsOf func(service string) []string, publisherOn func(service, host string) int) (Links, error) {
	out := Links{}
	claimed := map[string]string{} // host/ip:port → service
	for _, name := range set {
		s := services[name]
		if strings.HasPrefix(s.NetworkMode, types.ServicePrefix) || s.NetworkMode == "host" || s.NetworkMode == "none" {
			continue
		}
		for _, d := range slices.Sorted(maps.Keys(s.DependsOn)) {
			dep, ok := services[d]
			if !ok {
				continue
			}
			depHosts := hostsOf(d)
			if len(depHosts) == 0 || sharesOverlay(s, dep, pool.Overlays) {
				continue // an overlay network reaches it on every host
			}
			for _, h := range hostsOf(name) {
				if slices.Contains(depHosts, h) {
					continue // a local replica answers by DNS
				}
				target := depHosts[0]
				th, ok := pool.host(target)
				if !ok {
					continue
				}
				addr, err := hostAddress(th.Name, th.Address, th.Endpoint)
				if err != nil {
					return nil, fmt.Errorf("service %q on host %q depends on %q on host %q: %w", name, h, d, target, err)
				}
				ports := linkPorts(dep)
				if len(ports) == 0 {
					pool.Sink.warn("service %q on host %q depends on %q on host %q, which declares no ports or expose: devorch publishes only declared ports, so it cannot be reached across hosts", name, h, d, target)
				}
				ls := out.at(name, h)
				entry := d + ":" + addr
				if !slices.Contains(ls.ExtraHosts, entry) {
					ls.ExtraHosts = append(ls.ExtraHosts, entry)
				}
				pub := out.at(d, target)
				pub.publisher = publisherOn(d, target)
				for _, port := range ports {
					key := target + "/" + addr + ":" + port
					if other, ok := claimed[key]; ok && other != d {
						return nil, fmt.Errorf("services %q and %q on host %q both need port %s published on %s for dependents on other hosts; give one of them another port, keep them together with x-devorch: {colocate: true} on their network, or place them apart with deploy.placement.constraints", other, d, target, port, addr)
					}
					claimed[key] = d
					pp := Publish{HostIP: addr, Port: port}
					if !slices.Contains(pub.Publish, pp) {
						pub.Publish = append(pub.Publish, pp)
					}
				}
			}
		}
	}
	for _, byHost := range out {
		for _, l := range byHost {
			sort.Strings(l.ExtraHosts)
			sort.Slice(l.Publish, func(i, j int) bool { return l.Publish[i].Port < l.Publish[j].Port })
		}
	}
	return out, nil
}

// hostAddress is the IP other hosts reach a host's published ports at.
func hostAddress(name, address, endpoint string) (string, error) {
	if address != "" {
		if ip := net.ParseIP(address); ip != nil {
			return address, nil
		}
		ips, err := net.LookupIP(address)
		if err != nil || len(ips) == 0 {
			return "", fmt.Errorf("host %q: address %q does not resolve: %v", name, address, err)
		}
		return ips[0].String(), nil
	}
	return "", fmt.Errorf("host %q (%s) has no address other hosts can reach its published ports at; declare one: --host %s=%s;address=IP", name, endpoint, name, endpoint)
}
