package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"

	"github.com/devorch/devorch/internal/errtext"
)

// ExtensionKey is the compose extension devorch reads, at the top level, on
// networks and on services.
const ExtensionKey = "x-devorch"

// Extension is the top-level x-devorch block.
type Extension struct {
	// Hosts declares Docker hosts by name (used when neither --host nor
	// DEVORCH_HOSTS is given).
	Hosts map[string]HostSpec `json:"hosts,omitempty"`
	// Strategy is "spread" (default) or "binpack".
	Strategy string `json:"strategy,omitempty"`
	// Target is where the stack runs: "hosts" (default: devorch places
	// containers on its hosts) or "swarm" (Swarm services on the Swarm the
	// default host manages). --target and DEVORCH_TARGET win over it.
	Target string `json:"target,omitempty"`
	// Registry, with the swarm target, is where the images are pushed for
	// the nodes to pull (host[:port][/path]). --registry and
	// DEVORCH_REGISTRY win over it.
	Registry string `json:"registry,omitempty"`
}

// Targets are the values of --target, DEVORCH_TARGET and x-devorch target.
const (
	TargetHosts = "hosts"
	TargetSwarm = "swarm"
)

// CheckTarget says whether t names a target ("" is the default).
func CheckTarget(t string) error {
	switch t {
	case "", TargetHosts, TargetSwarm:
		return nil
	}
	return fmt.Errorf("target %q: want hosts (devorch places the containers) or swarm (Swarm services)", t)
}

// CheckRegistry says whether r names a registry to push images to (the
// swarm target's --registry, DEVORCH_REGISTRY, x-devorch registry): a host
// with an optional port and path ("registry.example.com:5000/team"), with
// no scheme, tag or digest.
func CheckRegistry(r string) error {
	if strings.Contains(r, "://") {
		return fmt.Errorf("registry %q: give host[:port][/path], without a scheme", r)
	}
	named, err := reference.ParseNormalizedNamed(strings.TrimSuffix(r, "/") + "/probe")
	if err != nil || !reference.IsNameOnly(named) {
		return fmt.Errorf("registry %q: not host[:port][/path]", r)
	}
	return nil
}

// HostSpec is one host of an x-devorch hosts block.
type HostSpec struct {
	Endpoint string            `json:"endpoint"`
	Address  string            `json:"address,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// NetworkExtension is x-devorch on a top-level network.
type NetworkExtension struct {
	// Colocate keeps every service on the network on one host.
	Colocate bool `json:"colocate,omitempty"`
}

// ServiceExtension is x-devorch on a service.
type ServiceExtension struct {
	// Alerts are threshold rules such as cpu: "90%/30s".
	Alerts map[string]string `json:"alerts,omitempty"`
}

func decodeExtension(ext types.Extensions, into any, where string) error {
	raw, ok := ext[ExtensionKey]
	if !ok || raw == nil {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", where, ExtensionKey, err)
	}
	// A misspelt key would otherwise be ignored without a word.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%s: %s", where, explainJSON(err))
	}
	return nil
}

// explainJSON says what was wrong in compose terms: the field, what it
// wants and what it got, rather than Go's type names.
func explainJSON(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := ExtensionKey
		if te.Field != "" {
			field += "." + te.Field
		}
		want := "a " + te.Type.Kind().String()
		switch te.Type.Kind() {
		case reflect.Map, reflect.Struct:
			want = "a mapping"
		case reflect.Slice:
			want = "a list"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int64, reflect.Float64:
			want = "a number"
		}
		return fmt.Sprintf("%s: want %s, got %s", field, want, te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("%s: unknown field %s", ExtensionKey, f)
	}
	return ExtensionKey + ": " + err.Error()
}

func parseExtension(p *types.Project) (Extension, error) {
	var x Extension
	if err := decodeExtension(p.Extensions, &x, "top level"); err != nil {
		return x, err
	}
	switch x.Strategy {
	case "", "spread", "binpack":
	default:
		return x, fmt.Errorf("top level: %s.strategy: %q is neither spread nor binpack", ExtensionKey, x.Strategy)
	}
	if err := CheckTarget(x.Target); err != nil {
		return x, fmt.Errorf("top level: %s.%w", ExtensionKey, err)
	}
	if x.Registry != "" {
		if err := CheckRegistry(x.Registry); err != nil {
			return x, fmt.Errorf("top level: %s.%w", ExtensionKey, err)
		}
	}
	for _, name := range sortedNames(x.Hosts) {
		h := x.Hosts[name]
		if h.Endpoint == "" {
			return x, fmt.Errorf("top level: %s.hosts.%s: endpoint is required", ExtensionKey, name)
		}
		if h.Address != "" && net.ParseIP(h.Address) == nil {
			return x, fmt.Errorf("top level: %s.hosts.%s.address %s: not an IP address (the address other hosts reach this one at)", ExtensionKey, name, errtext.Quote(h.Address))
		}
	}
	for name, n := range p.Networks {
		var nx NetworkExtension
		if err := decodeExtension(n.Extensions, &nx, fmt.Sprintf("network %q", name)); err != nil {
			return x, err
		}
	}
	for name, s := range p.Services {
		var sx ServiceExtension
		if err := decodeExtension(s.Extensions, &sx, fmt.Sprintf("service %q", name)); err != nil {
			return x, err
		}
	}
	return x, nil
}

// NetworkX returns the x-devorch block of a network (zero when absent or
// malformed; Load has already rejected malformed blocks).
func NetworkX(n types.NetworkConfig) NetworkExtension {
	var nx NetworkExtension
	_ = decodeExtension(n.Extensions, &nx, "")
	return nx
}

// ServiceX returns the x-devorch block of a service.
func ServiceX(s types.ServiceConfig) ServiceExtension {
	var sx ServiceExtension
	_ = decodeExtension(s.Extensions, &sx, "")
	return sx
}
