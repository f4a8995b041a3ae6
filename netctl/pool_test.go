package netctl

import (
	"context"
	"errors"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

var errGone = errors.New("host does not answer")

func ours(project, key string) map[string]string {
	return map[string]string{labels.Project: project, labels.Network: key}
}

func localAddrs(cidrs ...string) func() ([]net.Addr, error) {
	return func() ([]net.Addr, error) {
		var out []net.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				return nil, err
			}
			out = append(out, &net.IPNet{IP: ip, Mask: n.Mask})
		}
		return out, nil
	}
}

func TestNeedSkipsServicesOutsideTheirNetworks(t *testing.T) {
	need := Need{}
	web := types.ServiceConfig{Name: "web"}
	web.Networks = map[string]*types.ServiceNetworkConfig{"default": nil, "back": nil}
	side := types.ServiceConfig{Name: "side"}
	side.NetworkMode = "service:web"
	side.Networks = map[string]*types.ServiceNetworkConfig{"other": nil}
	need.Add("h1", web)
	need.Add("h2", side)
	if got := slices.Sorted(maps.Keys(need["h1"])); !slices.Equal(got, []string{"back", "default"}) {
		t.Errorf("h1 needs %v, want back and default", got)
	}
	if n, ok := need["h2"]; !ok || len(n) != 0 {
		t.Errorf("h2 needs %v (present %v), want the host with no network", n, ok)
	}
}

// With several hosts, every network devorch creates gets a /24 that
// overlaps no network on a reachable host, no host address, none of this
// machine's, and no other network of the run; a network that exists, has
// an ipam config or is external keeps what it has.
func TestRequestsAllocateSubnetsThatOverlapNothing(t *testing.T) {
	h1, h2, h3 := &fakeDocker{}, &fakeDocker{}, &fakeDocker{}
	h1.add("someone_else", "10.210.0.0/24", nil)
	h1.add("p_back", "10.210.1.0/24", ours("p", "back"))
	h2.add("bridge", "10.210.2.0/24", nil)
	h3.add("far", "10.210.5.0/24", nil) // on a host that does not answer
	pool := Pool{
		Hosts: []Host{
			{Name: "h1", API: h1},
			{Name: "h2", API: h2, Address: "10.210.3.9"},
			{Name: "h3", API: h3, Alive: func(context.Context) error { return errGone }},
		},
		LocalAddrs: localAddrs("10.210.4.1/24", "127.0.0.1/8"),
	}
	networks := types.Networks{
		"default": {},
		"back":    {},
		"fixed":   {Ipam: types.IPAMConfig{Config: []*types.IPAMPool{{Subnet: "172.30.0.0/24"}}}},
		"ext":     {External: true},
		"mac":     {Driver: "macvlan"},
	}
	need := Need{"h1": {"default": true, "back": true, "fixed": true, "ext": true, "mac": true}, "h2": {"default": true, "back": true}}
	reqs, err := Requests(context.Background(), pool, "p", networks, need)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range reqs {
		got[r.Host+"/"+r.Key] = r.Subnet
	}
	want := map[string]string{
		"h1/back": "", "h1/default": "10.210.5.0/24", "h1/ext": "", "h1/fixed": "", "h1/mac": "",
		"h2/back": "10.210.6.0/24", "h2/default": "10.210.7.0/24",
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: subnet %q (requested %v), want %q", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("requests %v, want %v", got, want)
	}

	// One host: Docker picks, as it always does.
	single := Pool{Hosts: pool.Hosts[:1], LocalAddrs: pool.LocalAddrs}
	reqs, err = Requests(context.Background(), single, "p", networks, Need{"h1": {"default": true}})
	if err != nil || len(reqs) != 1 || reqs[0].Subnet != "" {
		t.Errorf("one host: %+v %v, want one request without a subnet", reqs, err)
	}

	if _, err := Requests(context.Background(), pool, "p", networks, Need{"h1": {"nope": true}}); err == nil || err.Error() != `network "nope" is used but not declared` {
		t.Errorf("an undeclared network: %v", err)
	}
	bad := pool
	bad.SubnetPool = "10.210.0.0"
	if _, err := Requests(context.Background(), bad, "p", networks, need); err == nil || !strings.Contains(err.Error(), `DEVORCH_SUBNET_POOL "10.210.0.0"`) {
		t.Errorf("a bad subnet pool: %v", err)
	}
	// A host that answers but cannot list its networks fails the run:
	// its subnets are unknown.
	h2.listErr = errors.New("broken pipe")
	if _, err := Requests(context.Background(), pool, "p", networks, need); err == nil || !strings.Contains(err.Error(), `list networks on host "h2": broken pipe`) {
		t.Errorf("a host that cannot list: %v", err)
	}
}

// Another run creates a network with the subnet this run allocated,
// between allocation and create: Docker refuses the create ("Pool
// overlaps"), and the network is given the next subnet free on every host
// and in this run.
func TestEnsureAllRetriesASubnetTakenMeanwhile(t *testing.T) {
	h1, h2 := &fakeDocker{}, &fakeDocker{}
	var ev events
	pool := Pool{
		Hosts:      []Host{{Name: "h1", API: h1}, {Name: "h2", API: h2}},
		LocalAddrs: localAddrs(),
		Sink:       ev.sink,
	}
	var given []string
	pool.SubnetGiven = func(host, key, subnet string) {
		given = append(given, host+"/"+key+" "+subnet)
		if host == "h1" && len(given) == 1 {
			h1.add("other_default", subnet, nil) // the other run
		}
	}
	reqs, err := Requests(context.Background(), pool, "p", types.Networks{"default": {}}, Need{"h1": {"default": true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].Subnet != "10.210.0.0/24" {
		t.Fatalf("requests %+v, want p_default on h1 with 10.210.0.0/24", reqs)
	}
	nets, err := EnsureAll(context.Background(), pool, reqs)
	if err != nil {
		t.Fatalf("a subnet taken meanwhile: %v", err)
	}
	if got := h1.subnetOf("p_default"); got != "10.210.1.0/24" {
		t.Errorf("p_default has %q, want the next free subnet, 10.210.1.0/24", got)
	}
	if ref := nets["h1"]["default"]; ref.Name != "p_default" || ref.ID == "" {
		t.Errorf("returned %+v", nets)
	}
	if want := []string{"h1 p_default Created"}; !slices.Equal(ev.list, want) {
		t.Errorf("events %q, want %q", ev.list, want)
	}

	// The next subnet also steers clear of the run's other allocations,
	// whose networks may not exist yet.
	h2.beforeCreate = func(name, subnet string) {
		if subnet == "10.210.2.0/24" {
			h2.add("x"+subnet, subnet, nil) // the other run
		}
	}
	run := []Request{
		{Project: "p", Key: "default", Host: "h2", Subnet: "10.210.2.0/24"},
		{Project: "p", Key: "back", Host: "h2", Subnet: "10.210.3.0/24"},
	}
	if _, err := pool.ensure(context.Background(), pool.Hosts[1], run[0], run); err != nil {
		t.Fatal(err)
	}
	if got := h2.subnetOf("p_default"); got != "10.210.4.0/24" {
		t.Errorf("on h2 p_default has %q, want 10.210.4.0/24 (3 is the run's back)", got)
	}

	// Taken every time: a few retries, then Docker's refusal.
	h3 := &fakeDocker{}
	pool.Hosts = append(pool.Hosts, Host{Name: "h3", API: h3})
	tries := 0
	h3.beforeCreate = func(name, subnet string) {
		tries++
		h3.add("x"+subnet, subnet, nil) // another run, always first
	}
	pool.SubnetGiven = nil
	reqs = []Request{{Project: "q", Key: "default", Host: "h3", Subnet: "10.210.0.0/24"}}
	_, err = EnsureAll(context.Background(), pool, reqs)
	if err == nil || !strings.Contains(err.Error(), "overlaps with other one") || len(h3.creates) != 0 || tries != 1+subnetRetries {
		t.Errorf("%v after %d tries, %d creates, want Docker's refusal after %d retries", err, tries, len(h3.creates), subnetRetries)
	}
}

func TestEnsureAllReportsAHostGone(t *testing.T) {
	h1, h2 := &fakeDocker{}, &fakeDocker{listErr: errGone}
	pool := Pool{Hosts: []Host{{Name: "h1", API: h1}, {Name: "h2", API: h2}}}
	reqs := []Request{{Project: "p", Key: "default", Host: "h1"}, {Project: "p", Key: "default", Host: "h2"}}
	_, err := EnsureAll(context.Background(), pool, reqs)
	if err == nil || err.Error() != `look up network "p_default" on host "h2": host does not answer` {
		t.Errorf("h2 gone: %v", err)
	}
	reqs = []Request{{Project: "p", Key: "default", Host: "h9"}}
	if _, err := EnsureAll(context.Background(), pool, reqs); err == nil || !strings.Contains(err.Error(), `host "h9" is not in the pool`) {
		t.Errorf("a host not in the pool: %v", err)
	}
}

// A network of the name that devorch did not create is used as is, with a
// warning; one of another devorch project is refused; an external one must
// exist.
func TestEnsureNameClash(t *testing.T) {
	ctx := context.Background()
	d := &fakeDocker{}
	theirs := d.add("p_default", "", map[string]string{"owner": "someone"})
	d.add("p_back", "", ours("other", "back"))
	res, err := Ensure(ctx, d, Request{Project: "p", Key: "default", Host: "h1"})
	if err != nil || res.ID != theirs || res.Created || !strings.Contains(res.Warning, `network "p_default" exists on host "h1" but was not created by devorch`) {
		t.Errorf("a network not devorch's: %+v %v", res, err)
	}
	_, err = Ensure(ctx, d, Request{Project: "p", Key: "back", Host: "h1"})
	if err == nil || err.Error() != `network "p_back" on host "h1" belongs to devorch project "other", not "p"` {
		t.Errorf("another project's network: %v", err)
	}
	_, err = Ensure(ctx, d, Request{Project: "p", Key: "ext", Host: "h1", Config: types.NetworkConfig{Name: "shared", External: true}})
	if err == nil || !strings.Contains(err.Error(), `network "shared" is declared as external, but could not be found on host "h1"`) {
		t.Errorf("an external network not found: %v", err)
	}
	shared := d.add("shared", "", nil)
	res, err = Ensure(ctx, d, Request{Project: "p", Key: "ext", Host: "h1", Config: types.NetworkConfig{Name: "shared", External: true}})
	if err != nil || res.ID != shared || res.Warning != "" || res.Created {
		t.Errorf("an external network: %+v %v", res, err)
	}
	if len(d.creates) != 0 {
		t.Errorf("created %v, want nothing", d.creates)
	}
	// Docker's name filter matches parts of names: p_default_x is not
	// p_default.
	d2 := &fakeDocker{}
	d2.add("p_default_x", "", ours("p", "default_x"))
	res, err = Ensure(ctx, d2, Request{Project: "p", Key: "default", Host: "h1"})
	if err != nil || !res.Created || !slices.Equal(d2.creates, []string{"p_default"}) {
		t.Errorf("a longer name: %+v %v, created %v", res, err, d2.creates)
	}
}

// Two networks of the project with one name: the one containers are
// attached to is kept, the other removed.
func TestEnsureHealsADuplicate(t *testing.T) {
	d := &fakeDocker{attached: map[string]int{}}
	a := d.add("p_default", "", ours("p", "default"))
	b := d.add("p_default", "", ours("p", "default"))
	d.attached[b] = 2
	res, err := Ensure(context.Background(), d, Request{Project: "p", Key: "default", Host: "h1"})
	if err != nil || res.ID != b || res.Warning != "" {
		t.Fatalf("%+v %v, want %s kept silently", res, err, b)
	}
	if _, err := d.NetworkInspect(context.Background(), a, network.InspectOptions{}); err == nil {
		t.Errorf("the unused duplicate %s is still there", a)
	}
}

// down removes the project's networks on every host; one Docker keeps for
// a stale endpoint is left with a warning, one already gone is no error,
// and a host that cannot list fails.
func TestRemoveAll(t *testing.T) {
	h1, h2 := &fakeDocker{}, &fakeDocker{}
	h1.add("p_default", "", ours("p", "default"))
	stale := h1.add("p_back", "", ours("p", "back"))
	h1.add("q_default", "", ours("q", "default"))
	gone := h2.add("p_default", "", ours("p", "default"))
	h1.refuse = map[string]error{stale: errors.New("error while removing network: network p_back has active endpoints")}
	h2.refuse = map[string]error{gone: errdefs.NotFound(errors.New("no such network"))}
	var ev events
	pool := Pool{Hosts: []Host{{Name: "h1", API: h1}, {Name: "h2", API: h2}}, Sink: ev.sink}
	if err := RemoveAll(context.Background(), pool, "p"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ev.list)
	want := []string{
		"h1 p_back Left", "h1 p_back Removing", "h1 p_default Removed", "h1 p_default Removing",
		"h2 p_default Removed", "h2 p_default Removing",
		`warning: network p_back on host "h1" is left behind: ` + ErrStaleEndpoint.Error() + `; the next up reuses it, and restarting that Docker daemon removes it`,
	}
	if !slices.Equal(ev.list, want) {
		t.Errorf("events\n%q\nwant\n%q", ev.list, want)
	}
	if left, _ := List(context.Background(), h1, "q"); len(left) != 1 {
		t.Errorf("another project's network was removed")
	}

	h2.listErr = errGone
	if err := RemoveAll(context.Background(), pool, "p"); err == nil || !strings.Contains(err.Error(), `list networks on host "h2": host does not answer`) {
		t.Errorf("a host gone: %v", err)
	}
	h1.refuse[stale] = errors.New("permission denied")
	h2.listErr = nil
	if err := RemoveAll(context.Background(), pool, "p"); err == nil || err.Error() != `remove network p_back on host "h1": permission denied` {
		t.Errorf("a refusal: %v", err)
	}
}
