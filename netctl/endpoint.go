package netctl

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"
)

// Ref is a network by name and ID. A container is created on the
// network's name, as compose does, with the ID in its endpoint settings:
// Docker then never resolves the name, which a duplicate network (see
// Ensure) would make ambiguous at start.
type Ref struct{ Name, ID string }

// Attachment is a container's endpoint on one of its networks.
type Attachment struct {
	Key      string // the compose key, for messages
	Network  Ref
	Settings *network.EndpointSettings
}

// Attachments returns the endpoints of a container of s named
// containerName on its networks (nets maps compose keys to networks),
// highest priority first: API 1.41 accepts one network at create time, so
// the container is created on the first and connected to the others
// (Connect) before it starts.
func Attachments(s types.ServiceConfig, nets map[string]Ref, containerName string, oneOff bool) ([]Attachment, error) {
	var out []Attachment
	for _, key := range s.NetworksByPriority() {
		ref, ok := nets[key]
		if !ok {
			return nil, fmt.Errorf("service %q: network %q is not declared in the top-level networks", s.Name, key)
		}
		es := endpoint(s, key, containerName, oneOff)
		es.NetworkID = ref.ID
		out = append(out, Attachment{Key: key, Network: ref, Settings: es})
	}
	return out, nil
}

// endpoint is the container's settings on one of its networks. Its aliases
// are compose v2's: the container's own name (<project>-<service>-<n>, or
// container_name, or the one-off's name) on every network, then the service
// name, then the network's aliases. The name is the final one even while a
// recreate creates the container under a temporary name.
func endpoint(s types.ServiceConfig, key, containerName string, oneOff bool) *network.EndpointSettings {
	cfg := s.Networks[key]
	es := &network.EndpointSettings{Aliases: []string{containerName}}
	if !oneOff && cfg.ServiceNameAliasEnabled() {
		es.Aliases = append(es.Aliases, s.Name)
	}
	if cfg != nil {
		es.Aliases = append(es.Aliases, cfg.Aliases...)
		if cfg.Ipv4Address != "" || cfg.Ipv6Address != "" || len(cfg.LinkLocalIPs) > 0 {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: cfg.Ipv4Address, IPv6Address: cfg.Ipv6Address, LinkLocalIPs: cfg.LinkLocalIPs}
		}
		es.MacAddress = cfg.MacAddress
		es.DriverOpts = cfg.DriverOpts
		es.GwPriority = cfg.GatewayPriority
		if cfg.InterfaceName != "" {
			// As compose sends it (Engine 28.1+; engine/enginecheck refuses it
			// on older engines, which would ignore it).
			es.DriverOpts = maps.Clone(es.DriverOpts)
			if es.DriverOpts == nil {
				es.DriverOpts = map[string]string{}
			}
			es.DriverOpts["com.docker.network.endpoint.ifname"] = cfg.InterfaceName
		}
	}
	for _, l := range s.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		es.Links = append(es.Links, name+":"+alias)
	}
	for _, l := range s.ExternalLinks {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		es.Links = append(es.Links, name+":"+alias)
	}
	return es
}

// Connector is the one call Connect makes; the container layer's API has it.
type Connector interface {
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
}

// Connect connects a created container (id, and name for messages) on
// host to its further networks, in order.
func Connect(ctx context.Context, api Connector, host, id, name string, later []Attachment) error {
	for _, a := range later {
		if err := api.NetworkConnect(ctx, a.Network.ID, id, a.Settings); err != nil {
			return fmt.Errorf("connect container %s to network %q on host %q: %w", name, a.Key, host, err)
		}
	}
	return nil
}
