package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/internal/testenv"
)

// A container that goes away between up's plan and its action (removed by
// hand, or by the daemon when the create of a devorch killed meanwhile
// fails) is created again, as a new plan would, instead of failing the run
// with "No such container".
func TestUpCreatesAgainWhatWentAwayAfterThePlan(t *testing.T) {
	const base = `
services:
  db:
    image: devorch-test/testapp:latest
    environment: {V: "%s"}
  web:
    image: devorch-test/testapp:latest
    depends_on: {db: {condition: service_started, restart: true}}
    environment: {W: "%s"}
`
	cases := []struct {
		name string
		// prepare brings the running stack to where up plans act on web.
		prepare func(t *testing.T, e *Engine, project string) (db, web string)
		act     Action
	}{
		{"start", func(t *testing.T, e *Engine, project string) (string, string) {
			zero := time.Duration(0)
			if err := e.Stop(context.Background(), project, []string{"web"}, &zero); err != nil {
				t.Fatal(err)
			}
			return "1", "1"
		}, ActStart},
		{"recreate", func(t *testing.T, e *Engine, project string) (string, string) { return "1", "2" }, ActRecreate},
		{"restart", func(t *testing.T, e *Engine, project string) (string, string) { return "2", "1" }, ActRestart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli := testenv.Images(t)
			name := testenv.NewProject(t, cli)
			dir := t.TempDir()
			load := func(db, web string) *compose.Project {
				t.Helper()
				yaml := []byte(fmt.Sprintf(base, db, web))
				if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), yaml, 0o644); err != nil {
					t.Fatal(err)
				}
				p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, Name: name})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			e := localEngine(t)
			p := load("1", "1")
			t.Cleanup(func() { _ = e.Down(context.Background(), name, nil, DownOptions{Volumes: true}) })
			if _, err := e.Up(context.Background(), p, UpOptions{}); err != nil {
				t.Fatal(err)
			}
			p = load(c.prepare(t, e, name))

			removed := ""
			e.hooks.planned = func(pl *Plan) {
				for _, st := range pl.Steps {
					if st.Service != "web" {
						continue
					}
					if st.Action != c.act || st.Existing == nil {
						t.Errorf("up plans to %s web, want %s", st.Action, c.act)
						return
					}
					if err := cli.ContainerRemove(context.Background(), st.Existing.ID, container.RemoveOptions{Force: true}); err != nil {
						t.Errorf("remove %s: %v", st.Existing.Name, err)
					}
					removed = st.Existing.ID
				}
			}
			if _, err := e.Up(context.Background(), p, UpOptions{}); err != nil {
				t.Fatalf("up after web's container went away: %v", err)
			}
			if removed == "" {
				t.Fatal("up planned nothing for web")
			}
			list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
				filters.Arg("label", labels.Project+"="+name), filters.Arg("label", labels.Service+"=web"))})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 {
				t.Fatalf("%d containers of web, want 1: %v", len(list), list)
			}
			if w := list[0]; w.ID == removed || w.State != "running" || w.Names[0] != "/"+name+"-web-1" || w.Labels[labels.ConfigHash] != p.Hashes["web"] {
				t.Errorf("web after up: %s %s %s (hash %s), want a new running %s-web-1 with hash %s", w.ID, w.State, w.Names, w.Labels[labels.ConfigHash], name, p.Hashes["web"])
			}
		})
	}
}
