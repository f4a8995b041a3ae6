package monitor

import "testing"

func TestNetworkKind(t *testing.T) {
	for _, c := range []struct {
		driver string
		linked bool
		want   string
	}{
		{"bridge", false, "bridge"},
		{"bridge", true, "link fallback"},
		{"overlay", true, "overlay"},
		{"overlay", false, "overlay"},
		{"macvlan", true, "macvlan"},
	} {
		if got := NetworkKind(c.driver, c.linked); got != c.want {
			t.Errorf("NetworkKind(%q, %v) = %q, want %q", c.driver, c.linked, got, c.want)
		}
	}
}
