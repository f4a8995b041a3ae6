package compose

import (
	"strings"
	"testing"
)

// svc is a one-service file with the given extra lines under the service.
func svc(lines string) string {
	return "services:\n  a:\n    image: x\n" + lines
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		env   []string
		want  []string // substrings of the error; none: valid
	}{
		{"valid", map[string]string{"compose.yaml": svc("    restart: on-failure:3\n    expose: [\"80\", \"8000-8010/udp\"]\n    cpus: 0.5\n    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}\n    cap_add: [net_admin, CAP_SYS_PTRACE, ALL]\n    sysctls: {net.core.somaxconn: 1024, kernel.shmmax: 1}\n    stop_signal: SIGRTMIN+3\n    x-devorch: {alerts: {cpu: \"90%/30s\", memory: \"0.5%/0s\"}}\n")}, nil, nil},
		{"negative cpus", map[string]string{"compose.yaml": svc("    cpus: \"-1\"\n")}, nil, []string{`service "a"`, "cpus -1", "negative"}},
		{"negative deploy cpus", map[string]string{"compose.yaml": svc("    deploy: {resources: {limits: {cpus: \"-0.5\"}}}\n")}, nil, []string{"deploy.resources.limits.cpus -0.5"}},
		{"negative mem_limit", map[string]string{"compose.yaml": svc("    mem_limit: -5\n")}, nil, []string{"mem_limit -5"}},
		{"negative shm_size", map[string]string{"compose.yaml": svc("    shm_size: -1\n")}, nil, []string{"shm_size -1"}},
		{"swappiness", map[string]string{"compose.yaml": svc("    mem_swappiness: 101\n")}, nil, []string{"mem_swappiness 101"}},
		{"cpu_quota", map[string]string{"compose.yaml": svc("    cpu_quota: 10\n")}, nil, []string{"cpu_quota 10"}},
		{"reservation above limit", map[string]string{"compose.yaml": svc("    mem_limit: 64m\n    mem_reservation: 128m\n")}, nil, []string{"reservation 128MiB", "limit 64MiB"}},
		{"swap below memory", map[string]string{"compose.yaml": svc("    mem_limit: 64m\n    memswap_limit: 32m\n")}, nil, []string{"memswap_limit 32MiB"}},
		{"restart word", map[string]string{"compose.yaml": svc("    restart: sometimes\n")}, nil, []string{`restart "sometimes"`, "on-failure[:MAX_RETRIES]"}},
		{"restart count", map[string]string{"compose.yaml": svc("    restart: on-failure:abc\n")}, nil, []string{`restart "on-failure:abc"`, "retry count"}},
		{"restart count on always", map[string]string{"compose.yaml": svc("    restart: always:3\n")}, nil, []string{`restart "always:3"`}},
		{"deploy condition", map[string]string{"compose.yaml": svc("    deploy: {restart_policy: {condition: sometimes}}\n")}, nil, []string{"deploy.restart_policy.condition"}},
		{"expose word", map[string]string{"compose.yaml": svc("    expose: [\"abc\"]\n")}, nil, []string{`expose "abc"`}},
		{"expose proto", map[string]string{"compose.yaml": svc("    expose: [\"80/http\"]\n")}, nil, []string{`protocol "http"`}},
		{"ulimit name", map[string]string{"compose.yaml": svc("    ulimits: {nofiles: 10}\n")}, nil, []string{`ulimits."nofiles"`, "nofile"}},
		{"ulimit soft above hard", map[string]string{"compose.yaml": svc("    ulimits: {nofile: {soft: 20, hard: 10}}\n")}, nil, []string{"ulimits.nofile", "soft limit"}},
		{"capability", map[string]string{"compose.yaml": svc("    cap_add: [NET_ADMN]\n")}, nil, []string{`cap_add "NET_ADMN"`}},
		{"sysctl", map[string]string{"compose.yaml": svc("    sysctls: {vm.swappiness: 10}\n")}, nil, []string{`sysctls "vm.swappiness"`}},
		{"net sysctl on host network", map[string]string{"compose.yaml": svc("    network_mode: host\n    sysctls: {net.core.somaxconn: 10}\n")}, nil, []string{"network_mode: host"}},
		{"stop signal", map[string]string{"compose.yaml": svc("    stop_signal: SIGSTOPP\n")}, nil, []string{`stop_signal "SIGSTOPP"`}},
		{"stop signal number", map[string]string{"compose.yaml": svc("    stop_signal: \"99\"\n")}, nil, []string{`stop_signal "99"`}},
		{"bind source missing", map[string]string{"compose.yaml": svc("    volumes: [{type: bind, source: ./nope, target: /data, bind: {create_host_path: false}}]\n")}, nil, []string{"volumes /data", "nope", "does not exist"}},
		{"bind source present", map[string]string{"compose.yaml": svc("    volumes: [{type: bind, source: ./here, target: /data, bind: {create_host_path: false}}]\n"), "here/f": "x"}, nil, nil},
		{"bind short syntax creates", map[string]string{"compose.yaml": svc("    volumes: [\"./nope:/data\"]\n")}, nil, nil},
		{"secret file missing", map[string]string{"compose.yaml": svc("    secrets: [s]\nsecrets:\n  s: {file: ./nope.txt}\n")}, nil, []string{`secret "s"`, "nope.txt", "does not exist"}},
		{"secret unused", map[string]string{"compose.yaml": svc("") + "secrets:\n  s: {file: ./nope.txt}\n"}, nil, nil},
		{"config env unset", map[string]string{"compose.yaml": svc("    configs: [c]\nconfigs:\n  c: {environment: DVT_UNSET_VAR}\n")}, nil, []string{`config "c"`, "DVT_UNSET_VAR", "not set"}},
		{"config env set", map[string]string{"compose.yaml": svc("    configs: [c]\nconfigs:\n  c: {environment: DVT_SET_VAR}\n")}, []string{"DVT_SET_VAR=1"}, nil},
		{"included secret env unset", map[string]string{
			"compose.yaml":     "include: [inc/compose.yaml]\nservices:\n  a:\n    image: x\n",
			"inc/compose.yaml": "services:\n  b:\n    image: x\n    secrets: [s]\nsecrets:\n  s: {environment: DVT_UNSET_INC}\n",
		}, nil, []string{`service "b"`, `secret "s"`, "DVT_UNSET_INC"}},
		{"healthy gate on disabled healthcheck", map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_healthy}}\n  b:\n    image: x\n    healthcheck: {disable: true}\n"}, nil, []string{`service "a"`, "depends_on.b", "no healthcheck configured"}},
		{"container_name clash", map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    container_name: same\n  b:\n    image: x\n    container_name: same\n"}, nil, []string{`service "b": container_name "same" is already used by service "a"`, "must be unique"}},
		{"subnet", map[string]string{"compose.yaml": svc("networks:\n  n:\n    ipam: {config: [{subnet: 10.1.0.0}]}\n")}, nil, []string{`network "n"`, `ipam.config[0].subnet "10.1.0.0"`, "CIDR"}},
		{"gateway outside", map[string]string{"compose.yaml": svc("networks:\n  n:\n    ipam: {config: [{subnet: 10.1.0.0/24, gateway: 10.2.0.1}]}\n")}, nil, []string{"gateway 10.2.0.1 is not inside subnet 10.1.0.0/24"}},
		{"ip_range", map[string]string{"compose.yaml": svc("networks:\n  n:\n    ipam: {config: [{subnet: 10.1.0.0/24, ip_range: 10.1.0.0/16}]}\n")}, nil, []string{"ip_range 10.1.0.0/16 is not inside"}},
		{"alert word", map[string]string{"compose.yaml": svc("    x-devorch: {alerts: {cpu: lots}}\n")}, nil, []string{`service "a"`, "x-devorch.alerts.cpu", `"lots"`}},
		{"alert percent", map[string]string{"compose.yaml": svc("    x-devorch: {alerts: {memory: \"150%/30s\"}}\n")}, nil, []string{"x-devorch.alerts.memory", `"150%"`}},
		{"alert duration", map[string]string{"compose.yaml": svc("    x-devorch: {alerts: {cpu: \"90%/soon\"}}\n")}, nil, []string{`"soon"`, "duration"}},
		{"alert kind", map[string]string{"compose.yaml": svc("    x-devorch: {alerts: {disk: \"90%/1s\"}}\n")}, nil, []string{`x-devorch.alerts."disk"`}},
		{"long value cut", map[string]string{"compose.yaml": svc("    restart: " + strings.Repeat("x", 100000) + "\n")}, nil, []string{"(100000 chars)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := load(t, c.files, Options{Name: "v", Environ: c.env})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = Validate(p)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q, got none", c.want)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if !strings.Contains(msg, "compose.yaml: ") {
				t.Errorf("error does not name the file: %s", msg)
			}
			if strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Errorf("error is not one short line: %q", msg)
			}
		})
	}
}

func TestCheckSelected(t *testing.T) {
	p, err := load(t, map[string]string{"compose.yaml": "name: empty\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSelected(p); err == nil || !strings.Contains(err.Error(), "no service selected") || !strings.Contains(err.Error(), "compose.yaml declares no services") {
		t.Errorf("no services: %v", err)
	}
	p, err = load(t, map[string]string{"compose.yaml": "services:\n  a: {image: x, profiles: [dev]}\n  b: {image: x, profiles: [debug, dev]}\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSelected(p); err == nil || !strings.Contains(err.Error(), "--profile (debug, dev)") {
		t.Errorf("only profiles: %v", err)
	}
	p, err = load(t, map[string]string{"compose.yaml": svc("")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSelected(p); err != nil {
		t.Errorf("one service: %v", err)
	}
}

// compose-go's own messages, reworded as compose says them, naming the file.
func TestLoadErrorsNameTheFileOnOneLine(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"unknown field", map[string]string{"compose.yaml": svc("    wrongField: false\n")}, []string{"compose.yaml", "services.a: additional properties 'wrongField' not allowed"}},
		{"decode error", map[string]string{"compose.yaml": svc("    mem_limit: lots\n")}, []string{"compose.yaml: ", "mem_limit", "invalid size"}},
		{"container_name and scale", map[string]string{"compose.yaml": svc("    container_name: c1\n    scale: 2\n")}, []string{"services.a: can't set container_name and scale"}},
		{"extends not a compose file", map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: notes.txt, service: b}\n", "notes.txt": "just words\n"}, []string{"services.a.extends.file", "notes.txt is not a compose file"}},
		{"x-devorch type", map[string]string{"compose.yaml": svc("    x-devorch: {alerts: {cpu: [1]}}\n")}, []string{"compose.yaml: ", `service "a": x-devorch.alerts`, "want a string"}},
		{"x-devorch unknown key", map[string]string{"compose.yaml": svc("    x-devorch: {alrets: {cpu: \"90%/1s\"}}\n")}, []string{`x-devorch: unknown field "alrets"`}},
		{"x-devorch host address", map[string]string{"compose.yaml": svc("x-devorch:\n  hosts:\n    h: {endpoint: \"unix:///x.sock\", address: not-an-ip}\n")}, []string{`x-devorch.hosts.h.address "not-an-ip": not an IP address`}},
		{"x-devorch registry", map[string]string{"compose.yaml": svc("x-devorch: {target: swarm, registry: \"https://reg.example.com\"}\n")}, []string{"compose.yaml: ", `x-devorch.registry "https://reg.example.com": give host[:port][/path], without a scheme`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.files, Options{Name: "v"})
			if err == nil {
				t.Fatalf("loaded, want an error with %q", c.want)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}
