package engine

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/engine/hosts"
)

// TestValidateProbesThisMachine: a port a process holds is found on a host
// whose ports are this machine's, and only there (no Docker needed: the
// process is this test's listener).
func TestValidateProbesThisMachine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p := testProject(t, svc("web", func(s *types.ServiceConfig) {
		s.Ports = []types.ServicePortConfig{{Target: 80, Published: port, HostIP: "127.0.0.1"}}
	}))
	e := &Engine{Pool: &hosts.Pool{Hosts: []*hosts.Host{
		{Spec: hosts.Spec{Name: "here", Endpoint: "unix:///nonexistent.sock"}},
		{Spec: hosts.Spec{Name: "there", Endpoint: "tcp://192.0.2.1:2375"}},
		{Spec: hosts.Spec{Name: "routed", Endpoint: "unix:///nonexistent.sock", Address: "192.0.2.2"}},
	}}}
	w := &world{all: map[string][]Container{}}
	cases := []struct {
		host string
		want string
	}{
		{"here", `service "web": port ` + port + `/tcp is already in use on this machine by another process: `},
		{"there", ""},
		{"routed", ""},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			pn := &Plan{Steps: []Step{{Service: "web", Replica: 1, Host: c.host, Name: "p-web-1", Action: ActCreate}}}
			err := e.validate(context.Background(), p, pn, w)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Errorf("got %v, want %q…", err, c.want)
			}
		})
	}
}
