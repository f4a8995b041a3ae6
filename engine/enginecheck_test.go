package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestCheckServiceOnEngine(t *testing.T) {
	sec := types.Duration(time.Second)
	withStartInterval := func(s *types.ServiceConfig) {
		s.HealthCheck = &types.HealthCheckConfig{Test: []string{"CMD", "true"}, StartInterval: &sec}
	}
	withIfname := func(s *types.ServiceConfig) {
		s.Networks = map[string]*types.ServiceNetworkConfig{"back": nil, "front": {InterfaceName: "lan0"}}
	}
	withRuntime := func(s *types.ServiceConfig) { s.Runtime = "kata" }
	old := engineFacts{host: "a", version: "20.10.24", api: "1.41", runtimes: map[string]bool{"runc": true, "io.containerd.runc.v2": true}}
	v25 := engineFacts{host: "b", version: "25.0.3", api: "1.44", runtimes: map[string]bool{"runc": true}}
	v28 := engineFacts{host: "c", version: "28.1.0", api: "1.49", runtimes: map[string]bool{"runc": true, "kata": true}}
	cases := []struct {
		name  string
		svc   types.ServiceConfig
		facts engineFacts
		want  []string // substrings of the error; nil: no error
	}{
		{"start_interval on 20.10", svc("db", withStartInterval), old,
			[]string{`service "db"`, "healthcheck.start_interval", "Docker Engine 25.0 or later (API 1.44)", `host "a"`, "Engine 20.10.24 (API 1.41)"}},
		{"start_interval on 25.0", svc("db", withStartInterval), v25, nil},
		{"disabled healthcheck", svc("db", withStartInterval, func(s *types.ServiceConfig) { s.HealthCheck.Disable = true }), old, nil},
		{"interface_name on 25.0", svc("web", withIfname), v25,
			[]string{`service "web"`, "networks.front.interface_name", "Docker Engine 28.1 or later (API 1.49)", `host "b"`, "Engine 25.0.3"}},
		{"interface_name on 28.1", svc("web", withIfname), v28, nil},
		{"interface_name with network_mode", svc("web", withIfname, func(s *types.ServiceConfig) { s.NetworkMode = "host" }), old, nil},
		{"missing runtime", svc("vm", withRuntime), old,
			[]string{`service "vm"`, `runtime "kata"`, `host "a"`, "io.containerd.runc.v2, runc"}},
		{"present runtime", svc("vm", withRuntime), v28, nil},
		{"runtimes unknown", svc("vm", withRuntime), engineFacts{host: "d", api: "1.41"}, nil},
		{"plain service", svc("plain"), old, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkServiceOnEngine(c.svc, c.facts)
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
