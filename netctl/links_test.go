package netctl

import (
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func linkServices() types.Services {
	svc := func(name string, deps []string, expose ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		if deps != nil {
			s.DependsOn = types.DependsOnConfig{}
			for _, d := range deps {
				s.DependsOn[d] = types.ServiceDependency{}
			}
		}
		s.Expose = expose
		return s
	}
	db := svc("db", nil, "5432")
	db.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080"}}
	side := svc("side", []string{"db"})
	side.NetworkMode = "service:web"
	hostNet := svc("hostnet", []string{"db"})
	hostNet.NetworkMode = "host"
	return types.Services{
		"hostnet": hostNet,
		"web":     svc("web", []string{"db", "cache", "log"}),
		"db":      db,
		"cache":   svc("cache", nil, "6379/tcp"),
		"log":     svc("log", nil), // declares no port
		"side":    side,
	}
}

// A dependency on another host is reached by name at that host's address,
// on its declared ports, published there by one replica; one on the same
// host is left to DNS.
func TestCrossHostLinks(t *testing.T) {
	where := map[string][]string{"web": {"h1"}, "side": {"h1"}, "hostnet": {"h1"}, "db": {"h2"}, "cache": {"h1", "h2"}, "log": {"h3"}}
	var ev events
	pool := Pool{
		Hosts: []Host{{Name: "h1", Address: "192.0.2.1"}, {Name: "h2", Address: "192.0.2.2"}, {Name: "h3", Address: "192.0.2.3"}},
		Sink:  ev.sink,
	}
	lk, err := CrossHostLinks(pool, linkServices(), []string{"web", "side", "hostnet", "db", "cache", "log"},
		func(s string) []string { return where[s] },
		func(s, h string) int { return 2 })
	if err != nil {
		t.Fatal(err)
	}
	web := lk.Get("web", "h1", 1)
	if want := []string{"db:192.0.2.2", "log:192.0.2.3"}; !slices.Equal(web.ExtraHosts, want) {
		t.Errorf("web's extra hosts %v, want %v (cache runs on h1 too)", web.ExtraHosts, want)
	}
	db := lk.Get("db", "h2", 2)
	if want := []Publish{{"192.0.2.2", "5432/tcp"}, {"192.0.2.2", "80/tcp"}}; !slices.Equal(db.Publish, want) {
		t.Errorf("db publishes %v, want %v", db.Publish, want)
	}
	if other := lk.Get("db", "h2", 1); len(other.Publish) != 0 {
		t.Errorf("db's replica 1 publishes %v too: one address and port is bound once", other.Publish)
	}
	for _, name := range []string{"side", "hostnet"} {
		if s := lk.Get(name, "h1", 1); s.Signature() != "" {
			t.Errorf("%s is on another's or the host's network, got a link %+v", name, s)
		}
	}
	if web.Signature() == "" || web.Signature() == db.Signature() {
		t.Errorf("signatures %q and %q", web.Signature(), db.Signature())
	}
	if want := []string{`warning: service "web" on host "h1" depends on "log" on host "h3", which declares no ports or expose: devorch publishes only declared ports, so it cannot be reached across hosts`}; !slices.Equal(ev.list, want) {
		t.Errorf("events %q, want %q", ev.list, want)
	}

	a, b := Link{Publish: []Publish{{"192.0.2.2", "80/tcp"}}}, Link{Publish: []Publish{{"192.0.2.2", "81/tcp"}}}
	if a.Signature() == b.Signature() {
		t.Errorf("publishing another port, same signature %q", a.Signature())
	}

	// Moving db changes web's signature: web is recreated.
	where["db"] = []string{"h3"}
	moved, err := CrossHostLinks(pool, linkServices(), []string{"web", "db"}, func(s string) []string { return where[s] }, func(s, h string) int { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	if moved.Get("web", "h1", 1).Signature() == web.Signature() {
		t.Errorf("db moved to h3, web's signature did not change")
	}

	// db and cache both need 5432 on h2's address.
	svcs := linkServices()
	c := svcs["cache"]
	c.Expose = types.StringOrNumberList{"5432"}
	svcs["cache"] = c
	where["db"], where["cache"] = []string{"h2"}, []string{"h2"}
	_, err = CrossHostLinks(pool, svcs, []string{"web"}, func(s string) []string { return where[s] }, func(s, h string) int { return 1 })
	if err == nil || !strings.Contains(err.Error(), `services "cache" and "db" on host "h2" both need port 5432/tcp published on 192.0.2.2`) {
		t.Errorf("a port claimed twice: %v", err)
	}

	// A host without an address cannot be reached.
	pool.Hosts[1] = Host{Name: "h2", Endpoint: "ssh://h2"}
	_, err = CrossHostLinks(pool, linkServices(), []string{"web"}, func(s string) []string { return where[s] }, func(s, h string) int { return 1 })
	if err == nil || !strings.Contains(err.Error(), `host "h2" (ssh://h2) has no address other hosts can reach its published ports at`) {
		t.Errorf("a host without address: %v", err)
	}
}
