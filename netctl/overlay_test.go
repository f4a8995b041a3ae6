package netctl

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
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
