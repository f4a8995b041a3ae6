package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
)

// labelLinks records the cross-host links a container was created with, so
// that a change of placement that changes them recreates it.
const labelLinks = labels.Prefix + "links"

// linkSpec is what cross-host links add to a service's containers on one
// host: names of dependencies elsewhere mapped to their host's address, and
// ports published on this host's address for dependents elsewhere. One
// address and port can be bound once: only one replica on the host (the
// publisher) publishes, and the name leads to it.
type linkSpec struct {
	extraHosts []string
	publish    []portPublish
	publisher  int // the replica that publishes
}

func (l linkSpec) signature() string {
	if len(l.extraHosts) == 0 && len(l.publish) == 0 {
		return ""
	}
	var parts []string
	parts = append(parts, l.extraHosts...)
	for _, p := range l.publish {
		parts = append(parts, p.hostIP+":"+p.port)
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:8])
}

// links maps service → host → what its replicas there get.
type links map[string]map[string]*linkSpec

// get returns what a replica of service on host gets.
func (l links) get(service, host string, replica int) linkSpec {
	if l == nil || l[service] == nil || l[service][host] == nil {
		return linkSpec{}
	}
	ls := *l[service][host]
	if replica != ls.publisher {
		ls.publish = nil
	}
	return ls
}

func (l links) at(service, host string) *linkSpec {
	if l[service] == nil {
		l[service] = map[string]*linkSpec{}
	}
	if l[service][host] == nil {
		l[service][host] = &linkSpec{}
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

// crossHostLinks computes, for dependencies that run on another host than
// their dependent, the name mapping (extra_hosts to the dependency host's
// address) and the publishing (the dependency's declared ports, bound to
// that address only, by one replica). hostsOf gives the hosts each service
// runs on, its replica 1's host first; publisherOn the replica of a service
// on a host that publishes (its lowest there).
func (e *Engine) crossHostLinks(p *compose.Project, set []string, hostsOf func(service string) []string, publisherOn func(service, host string) int) (links, error) {
	out := links{}
	claimed := map[string]string{} // host/ip:port → service
	for _, name := range set {
		s := p.Services[name]
		if strings.HasPrefix(s.NetworkMode, types.ServicePrefix) || s.NetworkMode == "host" || s.NetworkMode == "none" {
			continue
		}
		for _, d := range sortedKeys(s.DependsOn) {
			dep, ok := p.Services[d]
			if !ok {
				continue
			}
			depHosts := hostsOf(d)
			if len(depHosts) == 0 {
				continue
			}
			for _, h := range hostsOf(name) {
				if contains(depHosts, h) {
					continue // a local replica answers by DNS
				}
				target := depHosts[0]
				th := e.Pool.Get(target)
				if th == nil {
					continue
				}
				addr, err := hostAddress(th.Name, th.Address, th.Endpoint)
				if err != nil {
					return nil, fmt.Errorf("service %q on host %q depends on %q on host %q: %w", name, h, d, target, err)
				}
				ports := linkPorts(dep)
				if len(ports) == 0 {
					e.warn("service %q on host %q depends on %q on host %q, which declares no ports or expose: devorch publishes only declared ports, so it cannot be reached across hosts", name, h, d, target)
				}
				ls := out.at(name, h)
				entry := d + ":" + addr
				if !contains(ls.extraHosts, entry) {
					ls.extraHosts = append(ls.extraHosts, entry)
				}
				pub := out.at(d, target)
				pub.publisher = publisherOn(d, target)
				for _, port := range ports {
					key := target + "/" + addr + ":" + port
					if other, ok := claimed[key]; ok && other != d {
						return nil, fmt.Errorf("services %q and %q on host %q both need port %s published on %s for dependents on other hosts; give one of them another port, keep them together with x-devorch: {colocate: true} on their network, or place them apart with deploy.placement.constraints", other, d, target, port, addr)
					}
					claimed[key] = d
					pp := portPublish{hostIP: addr, port: port}
					if !hasPublish(pub.publish, pp) {
						pub.publish = append(pub.publish, pp)
					}
				}
			}
		}
	}
	for _, byHost := range out {
		for _, l := range byHost {
			sort.Strings(l.extraHosts)
			sort.Slice(l.publish, func(i, j int) bool { return l.publish[i].port < l.publish[j].port })
		}
	}
	return out, nil
}

func hasPublish(list []portPublish, p portPublish) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
