package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPsFormats(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  web:
    image: devorch-test/testapp:latest
    ports: ["127.0.0.1:` + strconv.Itoa(port) + `:8080"]
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  job:
    image: devorch-test/testapp:latest
    command: ["exit", "2"]
`})
	s.must("up", "-d", "--wait", "web")
	s.must("up", "-d", "job")
	s.waitNotRunning(s.name("job", 1))
	r := s.must("ps")
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, s.name("web", 1)) || strings.Contains(r.stdout, s.name("job", 1)) {
		t.Errorf("ps table (running only):\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "127.0.0.1:"+strconv.Itoa(port)+"->8080/tcp") {
		t.Errorf("ps lacks the published port:\n%s", r.stdout)
	}
	r = s.must("ps", "-a", "--format", "json")
	lines := jsonLines(t, r.stdout)
	if len(lines) != 2 {
		t.Fatalf("ps -a --format json: %d lines:\n%s", len(lines), r.stdout)
	}
	byService := map[string]map[string]any{}
	for _, l := range lines {
		for _, k := range []string{"Name", "ID", "Service", "State", "Health", "ExitCode", "Publishers", "Host"} {
			if _, ok := l[k]; !ok {
				t.Errorf("json line lacks %s: %v", k, l)
			}
		}
		byService[l["Service"].(string)] = l
	}
	if w := byService["web"]; w["Health"] != "healthy" || w["State"] != "running" || w["Host"] != "local" {
		t.Errorf("web: %v", w)
	}
	if pubs := byService["web"]["Publishers"].([]any); len(pubs) != 1 || pubs[0].(map[string]any)["PublishedPort"].(float64) != float64(port) {
		t.Errorf("web publishers: %v", byService["web"]["Publishers"])
	}
	if j := byService["job"]; j["State"] != "exited" || j["ExitCode"].(float64) != 2 {
		t.Errorf("job: %v", j)
	}
	r = s.must("ps", "-q")
	if strings.TrimSpace(r.stdout) != s.inspect(s.name("web", 1)).ID {
		t.Errorf("ps -q: %q", r.stdout)
	}
	r = s.must("ps", "--services")
	if strings.TrimSpace(r.stdout) != "job\nweb" {
		t.Errorf("ps --services: %q", r.stdout)
	}
	r = s.must("ps", "-a", "--status", "exited", "-q")
	if strings.TrimSpace(r.stdout) != s.inspect(s.name("job", 1)).ID {
		t.Errorf("ps --status exited: %q", r.stdout)
	}
	r = s.must("port", "web", "8080")
	if strings.TrimSpace(r.stdout) != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("port: %q", r.stdout)
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestLogsOptions(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    command: ["log", "5"]
  b:
    image: devorch-test/testapp:latest
    command: ["echo", "bee"]
`})
	s.must("up", "-d")
	for _, svc := range []string{"a", "b"} {
		s.waitNotRunning(s.name(svc, 1))
	}
	r := s.must("logs")
	for _, want := range []string{"a-1  | line 1", "a-1  | line 5", "b-1  | bee"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("logs lacks %q:\n%s", want, r.stdout)
		}
	}
	r = s.must("logs", "--tail", "2", "a")
	if strings.Contains(r.stdout, "line 3") || !strings.Contains(r.stdout, "line 4") || strings.Contains(r.stdout, "bee") {
		t.Errorf("logs --tail 2 a:\n%s", r.stdout)
	}
	r = s.must("logs", "--no-log-prefix", "b")
	if strings.TrimSpace(r.stdout) != "bee" {
		t.Errorf("--no-log-prefix: %q", r.stdout)
	}
	r = s.must("logs", "-t", "b")
	if !strings.Contains(r.stdout, "b-1  | 20") || !strings.Contains(r.stdout, "Z bee") {
		t.Errorf("-t: %q", r.stdout)
	}
	r = s.must("logs", "--since", "1h", "b")
	if !strings.Contains(r.stdout, "bee") {
		t.Errorf("--since 1h: %q", r.stdout)
	}
	r = s.must("logs", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "b")
	if strings.Contains(r.stdout, "bee") {
		t.Errorf("--since future: %q", r.stdout)
	}
	r = s.must("logs", "--no-color", "b")
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--no-color has escapes")
	}
	s.must("down")
}

func TestLogsFollowSeesNewLines(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  ticker:
    image: devorch-test/testapp:latest
    environment: {LOG_RATE: "20", LOG_LINE: "tk"}
`})
	s.must("up", "-d")
	// --tail 0: every line it prints was logged after it started. Five
	// of them, with their numbers counting up, show it follows.
	p := s.start("logs", "-f", "--tail", "0")
	first := tickNumber(t, p.waitLine("ticker-1  | tk tick"))
	for want := first + 1; want <= first+4; want++ {
		if got := tickNumber(t, p.waitLine("ticker-1  | tk tick "+strconv.Itoa(want))); got != want {
			t.Fatalf("logs -f: tick %d after %d", got, want-1)
		}
	}
	p.signal(syscall.SIGINT)
	if r := p.wait(); r.code != 0 && r.code != 130 {
		t.Errorf("logs -f exit %s", r)
	}
	s.must("down")
}

func TestLifecycleCommands(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  web:
    image: devorch-test/testapp:latest
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
  api:
    image: devorch-test/testapp:latest
    depends_on: {web: {condition: service_healthy}}
`})
	s.must("up", "-d", "--wait")
	id := s.inspect(s.name("web", 1)).ID
	s.must("stop", "web")
	if s.inspect(s.name("web", 1)).State.Running {
		t.Fatal("stop web: still running")
	}
	if !s.inspect(s.name("api", 1)).State.Running {
		t.Error("stop web stopped api too")
	}
	s.must("stop")
	r := s.must("start")
	if !strings.Contains(r.stderr, s.name("web", 1)+"  Healthy") {
		t.Errorf("start did not wait for web's health before api:\n%s", r.stderr)
	}
	if s.inspect(s.name("web", 1)).ID != id {
		t.Error("start recreated web")
	}
	before := s.inspect(s.name("api", 1)).State.StartedAt
	s.must("restart", "api")
	if s.inspect(s.name("api", 1)).State.StartedAt == before {
		t.Error("restart api did not restart it")
	}
	s.must("pause", "api")
	if !s.inspect(s.name("api", 1)).State.Paused {
		t.Error("pause")
	}
	s.must("unpause", "api")
	s.must("kill", "-s", "SIGTERM", "api")
	s.waitNotRunning(s.name("api", 1))
	if s.inspect(s.name("api", 1)).State.Running {
		t.Error("kill -s SIGTERM")
	}
	s.must("kill")
	r = s.must("rm", "-f")
	if len(s.containers()) != 0 {
		t.Errorf("rm -f left containers:\n%s", r)
	}
	// rm leaves running containers alone without -s.
	s.must("up", "-d")
	s.must("rm", "-f", "web")
	if len(s.containers()) != 2 {
		t.Error("rm removed a running container without --stop")
	}
	s.must("rm", "-s", "-f", "api")
	if _, ok := s.containers()[s.name("api", 1)]; ok {
		t.Error("rm -s did not remove api")
	}
	s.must("down")
	s.assertNothingLeft()
}

func TestExecRunCpTopImagesLs(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  api:
    image: devorch-test/testapp:latest
    environment: {NAME: api}
  web:
    image: devorch-test/testapp:latest
    depends_on: [api]
    environment: {GREETING: hi}
  tool:
    image: devorch-test/busybox:latest
    command: ["sh", "-c", "echo tool"]
    profiles: [tools]
`})
	s.must("up", "-d")
	// exec -T; DNS between services by name; exit codes pass through.
	r := s.must("exec", "-T", "web", "/testapp", "get", "http://api:8080/")
	if strings.TrimSpace(r.stdout) != "api" {
		t.Errorf("web -> api by name: %q", r.stdout)
	}
	r = s.devorch("exec", "-T", "web", "/testapp", "exit", "7")
	if r.code != 7 {
		t.Errorf("exec exit code: %s", r)
	}
	r = s.must("exec", "-T", "-e", "X=1", "web", "/testapp", "env")
	if !strings.Contains(r.stdout, "X=1") || !strings.Contains(r.stdout, "GREETING=hi") {
		t.Errorf("exec -e: %s", r.stdout)
	}
	// run: one-off containers, --rm, -e, exit code, deps already up.
	r = s.must("run", "--rm", "-T", "-e", "EXTRA=yes", "web", "env")
	if !strings.Contains(r.stdout, "EXTRA=yes") || !strings.Contains(r.stdout, "GREETING=hi") {
		t.Errorf("run -e: %s", r.stdout)
	}
	r = s.devorch("run", "--rm", "-T", "web", "exit", "5")
	if r.code != 5 {
		t.Errorf("run exit code: %s", r)
	}
	r = s.must("run", "--rm", "-T", "--no-deps", "web", "get", "http://api:8080/")
	if strings.TrimSpace(r.stdout) != "api" {
		t.Errorf("run reaches api: %s", r)
	}
	r = s.must("--profile", "tools", "run", "--rm", "-T", "tool")
	if strings.TrimSpace(r.stdout) != "tool" {
		t.Errorf("run profile service: %s", r)
	}
	r = s.must("run", "-T", "--name", s.project+"-keep", "web", "echo", "kept")
	if _, ok := s.containers()[s.project+"-keep"]; !ok {
		t.Errorf("run without --rm removed its container")
	}
	if strings.TrimSpace(r.stdout) != "kept" {
		t.Errorf("run output %q", r.stdout)
	}
	// cp both ways.
	local := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(local, []byte("copied in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.must("cp", local, "web:/in.txt")
	r = s.must("exec", "-T", "web", "/testapp", "cat", "/in.txt")
	if r.stdout != "copied in\n" {
		t.Errorf("cp in: %q", r.stdout)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	s.must("cp", "web:/in.txt", back)
	if b, _ := os.ReadFile(back); string(b) != "copied in\n" {
		t.Errorf("cp out: %q", b)
	}
	r = s.must("top", "web")
	if !strings.Contains(r.stdout, s.name("web", 1)) || !strings.Contains(r.stdout, "PID") || !strings.Contains(r.stdout, "/testapp") {
		t.Errorf("top:\n%s", r.stdout)
	}
	r = s.must("images")
	if !strings.Contains(r.stdout, "devorch-test/testapp") || !strings.Contains(r.stdout, s.name("web", 1)) {
		t.Errorf("images:\n%s", r.stdout)
	}
	r = s.must("ls", "--format", "json")
	var projects []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &projects); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range projects {
		if p["Name"] == s.project && strings.Contains(p["Status"].(string), "running(2)") {
			found = true
		}
	}
	if !found {
		t.Errorf("ls: %s", r.stdout)
	}
	s.must("down")
	s.assertNothingLeft()
}

// A project is reachable by name from any directory, without its file.
func TestProjectByNameFromAnywhere(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: devorch-test/testapp:latest\n    command: [\"log\", \"2\"]\n  b:\n    image: devorch-test/testapp:latest\n    depends_on: [a]\n"})
	s.must("up", "-d")
	elsewhere := t.TempDir()
	run := func(args ...string) result {
		var out, errb strings.Builder
		code := run(append([]string{"--progress", "plain", "--project-directory", elsewhere, "-p", s.project}, args...), strings.NewReader(""), &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	if r := run("ps", "-a", "--format", "json"); r.code != 0 || len(jsonLines(t, r.stdout)) != 2 {
		t.Errorf("ps without file: %s", r)
	}
	if r := run("logs", "a"); r.code != 0 || !strings.Contains(r.stdout, "line 2") {
		t.Errorf("logs without file: %s", r)
	}
	if r := run("stop"); r.code != 0 {
		t.Errorf("stop without file: %s", r)
	}
	c := s.containers()[s.name("a", 1)]
	if c.Labels["dev.devorch.working-dir"] != s.dir || !strings.HasSuffix(c.Labels["dev.devorch.config-files"], "compose.yaml") {
		t.Errorf("labels: %v", c.Labels)
	}
	if r := run("down"); r.code != 0 {
		t.Errorf("down without file: %s", r)
	}
	s.assertNothingLeft()
	// Without a file and without a name: compose's exit code 14.
	var out, errb strings.Builder
	if code := run2(elsewhere, &out, &errb, "ps"); code != 14 {
		t.Errorf("ps with no file and no name: exit %d: %s", code, errb.String())
	}
}

func run2(dir string, out, errb *strings.Builder, args ...string) int {
	return run(append([]string{"--project-directory", dir}, args...), strings.NewReader(""), out, errb)
}

// COMPOSE_FILE, COMPOSE_PROJECT_NAME and .env are honoured (not parallel:
// it sets the environment).
func TestComposeEnvironmentVariables(t *testing.T) {
	s := newStack(t, map[string]string{
		"one.yaml": "services:\n  a:\n    image: devorch-test/testapp:latest\n    environment: {FROM: \"${VALUE}\"}\n",
		"two.yaml": "services:\n  a:\n    environment: {OVERRIDE: \"two\"}\n",
		".env":     "VALUE=dotenv\n",
	})
	t.Setenv("COMPOSE_FILE", "one.yaml:two.yaml")
	t.Setenv("COMPOSE_PROJECT_NAME", s.project)
	r := s.devorchIn(s.dir, "up", "-d")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	env := s.inspect(s.name("a", 1)).Config.Env
	if !contains(env, "FROM=dotenv") || !contains(env, "OVERRIDE=two") {
		t.Errorf("env %v", env)
	}
	r = s.devorchIn(s.dir, "config", "--hash", "*")
	if !strings.HasPrefix(r.stdout, "a ") {
		t.Errorf("config --hash: %s", r)
	}
	if h := strings.Fields(r.stdout)[1]; h != s.containers()[s.name("a", 1)].Labels["dev.devorch.config-hash"] {
		t.Errorf("config --hash %s differs from the container's label", h)
	}
	if r := s.devorchIn(s.dir, "down"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	s.assertNothingLeft()
}

func TestConfigCommand(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  web:
    image: "devorch-test/testapp:${TAG:-latest}"
    depends_on: [db]
  db:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
volumes:
  data:
`})
	r := s.must("config")
	if !strings.Contains(r.stdout, "image: devorch-test/testapp:latest") || !strings.Contains(r.stdout, "name: "+s.project) {
		t.Errorf("config yaml:\n%s", r.stdout)
	}
	r = s.must("config", "--format", "json")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("config json: %v", err)
	}
	if r := s.must("config", "--services"); r.stdout != "db\nweb\n" {
		t.Errorf("--services: %q", r.stdout)
	}
	if r := s.must("config", "--volumes"); r.stdout != "data\n" {
		t.Errorf("--volumes: %q", r.stdout)
	}
	if r := s.must("config", "--hash", "web"); !strings.HasPrefix(r.stdout, "web ") || len(strings.Fields(r.stdout)[1]) != 64 {
		t.Errorf("--hash web: %q", r.stdout)
	}
	if r := s.must("config", "-q"); r.stdout != "" {
		t.Errorf("-q printed %q", r.stdout)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	t.Parallel()
	s := &stack{t: t}
	if r := s.devorchIn(t.TempDir(), "version"); r.code != 0 || !strings.Contains(r.stdout, "devorch version") {
		t.Errorf("version: %s", r)
	}
	if r := s.devorchIn(t.TempDir(), "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "__start_devorch") {
		t.Errorf("completion bash: exit %d", r.code)
	}
	if r := s.devorchIn(t.TempDir()); r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("bare devorch without a terminal should print help: %s", r)
	}
}

func TestVolumeSurvivesDownUnlessDashV(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  store:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
volumes:
  data:
`})
	s.must("up", "-d")
	s.must("exec", "-T", "store", "/testapp", "write", "/data/x", "kept")
	s.must("down")
	s.must("up", "-d")
	if r := s.must("exec", "-T", "store", "/testapp", "cat", "/data/x"); r.stdout != "kept" {
		t.Errorf("after down/up: %q", r.stdout)
	}
	s.must("down", "-v")
	s.assertNothingLeft()
	s.must("up", "-d")
	if r := s.devorch("exec", "-T", "store", "/testapp", "cat", "/data/x"); r.code == 0 {
		t.Errorf("data survived down -v: %q", r.stdout)
	}
	s.must("down", "-v")
	s.assertNothingLeft()
}

// tickNumber is N in a testapp log line "... tick N".
func tickNumber(t *testing.T, line string) int {
	t.Helper()
	_, n, ok := strings.Cut(line, " tick ")
	if !ok {
		t.Fatalf("not a tick line: %q", line)
	}
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil {
		t.Fatalf("not a tick line: %q", line)
	}
	return v
}
