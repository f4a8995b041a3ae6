package swarm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// three is a world of three hosts in no Swarm.
func three() (*fakeWorld, *fakeHost, *fakeHost, *fakeHost) {
	w := &fakeWorld{}
	return w, w.host("a", "10.0.0.1"), w.host("b", "10.0.0.2"), w.host("c", "10.0.0.3")
}

// sayer collects what Join or Leave says.
func sayer() (*[]string, func(string, ...any)) {
	var said []string
	return &said, func(f string, args ...any) { said = append(said, fmt.Sprintf(f, args...)) }
}

func wantLabels(t *testing.T, h *fakeHost, want map[string]string) {
	t.Helper()
	if h.node == nil {
		t.Fatalf("%s: not in a Swarm", h.name)
	}
	if !maps.Equal(h.node.labels, want) {
		t.Errorf("%s: node labels %v, want %v", h.name, h.node.labels, want)
	}
}

func wantCalls(t *testing.T, w *fakeWorld, want ...string) {
	t.Helper()
	if !slices.Equal(w.calls, want) {
		t.Errorf("calls:\n  %q\nwant\n  %q", w.calls, want)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func joined(name string) map[string]string {
	return map[string]string{labels.Host: name, labels.SwarmJoined: "true"}
}

func TestJoinFormsASwarm(t *testing.T) {
	w, a, b, c := three()
	if err := Join(context.Background(), w.hosts(a, b, c), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if a.initReq.AdvertiseAddr != "10.0.0.1" || a.initReq.ListenAddr != "10.0.0.1:2377" {
		t.Errorf("init advertises %q, listens on %q", a.initReq.AdvertiseAddr, a.initReq.ListenAddr)
	}
	if a.initReq.Spec.Labels[labels.SwarmFormed] != "true" {
		t.Errorf("init spec labels %v, want %s", a.initReq.Spec.Labels, labels.SwarmFormed)
	}
	wantCalls(t, w, "a init", "b join worker", "c join worker",
		"a node-update node-a", "a node-update node-b", "a node-update node-c")
	for _, h := range []*fakeHost{b, c} {
		if len(h.joinReqs) != 1 || !slices.Equal(h.joinReqs[0].RemoteAddrs, []string{"10.0.0.1:2377"}) || h.joinReqs[0].AdvertiseAddr != h.addr {
			t.Errorf("%s joined with %+v", h.name, h.joinReqs)
		}
		if h.cluster != a.cluster || h.node.manager {
			t.Errorf("%s is not a worker of a's Swarm", h.name)
		}
	}
	for _, h := range []*fakeHost{a, b, c} {
		wantLabels(t, h, joined(h.name))
	}

	// A host without an address lets Docker choose.
	lone := w.host("lone", "")
	if err := Join(context.Background(), w.hosts(lone), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if lone.initReq.AdvertiseAddr != "" || lone.initReq.ListenAddr != "0.0.0.0:2377" {
		t.Errorf("init advertises %q, listens on %q", lone.initReq.AdvertiseAddr, lone.initReq.ListenAddr)
	}
}

func TestJoinManagers(t *testing.T) {
	w, a, b, c := three()
	if err := Join(context.Background(), w.hosts(a, b, c), JoinOptions{Managers: 3}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w, "a init", "b join manager", "c join manager",
		"a node-update node-a", "a node-update node-b", "a node-update node-c")
	for _, n := range []int{-1, 2, 4, 5} {
		w, a, b, c := three()
		err := Join(context.Background(), w.hosts(a, b, c), JoinOptions{Managers: n})
		wantErr(t, err, fmt.Sprintf("--managers %d: want an odd number from 1 to the number of hosts (3)", n))
		wantCalls(t, w)
	}
}

func TestJoinIsIdempotent(t *testing.T) {
	w, a, b, c := three()
	hs := w.hosts(a, b, c)
	if err := Join(context.Background(), hs, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	w.calls = nil
	versions := []uint64{a.node.version, b.node.version, c.node.version}
	said, say := sayer()
	if err := Join(context.Background(), hs, JoinOptions{Say: say}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w)
	if v := []uint64{a.node.version, b.node.version, c.node.version}; !slices.Equal(v, versions) {
		t.Errorf("node versions %v, were %v", v, versions)
	}
	for _, s := range []string{"b: already a worker", "c: already a worker"} {
		if !slices.Contains(*said, s) {
			t.Errorf("said %q, want %q", *said, s)
		}
	}
	for _, h := range []*fakeHost{a, b, c} {
		wantLabels(t, h, joined(h.name))
	}
}

func TestJoinReusesASwarm(t *testing.T) {
	w, a, b, c := three()
	w.swarmOf("ext", nil, []*fakeHost{a}, []*fakeHost{b})
	if err := Join(context.Background(), w.hosts(a, b, c), JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.cluster == nil || c.cluster.id != "ext" || c.node.manager {
		t.Fatalf("c did not join ext as a worker")
	}
	wantLabels(t, a, map[string]string{labels.Host: "a"})
	wantLabels(t, b, map[string]string{labels.Host: "b"})
	wantLabels(t, c, joined("c"))
}

func TestJoinRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *fakeWorld, a, b, c *fakeHost)
		want  []string
	}{
		{"different Swarms", func(w *fakeWorld, a, b, c *fakeHost) {
			w.swarmOf("one", nil, []*fakeHost{a}, []*fakeHost{c})
			w.swarmOf("9x7ymc2n1wcc4pznlp8wj3vfk", nil, []*fakeHost{b}, nil)
		}, []string{"different Swarms", "(a, c in one; b in 9x7ymc2n1wcc):"}},
		{"error state", func(w *fakeWorld, a, b, c *fakeHost) { b.state = swarm.LocalNodeStateError },
			[]string{`host "b" is in Swarm state "error"`}},
		{"pending", func(w *fakeWorld, a, b, c *fakeHost) { c.state = swarm.LocalNodeStatePending },
			[]string{`host "c" is in Swarm state "pending"`}},
		{"unreachable", func(w *fakeWorld, a, b, c *fakeHost) { b.err = fmt.Errorf("dial tcp: no route") },
			[]string{`host "b" is unreachable: dial tcp: no route`}},
		{"worker of an undeclared manager", func(w *fakeWorld, a, b, c *fakeHost) {
			w.swarmOf("ext", nil, []*fakeHost{w.host("x", "10.0.0.9")}, []*fakeHost{b})
		}, []string{`host "b" is a worker of a Swarm none of the declared hosts manages`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, a, b, c := three()
			tc.setup(w, a, b, c)
			wantErr(t, Join(context.Background(), w.hosts(a, b, c), JoinOptions{}), tc.want...)
			wantCalls(t, w)
		})
	}
}

func TestTopologyShared(t *testing.T) {
	w, a, b, c := three()
	d, e := w.host("d", "10.0.0.4"), w.host("e", "10.0.0.5")
	w.swarmOf("one", nil, []*fakeHost{a}, []*fakeHost{b})
	w.swarmOf("two", nil, []*fakeHost{d}, nil)
	w.swarmOf("ext", nil, []*fakeHost{w.host("x", "10.0.0.9")}, []*fakeHost{e})
	top := Observe(context.Background(), w.hosts(a, b, c, d, e))
	if cl, mgr, ok := top.Shared([]string{"b", "a"}); !ok || cl != "one" || mgr != "a" {
		t.Errorf("Shared(b, a) = %q, %q, %t; want one, a, true", cl, mgr, ok)
	}
	for _, names := range [][]string{{"a", "b", "c"}, {"a", "d"}, {"b", "d"}, {"e"}, {"a", "nowhere"}} {
		if cl, mgr, ok := top.Shared(names); ok {
			t.Errorf("Shared(%v) = %q, %q, true; want false", names, cl, mgr)
		}
	}
	if m, _ := top.Member("a"); !m.Leader || !m.Manager {
		t.Errorf("a: %+v, want the leading manager", m)
	}
	if m, _ := top.Member("b"); m.Cluster != "one" || m.Manager || m.Leader {
		t.Errorf("b: %+v, want a worker of one", m)
	}
}

// Shared also holds when Observe cannot tell: a member not active, or a
// Swarm no host manages.
func TestTopologySharedBuilt(t *testing.T) {
	top := Topology{Members: []Member{
		{Host: "a", State: "active", Manager: true, Cluster: "one"},
		{Host: "b", State: "pending", Cluster: "one"},
		{Host: "c", State: "active", Cluster: "orphan"},
	}, managers: map[string][]string{"one": {"a"}}}
	if _, _, ok := top.Shared([]string{"a"}); !ok {
		t.Error("Shared(a) = false, want true")
	}
	for _, names := range [][]string{{"a", "b"}, {"c"}} {
		if cl, mgr, ok := top.Shared(names); ok {
			t.Errorf("Shared(%v) = %q, %q, true; want false", names, cl, mgr)
		}
	}
}

func TestMemberRole(t *testing.T) {
	for _, tc := range []struct {
		m    Member
		want string
	}{
		{Member{}, "?"},
		{Member{State: "inactive"}, "-"},
		{Member{State: "pending"}, "pending"},
		{Member{State: "error", Manager: true}, "error"},
		{Member{State: "active"}, "worker"},
		{Member{State: "active", Manager: true}, "manager"},
		{Member{State: "active", Manager: true, Leader: true}, "manager (leader)"},
	} {
		if got := tc.m.Role(); got != tc.want {
			t.Errorf("%+v.Role() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// formed is four hosts in a Swarm devorch formed: a, b and c manage it,
// d works in it.
func formed(t *testing.T) (*fakeWorld, []*fakeHost) {
	t.Helper()
	w, a, b, c := three()
	d := w.host("d", "10.0.0.4")
	if err := Join(context.Background(), w.hosts(a, b, c, d), JoinOptions{Managers: 3}); err != nil {
		t.Fatal(err)
	}
	w.calls = nil
	return w, []*fakeHost{a, b, c, d}
}

func TestLeaveFormed(t *testing.T) {
	w, hs := formed(t)
	if err := Leave(context.Background(), w.hosts(hs...), nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w, "d leave force=false", "b leave force=true", "c leave force=true", "a leave force=true")
	for _, h := range hs {
		if h.cluster != nil {
			t.Errorf("%s is still in a Swarm", h.name)
		}
	}
}

func TestLeaveRefusedUnderAnOverlay(t *testing.T) {
	w, hs := formed(t)
	hs[0].networks = []network.Summary{
		{Name: "shop_default", Driver: "overlay", Labels: map[string]string{labels.Project: "shop"}},
		{Name: "blog_default", Driver: "bridge", Labels: map[string]string{labels.Project: "blog"}},
		{Name: "mine", Driver: "overlay"},
	}
	err := Leave(context.Background(), w.hosts(hs...), nil)
	wantErr(t, err, "overlay networks of project(s) shop:")
	if err != nil && strings.Contains(err.Error(), "blog") {
		t.Errorf("error %q names blog, whose network is a bridge", err)
	}
	wantCalls(t, w)
}

func TestLeaveNotFormed(t *testing.T) {
	w, a, b, c := three()
	w.swarmOf("ext", map[string]string{"owner": "ops"}, []*fakeHost{a}, []*fakeHost{b})
	// Not devorch's to undo, whatever runs on it.
	a.networks = []network.Summary{{Driver: "overlay", Labels: map[string]string{labels.Project: "shop"}}}
	wantErr(t, Leave(context.Background(), w.hosts(a, b, c), nil), "not formed by devorch and devorch joined none")
	wantCalls(t, w)
}

func TestLeaveJoinedWorker(t *testing.T) {
	w, a, b, c := three()
	ext := w.swarmOf("ext", map[string]string{"owner": "ops"}, []*fakeHost{a}, []*fakeHost{b})
	hs := w.hosts(a, b, c)
	if err := Join(context.Background(), hs, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	w.calls = nil
	a.networks = []network.Summary{{Driver: "overlay", Labels: map[string]string{labels.Project: "shop"}}}
	wantErr(t, Leave(context.Background(), hs, nil), "overlay networks of project(s) shop:")
	wantCalls(t, w)
	a.networks = nil
	if err := Leave(context.Background(), hs, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w, "c leave force=false", "a node-remove node-c")
	var ids []string
	for _, n := range ext.nodes {
		ids = append(ids, n.id)
	}
	if !slices.Equal(ids, []string{"node-a", "node-b"}) {
		t.Errorf("ext's nodes: %v, want node-a, node-b", ids)
	}
}

func TestLeaveJoinedManager(t *testing.T) {
	w, a, b, c := three()
	w.swarmOf("ext", nil, []*fakeHost{a}, nil)
	hs := w.hosts(a, b, c)
	if err := Join(context.Background(), hs, JoinOptions{Managers: 3}); err != nil {
		t.Fatal(err)
	}
	if !b.node.manager || !c.node.manager {
		t.Fatal("b and c did not join as managers")
	}
	w.calls = nil
	wantErr(t, Leave(context.Background(), hs, nil), `host "b" was joined by devorch as a manager`, "demote it first")
	wantCalls(t, w)
}

func TestLeaveNoSwarm(t *testing.T) {
	w, a, b, c := three()
	said, say := sayer()
	if err := Leave(context.Background(), w.hosts(a, b, c), say); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w)
	if !slices.Equal(*said, []string{"no host is in a Swarm"}) {
		t.Errorf("said %q", *said)
	}
}

func TestUpdateNodeLabelsRetries(t *testing.T) {
	w, a, _, _ := three()
	w.swarmOf("one", nil, []*fakeHost{a}, nil)
	a.node.labels["keep"] = "me"
	a.moves = 1 // someone else updates the node between inspect and update, once
	if err := updateNodeLabels(context.Background(), a, "node-a", map[string]string{labels.Host: "a"}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, w, "a node-update node-a", "a node-update node-a")
	wantLabels(t, a, map[string]string{"keep": "me", labels.Host: "a"})

	w.calls, a.moves = nil, 100
	wantErr(t, updateNodeLabels(context.Background(), a, "node-a", map[string]string{"new": "x"}), "out of sequence")
	if len(w.calls) != 5 {
		t.Errorf("%d updates, want 5 tries", len(w.calls))
	}
}
