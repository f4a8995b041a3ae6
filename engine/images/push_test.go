package images

import "testing"

func TestRegistryRef(t *testing.T) {
	for _, c := range []struct{ ref, reg, want string }{
		{"devorch-test/app", "10.0.0.1:5000", "10.0.0.1:5000/devorch-test/app:latest"},
		{"devorch-test/app:v2", "10.0.0.1:5000/", "10.0.0.1:5000/devorch-test/app:v2"},
		{"busybox", "reg.example.com/team", "reg.example.com/team/busybox:latest"},
		{"ghcr.io/org/tool:1", "localhost:5000", "localhost:5000/org/tool:1"},
		{"localhost:5000/app:3", "localhost:5000", "localhost:5000/app:3"},
		{"reg.example.com/team/app", "reg.example.com/team", "reg.example.com/team/app:latest"},
		{"reg.example.com/teammate/app", "reg.example.com/team", "reg.example.com/team/teammate/app:latest"},
		{"proj-web", "team", "docker.io/team/proj-web:latest"},
	} {
		got, err := RegistryRef(c.ref, c.reg)
		if err != nil || got != c.want {
			t.Errorf("RegistryRef(%q, %q) = %q, %v; want %q", c.ref, c.reg, got, err, c.want)
		}
	}
}
