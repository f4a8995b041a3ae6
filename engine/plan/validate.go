package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
)

// Port is a fixed host port a container publishes.
type Port struct {
	HostIP string // "" for every address
	Port   int
	Proto  string // tcp, udp or sctp
}

// Claim is a fixed host port that a replica the plan creates or recreates
// will publish.
type Claim struct {
	Port
	Host    string
	Service string
	Replica int
	Name    string // the container's name
}

// Claims lists, in step order, the fixed host ports the plan's created and
// recreated replicas publish: the ports the engine looks at for processes
// that hold them before it calls Validate. A published range is not
// claimed: Docker picks a free port in it.
func Claims(p *compose.Project, plan *Plan) []Claim {
	var out []Claim
	for _, st := range plan.Steps {
		if st.Action != ActCreate && st.Action != ActRecreate {
			continue
		}
		s := p.Services[st.Service]
		if strings.HasPrefix(s.NetworkMode, types.ServicePrefix) || s.NetworkMode == "host" {
			continue
		}
		for _, pc := range s.Ports {
			start, end, ok := PortRange(pc.Published)
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
			out = append(out, Claim{Port: Port{HostIP: pc.HostIP, Port: start, Proto: proto}, Host: st.Host, Service: st.Service, Replica: st.Replica, Name: st.Name})
		}
	}
	return out
}

// World is what validation must know of the hosts; the engine reads it
// before it calls Validate.
type World struct {
	// Containers is every container on each host, devorch's or not.
	Containers map[string][]Container
	// Busy is, per host, the claimed ports (see Claims) that a process
	// holds, with what binding them said; a port not there is free, or on
	// a host whose ports cannot be probed from here.
	Busy map[string]map[Port]error
}

// Validate checks, before anything is created, that the plan can succeed:
// no container name devorch would use is held by a container it does not
// own, and no published host port is taken by another container or process.
func Validate(p *compose.Project, plan *Plan, w World) error {
	if err := checkNames(p, plan, w.Containers); err != nil {
		return err
	}
	return checkPorts(p, plan, w)
}

// checkNames finds the containers that hold a name the plan creates.
func checkNames(p *compose.Project, plan *Plan, onHost map[string][]Container) error {
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
		for _, c := range onHost[st.Host] {
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
	return nil
}

// checkPorts finds the fixed host ports the plan claims twice, or that a
// container or process holds.
func checkPorts(p *compose.Project, plan *Plan, w World) error {
	// Containers this plan replaces or removes free their ports.
	leaving := map[string]bool{}
	for _, st := range plan.Steps {
		if st.Existing != nil && (st.Action == ActRecreate || st.Action == ActRemove) {
			leaving[st.Existing.ID] = true
		}
	}
	claimed := map[string][]Claim{} // host → ports claimed so far
	for _, cl := range Claims(p, plan) {
		for _, other := range claimed[cl.Host] {
			if other.Port.Port == cl.Port.Port && other.Proto == cl.Proto && ipsOverlap(other.HostIP, cl.HostIP) {
				return fmt.Errorf("service %q: port %d/%s is published by both %s and %s on host %q; a fixed host port can serve one container only (scale the service to 1 or publish a range)", cl.Service, cl.Port.Port, cl.Proto, other.Name, cl.Name, cl.Host)
			}
		}
		claimed[cl.Host] = append(claimed[cl.Host], cl)
		held := false
		for _, c := range w.Containers[cl.Host] {
			if !c.Running() {
				continue
			}
			for _, cp := range c.Ports {
				if int(cp.PublicPort) == cl.Port.Port && cp.Type == cl.Proto && ipsOverlap(cp.IP, cl.HostIP) {
					if leaving[c.ID] {
						// A container this plan replaces or removes
						// holds it now and frees it before the start.
						held = true
						continue
					}
					if c.Labels[labels.Project] == p.Name && c.Labels[labels.Service] == cl.Service && c.Replica == cl.Replica {
						held = true
						continue
					}
					return fmt.Errorf("service %q: port %d/%s is already in use by container %s on host %q", cl.Service, cl.Port.Port, cl.Proto, c.Name, cl.Host)
				}
			}
		}
		if held {
			continue
		}
		if err := w.Busy[cl.Host][cl.Port]; err != nil {
			return fmt.Errorf("service %q: port %d/%s is already in use on this machine by another process: %v", cl.Service, cl.Port.Port, cl.Proto, err)
		}
	}
	return nil
}

// PortRange reads a published port: a port or a range of them; ok is
// false when none is published (Docker picks one).
func PortRange(published string) (start, end int, ok bool) {
	if published == "" || published == "0" {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(published, "-")
	start, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	end = start
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
