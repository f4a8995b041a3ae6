package testenv

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	const sock = "unix:///run/devorch-testhosts/"
	for _, tc := range []struct {
		name, raw string
		want      []TestHost
		err       string
	}{
		{name: "unset", raw: "", want: nil},
		{name: "blank", raw: " \n", want: nil},
		{
			name: "swarm, manager first",
			raw:  "h5=" + sock + "h5.sock;address=10.251.5.2,h6=" + sock + "h6.sock;address=10.251.6.2\n",
			want: []TestHost{
				{Name: "h5", Endpoint: sock + "h5.sock", Address: "10.251.5.2"},
				{Name: "h6", Endpoint: sock + "h6.sock", Address: "10.251.6.2"},
			},
		},
		{
			name: "no address, other attributes ignored",
			raw:  "a=tcp://10.0.0.1:2376;certs=/x,b=" + sock + "b.sock;zone=z;address=10.0.0.2",
			want: []TestHost{
				{Name: "a", Endpoint: "tcp://10.0.0.1:2376"},
				{Name: "b", Endpoint: sock + "b.sock", Address: "10.0.0.2"},
			},
		},
		{name: "no name", raw: sock + "h1.sock;address=10.251.1.2", err: "want name=endpoint;address=IP"},
		{name: "empty entry", raw: "h1=" + sock + "h1.sock,", err: `entry ""`},
		{name: "empty endpoint", raw: "h1=;address=10.251.1.2", err: `entry "h1=;address=10.251.1.2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHosts(EnvTestSwarm, tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), EnvTestSwarm) {
					t.Fatalf("parseHosts(%q) = %v, %v; want an error naming %s and containing %q", tc.raw, got, err, EnvTestSwarm, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseHosts(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
			}
		})
	}
}

// The test Swarm's hosts are cleaned up and leak-checked like the other test
// hosts, each endpoint once.
func TestExtraClientsIncludeSwarmHosts(t *testing.T) {
	plain, swarm := plainHosts, swarmHosts
	t.Cleanup(func() { plainHosts, swarmHosts = plain, swarm })
	const sock = "unix:///run/devorch-testhosts/"
	plainHosts = &hostList{env: EnvTestHosts}
	swarmHosts = &hostList{env: EnvTestSwarm}
	var err error
	plainHosts.once.Do(func() { plainHosts.hosts, err = connectHosts(EnvTestHosts, "h1="+sock+"h1.sock,h7="+sock+"h7.sock") })
	if err != nil {
		t.Fatal(err)
	}
	swarmHosts.once.Do(func() {
		swarmHosts.hosts, err = connectHosts(EnvTestSwarm, "h5="+sock+"h5.sock,h6="+sock+"h6.sock,h7="+sock+"h7.sock")
	})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, c := range extraClients() {
		hosts = append(hosts, c.DaemonHost())
	}
	want := []string{sock + "h1.sock", sock + "h7.sock", sock + "h5.sock", sock + "h6.sock"}
	if !reflect.DeepEqual(hosts, want) {
		t.Fatalf("extraClients reach %v, want %v", hosts, want)
	}
}
