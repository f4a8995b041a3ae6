package images

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decodeAuth(t *testing.T, enc string) map[string]string {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("decode %q: %v", enc, err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Docker Hub's credentials live under its v1 index address whichever name
// the image uses; other registries under their host[:port]; DOCKER_CONFIG
// is read on every call.
func TestRegistryAuthReadsTheDockerCLIConfig(t *testing.T) {
	dir := t.TempDir()
	basic := func(u, p string) map[string]string {
		return map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(u + ":" + p))}
	}
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		"https://index.docker.io/v1/": basic("hubuser", "hubpass"),
		"https://reg.example:5000":    basic("reguser", "regpass"), // an old-style key with a scheme
	}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	for _, tc := range []struct{ domain, user string }{
		{"docker.io", "hubuser"}, {"index.docker.io", "hubuser"}, {"registry-1.docker.io", "hubuser"},
		{"reg.example:5000", "reguser"}, {"other.example", ""},
	} {
		enc, err := registryAuth(tc.domain)
		if err != nil {
			t.Fatalf("%s: %v", tc.domain, err)
		}
		if tc.user == "" {
			if enc != "" {
				t.Errorf("%s: want no credentials, got %v", tc.domain, decodeAuth(t, enc))
			}
			continue
		}
		if got := decodeAuth(t, enc)["username"]; got != tc.user {
			t.Errorf("%s: user %q, want %q", tc.domain, got, tc.user)
		}
	}
	if h := loginHint("", "other.example", "no basic auth credentials"); !strings.Contains(h, filepath.Join(dir, "config.json")) || !strings.Contains(h, "docker login other.example") {
		t.Errorf("hint %q", h)
	}
	if h := loginHint("x", "other.example", "no basic auth credentials"); h != "" {
		t.Errorf("hint with credentials sent: %q", h)
	}

	// A config.json that is not JSON is an error naming the file.
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "config.json"), []byte("{not json"), 0o600)
	t.Setenv("DOCKER_CONFIG", bad)
	if _, err := registryAuth("docker.io"); err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "config.json")) {
		t.Errorf("malformed config: want an error naming it, got %v", err)
	}
}
