package stack

import "testing"

func TestMeets(t *testing.T) {
	n := Node{ID: "abc123", Hostname: "vm", Role: "worker"}
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
		{[]string{"node.labels.zone==eu"}, true}, // not checked for a one-off
		{[]string{"node.role==worker", "node.id!=abc123"}, false},
	} {
		if got := meets(n, c.cons); got != c.want {
			t.Errorf("meets(%v) = %v, want %v", c.cons, got, c.want)
		}
	}
}
