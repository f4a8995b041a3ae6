package enginecheck

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/system"

	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/internal/testmodel"
)

func TestService(t *testing.T) {
	sec := types.Duration(time.Second)
	withStartInterval := func(s *types.ServiceConfig) {
		s.HealthCheck = &types.HealthCheckConfig{Test: []string{"CMD", "true"}, StartInterval: &sec}
	}
	withIfname := func(s *types.ServiceConfig) {
		s.Networks = map[string]*types.ServiceNetworkConfig{"back": nil, "front": {InterfaceName: "lan0"}}
	}
	withRuntime := func(s *types.ServiceConfig) { s.Runtime = "kata" }
	old := Facts{Host: "a", Version: "20.10.24", API: "1.41", Runtimes: map[string]bool{"runc": true, "io.containerd.runc.v2": true}}
	v25 := Facts{Host: "b", Version: "25.0.3", API: "1.44", Runtimes: map[string]bool{"runc": true}}
	v28 := Facts{Host: "c", Version: "28.1.0", API: "1.49", Runtimes: map[string]bool{"runc": true, "kata": true}}
	cases := []struct {
		name  string
		svc   types.ServiceConfig
		facts Facts
		want  []string // substrings of the error; nil: no error
	}{
		{"start_interval on 20.10", testmodel.Service("db", withStartInterval), old,
			[]string{`service "db"`, "healthcheck.start_interval", "Docker Engine 25.0 or later (API 1.44)", `host "a"`, "Engine 20.10.24 (API 1.41)"}},
		{"start_interval on 25.0", testmodel.Service("db", withStartInterval), v25, nil},
		{"disabled healthcheck", testmodel.Service("db", withStartInterval, func(s *types.ServiceConfig) { s.HealthCheck.Disable = true }), old, nil},
		{"interface_name on 25.0", testmodel.Service("web", withIfname), v25,
			[]string{`service "web"`, "networks.front.interface_name", "Docker Engine 28.1 or later (API 1.49)", `host "b"`, "Engine 25.0.3"}},
		{"interface_name on 28.1", testmodel.Service("web", withIfname), v28, nil},
		{"interface_name with network_mode", testmodel.Service("web", withIfname, func(s *types.ServiceConfig) { s.NetworkMode = "host" }), old, nil},
		{"missing runtime", testmodel.Service("vm", withRuntime), old,
			[]string{`service "vm"`, `runtime "kata"`, `host "a"`, "io.containerd.runc.v2, runc"}},
		{"present runtime", testmodel.Service("vm", withRuntime), v28, nil},
		{"runtimes unknown", testmodel.Service("vm", withRuntime), Facts{Host: "d", API: "1.41"}, nil},
		{"plain service", testmodel.Service("plain"), old, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Service(c.svc, c.facts)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one with %q", c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// lookup answers Check's questions from maps, and counts them.
type lookup struct {
	plugins    map[string]dockertypes.PluginsListResponse // host → installed; a host not there fails
	paths      map[string]bool                            // paths that exist on this machine
	pluginAsks int
}

func (l *lookup) Lookup() Lookup {
	return Lookup{
		Plugins: func(host string) (dockertypes.PluginsListResponse, error) {
			l.pluginAsks++
			pl, ok := l.plugins[host]
			if !ok {
				return nil, errors.New("plugin ls failed")
			}
			return pl, nil
		},
		Stat: func(path string) (fs.FileInfo, error) {
			if l.paths[path] {
				return nil, nil
			}
			return nil, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
		},
	}
}

func TestCheck(t *testing.T) {
	// web joins network "front" (driver weave) and mounts volume "data"
	// (driver nfs) and device /dev/fuse.
	web := testmodel.Service("web", func(s *types.ServiceConfig) {
		s.Networks = map[string]*types.ServiceNetworkConfig{"front": nil}
		s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/data"}}
		s.Devices = []types.DeviceMapping{{Source: "/dev/fuse", Target: "/dev/fuse"}, {Source: "vendor.com/gpu=all"}}
	})
	p := testmodel.Project(t, web)
	p.Networks = types.Networks{"front": {Driver: "weave"}}
	p.Volumes = types.Volumes{"data": {Driver: "nfs"}}
	local := Facts{Host: "here", API: "1.47", Local: true, Drivers: &Drivers{Network: []string{"bridge", "host"}, Volume: []string{"local"}}}
	remote := local
	remote.Host, remote.Local = "there", false
	step := func(host string, a plan.Action) *plan.Plan {
		return &plan.Plan{Steps: []plan.Step{{Service: "web", Replica: 1, Host: host, Name: "p-web-1", Action: a}}}
	}
	enabled := dockertypes.PluginsListResponse{{Name: "weave:latest", Enabled: true}, {Name: "nfs", Enabled: true}}
	all := map[string]bool{"/dev/fuse": true}
	cases := []struct {
		name  string
		pn    *plan.Plan
		facts Facts
		l     lookup
		want  string
		asks  int // plugin lists asked for
	}{
		{"plugins installed and enabled", step("here", plan.ActCreate), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": enabled}, paths: all}, "", 2},
		{"drivers listed by docker info", step("here", plan.ActCreate),
			Facts{Host: "here", API: "1.47", Local: true, Drivers: &Drivers{Network: []string{"weave"}, Volume: []string{"nfs"}}},
			lookup{paths: all}, "", 0},
		{"disabled plugin", step("here", plan.ActCreate), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": {{Name: "weave:latest"}}}, paths: all},
			"network \"front\": driver \"weave\" is a plugin installed on host \"here\" but disabled; enable it with `docker plugin enable weave:latest`", 1},
		{"missing driver here", step("here", plan.ActCreate), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": nil}, paths: all},
			`network "front": driver "weave" is not available on host "here" (network drivers there: bridge, host, and no plugin of that name is installed)`, 1},
		{"legacy plugin socket here", step("here", plan.ActCreate), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": nil}, paths: map[string]bool{"/dev/fuse": true, "/run/docker/plugins/weave.sock": true, "/etc/docker/plugins/nfs.json": true}}, "", 2},
		{"missing driver on another host: Docker decides", step("there", plan.ActCreate), remote,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"there": nil}}, "", 2},
		{"plugin list fails: Docker decides", step("here", plan.ActCreate), local, lookup{paths: all}, "", 2},
		{"missing device here", step("here", plan.ActCreate), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": enabled}},
			`service "web": device "/dev/fuse" does not exist on host "here": stat /dev/fuse: file does not exist`, 0},
		{"devices not looked for on another host", step("there", plan.ActCreate), remote,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"there": enabled}}, "", 2},
		{"kept replica: drivers checked, devices not", step("here", plan.ActKeep), local,
			lookup{plugins: map[string]dockertypes.PluginsListResponse{"here": nil}, paths: nil},
			`network "front": driver "weave" is not available on host "here"`, 1},
		{"removed replica: nothing checked", step("here", plan.ActRemove), local, lookup{}, "", 0},
		{"docker info unknown: drivers not checked", step("here", plan.ActCreate), Facts{Host: "here", API: "1.47", Local: true},
			lookup{paths: all}, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(p, c.pn, map[string]Facts{c.facts.Host: c.facts}, c.l.Lookup())
			testmodel.WantErr(t, err, c.want)
			if c.l.pluginAsks != c.asks {
				t.Errorf("plugin lists asked for: %d, want %d", c.l.pluginAsks, c.asks)
			}
		})
	}
	t.Run("unreachable host: not checked", func(t *testing.T) {
		l := lookup{}
		if err := Check(p, step("gone", plan.ActCreate), map[string]Facts{"here": local}, l.Lookup()); err != nil || l.pluginAsks != 0 {
			t.Errorf("err %v, %d plugin lists; want nothing checked", err, l.pluginAsks)
		}
	})
}

func TestFromInfo(t *testing.T) {
	if f := FromInfo("a", "1.41", true, nil); f.Runtimes != nil || f.Drivers != nil || f.Version != "" || f.Host != "a" || f.API != "1.41" || !f.Local {
		t.Errorf("without docker info: %+v, want only host, API and Local", f)
	}
	info := &system.Info{ServerVersion: "27.3.1", Runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "kata": {}},
		Plugins: system.PluginsInfo{Network: []string{"bridge"}, Volume: []string{"local"}}}
	f := FromInfo("b", "1.47", false, info)
	if f.Version != "27.3.1" || !f.Runtimes["runc"] || !f.Runtimes["kata"] || len(f.Runtimes) != 2 ||
		f.Drivers == nil || !slices.Equal(f.Drivers.Network, []string{"bridge"}) || !slices.Equal(f.Drivers.Volume, []string{"local"}) {
		t.Errorf("FromInfo = %+v", f)
	}
}
