package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/engine/watch"
)

// TestBatchJobs: a batch touching several rules of one service runs them
// one after the other, restarts last (a restart in parallel killed a
// sync's rm in flight: exit 137), and each service's queue keeps only its
// own rules.
func TestBatchJobs(t *testing.T) {
	rule := func(svc, path string, a types.WatchAction) watch.Rule {
		m, err := watch.NewMatcher(path, nil, nil, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return watch.Rule{Service: svc, Trigger: types.Trigger{Path: path, Action: a}, Matcher: m}
	}
	rules := []watch.Rule{
		rule("web", "/p/conf", types.WatchActionSyncRestart),
		rule("web", "/p/restart.txt", types.WatchActionRestart),
		rule("web", "/p/hooks", types.WatchActionSyncExec),
		rule("web", "/p/static", types.WatchActionSync),
		rule("api", "/p/api", types.WatchActionRebuild),
		rule("api", "/p/static", types.WatchActionSync),
	}
	changes := []watch.Change{
		{Path: "/p/conf/app.conf"},
		{Path: "/p/restart.txt"},
		{Path: "/p/static/gone.txt", Deleted: true},
		{Path: "/p/api/main.go"},
		{Path: "/p/hooks/h.txt"},
		{Path: "/p/static/index.txt"},
		{Path: "/p/elsewhere.txt"},
	}
	var got []string
	for _, q := range batchJobs(rules, changes) {
		var line []string
		for _, j := range q {
			var paths []string
			for _, c := range j.changes {
				paths = append(paths, strings.TrimPrefix(c.Path, "/p/"))
			}
			line = append(line, fmt.Sprintf("%s:%s%v", j.r.Service, j.r.Trigger.Action, paths))
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
