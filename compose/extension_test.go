package compose

import "testing"

func TestCheckRegistry(t *testing.T) {
	for _, ok := range []string{"localhost:5000", "10.251.5.1:41234", "reg.example.com/team/sub", "reg.example.com/"} {
		if err := CheckRegistry(ok); err != nil {
			t.Errorf("CheckRegistry(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"http://localhost:5000", "localhost:5000/app:1", "Reg.Example.com:x", "", "a@sha256:00"} {
		if err := CheckRegistry(bad); err == nil {
			t.Errorf("CheckRegistry(%q): no error", bad)
		}
	}
}
