package main

import (
	"strings"
	"testing"
	"time"
)

// threeTier is a small stack: db (healthcheck, volume) ← api (published
// port, service_healthy) ← web.
const threeTier = `
services:
  db:
    image: devorch-test/testapp:latest
    environment:
      NAME: db
    healthcheck:
      test: ["CMD", "/testapp", "health"]
      interval: 1s
      retries: 20
    volumes:
      - data:/data
  api:
    image: devorch-test/testapp:latest
    environment:
      NAME: api
    depends_on:
      db:
        condition: service_healthy
  web:
    image: devorch-test/testapp:latest
    environment:
      NAME: web
    depends_on: [api]
volumes:
  data:
`

func TestUpConvergesWithoutTouchingUnchanged(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": threeTier})
	r := s.must("up", "-d", "--wait")
	if !strings.Contains(r.stderr, "Container "+s.name("db", 1)+"  Healthy") {
		t.Errorf("expected db to be waited healthy:\n%s", r.stderr)
	}
	first := s.ids()
	if len(first) != 3 {
		t.Fatalf("want 3 containers, got %v", first)
	}
	// Dependency order: db healthy before api started.
	iDB := strings.Index(r.stderr, s.name("db", 1)+"  Healthy")
	iAPI := strings.Index(r.stderr, s.name("api", 1)+"  Started")
	if iDB < 0 || iAPI < 0 || iDB > iAPI {
		t.Errorf("api started before db was healthy:\n%s", r.stderr)
	}

	// Unchanged: same containers.
	s.must("up", "-d")
	if got := s.ids(); !sameMap(got, first) {
		t.Fatalf("second up changed containers: %v -> %v", first, got)
	}

	// Edit one service: only it is recreated.
	s.write("compose.yaml", strings.Replace(threeTier, "NAME: web", "NAME: web2", 1))
	r = s.must("up", "-d")
	got := s.ids()
	if got[s.name("web", 1)] == first[s.name("web", 1)] {
		t.Errorf("web was not recreated")
	}
	for _, svc := range []string{"db", "api"} {
		if got[s.name(svc, 1)] != first[s.name(svc, 1)] {
			t.Errorf("%s was recreated but did not change:\n%s", svc, r.stderr)
		}
	}
	env := s.inspect(s.name("web", 1)).Config.Env
	if !contains(env, "NAME=web2") {
		t.Errorf("web env = %v", env)
	}

	// --force-recreate replaces everything; --no-recreate nothing.
	s.must("up", "-d", "--force-recreate", "api")
	after := s.ids()
	if after[s.name("api", 1)] == got[s.name("api", 1)] {
		t.Errorf("--force-recreate api did not recreate api")
	}
	if after[s.name("db", 1)] != got[s.name("db", 1)] {
		t.Errorf("--force-recreate api recreated its dependency db")
	}
	s.write("compose.yaml", strings.Replace(threeTier, "NAME: web", "NAME: web3", 1))
	s.must("up", "-d", "--no-recreate")
	if again := s.ids(); !sameMap(again, after) {
		t.Errorf("--no-recreate changed containers")
	}

	s.must("down", "-v")
	s.assertNothingLeft()
}

func TestUpScaleAddsAndRemovesReplicas(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  worker:
    image: devorch-test/testapp:latest
  other:
    image: devorch-test/testapp:latest
`})
	s.must("up", "-d", "--scale", "worker=3")
	ids := s.ids()
	for i := 1; i <= 3; i++ {
		if ids[s.name("worker", i)] == "" {
			t.Fatalf("missing worker-%d: %v", i, ids)
		}
	}
	s.must("up", "-d", "--scale", "worker=1")
	after := s.ids()
	if len(after) != 2 || after[s.name("worker", 1)] != ids[s.name("worker", 1)] || after[s.name("other", 1)] != ids[s.name("other", 1)] {
		t.Fatalf("scale down touched the wrong containers: %v -> %v", ids, after)
	}
	// deploy.replicas in the file.
	s.write("compose.yaml", `
services:
  worker:
    image: devorch-test/testapp:latest
    deploy:
      replicas: 2
  other:
    image: devorch-test/testapp:latest
`)
	s.must("up", "-d")
	final := s.ids()
	if final[s.name("worker", 1)] != ids[s.name("worker", 1)] || final[s.name("worker", 2)] == "" {
		t.Fatalf("deploy.replicas: %v", final)
	}
	s.must("down")
	s.assertNothingLeft()
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOrphansNoDepsAndTimeouts(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  base:
    image: devorch-test/testapp:latest
  app:
    image: devorch-test/testapp:latest
    depends_on: [base]
  old:
    image: devorch-test/testapp:latest
`})
	// --no-deps starts only the named service.
	s.must("up", "-d", "--no-deps", "app")
	if cs := s.containers(); len(cs) != 1 {
		t.Fatalf("--no-deps app created %d containers", len(cs))
	}
	s.must("up", "-d")
	s.write("compose.yaml", `
services:
  base:
    image: devorch-test/testapp:latest
  app:
    image: devorch-test/testapp:latest
    depends_on: [base]
`)
	r := s.must("up", "-d")
	if !strings.Contains(r.stderr, "Found orphan containers ("+s.name("old", 1)+")") {
		t.Errorf("no orphan warning:\n%s", r.stderr)
	}
	if _, ok := s.containers()[s.name("old", 1)]; !ok {
		t.Fatal("orphan removed without --remove-orphans")
	}
	r = s.must("down")
	if _, ok := s.containers()[s.name("old", 1)]; !ok {
		t.Fatal("down removed the orphan without --remove-orphans")
	}
	s.must("up", "-d", "--remove-orphans")
	if _, ok := s.containers()[s.name("old", 1)]; ok {
		t.Fatal("--remove-orphans left the orphan")
	}
	// -t bounds the stop: a container ignoring SIGTERM is killed after it,
	// not after its own grace period (far longer than the bound, so a
	// busy machine cannot make the wrong one pass or the right one fail).
	s.write("compose.yaml", `
services:
  stubborn:
    image: devorch-test/testapp:latest
    environment: {IGNORE_SIGTERM: "1"}
    stop_grace_period: 3m
`)
	s.must("up", "-d", "--remove-orphans")
	start := time.Now()
	s.must("down", "-t", "1")
	if d := time.Since(start); d > time.Minute {
		t.Errorf("down -t 1 took %v (grace period 3 min)", d)
	}
	s.assertNothingLeft()
}
