package netctl

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"

	"github.com/devorch/devorch/internal/labels"
)

// TestKinds: a network devorch creates that spans several hosts is an
// overlay when they share a Swarm, else a link fallback; one host, a file
// driver or external keeps it as it is; an overlay stays one.
func TestKinds(t *testing.T) {
	networks := types.Networks{
		"default": {}, "one": {}, "apart": {}, "mac": {Driver: "macvlan"}, "ext": {External: true},
		"was": {}, "forced": {Driver: "overlay"},
	}
	span := map[string][]string{
		"default": {"a", "b"}, "one": {"a"}, "apart": {"a", "c"}, "mac": {"a", "b"}, "ext": {"a", "b"},
		"was": {"a"}, "forced": {"a", "b"},
	}
	shared := func(hs []string) (string, bool) {
		if slices.Contains(hs, "c") {
			return "", false // c is in no Swarm
		}
		return "m", true
	}
	kinds, overlays := Kinds(networks, span, shared, Overlays{"was": "a"})
	want := map[string]Kind{
		"default": KindOverlay, "one": KindBridge, "apart": KindLink, "mac": KindBridge, "ext": KindBridge,
		"was": KindOverlay, "forced": KindOverlay,
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if wantO := (Overlays{"default": "m", "was": "a", "forced": "m"}); !reflect.DeepEqual(overlays, wantO) {
		t.Errorf("overlays %v, want %v", overlays, wantO)
	}
	note := FallbackNote(kinds, span)
	if !strings.Contains(note, "apart (hosts a, c)") || strings.Contains(note, "default") || !strings.Contains(note, "devorch hosts join") {
		t.Errorf("fallback note: %q", note)
	}
	if n := FallbackNote(map[string]Kind{"default": KindOverlay}, span); n != "" {
		t.Errorf("no fallback, note %q", n)
	}
}

func TestSpan(t *testing.T) {
	svc := func(name, mode string, keys ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.NetworkMode = mode
		s.Networks = map[string]*types.ServiceNetworkConfig{}
		for _, k := range keys {
			s.Networks[k] = nil
		}
		return s
	}
	services := types.Services{
		"web":  svc("web", "", "default", "front"),
		"db":   svc("db", "", "default"),
		"side": svc("side", "service:web"),
	}
	where := map[string][]string{"web": {"b", "a"}, "db": {"c"}, "side": {"z"}}
	got := Span(services, func(s string) []string { return where[s] })
	want := map[string][]string{"default": {"a", "b", "c"}, "front": {"a", "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("span %v, want %v", got, want)
	}
}

// TestRequestsOverlayOnce: an overlay is asked for once, on its manager,
// with a subnet, and EnsureAll hands its one ID to every host it spans.
func TestRequestsOverlayOnce(t *testing.T) {
	m, w := &fakeDocker{}, &fakeDocker{}
	pool := Pool{
		Hosts:      []Host{{Name: "m", API: m}, {Name: "w", API: w}},
		LocalAddrs: localAddrs("127.0.0.1/8"),
		Overlays:   Overlays{"default": "m"},
	}
	networks := types.Networks{"default": {}, "local": {}}
	need := Need{"m": {"default": true}, "w": {"default": true, "local": true}}
	reqs, err := Requests(context.Background(), pool, "p", networks, need)
	if err != nil {
		t.Fatal(err)
	}
	var overlays []Request
	for _, r := range reqs {
		if r.Overlay {
			overlays = append(overlays, r)
		}
	}
	if len(reqs) != 2 || len(overlays) != 1 || overlays[0].Host != "m" || !reflect.DeepEqual(overlays[0].Span, []string{"m", "w"}) || overlays[0].Subnet == "" {
		t.Fatalf("requests %+v: want one overlay on m spanning m and w, with a subnet, and w's bridge", reqs)
	}
	refs, err := EnsureAll(context.Background(), pool, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if refs["m"]["default"].ID == "" || refs["m"]["default"] != refs["w"]["default"] {
		t.Errorf("the overlay's refs differ by host: %v", refs)
	}
	if got := slices.Sorted(maps.Keys(refs["w"])); !slices.Equal(got, []string{"default", "local"}) {
		t.Errorf("w's networks %v", got)
	}
	if n := m.byName("p_default"); n == nil || n.Driver != "overlay" || !n.Attachable {
		t.Errorf("the overlay on m: %+v", n)
	}
	if w.byName("p_default") != nil {
		t.Errorf("the overlay was created on the worker too")
	}
}

func TestSharesOverlay(t *testing.T) {
	svc := func(mode string, keys ...string) types.ServiceConfig {
		var s types.ServiceConfig
		s.NetworkMode = mode
		s.Networks = map[string]*types.ServiceNetworkConfig{}
		for _, k := range keys {
			s.Networks[k] = nil
		}
		return s
	}
	a, b := svc("", "default", "x"), svc("", "x")
	if !sharesOverlay(a, b, Overlays{"x": "m"}) || sharesOverlay(a, b, Overlays{"default": "m"}) {
		t.Error("sharesOverlay wrong")
	}
	if sharesOverlay(svc("host"), b, Overlays{"x": "m"}) {
		t.Error("host networking shares no overlay")
	}
}

// TestDecide: the networks listed on each host feed Kinds. An overlay that
// only a worker lists stays an overlay, through that worker, with a
// warning; a bridge of a network that becomes an overlay is replaced; with
// no shared Swarm the network falls back to links, said once.
func TestDecide(t *testing.T) {
	lbl := func(key string) map[string]string {
		return map[string]string{labels.Project: "p", labels.Network: key}
	}
	h1 := &fakeDocker{nets: []network.Summary{
		{ID: "b1", Name: "p_front", Driver: "bridge", Labels: lbl("front")},
		{ID: "x1", Name: "other_front", Driver: "bridge", Labels: map[string]string{labels.Project: "other", labels.Network: "front"}},
	}}
	h2 := &fakeDocker{nets: []network.Summary{{ID: "o2", Name: "p_old", Driver: "overlay", Labels: lbl("old")}}}
	services := types.Services{
		"a": {Name: "a", ContainerSpec: types.ContainerSpec{Networks: map[string]*types.ServiceNetworkConfig{"front": nil, "back": nil, "old": nil}}},
		"b": {Name: "b", ContainerSpec: types.ContainerSpec{Networks: map[string]*types.ServiceNetworkConfig{"front": nil}}},
	}
	networks := types.Networks{"front": {}, "back": {}, "old": {}}
	hostsOf := func(s string) []string { return map[string][]string{"a": {"h1"}, "b": {"h2"}}[s] }
	member := func(h string) (bool, bool) { return h == "h1", true }
	decide := func(shared Swarms) (Decision, []string) {
		var warnings []string
		pool := Pool{
			Hosts: []Host{{Name: "h1", API: h1}, {Name: "h2", API: h2}},
			Sink: func(ev Event) {
				if ev.Warning != "" {
					warnings = append(warnings, ev.Warning)
				}
			},
		}
		d, err := Decide(context.Background(), pool, "p", services, networks, hostsOf, shared, member)
		if err != nil {
			t.Fatal(err)
		}
		return d, warnings
	}

	d, warnings := decide(func([]string) (string, bool) { return "h1", true })
	if want := map[string]Kind{"front": KindOverlay, "back": KindBridge, "old": KindOverlay}; !maps.Equal(d.Kinds, want) {
		t.Errorf("kinds %v, want %v", d.Kinds, want)
	}
	if want := (Overlays{"front": "h1", "old": "h2"}); !maps.Equal(d.Overlays, want) {
		t.Errorf("overlays %v, want %v", d.Overlays, want)
	}
	if !reflect.DeepEqual(d.ReplacedOn, map[string][]string{"h1": {"b1"}}) || !strings.Contains(d.Replaced["b1"], "front becomes a Swarm overlay") {
		t.Errorf("replaced %v on %v, want p_front's bridge on h1 only", d.Replaced, d.ReplacedOn)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `network old is a Swarm overlay and no host that manages its Swarm answers: it is used as it is, through host "h2"`) {
		t.Errorf("warnings %q", warnings)
	}

	d, warnings = decide(func([]string) (string, bool) { return "", false })
	if d.Kinds["front"] != KindLink || d.Replaced != nil {
		t.Errorf("no Swarm: front is %s, replaced %v", d.Kinds["front"], d.Replaced)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[1], "network(s) front (hosts h1, h2) span hosts that are not in one Swarm") {
		t.Errorf("warnings %q", warnings)
	}

	h2.listErr = errors.New("gone")
	if _, err := Decide(context.Background(), Pool{Hosts: []Host{{Name: "h2", API: h2}}}, "p", services, networks, hostsOf, nil, member); err == nil || !strings.Contains(err.Error(), `list networks on host "h2": gone`) {
		t.Errorf("a host that fails its list: %v", err)
	}
}
