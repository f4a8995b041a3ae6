package engine

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/engine/usage"
	"github.com/devorch/devorch/internal/labels"
)

func testHost(name, endpoint string) *hosts.Host {
	return &hosts.Host{Spec: hosts.Spec{Name: name, Endpoint: endpoint}}
}

func running(h *hosts.Host, project, service string, replica int, mods ...func(*Container)) Container {
	c := Container{Host: h, ID: fmt.Sprintf("%s-%s-%d", project, service, replica), Name: fmt.Sprintf("%s-%s-%d", project, service, replica),
		Service: service, Replica: replica, State: "running", Labels: map[string]string{labels.Project: project}}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func TestScheduleHost(t *testing.T) {
	a := testHost("a", "unix:///var/run/docker.sock")
	a.Labels = map[string]string{"zone": "1"}
	reserve := func(c *Container) { c.Labels[labels.ReserveCPUs], c.Labels[labels.ReserveMemory] = "500000000", "1024" }
	publish := func(c *Container) {
		c.Ports = []container.Port{{IP: "127.0.0.1", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 90}}
	}
	cs := []Container{
		running(a, "p", "web", 1, reserve, publish),                                   // placed in this request: not counted
		running(a, "p", "web", 2, func(c *Container) { c.OneOff = true; reserve(c) }), // a one-off is not placed
		running(a, "p", "cache", 1, reserve),                                          // not in the run
		running(a, "q", "web", 1, reserve, publish),                                   // another project
		running(a, "q", "db", 1, reserve, func(c *Container) { c.State = "exited" }),  // not running
	}
	got := scheduleHost(a, &hostView{reachable: true, ncpu: 2, mem: 4096, os: "linux", arch: "x86_64"}, cs, "p", map[string]bool{"web": true})
	want := schedule.Host{Name: "a", Reachable: true, Labels: a.Labels, NanoCPUs: 2e9, MemoryBytes: 4096, OS: "linux", Arch: "x86_64",
		ReservedNanoCPUs: 1.5e9, ReservedMemory: 3072, Containers: 3, Local: true,
		UsedPorts: map[schedule.PortKey]string{{HostIP: "127.0.0.1", Port: 8080, Protocol: "tcp"}: "container q-web-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scheduleHost:\n got %+v\nwant %+v", got, want)
	}

	b := testHost("b", "ssh://b")
	got = scheduleHost(b, &hostView{err: errors.New("connection refused")}, nil, "p", nil)
	if got.Reachable || got.Err != "connection refused" || got.Local {
		t.Errorf("unreachable remote host: got %+v", got)
	}
}

func TestCurrentHosts(t *testing.T) {
	a, b := testHost("a", "unix://a"), testHost("b", "unix://b")
	t0 := time.Unix(1000, 0)
	at := func(ts time.Time, state string) func(*Container) {
		return func(c *Container) { c.Created, c.State = ts, state }
	}
	for _, tc := range []struct {
		name    string
		project []Container
		want    map[schedule.ReplicaKey]string
	}{
		{"one each", []Container{running(a, "p", "web", 1), running(b, "p", "web", 2)},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a", {Service: "web", Replica: 2}: "b"}},
		{"running beats newer stopped", []Container{running(a, "p", "web", 1, at(t0, "running")), running(b, "p", "web", 1, at(t0.Add(time.Hour), "exited"))},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a"}},
		{"stopped loses to running listed later", []Container{running(b, "p", "web", 1, at(t0.Add(time.Hour), "exited")), running(a, "p", "web", 1, at(t0, "running"))},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a"}},
		{"both running: newest", []Container{running(b, "p", "web", 1, at(t0.Add(time.Hour), "running")), running(a, "p", "web", 1, at(t0, "running"))},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "b"}},
		{"both running, same second, b listed first: as the plan's rule", []Container{running(b, "p", "web", 1, at(t0, "running")), running(a, "p", "web", 1, at(t0, "running"))},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a"}},
		{"both running, same second, a listed first", []Container{running(a, "p", "web", 1, at(t0, "running")), running(b, "p", "web", 1, at(t0, "running"))},
			map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a"}},
		{"one-offs and services not in the run are left out", []Container{
			running(a, "p", "web", 1, func(c *Container) { c.OneOff = true }), running(a, "p", "cache", 1)},
			map[schedule.ReplicaKey]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := currentHosts(tc.project, map[string]bool{"web": true}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScheduleService(t *testing.T) {
	ports := func(s *types.ServiceConfig) {
		s.Ports = []types.ServicePortConfig{
			{Target: 80, Published: "8080"},
			{Target: 53, Published: "5353", Protocol: "udp", HostIP: "127.0.0.1"},
			{Target: 90, Published: "9000-9001"}, // a range: Docker picks one
			{Target: 91},                         // not published
		}
	}
	fixed := []schedule.PortKey{{Port: 8080}, {HostIP: "127.0.0.1", Port: 5353, Protocol: "udp"}}
	for _, tc := range []struct {
		name    string
		s       types.ServiceConfig
		several bool
		want    schedule.Service
	}{
		{"scale, reservations, constraints, platform", svc("web", func(s *types.ServiceConfig) {
			s.Platform = "linux/arm64"
			s.Deploy = &types.DeployConfig{Placement: types.Placement{Constraints: []string{"node.labels.zone==1"}},
				Resources: types.Resources{Reservations: &types.Resource{NanoCPUs: 0.5, MemoryBytes: 1024}}}
		}), true, schedule.Service{Name: "web", Replicas: 3, Platform: "linux/arm64", Constraints: []string{"node.labels.zone==1"},
			ReservedNanoCPUs: 5e8, ReservedMemory: 1024}},
		{"fixed ports with several hosts", svc("web", ports), true,
			schedule.Service{Name: "web", Replicas: 3, Ports: fixed}},
		{"no ports with one host", svc("web", ports), false,
			schedule.Service{Name: "web", Replicas: 3}},
		{"no ports in another's namespace", svc("web", ports, func(s *types.ServiceConfig) { s.NetworkMode = "service:db" }), true,
			schedule.Service{Name: "web", Replicas: 3, Follows: "db"}},
		{"no ports or networks on the host's network", svc("web", ports, func(s *types.ServiceConfig) {
			s.NetworkMode, s.Networks = "host", map[string]*types.ServiceNetworkConfig{"front": nil}
		}), true,
			schedule.Service{Name: "web", Replicas: 3}},
		{"named volumes only, networks sorted", svc("web", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data"}, {Type: types.VolumeTypeBind, Source: "/src"}, {Type: types.VolumeTypeVolume}}
			s.Networks = map[string]*types.ServiceNetworkConfig{"front": nil, "back": nil}
		}), true, schedule.Service{Name: "web", Replicas: 3, Volumes: []string{"data"}, Networks: []string{"back", "front"}}},
		{"follows the first namespace target", svc("web", func(s *types.ServiceConfig) {
			s.Ipc, s.VolumesFrom = "service:a", []string{"b"}
		}), true, schedule.Service{Name: "web", Replicas: 3, Follows: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scheduleService(tc.s, map[string]int{"web": 3, "other": 2}, tc.several)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestProbeLocalPorts(t *testing.T) {
	k8080, k5353 := schedule.PortKey{Port: 8080}, schedule.PortKey{HostIP: "127.0.0.1", Port: 5353, Protocol: "udp"}
	k7000, k7001 := schedule.PortKey{Port: 7000}, schedule.PortKey{Port: 7001}
	hs := []schedule.Host{
		{Name: "local", Local: true, Reachable: true, UsedPorts: map[schedule.PortKey]string{k7000: "container x"}},
		{Name: "down", Local: true, UsedPorts: map[schedule.PortKey]string{}},
		{Name: "remote", Reachable: true, UsedPorts: map[schedule.PortKey]string{}},
	}
	services := []schedule.Service{
		{Name: "web", Ports: []schedule.PortKey{k8080, k5353, k7000, k7001}},
		{Name: "api", Ports: []schedule.PortKey{k8080, k5353}}, // probed once
	}
	local := testHost("local", "unix://")
	w := &world{all: map[string][]Container{"local": {running(local, "p", "web", 1, func(c *Container) {
		c.Ports = []container.Port{{PrivatePort: 80, PublicPort: 7001}}
	})}}}
	var probed []string
	probe := func(ip string, port int, proto string) error {
		probed = append(probed, fmt.Sprintf("%s:%d/%s", ip, port, proto))
		if port == 8080 {
			return errors.New("address already in use")
		}
		return nil
	}
	probeLocalPorts(hs, services, w, "p", probe)
	// 7000 is held by a container, 7001 by the project (the run may replace
	// it): neither is probed.
	if want := []string{":8080/tcp", "127.0.0.1:5353/udp"}; !slices.Equal(probed, want) {
		t.Errorf("probed %v, want %v", probed, want)
	}
	want := map[schedule.PortKey]string{k7000: "container x", k8080: "another process"}
	if !maps.Equal(hs[0].UsedPorts, want) {
		t.Errorf("local host's used ports: %v, want %v", hs[0].UsedPorts, want)
	}
	if len(hs[1].UsedPorts)+len(hs[2].UsedPorts) != 0 {
		t.Errorf("unreachable or remote hosts probed: %v %v", hs[1].UsedPorts, hs[2].UsedPorts)
	}
}

func TestPlaceRequest(t *testing.T) {
	p := testProject(t, svc("web"), svc("db"), svc("cache"))
	p.X.Strategy = "binpack"
	p.Networks = types.Networks{
		"front": {}, "back": {Extensions: types.Extensions{compose.ExtensionKey: map[string]any{"colocate": true}}},
	}
	a, b := testHost("a", "unix://a"), testHost("b", "ssh://b")
	views := map[string]*hostView{"a": {host: a, reachable: true}, "b": {host: b, err: errors.New("gone")}}
	w := &world{project: []Container{running(a, "p", "web", 1), running(a, "p", "cache", 1)},
		all: map[string][]Container{"a": {running(a, "p", "web", 1), running(a, "p", "cache", 1)}}}
	req, anyDown := placeRequest(p, []string{"db", "web"}, nil, w, []*hosts.Host{a, b}, views, true)
	if !anyDown {
		t.Error("anyDown is false with host b unreachable")
	}
	if req.Strategy != schedule.Binpack || !req.Explain {
		t.Errorf("strategy %q explain %v", req.Strategy, req.Explain)
	}
	var names []string
	for _, h := range req.Hosts {
		names = append(names, fmt.Sprintf("%s reachable=%v containers=%d", h.Name, h.Reachable, h.Containers))
	}
	if want := []string{"a reachable=true containers=1", "b reachable=false containers=0"}; !slices.Equal(names, want) {
		t.Errorf("hosts %q, want %q (cache is not placed: it counts)", names, want)
	}
	names = nil
	for _, s := range req.Services {
		names = append(names, s.Name)
	}
	if want := []string{"db", "web"}; !slices.Equal(names, want) {
		t.Errorf("services %v, want the run's, in its order", names)
	}
	if want := map[schedule.ReplicaKey]string{{Service: "web", Replica: 1}: "a"}; !maps.Equal(req.Current, want) {
		t.Errorf("current %v, want %v", req.Current, want)
	}
	if want := []schedule.Network{{Name: "back", Colocate: true}, {Name: "front"}}; !slices.Equal(req.Networks, want) {
		t.Errorf("networks %v, want %v", req.Networks, want)
	}
	if _, anyDown := placeRequest(p, []string{"web"}, nil, w, []*hosts.Host{a}, views, false); anyDown {
		t.Error("anyDown is true with every host reachable")
	}
}

func TestPlaceAround(t *testing.T) {
	hs := []schedule.Host{{Name: "a", Reachable: true}, {Name: "b", Err: "gone"}}
	services := []schedule.Service{
		{Name: "db", Replicas: 1, Constraints: []string{"node.hostname==b"}},
		{Name: "admin", Replicas: 1, Follows: "db"},
		{Name: "web", Replicas: 2},
	}
	pl, err := placeAround(schedule.Request{Hosts: hs, Services: services, Current: map[schedule.ReplicaKey]string{}}, true, schedule.Place)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(pl.failed)); !slices.Equal(got, []string{"admin", "db"}) {
		t.Errorf("failed %v, want db and what follows it", got)
	}
	if !strings.Contains(pl.failed["admin"], `cannot place service "db"`) {
		t.Errorf("admin fails with %q, want db's reason", pl.failed["admin"])
	}
	if pl.host("web", 1) != "a" || pl.host("web", 2) != "a" || pl.host("db", 1) != "" {
		t.Errorf("hosts %v", pl.hostOf)
	}
	if pl.why[schedule.ReplicaKey{Service: "web", Replica: 1}] == "" {
		t.Error("the scheduler's reason is not kept")
	}

	// With every host reachable, a replica that fits nowhere is an error.
	_, err = placeAround(schedule.Request{Hosts: hs[:1], Services: services, Current: map[schedule.ReplicaKey]string{}}, false, schedule.Place)
	var un *schedule.Unplaceable
	if !errors.As(err, &un) || un.Service != "db" {
		t.Errorf("err = %v, want db unplaceable", err)
	}
}

// TestPlaceAroundAsks checks what placeAround asks the scheduler after each
// refusal, with a scheduler that answers from a script.
func TestPlaceAroundAsks(t *testing.T) {
	unplaceable := func(service string, group ...string) error {
		return &schedule.Unplaceable{Service: service, Replica: 1, Group: group}
	}
	for _, tc := range []struct {
		name    string
		anyDown bool
		answers []error // one per call; after them, success
		asked   []string
		failed  []string
		err     string
	}{
		{name: "placed at once", anyDown: true, asked: []string{"a b c d"}},
		{name: "a service and its group, then what follows them", anyDown: true,
			answers: []error{unplaceable("a", "b")}, asked: []string{"a b c d", "d"}, failed: []string{"a", "b", "c"}},
		{name: "twice", anyDown: true,
			answers: []error{unplaceable("d"), unplaceable("a")}, asked: []string{"a b c d", "a b c", "b c"}, failed: []string{"a", "d"}},
		{name: "every host up: no way round", answers: []error{unplaceable("a")}, asked: []string{"a b c d"}, err: `cannot place service "a"`},
		{name: "not a placement failure", anyDown: true, answers: []error{errors.New("invalid")}, asked: []string{"a b c d"}, err: "invalid"},
		{name: "nothing left out: no progress", anyDown: true, answers: []error{unplaceable("x")}, asked: []string{"a b c d"}, err: `cannot place service "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			place := func(req schedule.Request) (schedule.Result, error) {
				var names []string
				for _, s := range req.Services {
					names = append(names, s.Name)
				}
				asked = append(asked, strings.Join(names, " "))
				if n := len(asked); n <= len(tc.answers) {
					return schedule.Result{}, tc.answers[n-1]
				}
				var res schedule.Result
				for _, s := range req.Services {
					res.Assignments = append(res.Assignments, schedule.Assignment{Service: s.Name, Replica: 1, Host: "h", Why: "why " + s.Name})
				}
				return res, nil
			}
			req := schedule.Request{Services: []schedule.Service{{Name: "a"}, {Name: "b"}, {Name: "c", Follows: "b"}, {Name: "d"}}}
			pl, err := placeAround(req, tc.anyDown, place)
			if !slices.Equal(asked, tc.asked) {
				t.Errorf("asked for %q, want %q", asked, tc.asked)
			}
			if !wantErr(t, err, tc.err) {
				return
			}
			if got := slices.Sorted(maps.Keys(pl.failed)); !slices.Equal(got, tc.failed) {
				t.Errorf("failed %v, want %v", got, tc.failed)
			}
			for _, s := range strings.Fields(tc.asked[len(tc.asked)-1]) {
				if pl.host(s, 1) != "h" || pl.why[schedule.ReplicaKey{Service: s, Replica: 1}] != "why "+s {
					t.Errorf("%s: host %q why %q", s, pl.host(s, 1), pl.why[schedule.ReplicaKey{Service: s, Replica: 1}])
				}
			}
		})
	}
}

// With several hosts, a service that declares no reservation is counted by
// its recorded usage (of its current configuration, else its latest
// earlier one); one without enough history is not.
func TestSoftReservationsFromHistory(t *testing.T) {
	st := usage.Open(t.TempDir())
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	m := map[usage.Key]*usage.History{}
	for _, svc := range []string{"api", "few"} {
		h := usage.NewHistory()
		n := 60
		if svc == "few" {
			n = 5
		}
		for i := 0; i < n; i++ {
			h.Add(t0.Add(time.Duration(i)*time.Second), 50, 200<<20, 0, false)
		}
		m[usage.Key{Project: "p", Service: svc, ConfigHash: "old-" + svc}] = h
	}
	if err := st.Save("p", m); err != nil {
		t.Fatal(err)
	}
	p := &compose.Project{Project: &types.Project{Name: "p"}, Hashes: map[string]string{"api": "new", "few": "new", "none": "new"}}
	e := &Engine{Pool: &hosts.Pool{Hosts: []*hosts.Host{testHost("a", "unix:///a"), testHost("b", "unix:///b")}}, Usage: st}
	services := []schedule.Service{{Name: "api"}, {Name: "few"}, {Name: "none"}}
	e.softReservations(p, services)
	if s := services[0]; s.SoftMemory < 200<<20 || s.SoftMemory > 260<<20 || s.SoftNanoCPUs < 5e8 || s.SoftNanoCPUs > 7e8 {
		t.Errorf("api: soft %d nano CPUs, %d bytes; want its recorded use with headroom", s.SoftNanoCPUs, s.SoftMemory)
	}
	if s := services[1]; s.SoftMemory != 0 || s.SoftNanoCPUs != 0 {
		t.Errorf("few (too little history): %+v", s)
	}
	if s := services[2]; s.SoftMemory != 0 {
		t.Errorf("none (no history): %+v", s)
	}
	// One host: no placement, no soft numbers.
	one := &Engine{Pool: &hosts.Pool{Hosts: []*hosts.Host{testHost("a", "unix:///a")}}, Usage: st}
	services = []schedule.Service{{Name: "api"}}
	one.softReservations(p, services)
	if services[0].SoftMemory != 0 {
		t.Error("soft numbers with one host")
	}
}
