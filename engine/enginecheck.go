package engine

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/versions"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/netctl"
)

// Some of what a compose file asks for depends on the engine it runs on:
// fields newer than the engine's API, a runtime or a volume or network
// driver the daemon does not have, a device missing on the host. Docker
// would refuse each of them only when the container, network or volume is
// created, after others already exist; checkEngines refuses them before
// anything is created, naming the service, the field and the host.

// engineFeature is a compose field that needs a minimum Engine API.
type engineFeature struct {
	field  string // as the compose file spells it
	api    string // first API version that has it
	engine string // first Docker Engine release with that API
	hint   string // what to do instead, or ""
}

// The fields compose itself refuses on older engines ("can't set
// healthcheck.start_interval as feature require Docker Engine v25 or
// later", "interface_name requires Docker Engine v28.1 or later").
var (
	featureStartInterval = engineFeature{field: "healthcheck.start_interval", api: "1.44", engine: "25.0",
		hint: "remove it: devorch runs a starting dependency's health check itself every 200 ms until it passes"}
	featureInterfaceName = engineFeature{field: "interface_name", api: "1.49", engine: "28.1"}
)

// engineFacts is what one host's engine can do, as the run read it.
type engineFacts struct {
	host    string
	version string // Docker Engine version, e.g. 20.10.24
	api     string // API version devorch talks to it with
	// runtimes the daemon has configured (docker info Runtimes); nil when
	// unknown, and then not checked.
	runtimes map[string]bool
}

func factsOf(v *hostView) engineFacts {
	f := engineFacts{host: v.host.Name, api: v.host.Client.ClientVersion()}
	if v.info != nil {
		f.version = v.info.ServerVersion
		f.runtimes = map[string]bool{}
		for name := range v.info.Runtimes {
			f.runtimes[name] = true
		}
	}
	return f
}

func (f engineFacts) lacks(ft engineFeature) bool {
	return f.api != "" && versions.LessThan(f.api, ft.api)
}

func (f engineFacts) refuse(service, field string, ft engineFeature) error {
	runs := "API " + f.api
	if f.version != "" {
		runs = "Engine " + f.version + " (" + runs + ")"
	}
	msg := fmt.Sprintf("service %q: %s needs Docker Engine %s or later (API %s), but host %q runs %s", service, field, ft.engine, ft.api, f.host, runs)
	if ft.hint != "" {
		msg += "; " + ft.hint
	}
	return fmt.Errorf("%s", msg)
}

// checkServiceOnEngine is the pure part of checkEngines: the fields of one
// service that the engine of the host a container of it is created on
// cannot honour.
func checkServiceOnEngine(s types.ServiceConfig, f engineFacts) error {
	if hc := s.HealthCheck; hc != nil && !hc.Disable && hc.StartInterval != nil && f.lacks(featureStartInterval) {
		return f.refuse(s.Name, featureStartInterval.field, featureStartInterval)
	}
	if s.NetworkMode == "" && f.lacks(featureInterfaceName) {
		for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
			if n := s.Networks[key]; n != nil && n.InterfaceName != "" {
				return f.refuse(s.Name, "networks."+key+".interface_name", featureInterfaceName)
			}
		}
	}
	if s.Runtime != "" && f.runtimes != nil && !f.runtimes[s.Runtime] {
		return fmt.Errorf("service %q: runtime %q is not configured on host %q (it has %s); add it to the daemon's runtimes or remove runtime:",
			s.Name, s.Runtime, f.host, strings.Join(slices.Sorted(maps.Keys(f.runtimes)), ", "))
	}
	return nil
}

// checkEngines refuses, before anything is created, what the engines the
// plan's new containers land on cannot do (see checkServiceOnEngine), a
// volume or network driver that a host does not have, and a device
// missing on this machine's host.
func (e *Engine) checkEngines(ctx context.Context, p *compose.Project, plan *Plan, views map[string]*hostView) error {
	type onHost struct{ service, host string }
	seen := map[onHost]bool{}
	netsOn := netctl.Need{} // host → network keys used there
	volsOn := map[string]map[string]bool{}
	for _, st := range plan.Steps {
		if st.Action == ActRemove {
			continue
		}
		s := p.Services[st.Service]
		if volsOn[st.Host] == nil {
			volsOn[st.Host] = map[string]bool{}
		}
		netsOn.Add(st.Host, s)
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				volsOn[st.Host][v.Source] = true
			}
		}
		if st.Action != ActCreate && st.Action != ActRecreate {
			continue
		}
		k := onHost{st.Service, st.Host}
		if seen[k] {
			continue
		}
		seen[k] = true
	}
	keys := make([]onHost, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].service != keys[j].service {
			return keys[i].service < keys[j].service
		}
		return keys[i].host < keys[j].host
	})
	for _, k := range keys {
		v := views[k.host]
		if v == nil || !v.reachable {
			continue
		}
		s := p.Services[k.service]
		if err := checkServiceOnEngine(s, factsOf(v)); err != nil {
			return err
		}
		if isLocal(v.host.Endpoint, v.host.Address) {
			if err := checkDevices(s, k.host); err != nil {
				return err
			}
		}
	}
	for _, host := range slices.Sorted(maps.Keys(netsOn)) {
		v := views[host]
		if v == nil || !v.reachable || v.info == nil {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(netsOn[host])) {
			cfg, ok := p.Networks[key]
			if !ok || bool(cfg.External) || cfg.Driver == "" || cfg.Driver == "default" {
				continue
			}
			if err := e.checkDriver(ctx, v, "network", key, cfg.Driver, v.info.Plugins.Network); err != nil {
				return err
			}
		}
		for _, key := range slices.Sorted(maps.Keys(volsOn[host])) {
			cfg, ok := p.Volumes[key]
			if !ok || bool(cfg.External) || cfg.Driver == "" {
				continue
			}
			if err := e.checkDriver(ctx, v, "volume", key, cfg.Driver, v.info.Plugins.Volume); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDevices refuses a device whose path does not exist on this machine
// (Docker would refuse it only when the container starts).
func checkDevices(s types.ServiceConfig, host string) error {
	for _, d := range s.Devices {
		// Only paths: CDI names (vendor.com/class=name) are resolved by
		// the daemon.
		if !strings.HasPrefix(d.Source, "/") {
			continue
		}
		if _, err := os.Stat(d.Source); err != nil {
			return fmt.Errorf("service %q: device %q does not exist on host %q: %v", s.Name, d.Source, host, err)
		}
	}
	return nil
}

// checkDriver refuses a volume or network driver a host does not have.
// docker info lists built-in drivers and legacy plugins already in use;
// managed plugins are asked for. A legacy plugin not used since the daemon
// started is listed nowhere: on this machine its socket or spec file is
// looked for; on another host Docker decides when the volume or network is
// created (and a refusal then is rolled back).
func (e *Engine) checkDriver(ctx context.Context, v *hostView, kind, key, driver string, listed []string) error {
	for _, d := range listed {
		if d == driver {
			return nil
		}
	}
	plugins, err := v.host.Client.PluginList(ctx, filters.NewArgs())
	if err != nil {
		return nil // unknown: let Docker decide
	}
	for _, pl := range plugins {
		if pl.Name != driver && strings.TrimSuffix(pl.Name, ":latest") != driver {
			continue
		}
		if !pl.Enabled {
			return fmt.Errorf("%s %q: driver %q is a plugin installed on host %q but disabled; enable it with `docker plugin enable %s`", kind, key, driver, v.host.Name, pl.Name)
		}
		return nil
	}
	if !isLocal(v.host.Endpoint, v.host.Address) {
		return nil
	}
	if legacyPluginExists(driver) {
		return nil
	}
	return fmt.Errorf("%s %q: driver %q is not available on host %q (%s drivers there: %s, and no plugin of that name is installed)",
		kind, key, driver, v.host.Name, kind, strings.Join(listed, ", "))
}

// legacyPluginExists looks for a legacy (v1) plugin's socket or spec file
// where dockerd discovers them.
func legacyPluginExists(name string) bool {
	candidates := []string{
		filepath.Join("/run/docker/plugins", name+".sock"),
		filepath.Join("/run/docker/plugins", name, name+".sock"),
	}
	for _, dir := range []string{"/etc/docker/plugins", "/usr/lib/docker/plugins"} {
		candidates = append(candidates, filepath.Join(dir, name+".spec"), filepath.Join(dir, name+".json"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return true
		}
	}
	return false
}
