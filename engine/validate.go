package engine

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
)

// validate checks, before anything is created, that the plan can succeed:
// no container name devorch would use is held by a container it does not
// own, and no published host port is taken by another container or process.
func (e *Engine) validate(ctx context.Context, p *compose.Project, plan *Plan, w *world) error {
	// Containers this plan replaces or removes free their names and ports.
	leaving := map[string]bool{}
	for _, st := range plan.Steps {
		if st.Existing != nil && (st.Action == ActRecreate || st.Action == ActRemove) {
			leaving[st.Existing.ID] = true
		}
	}
	for _, st := range plan.Steps {
		if st.Action != ActCreate {
			continue
		}
		// Another project name changes the names devorch derives, not a
		// fixed container_name.
		rename := "use another project name with -p"
		if p.Services[st.Service].ContainerName != "" {
			rename = fmt.Sprintf("give service %q another container_name", st.Service)
		}
		for _, c := range w.all[st.Host] {
			if c.Name != st.Name {
				continue
			}
			switch {
			case c.Labels[labels.Project] == p.Name && c.Labels[labels.Service] == st.Service:
				continue // ours: handled by the plan
			case c.Labels[labels.Project] == p.Name:
				// Another project name would not help: the holder is ours,
				// left by a service renamed or given another container_name.
				return fmt.Errorf("service %q: container name %q is already used by container %s of service %q of this project on host %q; remove it with `docker rm -f %s`, or %s",
					st.Service, st.Name, c.ShortID(), c.Labels[labels.Service], st.Host, st.Name, rename)
			case c.Labels["com.docker.compose.project"] != "":
				return fmt.Errorf("container name %q is already used by container %s of the docker compose project %q on host %q; devorch never adopts or removes it: stop that stack with `docker compose -p %s down`, or %s",
					st.Name, c.ShortID(), c.Labels["com.docker.compose.project"], st.Host, c.Labels["com.docker.compose.project"], rename)
			case c.Labels[labels.Project] != "":
				return fmt.Errorf("container name %q is already used by container %s of devorch project %q on host %q; %s, or remove it with `devorch -p %s down`",
					st.Name, c.ShortID(), c.Labels[labels.Project], st.Host, rename, c.Labels[labels.Project])
			default:
				return fmt.Errorf("container name %q is already used by container %s on host %q, which devorch did not create; devorch never adopts or removes it: remove it with `docker rm -f %s`, or %s",
					st.Name, c.ShortID(), st.Host, st.Name, rename)
			}
		}
	}
	// Ports.
	type claim struct {
		ip, proto string
		port      int
		by        string
	}
	claims := map[string][]claim{} // host → ports claimed by this plan
	for _, st := range plan.Steps {
		if st.Action != ActCreate && st.Action != ActRecreate {
			continue
		}
		s := p.Services[st.Service]
		if strings.HasPrefix(s.NetworkMode, types.ServicePrefix) || s.NetworkMode == "host" {
			continue
		}
		for _, pc := range s.Ports {
			start, end, ok := portRange(pc.Published)
			if !ok {
				continue
			}
			proto := pc.Protocol
			if proto == "" {
				proto = "tcp"
			}
			if start != end {
				continue // a range: Docker picks a free one
			}
			cl := claim{ip: pc.HostIP, proto: proto, port: start, by: st.Name}
			for _, other := range claims[st.Host] {
				if other.port == cl.port && other.proto == cl.proto && ipsOverlap(other.ip, cl.ip) {
					return fmt.Errorf("service %q: port %d/%s is published by both %s and %s on host %q; a fixed host port can serve one container only (scale the service to 1 or publish a range)", st.Service, cl.port, proto, other.by, st.Name, st.Host)
				}
			}
			claims[st.Host] = append(claims[st.Host], cl)
			held := false
			for _, c := range w.all[st.Host] {
				if !c.Running() {
					continue
				}
				for _, cp := range c.Ports {
					if int(cp.PublicPort) == start && cp.Type == proto && ipsOverlap(cp.IP, pc.HostIP) {
						if leaving[c.ID] {
							// A container this plan replaces or removes
							// holds it now and frees it before the start.
							held = true
							continue
						}
						if c.Labels[labels.Project] == p.Name && c.Labels[labels.Service] == st.Service && c.Replica == st.Replica {
							held = true
							continue
						}
						return fmt.Errorf("service %q: port %d/%s is already in use by container %s on host %q", st.Service, start, proto, c.Name, st.Host)
					}
				}
			}
			if held {
				continue
			}
			h := e.Pool.Get(st.Host)
			if h != nil && isLocal(h.Endpoint, h.Address) {
				if err := probePort(pc.HostIP, start, proto); err != nil {
					return fmt.Errorf("service %q: port %d/%s is already in use on this machine by another process: %v", st.Service, start, proto, err)
				}
			}
		}
	}
	return nil
}

func portRange(published string) (int, int, bool) {
	if published == "" || published == "0" {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(published, "-")
	start, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	end := start
	if isRange {
		end, err = strconv.Atoi(b)
		if err != nil {
			return 0, 0, false
		}
	}
	return start, end, true
}

func ipsOverlap(a, b string) bool {
	any := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return any(a) || any(b) || a == b
}

// isLocal reports whether a host's published ports are this machine's: a
// unix socket endpoint with no separate address.
func isLocal(endpoint, address string) bool {
	return strings.HasPrefix(endpoint, "unix://") && address == ""
}

// probePort tries to bind the port, to find processes that hold it.
func probePort(ip string, port int, proto string) error {
	if ip == "" {
		ip = "0.0.0.0"
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if proto != "tcp" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
