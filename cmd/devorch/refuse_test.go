package main

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/versions"
)

// What the engine of the host cannot do is refused before anything is
// created: each file has a service "ok" that, without the check, would be
// created and started (with the project's network) before Docker refused
// the bad one.
func TestEngineRefusalsLeaveNothing(t *testing.T) {
	t.Parallel()
	cli := newStack(t, nil).cli
	sv, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const ok = "services:\n  ok:\n    image: devorch-test/testapp:latest\n"
	cases := []struct {
		name   string
		file   string
		minAPI string // the case refuses only on engines older than this API
		wants  []string
	}{
		{"start_interval", ok + `  bad:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, start_interval: 1s}
`, "1.44", []string{`service "bad"`, "healthcheck.start_interval", "Docker Engine 25.0 or later", `host "local"`, "Engine " + sv.Version}},
		{"interface_name", ok + `  bad:
    image: devorch-test/testapp:latest
    networks:
      default: {interface_name: lan0}
`, "1.49", []string{`service "bad"`, "networks.default.interface_name", "Docker Engine 28.1 or later", `host "local"`}},
		{"runtime", ok + `  bad:
    image: devorch-test/testapp:latest
    runtime: devorch-nosuch
`, "", []string{`service "bad"`, `runtime "devorch-nosuch"`, `host "local"`, "runc"}},
		{"device", ok + `  bad:
    image: devorch-test/testapp:latest
    devices: ["/dev/devorch-nosuch:/dev/x"]
`, "", []string{`service "bad"`, `device "/dev/devorch-nosuch"`, `host "local"`}},
		{"volume driver", ok + `  bad:
    image: devorch-test/testapp:latest
    volumes: ["data:/data"]
volumes:
  data: {driver: devorch-nosuch}
`, "", []string{`volume "data"`, `driver "devorch-nosuch"`, `host "local"`}},
		{"network driver", ok + `  bad:
    image: devorch-test/testapp:latest
    networks: [net]
networks:
  net: {driver: devorch-nosuch}
`, "", []string{`network "net"`, `driver "devorch-nosuch"`, `host "local"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.minAPI != "" && !versions.LessThan(sv.APIVersion, c.minAPI) {
				t.Skipf("the daemon has API %s: it supports the field", sv.APIVersion)
			}
			s := newStack(t, map[string]string{"compose.yaml": c.file})
			r := s.devorch("up", "-d")
			if r.code != 1 {
				t.Errorf("exit %d, want 1: %s", r.code, r)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
			if strings.Contains(r.stderr, "Created") {
				t.Errorf("something was created before the refusal:\n%s", r.stderr)
			}
			s.assertNothingLeft()
		})
	}
}
