// Package enginecheck refuses, before anything is created, what the engines
// a plan's containers land on cannot do. Some of what a compose file asks
// for depends on the engine it runs on: fields newer than the engine's API,
// a runtime or a volume or network driver the daemon does not have, a
// device missing on the host. Docker would refuse each of them only when
// the container, network or volume is created, after others already exist;
// Check refuses them first, naming the service, the field and the host.
//
// It does no I/O of its own: the engine reads each host's facts (its docker
// info and API version) and hands over, as a Lookup, the two questions
// asked only when the facts do not settle one (the plugins installed on a
// host, a path on this machine).
package enginecheck

import (
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/plan"
)

// feature is a compose field that needs a minimum Engine API.
type feature struct {
	field  string // as the compose file spells it
	api    string // first API version that has it
	engine string // first Docker Engine release with that API
	hint   string // what to do instead, or ""
}

// The fields compose itself refuses on older engines ("can't set
// healthcheck.start_interval as feature require Docker Engine v25 or
// later", "interface_name requires Docker Engine v28.1 or later").
var (
	featureStartInterval = feature{field: "healthcheck.start_interval", api: "1.44", engine: "25.0",
		hint: "remove it: devorch runs a starting dependency's health check itself every 200 ms until it passes"}
	featureInterfaceName = feature{field: "interface_name", api: "1.49", engine: "28.1"}
)

// Facts is what one host's engine can do, as the run read it.
type Facts struct {
	Host    string
	Version string // Docker Engine version, e.g. 20.10.24
	API     string // API version devorch talks to it with
	// Runtimes the daemon has configured (docker info Runtimes); nil when
	// unknown, and then not checked.
	Runtimes map[string]bool
	// Local says the host is this machine: its devices and legacy plugins
	// are looked for here.
	Local bool
	// Drivers are the drivers docker info lists; nil when docker info was
	// not read, and then drivers are not checked.
	Drivers *Drivers
}

// Drivers are the network and volume drivers docker info lists: the
// built-in ones and the legacy plugins in use.
type Drivers struct {
	Network, Volume []string
}

// FromInfo is the facts of a host named host, talked to with API version
// api, whose docker info is info (nil when not read).
func FromInfo(host, api string, local bool, info *system.Info) Facts {
	f := Facts{Host: host, API: api, Local: local}
	if info != nil {
		f.Version = info.ServerVersion
		f.Runtimes = map[string]bool{}
		for name := range info.Runtimes {
			f.Runtimes[name] = true
		}
		f.Drivers = &Drivers{Network: info.Plugins.Network, Volume: info.Plugins.Volume}
	}
	return f
}

// Lookup is the I/O Check asks for only when the facts do not settle a
// question.
type Lookup struct {
	// Plugins lists the managed plugins installed on a host (docker plugin
	// ls); an error leaves the driver to Docker.
	Plugins func(host string) (dockertypes.PluginsListResponse, error)
	// Stat looks a path up on this machine (os.Stat): devices, and legacy
	// plugins' sockets and spec files.
	Stat func(path string) (fs.FileInfo, error)
}

func (f Facts) lacks(ft feature) bool {
	return f.API != "" && versions.LessThan(f.API, ft.api)
}

func (f Facts) refuse(service, field string, ft feature) error {
	runs := "API " + f.API
	if f.Version != "" {
		runs = "Engine " + f.Version + " (" + runs + ")"
	}
	msg := fmt.Sprintf("service %q: %s needs Docker Engine %s or later (API %s), but host %q runs %s", service, field, ft.engine, ft.api, f.Host, runs)
	if ft.hint != "" {
		msg += "; " + ft.hint
	}
	return fmt.Errorf("%s", msg)
}

// Service is the part of Check that needs nothing but the facts: the
// fields of one service that the engine of the host a container of it is
// created on cannot honour.
func Service(s types.ServiceConfig, f Facts) error {
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
	if s.Runtime != "" && f.Runtimes != nil && !f.Runtimes[s.Runtime] {
		return fmt.Errorf("service %q: runtime %q is not configured on host %q (it has %s); add it to the daemon's runtimes or remove runtime:",
			s.Name, s.Runtime, f.Host, strings.Join(slices.Sorted(maps.Keys(f.Runtimes)), ", "))
	}
	return nil
}

// Check refuses, before anything is created, what the engines the plan's
// new containers land on cannot do (see Service), a volume or network
// driver that a host does not have, and a device missing on this machine's
// host. facts holds the reachable hosts; a host not in it is not checked.
func Check(p *compose.Project, pn *plan.Plan, facts map[string]Facts, look Lookup) error {
	type onHost struct{ service, host string }
	seen := map[onHost]bool{}
	netsOn, volsOn := pn.Uses(p) // host → network and volume keys used there
	for _, st := range pn.Steps {
		if st.Action != plan.ActCreate && st.Action != plan.ActRecreate {
			continue
		}
		seen[onHost{st.Service, st.Host}] = true
	}
	keys := slices.Collect(maps.Keys(seen))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].service != keys[j].service {
			return keys[i].service < keys[j].service
		}
		return keys[i].host < keys[j].host
	})
	for _, k := range keys {
		f, ok := facts[k.host]
		if !ok {
			continue
		}
		s := p.Services[k.service]
		if err := Service(s, f); err != nil {
			return err
		}
		if f.Local {
			if err := Devices(s, k.host, look.Stat); err != nil {
				return err
			}
		}
	}
	for _, host := range slices.Sorted(maps.Keys(netsOn)) {
		f, ok := facts[host]
		if !ok || f.Drivers == nil {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(netsOn[host])) {
			cfg, ok := p.Networks[key]
			if !ok || bool(cfg.External) || cfg.Driver == "" || cfg.Driver == "default" {
				continue
			}
			if err := f.driver("network", key, cfg.Driver, f.Drivers.Network, look); err != nil {
				return err
			}
		}
		for _, key := range slices.Sorted(maps.Keys(volsOn[host])) {
			cfg, ok := p.Volumes[key]
			if !ok || bool(cfg.External) || cfg.Driver == "" {
				continue
			}
			if err := f.driver("volume", key, cfg.Driver, f.Drivers.Volume, look); err != nil {
				return err
			}
		}
	}
	return nil
}

// Devices refuses a device whose path does not exist on this machine
// (Docker would refuse it only when the container starts); stat is
// os.Stat.
func Devices(s types.ServiceConfig, host string, stat func(string) (fs.FileInfo, error)) error {
	for _, d := range s.Devices {
		// Only paths: CDI names (vendor.com/class=name) are resolved by
		// the daemon.
		if !strings.HasPrefix(d.Source, "/") {
			continue
		}
		if _, err := stat(d.Source); err != nil {
			return fmt.Errorf("service %q: device %q does not exist on host %q: %v", s.Name, d.Source, host, err)
		}
	}
	return nil
}

// driver refuses a volume or network driver the host does not have.
// docker info lists built-in drivers and legacy plugins already in use;
// managed plugins are asked for. A legacy plugin not used since the daemon
// started is listed nowhere: on this machine its socket or spec file is
// looked for; on another host Docker decides when the volume or network is
// created (and a refusal then is rolled back).
func (f Facts) driver(kind, key, driver string, listed []string, look Lookup) error {
	if slices.Contains(listed, driver) {
		return nil
	}
	plugins, err := look.Plugins(f.Host)
	if err != nil {
		return nil // unknown: let Docker decide
	}
	for _, pl := range plugins {
		if pl.Name != driver && strings.TrimSuffix(pl.Name, ":latest") != driver {
			continue
		}
		if !pl.Enabled {
			return fmt.Errorf("%s %q: driver %q is a plugin installed on host %q but disabled; enable it with `docker plugin enable %s`", kind, key, driver, f.Host, pl.Name)
		}
		return nil
	}
	if !f.Local {
		return nil
	}
	if legacyPluginExists(driver, look.Stat) {
		return nil
	}
	return fmt.Errorf("%s %q: driver %q is not available on host %q (%s drivers there: %s, and no plugin of that name is installed)",
		kind, key, driver, f.Host, kind, strings.Join(listed, ", "))
}

// legacyPluginExists looks for a legacy (v1) plugin's socket or spec file
// where dockerd discovers them.
func legacyPluginExists(name string, stat func(string) (fs.FileInfo, error)) bool {
	candidates := []string{
		filepath.Join("/run/docker/plugins", name+".sock"),
		filepath.Join("/run/docker/plugins", name, name+".sock"),
	}
	for _, dir := range []string{"/etc/docker/plugins", "/usr/lib/docker/plugins"} {
		candidates = append(candidates, filepath.Join(dir, name+".spec"), filepath.Join(dir, name+".json"))
	}
	for _, c := range candidates {
		if _, err := stat(c); err == nil {
			return true
		}
	}
	return false
}
