package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/crypto/bcrypt"

	"github.com/devorch/devorch/internal/testenv"
)

// authRegistry is a loopback registry that answers only user:pass (basic
// auth from an htpasswd file, which the registry wants bcrypt-hashed).
type authRegistry struct {
	*testRegistry
	user, pass string
}

func startAuthRegistry(t *testing.T) *authRegistry {
	t.Helper()
	user, pass := "dvt-user", "dvt-secret-"+filepath.Base(t.TempDir())
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: dvt\n    path: %s\n", htpasswd))
	return &authRegistry{testRegistry: r, user: user, pass: pass}
}

// push puts devorch-test/testapp:latest into the registry as
// <registry>/dvt/private:<tag> with the registry's credentials, and
// removes the local tag, so that only a pull with credentials brings it
// back.
func (r *authRegistry) push(t *testing.T, s *stack, tag string) string {
	t.Helper()
	ctx := context.Background()
	ref := r.addr + "/dvt/private:" + tag
	if err := s.cli.ImageTag(ctx, testenv.TestappImage, ref); err != nil {
		t.Fatalf("tag %s: %v", ref, err)
	}
	removeImageOnCleanup(t, s.cli, ref)
	// Without credentials the registry refuses the push: it really checks.
	if err := r.pushWith(s, ref, ""); err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Fatalf("push %s without credentials: want refused for lack of credentials, got %v", ref, err)
	}
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: r.user, Password: r.pass, ServerAddress: r.addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.pushWith(s, ref, auth); err != nil {
		t.Fatalf("push %s with credentials: %v", ref, err)
	}
	untag(t, s.cli, ref)
	return ref
}

func (r *authRegistry) pushWith(s *stack, ref, auth string) error {
	if auth == "" {
		auth = base64.URLEncoding.EncodeToString([]byte("{}"))
	}
	rc, err := s.cli.ImagePush(context.Background(), ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}

// dockerConfigDir writes a Docker CLI config.json into a new directory,
// for DOCKER_CONFIG.
func dockerConfigDir(t *testing.T, cfg map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// credentialHelper writes docker-credential-devorchtest into a new
// directory (for PATH): a helper that answers `get` for one registry with
// the user and secret, says "credentials not found" for any other (the
// protocol's words for it), and logs every call to a file.
func credentialHelper(t *testing.T, r *authRegistry) (binDir, logFile string) {
	t.Helper()
	binDir = t.TempDir()
	logFile = filepath.Join(binDir, "calls.log")
	script := fmt.Sprintf(`#!/bin/sh
read -r server
echo "$1 $server" >> %q
if [ "$1" = get ] && [ "$server" = %q ]; then
  printf '{"ServerURL":"%%s","Username":%q,"Secret":%q}\n' "$server"
  exit 0
fi
echo "credentials not found in native keychain"
exit 1
`, logFile, r.addr, r.user, r.pass)
	if err := os.WriteFile(filepath.Join(binDir, "docker-credential-devorchtest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binDir, logFile
}

// TestPullWithRegistryCredentials: devorch pulls from a registry that
// requires credentials with what the Docker CLI's config gives, through a
// credential helper (credHelpers and credsStore, as Docker Desktop, pass,
// ecr-login or gcloud are set up) or plain auths; without credentials, or
// with a helper that is missing, it fails with an error that says so.
func TestPullWithRegistryCredentials(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	reg := startAuthRegistry(t)
	ref := reg.push(t, s, "v1")
	s.write("compose.yaml", fmt.Sprintf("services:\n  web:\n    image: %s\n", ref))
	binDir, calls := credentialHelper(t, reg)
	path := "PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH")
	basic := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.pass))

	for _, tc := range []struct {
		name   string
		cfg    map[string]any
		helper bool   // the helper must have been asked
		fail   string // want a pull failure saying this
	}{
		{name: "credHelpers", cfg: map[string]any{"credHelpers": map[string]string{reg.addr: "devorchtest"}}, helper: true},
		{name: "credsStore", cfg: map[string]any{"credsStore": "devorchtest"}, helper: true},
		{name: "auths", cfg: map[string]any{"auths": map[string]any{reg.addr: map[string]string{"auth": basic}}}},
		// A helper for another registry is not asked for this one.
		{name: "none", cfg: map[string]any{"credHelpers": map[string]string{"other.example:5000": "devorchtest"}}, fail: "no basic auth credentials (no credentials for " + reg.addr + " in "},
		{name: "missing-helper", cfg: map[string]any{"credHelpers": map[string]string{reg.addr: "nosuchhelper"}}, fail: "docker-credential-nosuchhelper"},
	} {
		_ = os.Remove(calls)
		env := []string{"DOCKER_CONFIG=" + dockerConfigDir(t, tc.cfg), path}
		r := s.binIn(env, "pull", "web")
		if tc.fail != "" {
			if r.code != wantPullFailure || !strings.Contains(r.stderr, tc.fail) || !strings.Contains(r.stderr, ref) {
				t.Errorf("%s: want exit %d and an error naming %s and saying %q:\n%s", tc.name, wantPullFailure, ref, tc.fail, r)
			}
			if imagePresent(t, s.cli, ref) {
				t.Fatalf("%s: %s was pulled without credentials", tc.name, ref)
			}
			continue
		}
		if r.code != 0 || !strings.Contains(r.stderr, pulling(ref)) {
			t.Errorf("%s: pull failed:\n%s", tc.name, r)
			continue
		}
		if !imagePresent(t, s.cli, ref) {
			t.Errorf("%s: %s missing after the pull", tc.name, ref)
			continue
		}
		log, _ := os.ReadFile(calls)
		if asked := strings.Contains(string(log), "get "+reg.addr); asked != tc.helper {
			t.Errorf("%s: helper asked for %s: %v, want %v (calls: %q)", tc.name, reg.addr, asked, tc.helper, log)
		}
		untag(t, s.cli, ref)
	}

	// up, and a build whose base image is in the registry, use the same
	// credentials.
	s.write("base/Dockerfile", "FROM "+ref+"\n")
	s.write("compose.yaml", fmt.Sprintf("services:\n  web:\n    image: %s\n  built:\n    build: ./base\n", ref))
	helperEnv := []string{"DOCKER_CONFIG=" + dockerConfigDir(t, map[string]any{"credHelpers": map[string]string{reg.addr: "devorchtest"}}), path}
	r := s.binIn([]string{"DOCKER_CONFIG=" + dockerConfigDir(t, map[string]any{})}, "build", "built")
	if r.code != wantBuildFailure {
		t.Errorf("build FROM a private image without credentials: want exit %d:\n%s", wantBuildFailure, r)
	}
	r = s.binIn(helperEnv, "up", "-d")
	if r.code != 0 {
		t.Fatalf("up with credHelpers: %s", r)
	}
	for _, svc := range []string{"web", "built"} {
		if !s.inspect(s.name(svc, 1)).State.Running {
			t.Errorf("%s is not running", svc)
		}
	}
	s.must("down", "--rmi", "local")
	s.assertNothingLeft()
}
