package watch

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// project builds a compose model whose services have the given
// develop.watch triggers and build contexts.
func project(svcs ...types.ServiceConfig) *types.Project {
	p := &types.Project{Services: types.Services{}}
	for _, s := range svcs {
		p.Services[s.Name] = s
	}
	return p
}

func service(name, buildCtx string, triggers ...types.Trigger) types.ServiceConfig {
	s := types.ServiceConfig{Name: name}
	if buildCtx != "" {
		s.Build = &types.BuildConfig{Context: buildCtx}
	}
	if triggers != nil {
		s.Develop = &types.DevelopConfig{Watch: triggers}
	}
	return s
}

func TestRules(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, "app")
	write(t, filepath.Join(app, ".dockerignore"), "**/*.pyc\n")
	sync := func(p string) types.Trigger {
		return types.Trigger{Path: p, Target: "/app", Action: types.WatchActionSync}
	}
	p := project(
		service("web", app, sync(filepath.Join(app, "src")), types.Trigger{Path: app, Action: types.WatchActionRebuild}),
		service("api", app, sync(root)), // watches around its build context
		service("db", ""),
	)
	rules, err := Rules(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Service+" "+string(r.Trigger.Action)+" "+r.Trigger.Path)
	}
	want := []string{
		"api sync " + root,
		"web sync " + filepath.Join(app, "src"),
		"web rebuild " + app,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rules, services sorted and triggers in file order:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The build context's .dockerignore counts inside the context only.
	if !rules[1].Matcher.Ignored(filepath.Join(app, "src", "x.pyc"), false) {
		t.Error("a rule inside the build context ignores what .dockerignore lists")
	}
	if rules[0].Matcher.Ignored(filepath.Join(app, "x.pyc"), false) {
		t.Error("a rule outside the build context does not read its .dockerignore")
	}

	only, err := Rules(p, []string{"web"})
	if err != nil || len(only) != 2 || only[0].Service != "web" {
		t.Fatalf("selected services: %+v, %v", only, err)
	}
	for _, tc := range []struct {
		name     string
		p        *types.Project
		services []string
		err      string
	}{
		{"unknown service", p, []string{"nope"}, `no such service: "nope"`},
		{"rebuild without build", project(service("x", "", types.Trigger{Path: root, Action: types.WatchActionRebuild})), nil,
			`service "x": develop.watch action rebuild needs a build section`},
		{"bad pattern", project(service("x", "", types.Trigger{Path: root, Action: types.WatchActionSync, Ignore: []string{"["}})), nil,
			`service "x": develop.watch ` + root + `: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rules(tc.p, tc.services)
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.err)
			}
		})
	}
}

func TestIgnore(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "app", "src")
	m, err := NewMatcher(src, []string{"*.log"}, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	rules := []Rule{{Service: "web", Trigger: types.Trigger{Path: src}, Matcher: m}}
	composeFile := filepath.Join(root, "compose.yaml")
	ignore := Ignore(rules, map[string]bool{composeFile: true})
	for _, tc := range []struct {
		path string
		dir  bool
		want bool
	}{
		{composeFile, false, false},                         // a config file
		{filepath.Join(root, ".env"), false, true},          // not named in keep
		{src, true, false},                                  // the rule's root
		{filepath.Join(src, "main.go"), false, false},       // covered
		{filepath.Join(src, "pkg"), true, false},            // covered directory
		{filepath.Join(src, "debug.log"), false, true},      // the rule's ignore
		{filepath.Join(src, ".git", "HEAD"), false, true},   // never .git
		{filepath.Join(root, "app"), true, false},           // above the rule: walked to reach it
		{filepath.Join(root, "app", "README"), false, true}, // a file above the rule
		{filepath.Join(root, "docs"), true, true},           // a directory beside it
		{src + "2", true, true},                             // a sibling sharing the prefix
	} {
		if got := ignore(tc.path, tc.dir); got != tc.want {
			t.Errorf("%s (dir %v): ignored %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}
