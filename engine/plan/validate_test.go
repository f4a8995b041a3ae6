package plan

import (
	"errors"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/internal/labels"
)

func publish(ports ...types.ServicePortConfig) func(*types.ServiceConfig) {
	return func(s *types.ServiceConfig) { s.Ports = ports }
}

// held is a container on host a holding name and publishing ports.
func held(id, name, state string, l map[string]string, ports ...container.Port) Container {
	if l == nil {
		l = map[string]string{}
	}
	return Container{ID: id, Name: name, State: state, Labels: l, Ports: ports,
		Service: l[labels.Service]}
}

func ours(service string) map[string]string {
	return map[string]string{labels.Project: "p", labels.Service: service}
}

func tcp(port uint16) container.Port {
	return container.Port{IP: "0.0.0.0", PrivatePort: 80, PublicPort: port, Type: "tcp"}
}

func TestValidate(t *testing.T) {
	p := testProject(t,
		svc("web", publish(types.ServicePortConfig{Target: 80, Published: "8080"})),
		svc("dns", publish(types.ServicePortConfig{Target: 53, Published: "5353", Protocol: "udp", HostIP: "127.0.0.1"})),
		svc("fixed", func(s *types.ServiceConfig) { s.ContainerName = "the-one" }),
		svc("hostnet", func(s *types.ServiceConfig) { s.NetworkMode = "host" }, publish(types.ServicePortConfig{Target: 80, Published: "8080"})),
		svc("ranged", publish(types.ServicePortConfig{Target: 80, Published: "8080-8090"})),
		svc("both", publish(types.ServicePortConfig{Target: 80, Published: "9000"}, types.ServicePortConfig{Target: 80, Published: "9000", Protocol: "udp"})),
	)
	create := func(service string, replica int, host, name string) Step {
		return Step{Service: service, Replica: replica, Host: host, Name: name, Action: ActCreate}
	}
	act := func(a Action, service string, replica int, c Container) Step {
		return Step{Service: service, Replica: replica, Host: "a", Name: c.Name, Action: a, Existing: &c}
	}
	inUse := errors.New("listen tcp 0.0.0.0:8080: bind: address already in use")
	busy8080 := map[string]map[Port]error{"a": {{Port: 8080, Proto: "tcp"}: inUse}}
	web1 := create("web", 1, "a", "p-web-1")
	cases := []struct {
		name       string
		steps      []Step
		containers []Container // on host a
		busy       map[string]map[Port]error
		want       string
	}{
		{name: "nothing in the way", steps: []Step{web1, create("fixed", 1, "a", "the-one")}},

		// Names.
		{name: "a name held by another devorch project",
			steps:      []Step{web1},
			containers: []Container{held("0123456789abcdef", "p-web-1", "running", map[string]string{labels.Project: "q"})},
			want:       "container name \"p-web-1\" is already used by container 0123456789ab of devorch project \"q\" on host \"a\"; use another project name with -p, or remove it with `devorch -p q down`"},
		{name: "a name held by a docker compose project",
			steps:      []Step{web1},
			containers: []Container{held("0123456789abcdef", "p-web-1", "exited", map[string]string{"com.docker.compose.project": "p"})},
			want:       "container name \"p-web-1\" is already used by container 0123456789ab of the docker compose project \"p\" on host \"a\"; devorch never adopts or removes it: stop that stack with `docker compose -p p down`, or use another project name with -p"},
		{name: "a name held by a container devorch did not create",
			steps:      []Step{create("fixed", 1, "a", "the-one")},
			containers: []Container{held("abc", "the-one", "running", nil)},
			want:       "container name \"the-one\" is already used by container abc on host \"a\", which devorch did not create; devorch never adopts or removes it: remove it with `docker rm -f the-one`, or give service \"fixed\" another container_name"},
		{name: "a container_name held by this project's renamed service",
			steps:      []Step{create("fixed", 1, "a", "the-one")},
			containers: []Container{held("0123456789abcdef", "the-one", "running", ours("first"))},
			want:       "service \"fixed\": container name \"the-one\" is already used by container 0123456789ab of service \"first\" of this project on host \"a\"; remove it with `docker rm -f the-one`, or give service \"fixed\" another container_name"},
		{name: "a name held by the service's own container is the plan's to handle",
			steps:      []Step{web1},
			containers: []Container{held("old", "p-web-1", "exited", ours("web"))}},
		{name: "a name held on another host",
			steps:      []Step{create("web", 1, "b", "p-web-1")},
			containers: []Container{held("x", "p-web-1", "running", nil)}},
		{name: "only created containers need their name",
			steps:      []Step{act(ActKeep, "fixed", 1, held("x", "the-one", "running", nil))},
			containers: []Container{held("x", "the-one", "running", nil)}},
		{name: "names are checked before ports",
			steps:      []Step{web1},
			containers: []Container{held("x", "p-web-1", "running", nil, tcp(8080))},
			want:       "container name \"p-web-1\" is already used by container x on host \"a\", which devorch did not create; devorch never adopts or removes it: remove it with `docker rm -f p-web-1`, or use another project name with -p"},

		// Ports held by containers.
		{name: "a port held by another container",
			steps:      []Step{web1},
			containers: []Container{held("x", "other", "running", nil, tcp(8080))},
			want:       `service "web": port 8080/tcp is already in use by container other on host "a"`},
		{name: "a port held by another replica of the service",
			steps:      []Step{web1},
			containers: []Container{held("x", "p-web-2", "running", ours("web"), tcp(8080))},
			want:       `service "web": port 8080/tcp is already in use by container p-web-2 on host "a"`},
		{name: "a port held by the replica itself",
			steps:      []Step{web1},
			containers: []Container{func() Container { c := held("x", "old", "running", ours("web"), tcp(8080)); c.Replica = 1; return c }()}},
		{name: "a port held by the same replica of another service",
			steps: []Step{web1},
			containers: []Container{func() Container {
				c := held("x", "p-api-1", "running", ours("api"), tcp(8080))
				c.Replica = 1
				return c
			}()},
			want: `service "web": port 8080/tcp is already in use by container p-api-1 on host "a"`},
		{name: "a port held by the same replica of another project",
			steps: []Step{web1},
			containers: []Container{func() Container {
				c := held("x", "q-web-1", "running", map[string]string{labels.Project: "q", labels.Service: "web"}, tcp(8080))
				c.Replica = 1
				return c
			}()},
			want: `service "web": port 8080/tcp is already in use by container q-web-1 on host "a"`},
		{name: "a port held by a stopped container",
			steps:      []Step{web1},
			containers: []Container{held("x", "other", "exited", nil, tcp(8080))}},
		{name: "a port held on another address",
			steps:      []Step{create("dns", 1, "a", "p-dns-1")},
			containers: []Container{held("x", "other", "running", nil, container.Port{IP: "10.0.0.1", PublicPort: 5353, Type: "udp"})}},
		{name: "a port held on every address",
			steps:      []Step{create("dns", 1, "a", "p-dns-1")},
			containers: []Container{held("x", "other", "running", nil, container.Port{IP: "::", PublicPort: 5353, Type: "udp"})},
			want:       `service "dns": port 5353/udp is already in use by container other on host "a"`},
		{name: "a port held on one address, published on every address",
			steps:      []Step{web1},
			containers: []Container{held("x", "other", "running", nil, container.Port{IP: "10.0.0.1", PublicPort: 8080, Type: "tcp"})},
			want:       `service "web": port 8080/tcp is already in use by container other on host "a"`},
		{name: "a port held for another protocol",
			steps:      []Step{create("dns", 1, "a", "p-dns-1")},
			containers: []Container{held("x", "other", "running", nil, container.Port{PublicPort: 5353, Type: "tcp"})}},
		{name: "a port held on another host",
			steps:      []Step{create("web", 1, "b", "p-web-1")},
			containers: []Container{held("x", "other", "running", nil, tcp(8080))}},

		// Containers leaving free their ports.
		{name: "a recreated container frees its port",
			steps:      []Step{act(ActRecreate, "web", 1, held("x", "p-web-1", "running", ours("web"), tcp(8080)))},
			containers: []Container{held("x", "p-web-1", "running", ours("web"), tcp(8080))}},
		{name: "a removed container frees its port",
			steps:      []Step{act(ActRemove, "gone", 1, held("x", "p-gone-1", "running", ours("gone"), tcp(8080))), web1},
			containers: []Container{held("x", "p-gone-1", "running", ours("gone"), tcp(8080))}},
		{name: "a kept container keeps its port",
			steps:      []Step{act(ActKeep, "gone", 1, held("x", "p-gone-1", "running", ours("gone"), tcp(8080))), web1},
			containers: []Container{held("x", "p-gone-1", "running", ours("gone"), tcp(8080))},
			want:       `service "web": port 8080/tcp is already in use by container p-gone-1 on host "a"`},

		// Ports held by processes.
		{name: "a port held by a process",
			steps: []Step{web1}, busy: busy8080,
			want: `service "web": port 8080/tcp is already in use on this machine by another process: listen tcp 0.0.0.0:8080: bind: address already in use`},
		{name: "a port a leaving container holds is not a process's",
			steps:      []Step{act(ActRecreate, "web", 1, held("x", "p-web-1", "running", ours("web"), tcp(8080)))},
			containers: []Container{held("x", "p-web-1", "running", ours("web"), tcp(8080))},
			busy:       busy8080},
		{name: "a busy port on another host",
			steps: []Step{create("web", 1, "b", "p-web-1")}, busy: busy8080},
		{name: "a published range is Docker's to pick from",
			steps: []Step{create("ranged", 1, "a", "p-ranged-1")}, busy: busy8080,
			containers: []Container{held("x", "other", "running", nil, tcp(8080))}},
		{name: "network_mode host publishes nothing",
			steps: []Step{create("hostnet", 1, "a", "p-hostnet-1")}, busy: busy8080,
			containers: []Container{held("x", "other", "running", nil, tcp(8080))}},

		// Ports claimed twice by the plan.
		{name: "two replicas on one host cannot share a fixed port",
			steps: []Step{web1, create("web", 2, "a", "p-web-2")},
			want:  `service "web": port 8080/tcp is published by both p-web-1 and p-web-2 on host "a"; a fixed host port can serve one container only (scale the service to 1 or publish a range)`},
		{name: "two replicas on two hosts each have the port",
			steps: []Step{web1, create("web", 2, "b", "p-web-2")}},
		{name: "two replicas on another host cannot share a fixed port",
			steps: []Step{web1, create("web", 2, "b", "p-web-2"), create("web", 3, "b", "p-web-3")},
			want:  `service "web": port 8080/tcp is published by both p-web-2 and p-web-3 on host "b"; a fixed host port can serve one container only (scale the service to 1 or publish a range)`},
		{name: "one port number for two protocols",
			steps: []Step{create("both", 1, "a", "p-both-1")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(p, &Plan{Steps: c.steps}, World{Containers: map[string][]Container{"a": c.containers}, Busy: c.busy})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Errorf("got %v\nwant %s", err, c.want)
			}
		})
	}
}

// TestClaims: the ports the engine probes for processes are the fixed
// ports of what the plan creates or recreates.
func TestClaims(t *testing.T) {
	p := testProject(t,
		svc("web", publish(types.ServicePortConfig{Target: 80, Published: "8080"}, types.ServicePortConfig{Target: 443, Published: "8443", HostIP: "127.0.0.1"})),
		svc("dns", publish(types.ServicePortConfig{Target: 53, Published: "53", Protocol: "udp"})),
		svc("side", func(s *types.ServiceConfig) { s.NetworkMode = "service:web" }, publish(types.ServicePortConfig{Target: 80, Published: "9000"})),
		svc("ranged", publish(types.ServicePortConfig{Target: 80, Published: "7000-7010"}, types.ServicePortConfig{Target: 81}, types.ServicePortConfig{Target: 82, Published: "0"})),
	)
	steps := []Step{
		{Service: "web", Replica: 2, Host: "a", Name: "p-web-2", Action: ActRecreate},
		{Service: "web", Replica: 1, Host: "a", Name: "p-web-1", Action: ActKeep},
		{Service: "web", Replica: 3, Host: "a", Name: "p-web-3", Action: ActStart},
		{Service: "web", Replica: 4, Host: "a", Name: "p-web-4", Action: ActRestart},
		{Service: "web", Replica: 5, Host: "a", Name: "p-web-5", Action: ActRemove},
		{Service: "dns", Replica: 1, Host: "b", Name: "p-dns-1", Action: ActCreate},
		{Service: "side", Replica: 1, Host: "a", Name: "p-side-1", Action: ActCreate},
		{Service: "ranged", Replica: 1, Host: "a", Name: "p-ranged-1", Action: ActCreate},
	}
	want := []Claim{
		{Port: Port{Port: 8080, Proto: "tcp"}, Host: "a", Service: "web", Replica: 2, Name: "p-web-2"},
		{Port: Port{HostIP: "127.0.0.1", Port: 8443, Proto: "tcp"}, Host: "a", Service: "web", Replica: 2, Name: "p-web-2"},
		{Port: Port{Port: 53, Proto: "udp"}, Host: "b", Service: "dns", Replica: 1, Name: "p-dns-1"},
	}
	if got := Claims(p, &Plan{Steps: steps}); !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestPortRange(t *testing.T) {
	cases := []struct {
		published  string
		start, end int
		ok         bool
	}{
		{"8080", 8080, 8080, true},
		{"8080-8090", 8080, 8090, true},
		{"", 0, 0, false},
		{"0", 0, 0, false},
		{"x", 0, 0, false},
		{"8080-x", 0, 0, false},
	}
	for _, c := range cases {
		start, end, ok := PortRange(c.published)
		if start != c.start || end != c.end || ok != c.ok {
			t.Errorf("%q: got %d, %d, %v; want %d, %d, %v", c.published, start, end, ok, c.start, c.end, c.ok)
		}
	}
}
