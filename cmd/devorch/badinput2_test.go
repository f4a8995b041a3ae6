package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const app1 = "services:\n  app:\n    image: devorch-test/testapp:latest\n"

// Every broken input of issue 8's corpus that can be checked without side
// effects is refused before anything exists: `up -d` exits non-zero with
// at most two short lines naming the service, field, file or host, no
// stack trace, and leaves no container, network or volume of the project.
// `config` refuses the same inputs (config: true) with the same words.
func TestBrokenInputIsRefusedBeforeAnythingExists(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("a", 5_000_000)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "notes.txt"), []byte("just some words\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A service the others reach first, so that a late check would leave
	// its network and container behind.
	first := "  first:\n    image: devorch-test/testapp:latest\n"
	cases := []struct {
		name   string
		files  map[string]string
		args   []string // before up -d (global flags) ...
		after  []string // ... and after it
		code   int
		wants  []string
		config bool // config refuses it too
	}{
		{name: "negative cpus", files: map[string]string{"compose.yaml": app1 + "    cpus: \"-1\"\n"},
			code: 15, wants: []string{"compose.yaml", `service "app"`, "cpus -1", "negative"}, config: true},
		{name: "no services", files: map[string]string{"compose.yaml": "name: empty\n"},
			code: 1, wants: []string{"no service selected", "compose.yaml declares no services"}},
		{name: "only profiled services", files: map[string]string{"compose.yaml": app1 + "    profiles: [dev]\n"},
			code: 1, wants: []string{"no service selected", "--profile (dev)"}},
		{name: "host address not an IP", files: map[string]string{"compose.yaml": app1},
			args: []string{"--host", "a=unix:///var/run/docker.sock;address=not-an-ip"},
			code: 16, wants: []string{"--host", `host "a"`, `address "not-an-ip" is not an IP address`}, config: true},
		{name: "alert rule value", files: map[string]string{"compose.yaml": app1 + "    x-devorch: {alerts: {cpu: lots}}\n"},
			code: 15, wants: []string{`service "app"`, "x-devorch.alerts.cpu", `"lots"`}, config: true},
		{name: "alert percent", files: map[string]string{"compose.yaml": app1 + "    x-devorch: {alerts: {memory: \"180%/30s\"}}\n"},
			code: 15, wants: []string{"x-devorch.alerts.memory", `"180%"`}, config: true},
		{name: "container_name shared", files: map[string]string{"compose.yaml": "services:\n" + first + "    container_name: dvt-shared-name\n  second:\n    image: devorch-test/testapp:latest\n    container_name: dvt-shared-name\n"},
			code: 15, wants: []string{`service "second"`, `container_name "dvt-shared-name" is already used by service "first"`}, config: true},
		{name: "container_name with --scale", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    container_name: dvt-one-name\n"},
			after: []string{"--scale", "app=2"}, code: 1, wants: []string{`service "app"`, "container_name", "2 replicas"}},
		{name: "restart word", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    restart: sometimes\n"},
			code: 15, wants: []string{`service "app"`, `restart "sometimes"`}, config: true},
		{name: "restart count", files: map[string]string{"compose.yaml": app1 + "    restart: on-failure:abc\n"},
			code: 15, wants: []string{`restart "on-failure:abc"`}, config: true},
		{name: "expose", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    expose: [\"abc\"]\n"},
			code: 15, wants: []string{`service "app"`, `expose "abc"`}, config: true},
		{name: "missing secret file", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    secrets: [token]\nsecrets:\n  token: {file: ./token.txt}\n"},
			code: 15, wants: []string{`service "app"`, `secret "token"`, "token.txt does not exist"}, config: true},
		{name: "missing bind source", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    volumes: [{type: bind, source: ./data, target: /data, bind: {create_host_path: false}}]\n"},
			code: 15, wants: []string{`service "app"`, "volumes /data", "does not exist"}, config: true},
		{name: "healthy gate without healthcheck", files: map[string]string{"compose.yaml": "services:\n" + first + "  db:\n    image: devorch-test/testapp:latest\n  app:\n    image: devorch-test/testapp:latest\n    depends_on: {first: {condition: service_started}, db: {condition: service_healthy}}\n"},
			code: 1, wants: []string{`service "app"`, "depends_on.db", `service "db" has no healthcheck configured`}},
		{name: "healthy gate on disabled healthcheck", files: map[string]string{"compose.yaml": "services:\n  db:\n    image: devorch-test/testapp:latest\n    healthcheck: {disable: true}\n  app:\n    image: devorch-test/testapp:latest\n    depends_on: {db: {condition: service_healthy}}\n"},
			code: 15, wants: []string{"depends_on.db", "no healthcheck configured"}, config: true},
		{name: "ulimit", files: map[string]string{"compose.yaml": app1 + "    ulimits: {nofiles: 10}\n"},
			code: 15, wants: []string{`ulimits."nofiles"`}, config: true},
		{name: "capability", files: map[string]string{"compose.yaml": app1 + "    cap_add: [NET_ADMN]\n"},
			code: 15, wants: []string{`cap_add "NET_ADMN"`}, config: true},
		{name: "sysctl", files: map[string]string{"compose.yaml": app1 + "    sysctls: {vm.swappiness: 10}\n"},
			code: 15, wants: []string{`sysctls "vm.swappiness"`}, config: true},
		{name: "stop signal", files: map[string]string{"compose.yaml": app1 + "    stop_signal: SIGNOPE\n"},
			code: 15, wants: []string{`stop_signal "SIGNOPE"`}, config: true},
		{name: "subnet", files: map[string]string{"compose.yaml": app1 + "    networks: [n]\nnetworks:\n  n:\n    ipam: {config: [{subnet: 10.99.0.0}]}\n"},
			code: 15, wants: []string{`network "n"`, `subnet "10.99.0.0"`, "CIDR"}, config: true},
		{name: "unset variable behind configs", files: map[string]string{"compose.yaml": "services:\n" + first + "  app:\n    image: devorch-test/testapp:latest\n    configs: [c]\nconfigs:\n  c: {environment: DVT_BADINPUT_UNSET}\n"},
			code: 15, wants: []string{`service "app"`, `config "c"`, "DVT_BADINPUT_UNSET is not set"}, config: true},
		{name: "unset variable behind an included file's secret", files: map[string]string{
			"compose.yaml":     "include: [inc/compose.yaml]\nservices:\n" + first,
			"inc/compose.yaml": "services:\n  app:\n    image: devorch-test/testapp:latest\n    secrets: [s]\nsecrets:\n  s: {environment: DVT_BADINPUT_UNSET_INC}\n"},
			code: 15, wants: []string{`service "app"`, `secret "s"`, "DVT_BADINPUT_UNSET_INC"}, config: true},
		{name: "unknown field", files: map[string]string{"compose.yaml": "services:\n  simple:\n    image: devorch-test/testapp:latest\n    wrongField: false\n"},
			code: 15, wants: []string{"compose.yaml", "services.simple: additional properties 'wrongField' not allowed"}, config: true},
		{name: "5 MB scalar", files: map[string]string{"compose.yaml": app1 + "    mem_limit: \"" + big + "\"\n"},
			code: 15, wants: []string{"mem_limit", "(5000000 chars)"}, config: true},
		{name: "5 MB restart", files: map[string]string{"compose.yaml": app1 + "    restart: \"" + big + "\"\n"},
			code: 15, wants: []string{`restart "aaaa`, "(5000000 chars)"}, config: true},
		{name: "extends a file that is not a compose file", files: map[string]string{"compose.yaml": "services:\n  app:\n    extends: {file: " + filepath.Join(outside, "notes.txt") + ", service: base}\n"},
			code: 15, wants: []string{"services.app.extends.file", "notes.txt is not a compose file"}, config: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, c.files)
			args := append(append(append([]string{}, c.args...), "up", "-d"), c.after...)
			r := s.devorch(args...)
			checkRefusal(t, r, c.code, c.wants)
			s.assertNothingLeft()
			if !c.config {
				return
			}
			r = s.devorch(append(append([]string{}, c.args...), "config", "-q")...)
			if r.code == 0 {
				t.Fatalf("config accepted what up refuses: %s", r)
			}
			checkRefusal(t, r, c.code, c.wants)
		})
	}
}

// A fixed container_name held by a container of this project (a service
// renamed) or of another project: the advice fits, since another project
// name does not change a container_name, and nothing new is created.
func TestContainerNameHeldAdviceFits(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	fixed := s.project + "-fixed"
	s.write("compose.yaml", "services:\n  first:\n    image: devorch-test/testapp:latest\n    container_name: "+fixed+"\n")
	s.must("up", "-d")
	before := s.ids()
	s.write("compose.yaml", "services:\n  second:\n    image: devorch-test/testapp:latest\n    container_name: "+fixed+"\n")
	r := s.fails("up", "-d")
	for _, w := range []string{`service "second": container name "` + fixed + `" is already used by container`, `of service "first" of this project`, "docker rm -f " + fixed, `give service "second" another container_name`} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q: %s", w, r)
		}
	}
	if strings.Contains(r.stderr, "project name") {
		t.Errorf("advises another project name, which changes nothing: %s", r)
	}
	if after := s.ids(); len(after) != len(before) || after[fixed] != before[fixed] {
		t.Errorf("containers changed: before %v, after %v", before, after)
	}

	other := newStack(t, map[string]string{"compose.yaml": "services:\n  other:\n    image: devorch-test/testapp:latest\n    container_name: " + fixed + "\n"})
	r = other.fails("up", "-d")
	if !strings.Contains(r.stderr, `of devorch project "`+s.project+`"`) || !strings.Contains(r.stderr, `give service "other" another container_name`) || strings.Contains(r.stderr, "-p,") {
		t.Errorf("unclear advice: %s", r)
	}
	other.assertNothingLeft()
	s.must("down", "--remove-orphans")
	s.assertNothingLeft()
}
