package stack

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"

	"github.com/devorch/devorch/internal/labels"
)

// Network is the create request for the Swarm network of compose network
// key: an overlay, attachable so that `devorch run` and exec'd helpers can
// join it, labelled with the stack namespace, the project and the key.
//
// External networks are not created: the caller skips them (and attaches
// services to them by name); asking for one is an error, as is a driver
// other than overlay, since only an overlay spans a Swarm's nodes.
func Network(namespace, key string, n types.NetworkConfig) (network.CreateOptions, error) {
	if bool(n.External) {
		return network.CreateOptions{}, fmt.Errorf("network %q is external: it is not created, only attached to", key)
	}
	switch n.Driver {
	case "", "default", "overlay":
	default:
		return network.CreateOptions{}, fmt.Errorf("network %q: driver %q cannot span a Swarm's nodes; use overlay (or leave driver unset)", key, n.Driver)
	}
	l := make(map[string]string, len(n.Labels)+3)
	for k, v := range n.Labels {
		l[k] = v
	}
	l[labels.StackNamespace] = namespace
	l[labels.Project] = namespace
	l[labels.Network] = key
	opts := network.CreateOptions{
		Driver:     "overlay",
		Attachable: true,
		Internal:   n.Internal,
		EnableIPv4: n.EnableIPv4,
		EnableIPv6: n.EnableIPv6,
		Options:    nonEmptyMap(n.DriverOpts),
		Labels:     l,
	}
	if n.Ipam.Driver != "" || len(n.Ipam.Config) > 0 || len(n.Ipam.Options) > 0 {
		ipam := &network.IPAM{Driver: n.Ipam.Driver, Options: nonEmptyMap(n.Ipam.Options)}
		for _, c := range n.Ipam.Config {
			if c == nil {
				continue
			}
			ipam.Config = append(ipam.Config, network.IPAMConfig{
				Subnet:     c.Subnet,
				Gateway:    c.Gateway,
				IPRange:    c.IPRange,
				AuxAddress: nonEmptyMap(c.AuxiliaryAddresses),
			})
		}
		opts.IPAM = ipam
	}
	return opts, nil
}
