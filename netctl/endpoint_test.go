package netctl

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"
)

// compose v2's aliases: the container's name first on every network (for a
// one-off too), then the service name (not for a one-off), then the
// network's own.
func TestEndpointAliases(t *testing.T) {
	s := types.ServiceConfig{Name: "web"}
	s.Networks = map[string]*types.ServiceNetworkConfig{"default": nil, "back": {Aliases: []string{"www"}}}
	for _, tc := range []struct {
		key, name string
		oneOff    bool
		want      []string
	}{
		{"default", "p-web-1", false, []string{"p-web-1", "web"}},
		{"back", "custom", false, []string{"custom", "web", "www"}},
		{"back", "p-web-run-0123", true, []string{"p-web-run-0123", "www"}},
	} {
		if got := endpoint(s, tc.key, tc.name, tc.oneOff).Aliases; !slices.Equal(got, tc.want) {
			t.Errorf("%s on %s (one-off %v): aliases %v, want %v", tc.name, tc.key, tc.oneOff, got, tc.want)
		}
	}
}

// The interface name reaches Docker as compose sends it: a driver option of
// the endpoint, without changing the file's own driver options.
func TestEndpointInterfaceName(t *testing.T) {
	opts := map[string]string{"k": "v"}
	s := types.ServiceConfig{Name: "web"}
	s.Networks = map[string]*types.ServiceNetworkConfig{"front": {InterfaceName: "lan0", DriverOpts: opts}}
	es := endpoint(s, "front", "p-web-1", false)
	if es.DriverOpts["com.docker.network.endpoint.ifname"] != "lan0" || es.DriverOpts["k"] != "v" {
		t.Errorf("driver options %v", es.DriverOpts)
	}
	if _, ok := opts["com.docker.network.endpoint.ifname"]; ok {
		t.Errorf("the service's own driver_opts were changed")
	}
}

// A container joins its networks highest priority first (the first at
// create), each with the network's ID, its static addresses and its
// gateway priority.
func TestAttachmentsByPriority(t *testing.T) {
	s := types.ServiceConfig{Name: "web"}
	s.Networks = map[string]*types.ServiceNetworkConfig{
		"a":    nil,
		"back": {Priority: 10, Ipv4Address: "10.1.0.5", Ipv6Address: "fd00::5", GatewayPriority: 7},
		"c":    {Priority: 10},
	}
	nets := map[string]Ref{"a": {"p_a", "ida"}, "back": {"p_back", "idback"}, "c": {"p_c", "idc"}}
	atts, err := Attachments(s, nets, "p-web-1", false)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range atts {
		order = append(order, a.Key)
		if a.Network != nets[a.Key] || a.Settings.NetworkID != nets[a.Key].ID {
			t.Errorf("%s: network %v, endpoint's ID %q, want %v", a.Key, a.Network, a.Settings.NetworkID, nets[a.Key])
		}
	}
	if want := []string{"back", "c", "a"}; !slices.Equal(order, want) {
		t.Errorf("joins %v, want %v (priority, then key)", order, want)
	}
	back := atts[0].Settings
	if back.IPAMConfig == nil || back.IPAMConfig.IPv4Address != "10.1.0.5" || back.IPAMConfig.IPv6Address != "fd00::5" {
		t.Errorf("static addresses %+v", back.IPAMConfig)
	}
	if back.GwPriority != 7 {
		t.Errorf("gateway priority %d, want 7", back.GwPriority)
	}
	if atts[1].Settings.IPAMConfig != nil {
		t.Errorf("c has no static address, got %+v", atts[1].Settings.IPAMConfig)
	}

	delete(nets, "c")
	if _, err := Attachments(s, nets, "p-web-1", false); err == nil || !strings.Contains(err.Error(), `network "c" is not declared`) {
		t.Errorf("a network missing from nets: %v", err)
	}
}

type connectAPI struct {
	API
	connected []string
	fail      string // the network ID that refuses
}

func (a *connectAPI) NetworkConnect(ctx context.Context, networkID, containerID string, es *network.EndpointSettings) error {
	if networkID == a.fail {
		return errors.New("boom")
	}
	a.connected = append(a.connected, networkID+"/"+containerID+"/"+es.Aliases[0])
	return nil
}

func TestConnectInOrderAndNamesTheNetworkThatFails(t *testing.T) {
	later := []Attachment{
		{Key: "b", Network: Ref{"p_b", "idb"}, Settings: &network.EndpointSettings{Aliases: []string{"x"}}},
		{Key: "c", Network: Ref{"p_c", "idc"}, Settings: &network.EndpointSettings{Aliases: []string{"x"}}},
	}
	api := &connectAPI{}
	if err := Connect(context.Background(), api, "h1", "cid", "p-web-1", later); err != nil {
		t.Fatal(err)
	}
	if want := []string{"idb/cid/x", "idc/cid/x"}; !slices.Equal(api.connected, want) {
		t.Errorf("connected %v, want %v", api.connected, want)
	}
	api = &connectAPI{fail: "idb"}
	err := Connect(context.Background(), api, "h1", "cid", "p-web-1", later)
	if err == nil || err.Error() != `connect container p-web-1 to network "b" on host "h1": boom` || len(api.connected) != 0 {
		t.Errorf("%v after connecting %v, want the first failure, named", err, api.connected)
	}
}
