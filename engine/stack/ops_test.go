package stack

import "testing"

func TestMeets(t *testing.T) {
	n := Node{ID: "abc123", Hostname: "vm", Role: "worker", OS: "linux", Arch: "x86_64",
		Labels: map[string]string{"zone": "eu"}, EngineLabels: map[string]string{"disk": "ssd"}}
	for _, c := range []struct {
		cons []string
		want bool
	}{
		{nil, true},
		{[]string{"node.id==abc123"}, true},
		{[]string{"node.id == ABC123"}, true},
		{[]string{"node.id==zzz"}, false},
		{[]string{"node.id!=abc123"}, false},
		{[]string{"node.role==worker", "node.hostname==vm"}, true},
		{[]string{"node.role==manager"}, false},
		{[]string{"node.role!=manager"}, true},
		{[]string{"node.labels.zone==eu"}, true},
		{[]string{"node.labels.zone == EU"}, true},
		{[]string{"node.labels.zone!=eu"}, false},
		{[]string{"node.labels.rack==r1"}, false}, // a label the node lacks
		{[]string{"node.labels.rack!=r1"}, true},
		{[]string{"engine.labels.disk==ssd"}, true},
		{[]string{"engine.labels.disk==hdd"}, false},
		{[]string{"node.platform.os==linux", "node.platform.arch==x86_64"}, true},
		{[]string{"node.platform.os==windows"}, false},
		{[]string{"node.unknown==x"}, true}, // SwarmKit refuses it; not checked here
		{[]string{"node.role==worker", "node.id!=abc123"}, false},
	} {
		if got := meets(n, c.cons); got != c.want {
			t.Errorf("meets(%v) = %v, want %v", c.cons, got, c.want)
		}
	}
}
