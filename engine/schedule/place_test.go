package schedule

import (
	"errors"
	"maps"
	"reflect"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		name     string
		hosts    []Host
		svc      Service
		wantHost string
		wantWhy  string
	}{
		{"least reserved", []Host{host("a", reservedOn(2*cpu, 4*gib)), host("b", reservedOn(cpu, gib)), host("c", reservedOn(3*cpu, 0))},
			svc("api", needs(cpu/2, 0)), "b", "spread: least reserved"},
		{"fraction of capacity", []Host{host("a", reservedOn(cpu, 0)), host("b", reservedOn(cpu, 0), func(h *Host) { h.NanoCPUs = 16 * cpu })},
			svc("api"), "b", "spread: least reserved"},
		{"fewest containers", []Host{host("a", func(h *Host) { h.Containers = 3 }), host("b", func(h *Host) { h.Containers = 1 })},
			svc("api"), "b", "spread: fewest containers"},
		{"by name", []Host{host("b"), host("a")}, svc("api"), "a", "spread: first by name"},
		{"only feasible", []Host{host("a", unreachable("x")), host("b")}, svc("api"), "b", "only feasible host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := find(t, mustPlace(t, Request{Hosts: c.hosts, Services: []Service{c.svc}}), c.svc.Name, 1)
			if a.Host != c.wantHost || a.Why != c.wantWhy {
				t.Errorf("got %s (%s), want %s (%s)", a.Host, a.Why, c.wantHost, c.wantWhy)
			}
		})
	}
}

func TestSpreadScores(t *testing.T) {
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a", reservedOn(2*cpu, 4*gib)), host("b"), host("c", unreachable("down"))},
		Services: []Service{svc("api", needs(2*cpu, 0))},
		Explain:  true,
	})
	want := []HostVerdict{
		// a: cpu (2+2)/4 = 1, mem 4/8 = 0.5 → 75% reserved.
		{Host: "a", Feasible: true, Score: 25, Reason: "feasible"},
		// b: cpu 2/4, mem 0 → 25% reserved.
		{Host: "b", Placed: true, Feasible: true, Score: 75, Reason: "spread: least reserved"},
		{Host: "c", Reason: "unreachable: down"},
	}
	if got := res.Reasons[ReplicaKey{"api", 1}]; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestBinpack(t *testing.T) {
	small := func(name string) Host { return host(name, func(h *Host) { h.NanoCPUs, h.MemoryBytes = 2*cpu, 0 }) }
	res := mustPlace(t, Request{
		Strategy: Binpack,
		Hosts:    []Host{small("b"), small("a"), small("c")},
		Services: []Service{svc("x", needs(cpu, 0)), svc("y", needs(cpu, 0)), svc("z", needs(cpu, 0), replicas(2))},
		Explain:  true,
	})
	got := hostsOf(res)
	want := map[ReplicaKey]string{{"x", 1}: "a", {"y", 1}: "a", {"z", 1}: "b", {"z", 2}: "b"}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if a := find(t, res, "x", 1); a.Why != "binpack: first by name" {
		t.Errorf("x: %s", a.Why)
	}
	if a := find(t, res, "y", 1); a.Why != "binpack: most reserved" {
		t.Errorf("y: %s", a.Why)
	}
	if v := res.Reasons[ReplicaKey{"y", 1}][0]; v.Score != 100 || !v.Placed {
		t.Errorf("y on a: %+v", v)
	}
}

func TestReplicaSpread(t *testing.T) {
	three := []Host{host("a"), host("b"), host("c")}
	for _, c := range []struct {
		name     string
		strategy Strategy
		hosts    []Host
		replicas int
		want     map[string]int
	}{
		{"one per host", Spread, three, 3, map[string]int{"a": 1, "b": 1, "c": 1}},
		{"evenly", Spread, three[:2], 5, map[string]int{"a": 3, "b": 2}},
		{"binpack packs", Binpack, three, 3, map[string]int{"a": 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := mustPlace(t, Request{Strategy: c.strategy, Hosts: c.hosts, Services: []Service{svc("web", replicas(c.replicas))}})
			got := map[string]int{}
			for _, a := range res.Assignments {
				got[a.Host]++
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	// The replica penalty beats reservations: a replica goes to a busier
	// host rather than beside its sibling.
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b", reservedOn(3*cpu, 0))},
		Services: []Service{svc("web", replicas(2))},
	})
	if a := find(t, res, "web", 2); a.Host != "b" || a.Why != "spread: fewest replicas of this service" {
		t.Errorf("web 2: %+v", a)
	}
}

func TestAssignmentsSorted(t *testing.T) {
	res := mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("web", replicas(2)), svc("db"), svc("api", follows("web")), svc("none", replicas(0))},
	})
	var got []ReplicaKey
	for _, a := range res.Assignments {
		got = append(got, ReplicaKey{a.Service, a.Replica})
	}
	want := []ReplicaKey{{"api", 1}, {"db", 1}, {"web", 1}, {"web", 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSticky(t *testing.T) {
	hosts := func() []Host { return []Host{host("a", reservedOn(3*cpu, 0)), host("b"), host("c")} }
	for _, c := range []struct {
		name      string
		hosts     []Host
		services  []Service
		current   map[ReplicaKey]string
		want      map[ReplicaKey]string
		wantMoved map[ReplicaKey]bool
		wantWhy   map[ReplicaKey]string
	}{
		{
			name:     "kept on a worse host",
			hosts:    hosts(),
			services: []Service{svc("api", needs(cpu, 0))},
			current:  map[ReplicaKey]string{{"api", 1}: "a"},
			want:     map[ReplicaKey]string{{"api", 1}: "a"},
			wantWhy:  map[ReplicaKey]string{{"api", 1}: "kept"},
		},
		{
			name:      "moved off an unreachable host",
			hosts:     append(hosts()[1:], host("a", unreachable("connection refused"))),
			services:  []Service{svc("api")},
			current:   map[ReplicaKey]string{{"api", 1}: "a"},
			want:      map[ReplicaKey]string{{"api", 1}: "b"},
			wantMoved: map[ReplicaKey]bool{{"api", 1}: true},
			wantWhy:   map[ReplicaKey]string{{"api", 1}: "spread: first by name"},
		},
		{
			name:      "moved off a removed host",
			hosts:     hosts()[1:],
			services:  []Service{svc("api")},
			current:   map[ReplicaKey]string{{"api", 1}: "gone"},
			want:      map[ReplicaKey]string{{"api", 1}: "b"},
			wantMoved: map[ReplicaKey]bool{{"api", 1}: true},
		},
		{
			name:      "moved when its reservation no longer fits",
			hosts:     hosts(),
			services:  []Service{svc("api", needs(2*cpu, 0))},
			current:   map[ReplicaKey]string{{"api", 1}: "a"},
			want:      map[ReplicaKey]string{{"api", 1}: "b"},
			wantMoved: map[ReplicaKey]bool{{"api", 1}: true},
		},
		{
			// api sorts first but web already holds port 80 on b.
			name:     "existing replicas keep their ports before new ones are placed",
			hosts:    []Host{host("a"), host("b")},
			services: []Service{svc("api", publishes(tcp(80))), svc("web", publishes(tcp(80)))},
			current:  map[ReplicaKey]string{{"web", 1}: "a"},
			want:     map[ReplicaKey]string{{"api", 1}: "b", {"web", 1}: "a"},
		},
		{
			name:     "scaled up: new replicas spread around kept ones",
			hosts:    []Host{host("a"), host("b"), host("c")},
			services: []Service{svc("web", replicas(3))},
			current:  map[ReplicaKey]string{{"web", 2}: "a", {"web", 5}: "c"},
			want:     map[ReplicaKey]string{{"web", 1}: "b", {"web", 2}: "a", {"web", 3}: "c"},
			wantWhy:  map[ReplicaKey]string{{"web", 2}: "kept", {"web", 3}: "spread: fewest replicas of this service"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := mustPlace(t, Request{Hosts: c.hosts, Services: c.services, Current: c.current})
			if got := hostsOf(res); !maps.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for _, a := range res.Assignments {
				k := ReplicaKey{a.Service, a.Replica}
				if a.Moved != c.wantMoved[k] {
					t.Errorf("%v moved=%v", k, a.Moved)
				}
				if w, ok := c.wantWhy[k]; ok && a.Why != w {
					t.Errorf("%v why %q, want %q", k, a.Why, w)
				}
			}
		})
	}
}

func TestFollows(t *testing.T) {
	hosts := []Host{host("a"), host("b", labels("db", "yes")), host("c")}
	res := mustPlace(t, Request{
		Hosts: hosts,
		Services: []Service{
			svc("app", follows("db"), replicas(2)),
			svc("db", constrained("node.labels.db==yes"), replicas(2)),
			svc("sidecar", follows("app")),
		},
	})
	want := map[ReplicaKey]string{{"app", 1}: "b", {"app", 2}: "b", {"db", 1}: "b", {"db", 2}: "b", {"sidecar", 1}: "b"}
	if got := hostsOf(res); !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, why := range map[ReplicaKey]string{{"app", 1}: "follows db", {"app", 2}: "follows db", {"sidecar", 1}: "follows app", {"db", 1}: "only feasible host"} {
		if a := find(t, res, k.Service, k.Replica); a.Why != why {
			t.Errorf("%v: why %q, want %q", k, a.Why, why)
		}
	}

	// Only replica 1 of a followed service is tied to its follower.
	res = mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("db", replicas(2)), svc("proxy", follows("db"))},
	})
	if got := hostsOf(res); got[ReplicaKey{"db", 1}] != got[ReplicaKey{"proxy", 1}] || got[ReplicaKey{"db", 2}] == got[ReplicaKey{"db", 1}] {
		t.Errorf("got %v", got)
	}

	// Outside the request, the target's current host pins the follower.
	res = mustPlace(t, Request{
		Hosts:    []Host{host("a"), host("b")},
		Services: []Service{svc("debug", follows("db"))},
		Current:  map[ReplicaKey]string{{"db", 1}: "b"},
	})
	if a := find(t, res, "debug", 1); a.Host != "b" || a.Why != "follows db on b" {
		t.Errorf("got %+v", a)
	}
}

func TestFollowsUnplaceable(t *testing.T) {
	u := mustFail(t, Request{
		Hosts: []Host{host("a"), host("b", reservedOn(3*cpu, 0))},
		Services: []Service{
			svc("db", constrained("node.hostname==b")),
			svc("app", follows("db"), needs(2*cpu, 0)),
		},
	})
	want := `cannot place service "db" (replica 1) with "app" on one host:
  a: constraint node.hostname==b not met (hostname=a)
  b: app replica 1: needs 2 CPUs, 1 free`
	if u.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want)
	}
}

func TestFollowsInvalid(t *testing.T) {
	for _, c := range []struct {
		name     string
		services []Service
		want     string
	}{
		{"cycle", []Service{svc("a", follows("b")), svc("b", follows("c")), svc("c", follows("a")), svc("d", follows("a"))},
			`follow cycle: "a" follows "b" follows "c" follows "a"`},
		{"self", []Service{svc("a", follows("a"))}, `follow cycle: "a" follows "a"`},
		{"unknown", []Service{svc("a", follows("ghost"))}, `service "a": follows "ghost", which is neither in this placement nor running`},
		{"scaled to zero", []Service{svc("a", follows("b")), svc("b", replicas(0))}, `service "a": follows "b", which has 0 replicas`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Place(Request{Hosts: []Host{host("a")}, Services: c.services})
			var inv *InvalidRequest
			if !errors.As(err, &inv) || err.Error() != c.want {
				t.Errorf("got %v, want %s", err, c.want)
			}
		})
	}
}

func TestVolumes(t *testing.T) {
	hosts := []Host{host("a"), host("b"), host("c")}
	res := mustPlace(t, Request{
		Hosts:       hosts,
		Services:    []Service{svc("db", mounts("data"), replicas(2)), svc("backup", mounts("data")), svc("cache", mounts("scratch")), svc("web")},
		VolumeHosts: map[string]string{"data": "b"},
	})
	want := map[ReplicaKey]string{{"backup", 1}: "b", {"cache", 1}: "a", {"db", 1}: "b", {"db", 2}: "b", {"web", 1}: "c"}
	if got := hostsOf(res); !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if a := find(t, res, "db", 1); a.Why != "volume data on b" {
		t.Errorf("db: %q", a.Why)
	}
	if a := find(t, res, "db", 2); a.Why != "volume data on b" {
		t.Errorf("db 2: %q", a.Why)
	}
	if want := map[string]string{"data": "b", "scratch": "a"}; !maps.Equal(res.VolumeHosts, want) {
		t.Errorf("volume hosts %v, want %v", res.VolumeHosts, want)
	}

	// A volume nobody placed yet is pinned by its first user.
	res = mustPlace(t, Request{
		Hosts:    []Host{host("a", func(h *Host) { h.Containers = 5 }), host("b")},
		Services: []Service{svc("writer", mounts("shared")), svc("reader", mounts("shared"))},
	})
	if a, b := find(t, res, "reader", 1), find(t, res, "writer", 1); a.Host != "b" || b.Host != "b" || b.Why != "volume shared with reader" {
		t.Errorf("reader %+v writer %+v", a, b)
	}

	// Data on an unreachable host: every host says why.
	u := mustFail(t, Request{
		Hosts:       []Host{host("a"), host("b", unreachable("timeout"))},
		Services:    []Service{svc("db", mounts("data"))},
		VolumeHosts: map[string]string{"data": "b"},
	})
	want2 := "cannot place service \"db\" (replica 1):\n  a: volume data is on b\n  b: unreachable: timeout"
	if u.Error() != want2 {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want2)
	}
	u = mustFail(t, Request{Hosts: []Host{host("a")}, Services: []Service{svc("db", mounts("data"))}, VolumeHosts: map[string]string{"data": "gone"}})
	if want := "cannot place service \"db\" (replica 1):\n  a: volume data is on gone, which is not a known host"; u.Error() != want {
		t.Errorf("got\n%s", u.Error())
	}
}

func TestColocate(t *testing.T) {
	req := Request{
		Hosts: []Host{host("a", func(h *Host) { h.Containers = 9 }), host("b"), host("c")},
		Services: []Service{
			svc("api", attachedTo("backend", "front")),
			svc("db", attachedTo("backend")),
			svc("worker", attachedTo("backend"), replicas(2)),
			svc("web", attachedTo("front")),
			svc("lone", attachedTo("front")),
		},
		Networks: []Network{{Name: "backend", Colocate: true}, {Name: "front"}},
	}
	res := mustPlace(t, req)
	got := hostsOf(res)
	for _, k := range []ReplicaKey{{"db", 1}, {"worker", 1}, {"worker", 2}} {
		if got[k] != got[ReplicaKey{"api", 1}] {
			t.Errorf("%v on %s, api on %s", k, got[k], got[ReplicaKey{"api", 1}])
		}
	}
	if got[ReplicaKey{"api", 1}] != "b" || got[ReplicaKey{"lone", 1}] != "c" || got[ReplicaKey{"web", 1}] != "c" {
		t.Errorf("got %v", got)
	}
	for k, why := range map[ReplicaKey]string{
		{"api", 1}:    "spread: first by name",
		{"db", 1}:     "colocated network backend with api",
		{"worker", 2}: "colocated network backend with api",
	} {
		if a := find(t, res, k.Service, k.Replica); a.Why != why {
			t.Errorf("%v: %q, want %q", k, a.Why, why)
		}
	}
}

// The group goes to the best host where all of it fits, not where its
// first service alone fits best.
func TestColocateFitsTogether(t *testing.T) {
	res := mustPlace(t, Request{
		Hosts: []Host{host("a"), host("b", reservedOn(cpu, 0))},
		Services: []Service{
			svc("api", attachedTo("backend"), needs(cpu, 0)),
			svc("db", attachedTo("backend"), needs(3*cpu, 0)),
		},
		Networks: []Network{{Name: "backend", Colocate: true}},
		Explain:  true,
	})
	if got := hostsOf(res); got[ReplicaKey{"api", 1}] != "a" || got[ReplicaKey{"db", 1}] != "a" {
		t.Errorf("got %v", got)
	}
	res = mustPlace(t, Request{
		Hosts: []Host{host("a", reservedOn(cpu, 0)), host("b")},
		Services: []Service{
			svc("api", attachedTo("backend"), publishes(tcp(80))),
			svc("db", attachedTo("backend"), needs(3*cpu+cpu/2, 0)),
		},
		Networks: []Network{{Name: "backend", Colocate: true}},
		Current:  map[ReplicaKey]string{{"api", 1}: "a"},
		Explain:  true,
	})
	if a := find(t, res, "api", 1); a.Host != "b" || !a.Moved || a.Why != "spread: least reserved" {
		t.Errorf("api: %+v", a)
	}
	want := []HostVerdict{
		{Host: "a", Reason: "db replica 1: needs 3.5 CPUs, 3 free"},
		{Host: "b", Placed: true, Feasible: true, Score: 100, Reason: "spread: least reserved"},
	}
	if got := res.Reasons[ReplicaKey{"api", 1}]; !reflect.DeepEqual(got, want) {
		t.Errorf("api verdicts %+v", got)
	}
	want = []HostVerdict{
		{Host: "a", Reason: "colocated network backend is on b (with api)"},
		{Host: "b", Placed: true, Feasible: true, Score: 56.25, Reason: "colocated network backend with api"},
	}
	if got := res.Reasons[ReplicaKey{"db", 1}]; !reflect.DeepEqual(got, want) {
		t.Errorf("db verdicts %+v", got)
	}
}

func TestAffinityConflict(t *testing.T) {
	u := mustFail(t, Request{
		Hosts: []Host{host("a"), host("b"), host("c")},
		Services: []Service{
			svc("api", attachedTo("backend"), mounts("uploads")),
			svc("db", attachedTo("backend"), mounts("data")),
			svc("cache", attachedTo("backend")),
		},
		Networks:    []Network{{Name: "backend", Colocate: true}},
		VolumeHosts: map[string]string{"uploads": "a", "data": "b"},
	})
	want := `cannot place service "api" (replica 1) with "cache", "db" on one host: volume "uploads" of api is on a, but volume "data" of db is on b:
  a: volume data is on b
  b: volume uploads is on a
  c: volume uploads is on a`
	if u.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want)
	}
	if u.Conflict == "" || !reflect.DeepEqual(u.Group, []string{"cache", "db"}) {
		t.Errorf("%+v", u)
	}

	// Follow and volume pins that disagree.
	u = mustFail(t, Request{
		Hosts:       []Host{host("a"), host("b")},
		Services:    []Service{svc("debug", follows("db"), mounts("logs"))},
		Current:     map[ReplicaKey]string{{"db", 1}: "a"},
		VolumeHosts: map[string]string{"logs": "b"},
	})
	want = `cannot place service "debug" (replica 1): debug follows "db", which runs on a, but volume "logs" of debug is on b:
  a: volume logs is on b
  b: follows db, which runs on a`
	if u.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want)
	}
}

// The brief's example: every host listed with its reason, by name.
func TestUnplaceableText(t *testing.T) {
	eu := labels("zone", "eu")
	u := mustFail(t, Request{
		Hosts: []Host{
			host("e", eu),
			host("d", labels("zone", "us")),
			host("c", unreachable("dial unix /var/run/docker.sock: connect: connection refused")),
			host("b", eu, reservedOn(3*cpu+cpu/2, 0)),
			host("a", eu, used(tcp(8080), "container web-1")),
		},
		Services: []Service{svc("api", replicas(2), needs(2*cpu, 0), publishes(tcp(8080)), constrained("node.labels.zone==eu"))},
	})
	want := `cannot place service "api" (replica 2):
  a: port 8080/tcp held by container web-1
  b: needs 2 CPUs, 0.5 free
  c: unreachable: dial unix /var/run/docker.sock: connect: connection refused
  d: constraint node.labels.zone==eu not met (zone=us)
  e: port 8080/tcp held by api replica 1 (placed here)`
	if u.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want)
	}
	if u.Service != "api" || u.Replica != 2 || len(u.PerHost) != 5 {
		t.Errorf("%+v", u)
	}
	if u := mustFail(t, Request{Services: []Service{svc("api")}}); u.Error() != `cannot place service "api" (replica 1): no hosts` {
		t.Errorf("got %s", u.Error())
	}
}

func TestInvalidRequest(t *testing.T) {
	for _, c := range []struct {
		name string
		req  Request
		want string
	}{
		{"duplicate host", Request{Hosts: []Host{host("a"), host("a")}}, `host "a" is listed twice`},
		{"unnamed host", Request{Hosts: []Host{{}}}, `host 0 has no name`},
		{"duplicate service", Request{Services: []Service{svc("x"), svc("x")}}, `service "x": listed twice`},
		{"negative replicas", Request{Services: []Service{svc("x", replicas(-1))}}, `service "x": negative replicas or reservation`},
		{"strategy", Request{Strategy: "random"}, `unknown strategy "random" (want spread or binpack)`},
		{"port twice", Request{Services: []Service{svc("x", publishes(tcp(80), tcpOn("127.0.0.1", 80)))}},
			`service "x": publishes port 80/tcp twice (127.0.0.1:80/tcp)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Place(c.req)
			var inv *InvalidRequest
			if !errors.As(err, &inv) || err.Error() != c.want {
				t.Errorf("got %v, want %s", err, c.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	req := Request{
		Hosts:    []Host{host("a"), host("b", unreachable("down")), host("c", labels("zone", "eu"))},
		Services: []Service{svc("web", replicas(2), constrained("node.labels.zone!=us")), svc("db", mounts("data"))},
		Current:  map[ReplicaKey]string{{"web", 1}: "c"},
	}
	fast := mustPlace(t, req)
	req.Explain = true
	slow := mustPlace(t, req)
	if !reflect.DeepEqual(fast.Assignments, slow.Assignments) || fast.Reasons != nil {
		t.Fatalf("explain changed the placement:\n%+v\n%+v", fast.Assignments, slow.Assignments)
	}
	want := map[ReplicaKey][]HostVerdict{
		{"web", 1}: {
			{Host: "a", Feasible: true, Score: 100, Reason: "feasible"},
			{Host: "b", Reason: "unreachable: down"},
			{Host: "c", Placed: true, Feasible: true, Score: 100, Reason: "kept"},
		},
		{"db", 1}: {
			{Host: "a", Placed: true, Feasible: true, Score: 100, Reason: "spread: fewest containers"},
			{Host: "b", Reason: "unreachable: down"},
			{Host: "c", Feasible: true, Score: 100, Reason: "feasible"},
		},
		{"web", 2}: {
			{Host: "a", Placed: true, Feasible: true, Score: 100, Reason: "spread: fewest replicas of this service"},
			{Host: "b", Reason: "unreachable: down"},
			{Host: "c", Feasible: true, Score: 100, Reason: "feasible; already runs 1 replica(s) of web"},
		},
	}
	if !reflect.DeepEqual(slow.Reasons, want) {
		t.Errorf("got  %+v\nwant %+v", slow.Reasons, want)
	}
}

func TestStickyGroup(t *testing.T) {
	req := Request{
		Hosts:    []Host{host("a"), host("b", reservedOn(2*cpu, 0))},
		Services: []Service{svc("api", attachedTo("backend")), svc("db", attachedTo("backend"))},
		Networks: []Network{{Name: "backend", Colocate: true}},
		Current:  map[ReplicaKey]string{{"api", 1}: "b", {"db", 1}: "b"},
	}
	res := mustPlace(t, req)
	if a, d := find(t, res, "api", 1), find(t, res, "db", 1); a.Host != "b" || a.Why != "kept" || d.Host != "b" || d.Moved {
		t.Errorf("api %+v db %+v", a, d)
	}
	// Split across hosts: the group joins the first current host that fits.
	req.Current = map[ReplicaKey]string{{"api", 1}: "b", {"db", 1}: "a"}
	res = mustPlace(t, req)
	if a, d := find(t, res, "api", 1), find(t, res, "db", 1); a.Host != "b" || a.Moved || d.Host != "b" || !d.Moved {
		t.Errorf("api %+v db %+v", a, d)
	}
}

func TestFollowedBy(t *testing.T) {
	// t is followed by m, which shares a volume with a: one group led by a.
	res := mustPlace(t, Request{
		Hosts:    []Host{host("h1"), host("h2")},
		Services: []Service{svc("a", mounts("v")), svc("m", follows("t"), mounts("v")), svc("t", replicas(2))},
		Explain:  true,
	})
	for k, why := range map[ReplicaKey]string{{"a", 1}: "spread: first by name", {"t", 1}: "followed by m", {"m", 1}: "follows t", {"t", 2}: "spread: fewest replicas of this service"} {
		if a := find(t, res, k.Service, k.Replica); a.Why != why {
			t.Errorf("%v: %q, want %q", k, a.Why, why)
		}
	}
	if got := res.Reasons[ReplicaKey{"t", 1}][1].Reason; got != "followed by m, which must run on h1" {
		t.Errorf("t on h2: %q", got)
	}
}
