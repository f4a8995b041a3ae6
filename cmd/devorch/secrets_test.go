package main

import "testing"

// Secrets and configs from the environment or inline content are copied
// into the container before it starts.
func TestInlineSecretsAndConfigs(t *testing.T) {
	s := newStack(t, map[string]string{"compose.yaml": `
services:
  a:
    image: devorch-test/testapp:latest
    secrets: [tok, {source: tok, target: custom}]
    configs: [{source: cfg, target: /etc/app/cfg.txt, mode: 0400}]
secrets:
  tok:
    environment: DVT_SECRET_TOKEN
configs:
  cfg:
    content: "config body"
`})
	t.Setenv("DVT_SECRET_TOKEN", "s3cret")
	s.must("up", "-d")
	for path, want := range map[string]string{"/run/secrets/tok": "s3cret", "/run/secrets/custom": "s3cret", "/etc/app/cfg.txt": "config body"} {
		if r := s.must("exec", "-T", "a", "/testapp", "cat", path); r.stdout != want {
			t.Errorf("%s = %q, want %q", path, r.stdout, want)
		}
	}
	s.must("down")
	s.assertNothingLeft()
}
