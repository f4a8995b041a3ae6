package schedule

import (
	"errors"
	"testing"
)

const (
	gib = int64(1) << 30
	mib = int64(1) << 20
	cpu = int64(1e9)
)

// host is a reachable linux/amd64 host with 4 CPUs and 8GiB.
func host(name string, opts ...func(*Host)) Host {
	h := Host{Name: name, Reachable: true, NanoCPUs: 4 * cpu, MemoryBytes: 8 * gib, OS: "linux", Arch: "x86_64"}
	for _, o := range opts {
		o(&h)
	}
	return h
}

func labels(kv ...string) func(*Host) {
	return func(h *Host) {
		h.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Labels[kv[i]] = kv[i+1]
		}
	}
}

func reservedOn(nanoCPUs, mem int64) func(*Host) {
	return func(h *Host) { h.ReservedNanoCPUs, h.ReservedMemory = nanoCPUs, mem }
}

func unreachable(err string) func(*Host) {
	return func(h *Host) { h.Reachable, h.Err = false, err }
}

func used(k PortKey, who string) func(*Host) {
	return func(h *Host) {
		if h.UsedPorts == nil {
			h.UsedPorts = map[PortKey]string{}
		}
		h.UsedPorts[k] = who
	}
}

func svc(name string, opts ...func(*Service)) Service {
	s := Service{Name: name, Replicas: 1}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func replicas(n int) func(*Service) { return func(s *Service) { s.Replicas = n } }
func needs(c, m int64) func(*Service) {
	return func(s *Service) { s.ReservedNanoCPUs, s.ReservedMemory = c, m }
}
func constrained(c ...string) func(*Service)   { return func(s *Service) { s.Constraints = c } }
func publishes(k ...PortKey) func(*Service)    { return func(s *Service) { s.Ports = k } }
func onPlatform(p string) func(*Service)       { return func(s *Service) { s.Platform = p } }
func mounts(v ...string) func(*Service)        { return func(s *Service) { s.Volumes = v } }
func follows(target string) func(*Service)     { return func(s *Service) { s.Follows = target } }
func attachedTo(nets ...string) func(*Service) { return func(s *Service) { s.Networks = nets } }
func tcp(port uint16) PortKey                  { return PortKey{Port: port, Protocol: "tcp"} }
func tcpOn(ip string, port uint16) PortKey     { return PortKey{HostIP: ip, Port: port, Protocol: "tcp"} }

// hostsOf maps "service/replica" to host, for compact comparisons.
func hostsOf(res Result) map[ReplicaKey]string {
	m := map[ReplicaKey]string{}
	for _, a := range res.Assignments {
		m[ReplicaKey{a.Service, a.Replica}] = a.Host
	}
	return m
}

func find(t *testing.T, res Result, service string, replica int) Assignment {
	t.Helper()
	for _, a := range res.Assignments {
		if a.Service == service && a.Replica == replica {
			return a
		}
	}
	t.Fatalf("no assignment for %s replica %d in %+v", service, replica, res.Assignments)
	return Assignment{}
}

func mustPlace(t *testing.T, req Request) Result {
	t.Helper()
	res, err := Place(req)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	return res
}

func mustFail(t *testing.T, req Request) *Unplaceable {
	t.Helper()
	_, err := Place(req)
	var u *Unplaceable
	if !errors.As(err, &u) {
		t.Fatalf("Place: want *Unplaceable, got %v", err)
	}
	return u
}
