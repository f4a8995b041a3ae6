package watch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestJobs: a batch touching several rules of one service runs them
// one after the other, restarts last (a restart in parallel killed a
// sync's rm in flight: exit 137), and each service's queue keeps only its
// own rules.
func TestJobs(t *testing.T) {
	rule := func(svc, path string, a types.WatchAction) Rule {
		m, err := NewMatcher(path, nil, nil, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return Rule{Service: svc, Trigger: types.Trigger{Path: path, Action: a}, Matcher: m}
	}
	rules := []Rule{
		rule("web", "/p/conf", types.WatchActionSyncRestart),
		rule("web", "/p/restart.txt", types.WatchActionRestart),
		rule("web", "/p/hooks", types.WatchActionSyncExec),
		rule("web", "/p/static", types.WatchActionSync),
		rule("api", "/p/api", types.WatchActionRebuild),
		rule("api", "/p/static", types.WatchActionSync),
	}
	changes := []Change{
		{Path: "/p/conf/app.conf"},
		{Path: "/p/restart.txt"},
		{Path: "/p/static/gone.txt", Deleted: true},
		{Path: "/p/api/main.go"},
		{Path: "/p/hooks/h.txt"},
		{Path: "/p/static/index.txt"},
		{Path: "/p/elsewhere.txt"},
	}
	var got []string
	for _, q := range Jobs(rules, changes) {
		var line []string
		for _, j := range q {
			var paths []string
			for _, c := range j.Changes {
				paths = append(paths, strings.TrimPrefix(c.Path, "/p/"))
			}
			line = append(line, fmt.Sprintf("%s:%s%v", j.Rule.Service, j.Rule.Trigger.Action, paths))
		}
		got = append(got, strings.Join(line, " "))
	}
	want := []string{
		"web:sync[static/gone.txt static/index.txt] web:sync+exec[hooks/h.txt] web:sync+restart[conf/app.conf] web:restart[restart.txt]",
		"api:sync[static/gone.txt static/index.txt] api:rebuild[api/main.go]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("queues:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A job reports files written and paths deleted; a directory that only
// appeared or changed is not a file.
func TestJobCount(t *testing.T) {
	j := &Job{Changes: []Change{{Path: "/p/a"}, {Path: "/p/d", Dir: true}, {Path: "/p/gone", Deleted: true}, {Path: "/p/gonedir", Dir: true, Deleted: true}}}
	if files, deleted := j.Count(); files != 3 || deleted != 2 {
		t.Errorf("Count() = %d, %d; want 3 files of which 2 deleted", files, deleted)
	}
}
