package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadValidate feeds compose files through Load and Validate: whatever
// the bytes, they return (no panic), and an error is one line. `go test`
// runs the seeds; `go test -fuzz FuzzLoadValidate ./compose` explores.
func FuzzLoadValidate(f *testing.F) {
	for _, seed := range []string{
		"services:\n  a:\n    image: x\n",
		"name: empty\n",
		"",
		"services:\n  a:\n    image: x\n    cpus: \"-1\"\n    restart: on-failure:abc\n",
		"services:\n  a:\n    image: x\n    expose: [\"abc\", \"1-\"]\n    ulimits: {nofile: {soft: 2, hard: 1}}\n",
		"services:\n  a:\n    image: x\n    x-devorch: {alerts: {cpu: lots}}\n",
		"services:\n  a:\n    image: x\n    x-devorch: {alerts: [1]}\n",
		"services:\n  a:\n    image: x\n    x-devorch: 3\n",
		"x-devorch: {hosts: {h: {endpoint: e, address: \"::zz\"}}}\nservices: {a: {image: x}}\n",
		"services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_healthy}}\n  b:\n    image: x\n    healthcheck: {test: [NONE]}\n",
		"services:\n  a:\n    image: x\n    networks: {n: {ipv4_address: 1.2.3}}\nnetworks:\n  n:\n    ipam: {config: [{subnet: 10.0.0.0/33, gateway: x, ip_range: y, aux_addresses: {h: z}}]}\n",
		"services:\n  a:\n    image: x\n    volumes: [{type: bind, source: /nonexistent/dvt, target: /x, bind: {selinux: z, create_host_path: false}}]\n",
		"services:\n  a:\n    extends: {file: /etc/hostname, service: b}\n",
		"include: [/etc/hostname]\n",
		"services:\n  a:\n    image: x\n    wrongField: 1\n",
		"services:\n  a:\n    image: x\n    mem_limit: lots\n    shm_size: more\n",
		"services:\n  a: &a\n    image: x\n  b: *a\n",
		"services:\n  a:\n    image: x\n    container_name: c\n  b:\n    image: x\n    container_name: c\n",
		"services:\n  a:\n    image: x\n    sysctls: [\"=\", \"a\"]\n    cap_add: [\"\"]\n    stop_signal: RTMIN+99\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(context.Background(), Options{Files: []string{file}, Name: "fuzz", ProjectDir: dir, Environ: []string{}})
		if err == nil {
			err = Validate(p)
		}
		if err != nil && strings.Contains(strings.TrimSpace(err.Error()), "\n") {
			t.Errorf("error on several lines: %q", err)
		}
	})
}
