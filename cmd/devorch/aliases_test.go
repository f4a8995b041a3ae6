package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestContainerNameIsANetworkAlias: as in compose v2, a container's name
// (<project>-<service>-<n>, or container_name) is one of its aliases on
// every network it joins, beside the service name and the network's own
// aliases, also after a recreate (created under a temporary name, then
// renamed); another container resolves it.
func TestContainerNameIsANetworkAlias(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	custom := s.project + "-custom"
	s.write("compose.yaml", fmt.Sprintf(`
services:
  app:
    image: devorch-test/testapp:latest
    networks: [default, back]
  named:
    image: devorch-test/testapp:latest
    container_name: %s
    networks:
      back:
        aliases: [other]
  client:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    networks: [default, back]
networks:
  back: {}
`, custom))
	check := func(round string) {
		t.Helper()
		app := s.name("app", 1)
		for _, tc := range []struct {
			container string
			nets      []string
			aliases   []string
		}{
			{app, []string{"default", "back"}, []string{app, "app"}},
			{custom, []string{"back"}, []string{custom, "named", "other"}},
		} {
			c := s.inspect(tc.container)
			for _, n := range tc.nets {
				ep := c.NetworkSettings.Networks[s.project+"_"+n]
				if ep == nil {
					t.Fatalf("%s: %s is not on network %s", round, tc.container, n)
				}
				for _, a := range tc.aliases {
					if !contains(ep.Aliases, a) {
						t.Errorf("%s: %s on %s: aliases %v, want %s among them", round, tc.container, n, ep.Aliases, a)
					}
				}
			}
		}
		for _, name := range []string{app, custom} {
			out, code := s.execOut(s.name("client", 1), "nslookup", name)
			if code != 0 || !strings.Contains(out, "Address") {
				t.Errorf("%s: client cannot resolve %s (exit %d):\n%s", round, name, code, out)
			}
		}
	}
	s.must("up", "-d")
	check("up")
	s.must("up", "-d", "--force-recreate", "app", "named")
	check("recreate")
	s.must("down")
	s.assertNothingLeft()
}
