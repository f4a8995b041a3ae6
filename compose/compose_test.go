package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func load(t *testing.T, files map[string]string, opts Options) (*Project, error) {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, files)
	opts.ProjectDir = dir
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	for i, f := range opts.Files {
		opts.Files[i] = filepath.Join(dir, f)
	}
	return Load(context.Background(), opts)
}

func TestLoadInterpolationEnvFileProfilesAndOverrides(t *testing.T) {
	p, err := load(t, map[string]string{
		"compose.yaml": `
services:
  web:
    image: "app:${TAG:-dev}"
    env_file: [web.env]
    environment:
      FROM_DOTENV: ${DOTENV_VAR}
  debug:
    image: tool
    profiles: [debug]
`,
		"compose.override.yaml": `
services:
  web:
    environment:
      OVERRIDE: "yes"
`,
		".env":    "DOTENV_VAR=fromdotenv\nTAG=1.2\n",
		"web.env": "FROM_FILE=1\n",
	}, Options{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	web := p.Services["web"]
	if web.Image != "app:1.2" {
		t.Errorf("image = %q, want app:1.2 (from .env)", web.Image)
	}
	for k, want := range map[string]string{"FROM_DOTENV": "fromdotenv", "FROM_FILE": "1", "OVERRIDE": "yes"} {
		if v := web.Environment[k]; v == nil || *v != want {
			t.Errorf("env %s = %v, want %q", k, v, want)
		}
	}
	if _, ok := p.Services["debug"]; ok {
		t.Errorf("debug service enabled without its profile")
	}
	p, err = load(t, map[string]string{"compose.yaml": "services:\n  a: {image: x}\n  d: {image: y, profiles: [debug]}\n"}, Options{Profiles: []string{"debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["d"]; !ok {
		t.Errorf("--profile debug did not enable d")
	}
	p, err = load(t, map[string]string{"compose.yaml": "services:\n  a: {image: x}\n  d: {image: y, profiles: [debug]}\n"}, Options{Environ: []string{"COMPOSE_PROFILES=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["d"]; !ok {
		t.Errorf("COMPOSE_PROFILES=debug did not enable d")
	}
}

func TestLoadExtendsAndInclude(t *testing.T) {
	p, err := load(t, map[string]string{
		"compose.yaml": `
include:
  - inc/other.yaml
services:
  web:
    extends:
      file: base.yaml
      service: base
    environment:
      OWN: "1"
`,
		"base.yaml":      "services:\n  base:\n    image: base-img\n    environment:\n      BASE: \"1\"\n",
		"inc/other.yaml": "services:\n  other:\n    image: other-img\n",
	}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Services["web"].Image != "base-img" || p.Services["web"].Environment["BASE"] == nil {
		t.Errorf("extends not applied: %+v", p.Services["web"])
	}
	if p.Services["other"].Image != "other-img" {
		t.Errorf("include not applied")
	}
}

func TestLoadErrorsNameFileAndService(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"yaml syntax", map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n   bad: indent\n"}, []string{"compose.yaml", "line"}},
		{"unknown dependency", map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    depends_on: [db]\n"}, []string{`"web"`, `"db"`}},
		{"cycle", map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n"}, []string{"cycle", "a", "b"}},
		{"namespace target", map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    network_mode: service:ghost\n"}, []string{`"a"`, "ghost"}},
		{"bad field", map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    restartt: always\n"}, []string{"compose.yaml", "restartt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.files, Options{Name: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	_, err := Load(context.Background(), Options{ProjectDir: t.TempDir(), Environ: []string{}})
	if !errors.Is(err, ErrNoConfigFile) {
		t.Errorf("no file: err = %v", err)
	}
}

func TestHashIgnoresWhatMustNotRecreate(t *testing.T) {
	base := "services:\n  a:\n    image: x\n    environment: {K: v}\n"
	p1, err := load(t, map[string]string{"compose.yaml": base}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	same := map[string]string{
		"replicas":   base + "    deploy: {replicas: 3}\n",
		"scale":      base + "    scale: 2\n",
		"depends_on": "services:\n  a:\n    image: x\n    environment: {K: v}\n    depends_on: [b]\n  b: {image: y}\n",
		"build":      base + "    build: .\n",
		"pull":       base + "    pull_policy: always\n",
		"profiles":   base + "    profiles: [p]\n",
	}
	for name, content := range same {
		p2, err := load(t, map[string]string{"compose.yaml": content, "Dockerfile": "FROM scratch\n"}, Options{Name: "x", Profiles: []string{"p"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p1.Hashes["a"] != p2.Hashes["a"] {
			t.Errorf("%s changed the hash", name)
		}
	}
	p3, err := load(t, map[string]string{"compose.yaml": strings.Replace(base, "K: v", "K: w", 1)}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if p1.Hashes["a"] == p3.Hashes["a"] {
		t.Errorf("changing the environment did not change the hash")
	}
}

func TestUnsupportedFieldsWarn(t *testing.T) {
	p, err := load(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    isolation: hyperv\n    deploy:\n      update_config: {parallelism: 2}\n"}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p.Warnings, "\n")
	for _, w := range []string{`service "a": field "isolation"`, `service "a": field "deploy.update_config"`} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", joined, w)
		}
	}
}

// A network driver devorch does not know is passed to Docker, as compose
// does: the warning must say so, not that bridge replaces it.
func TestNetworkDriverWarningIsTrue(t *testing.T) {
	p, err := load(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    driver: macvlan\n"}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Networks["n"].Driver; got != "macvlan" {
		t.Errorf("network driver loaded as %q, want macvlan", got)
	}
	joined := strings.Join(p.Warnings, "\n")
	if !strings.Contains(joined, `network "n": driver "macvlan" is passed to Docker as is`) {
		t.Errorf("warnings %q do not say the driver is passed to Docker", joined)
	}
	if strings.Contains(joined, "uses bridge") {
		t.Errorf("warnings %q claim bridge replaces the driver", joined)
	}
}

func TestDependenciesIncludeNamespaces(t *testing.T) {
	p, err := load(t, map[string]string{"compose.yaml": `
services:
  a: {image: x}
  b: {image: x, network_mode: "service:a"}
  c: {image: x, volumes_from: [b], depends_on: [a]}
`}, Options{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if d := Dependencies(p.Project, p.Services["c"]); strings.Join(d, ",") != "a,b" {
		t.Errorf("deps of c = %v", d)
	}
	if d := WithDependencies(p.Project, []string{"c"}); strings.Join(d, ",") != "a,b,c" {
		t.Errorf("with deps = %v", d)
	}
}
