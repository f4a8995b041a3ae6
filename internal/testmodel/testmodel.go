// Package testmodel builds compose models for unit tests without files or
// Docker, and checks table-test errors: the helpers the pure packages'
// tests (engine, engine/plan, engine/spec, engine/images) share.
package testmodel

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
)

// Project is a project named "p" with the services given.
func Project(t testing.TB, services ...types.ServiceConfig) *compose.Project {
	t.Helper()
	tp := &types.Project{Name: "p", Services: types.Services{}}
	for _, s := range services {
		tp.Services[s.Name] = s
	}
	p, err := compose.FromTypes(tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Service is a service of image "img", changed by mods.
func Service(name string, mods ...func(*types.ServiceConfig)) types.ServiceConfig {
	s := types.ServiceConfig{Name: name}
	s.Image = "img"
	for _, m := range mods {
		m(&s)
	}
	return s
}

// WantErr fails t unless err is as wanted: an error containing want, or
// no error when want is empty. It reports whether the case goes on (no
// error wanted).
func WantErr(t testing.TB, err error, want string) bool {
	t.Helper()
	switch {
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error = %v, want one containing %q", err, want)
	case want == "" && err != nil:
		t.Fatal(err)
	}
	return want == ""
}
