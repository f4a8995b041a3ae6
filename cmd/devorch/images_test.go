package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/devorch/devorch/internal/testenv"
)

// Exit codes devorch shares with compose v2 (see main.go exitCode).
const (
	wantBuildFailure = 17
	wantPullFailure  = 18
)

// registryBin is Debian's docker-registry (distribution); `make test`
// installs it.
const registryBin = "/usr/bin/docker-registry"

// testRegistry is a real registry on a free loopback port, private to one
// test. The daemon treats 127.0.0.0/8 registries as insecure, so plain HTTP
// works without daemon configuration.
type testRegistry struct {
	addr string // 127.0.0.1:PORT
	logs *lockedBuffer
}

// lockedBuffer is a bytes.Buffer a child process writes while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fetchers lists the addresses that made a GET request whose path holds
// part, from the registry's access log.
func (r *testRegistry) fetchers(part string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if ip, _, ok := strings.Cut(l, " "); ok && strings.Contains(l, `"GET `) && strings.Contains(l, part) {
			out[ip] = true
		}
	}
	return out
}

// startRegistry runs docker-registry as a child process with its storage in
// a temp directory and kills it when the test ends.
func startRegistry(t *testing.T) *testRegistry { return startRegistryWith(t, "") }

// startRegistryWith is startRegistry with extra top-level config (e.g. an
// auth section).
func startRegistryWith(t *testing.T, extraConf string) *testRegistry {
	t.Helper()
	return startRegistryAt(t, "127.0.0.1", extraConf)
}

// startRegistryAt is startRegistryWith on a free port of the address ip.
func startRegistryAt(t *testing.T, ip, extraConf string) *testRegistry {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		if os.Getenv(testenv.EnvRequireDocker) == "1" {
			t.Fatalf("%s is missing: apt-get install -y docker-registry", registryBin)
		}
		t.Skipf("%s is missing: apt-get install -y docker-registry", registryBin)
	}
	var last error
	// The free port can be taken between probing and binding: retry.
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := freeAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config.yml")
		conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
%s`, filepath.Join(dir, "data"), addr, extraConf)
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(registryBin, "serve", cfg)
		logs := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", registryBin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitRegistry(addr, exited); err == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return &testRegistry{addr: addr, logs: logs}
		} else {
			_ = cmd.Process.Kill()
			<-exited
			last = fmt.Errorf("%v\n%s", err, logs.String())
		}
	}
	t.Fatalf("registry did not start: %v", last)
	return nil
}

func freeAddr(ip string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitRegistry polls GET /v2/ until the registry answers 200 (or 401, when
// it requires credentials).
func waitRegistry(addr string, exited <-chan error) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitDeadline)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("registry exited: %v", err)
		default:
		}
		resp, err := c.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("GET /v2/ did not answer 200 or 401 within %s", waitDeadline)
}

// push tags devorch-test/testapp:latest as <registry>/dvt/testapp:<tag>,
// pushes it through the Docker API and removes the local tag again, so the
// image is in the registry but missing locally. It returns the reference;
// the tag a pull puts back is removed when the test ends.
func (r *testRegistry) push(t *testing.T, cli *client.Client, tag string) string {
	t.Helper()
	ctx := context.Background()
	ref := r.addr + "/dvt/testapp:" + tag
	if err := cli.ImageTag(ctx, testenv.TestappImage, ref); err != nil {
		t.Fatalf("tag %s: %v", ref, err)
	}
	removeImageOnCleanup(t, cli, ref)
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: base64.URLEncoding.EncodeToString([]byte("{}"))})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
	rc.Close()
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	untag(t, cli, ref)
	return ref
}

// untag removes a local tag (not the image other tags still name).
func untag(t *testing.T, cli *client.Client, ref string) {
	t.Helper()
	if _, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil {
		t.Fatalf("remove local tag %s: %v", ref, err)
	}
	if imagePresent(t, cli, ref) {
		t.Fatalf("%s still present after removing it", ref)
	}
}

// removeImageOnCleanup removes refs when the test ends, before the
// project's own cleanup (t.Cleanup runs last-in first-out).
func removeImageOnCleanup(t *testing.T, cli *client.Client, refs ...string) {
	t.Cleanup(func() {
		for _, ref := range refs {
			_, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
			if err != nil && !client.IsErrNotFound(err) {
				t.Logf("remove image %s: %v", ref, err)
			}
		}
	})
}

func imagePresent(t *testing.T, cli *client.Client, ref string) bool {
	t.Helper()
	_, err := cli.ImageInspect(context.Background(), ref)
	if err != nil && !client.IsErrNotFound(err) {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return err == nil
}

func imageInspect(t *testing.T, cli *client.Client, ref string) image.InspectResponse {
	t.Helper()
	insp, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return insp
}

// pulling is the progress line devorch prints when it starts a pull.
func pulling(ref string) string { return " Image " + ref + "  Pulling" }

func TestPullUpPullsMissingImageBeforeCreating(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	reg := startRegistry(t)
	ref := reg.push(t, s.cli, "v1")
	s.write("compose.yaml", fmt.Sprintf(`
services:
  web:
    image: %s
    volumes: [data:/data]
volumes:
  data:
`, ref))

	r := s.fails("up", "-d", "--pull", "never")
	if !strings.Contains(r.stderr, ref) || !strings.Contains(r.stderr, "never") {
		t.Errorf("--pull never with a missing image: unclear error:\n%s", r)
	}
	if strings.Contains(r.stderr, pulling(ref)) {
		t.Errorf("--pull never pulled:\n%s", r)
	}
	s.assertNothingLeft()

	r = s.must("up", "-d")
	iPulled := strings.Index(r.stderr, " Image "+ref+"  Pulled")
	iNet := strings.Index(r.stderr, " Network ")
	iCreate := strings.Index(r.stderr, " Container "+s.name("web", 1)+"  Creating")
	if !strings.Contains(r.stderr, pulling(ref)) || iPulled < 0 || iCreate < 0 || iNet < 0 {
		t.Fatalf("want Pulling, Pulled, then network and container creation:\n%s", r)
	}
	if iPulled > iNet || iPulled > iCreate {
		t.Errorf("created resources before the pull finished:\n%s", r)
	}
	c := s.inspect(s.name("web", 1))
	if !c.State.Running || c.Config.Image != ref {
		t.Errorf("web: running=%v image=%q, want running %s", c.State.Running, c.Config.Image, ref)
	}
	if id := imageInspect(t, s.cli, ref).ID; c.Image != id {
		t.Errorf("web runs image %s, pulled %s", c.Image, id)
	}

	// Present now: a second up neither pulls nor recreates.
	before := s.ids()
	r = s.must("up", "-d")
	if strings.Contains(r.stderr, "Pulling") {
		t.Errorf("second up pulled an image that is present:\n%s", r)
	}
	if after := s.ids(); !sameMap(before, after) {
		t.Errorf("second up changed containers: %v -> %v", before, after)
	}

	s.must("down", "-v")
	s.assertNothingLeft()
}

func TestPullPolicies(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	for _, tc := range []struct {
		name    string
		policy  string   // pull_policy in the file ("" for none)
		flags   []string // extra up flags
		present bool     // image tagged locally before up
		pull    bool     // up must pull
		fail    string   // up must fail with this in stderr
	}{
		{name: "never-missing", policy: "never", fail: "pull_policy is never"},
		{name: "never-present", policy: "never", present: true},
		{name: "missing-missing", policy: "missing", pull: true},
		{name: "missing-present", policy: "missing", present: true},
		{name: "default-present", present: true},
		{name: "always-present", policy: "always", present: true, pull: true},
		{name: "flag-always-over-never", policy: "never", flags: []string{"--pull", "always"}, present: true, pull: true},
		{name: "flag-never-over-always", policy: "always", flags: []string{"--pull", "never"}, fail: "is not on host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, nil)
			ref := reg.push(t, s.cli, tc.name)
			if tc.present {
				if err := s.cli.ImageTag(context.Background(), testenv.TestappImage, ref); err != nil {
					t.Fatal(err)
				}
			}
			policy := ""
			if tc.policy != "" {
				policy = "\n    pull_policy: " + tc.policy
			}
			s.write("compose.yaml", fmt.Sprintf("services:\n  web:\n    image: %s%s\n", ref, policy))
			args := append([]string{"up", "-d"}, tc.flags...)
			if tc.fail != "" {
				r := s.fails(args...)
				if !strings.Contains(r.stderr, tc.fail) || !strings.Contains(r.stderr, ref) {
					t.Errorf("want an error naming %s and saying %q:\n%s", ref, tc.fail, r)
				}
				if strings.Contains(r.stderr, "Pulling") {
					t.Errorf("pulled although it must not:\n%s", r)
				}
				s.assertNothingLeft()
				return
			}
			r := s.must(args...)
			if got := strings.Contains(r.stderr, pulling(ref)); got != tc.pull {
				t.Errorf("pulled=%v, want %v:\n%s", got, tc.pull, r)
			}
			if !s.inspect(s.name("web", 1)).State.Running {
				t.Errorf("web is not running")
			}
			s.must("down")
			s.assertNothingLeft()
		})
	}
}

func TestPullCommand(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	reg := startRegistry(t)
	web := reg.push(t, s.cli, "web")
	other := reg.push(t, s.cli, "other")
	never := reg.push(t, s.cli, "never")
	s.write("compose.yaml", fmt.Sprintf(`
services:
  web:
    image: %s
  other:
    image: %s
  local:
    image: %s
    pull_policy: never
`, web, other, never))

	r := s.must("pull", "web")
	if !strings.Contains(r.stderr, pulling(web)) || strings.Contains(r.stderr, other) {
		t.Errorf("pull web: want only web pulled:\n%s", r)
	}
	if !imagePresent(t, s.cli, web) || imagePresent(t, s.cli, other) {
		t.Errorf("pull web: web present=%v (want true), other present=%v (want false)",
			imagePresent(t, s.cli, web), imagePresent(t, s.cli, other))
	}

	// Everything pullable; pull_policy: never is skipped, as compose does.
	r = s.must("pull")
	if !strings.Contains(r.stderr, pulling(other)) {
		t.Errorf("pull: other not pulled:\n%s", r)
	}
	if !imagePresent(t, s.cli, other) {
		t.Errorf("pull: %s missing afterwards", other)
	}
	if strings.Contains(r.stderr, pulling(never)) || imagePresent(t, s.cli, never) {
		t.Errorf("pull pulled a pull_policy: never service:\n%s", r)
	}
	s.assertNothingLeft() // pulling creates no containers, networks or volumes

	r = s.fails("pull", "nosuch")
	if !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("pull of an unknown service: unclear error:\n%s", r)
	}
}

func TestPullFailureStopsUpWithExitCode18(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	reg := startRegistry(t)
	ref := reg.push(t, s.cli, "v1")
	missing := strings.TrimSuffix(ref, ":v1") + ":nosuchtag"
	s.write("compose.yaml", fmt.Sprintf(`
services:
  db:
    image: devorch-test/testapp:latest
    volumes: [data:/data]
  web:
    image: %s
    depends_on: [db]
volumes:
  data:
`, missing))
	// pull names web: db's image is local only and not in any registry.
	for _, args := range [][]string{{"up", "-d"}, {"pull", "web"}} {
		r := s.fails(args...)
		if r.code != wantPullFailure {
			t.Errorf("devorch %s: exit %d, want %d:\n%s", strings.Join(args, " "), r.code, wantPullFailure, r)
		}
		if !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, `service "web"`) {
			t.Errorf("devorch %s: error does not name the service and image:\n%s", strings.Join(args, " "), r)
		}
		s.assertNothingLeft()
	}
}

// buildFiles is a project whose services build in several ways from one
// context directory, app/, which has both ignore files:
//   - app: app/app.Dockerfile (multi-stage, target, args, labels); its
//     app.Dockerfile.dockerignore wins over .dockerignore.
//   - outside: a Dockerfile outside the context; .dockerignore applies.
//   - inline: dockerfile_inline; .dockerignore applies.
var buildFiles = map[string]string{
	"compose.yaml": `
services:
  app:
    build:
      context: ./app
      dockerfile: app.Dockerfile
      target: final
      args:
        GREETING: hello
      labels:
        com.example.built: "yes"
  outside:
    build:
      context: ./app
      dockerfile: ../other/Dockerfile
  inline:
    build:
      context: ./app
      dockerfile_inline: |
        FROM devorch-test/testapp:latest
        COPY . /ctx
`,
	"app/app.Dockerfile": `FROM devorch-test/testapp:latest AS base
ARG GREETING=unset
ENV GREETING=$GREETING
COPY . /ctx
RUN ["/testapp", "write", "/built", "yes"]

FROM base AS final
RUN ["/testapp", "write", "/stage", "final"]

FROM base AS other
RUN ["/testapp", "write", "/stage", "other"]
`,
	"app/keep.txt":                    "v1",
	"app/secret.txt":                  "excluded by .dockerignore",
	"app/df-only.txt":                 "excluded by app.Dockerfile.dockerignore",
	"app/.dockerignore":               "secret.txt\n",
	"app/app.Dockerfile.dockerignore": "df-only.txt\n",
	"other/Dockerfile": `FROM devorch-test/testapp:latest
COPY . /ctx
`,
}

func (s *stack) builtImages(services ...string) []string {
	var refs []string
	for _, svc := range services {
		refs = append(refs, s.project+"-"+svc)
	}
	removeImageOnCleanup(s.t, s.cli, refs...)
	return refs
}

// lsCtx lists /ctx in a service's container.
func (s *stack) lsCtx(service string) []string {
	s.t.Helper()
	out, code := s.execOut(s.name(service, 1), "/testapp", "ls", "/ctx")
	if code != 0 {
		s.t.Fatalf("%s: ls /ctx: exit %d: %s", service, code, out)
	}
	return strings.Fields(out)
}

func TestBuildClassicBuilderContextsAndOptions(t *testing.T) {
	t.Parallel()
	s := newStack(t, buildFiles)
	s.builtImages("app", "outside", "inline")
	base := imageInspect(t, s.cli, testenv.TestappImage).ID

	r := s.must("up", "-d")
	for _, svc := range []string{"app", "outside", "inline"} {
		ref := s.project + "-" + svc
		if !strings.Contains(r.stderr, " Image "+ref+"  Built") {
			t.Errorf("%s: no Built line:\n%s", svc, r.stderr)
		}
		img := imageInspect(t, s.cli, ref)
		if img.Config.Labels[testenv.LabelProject] != s.project || img.Config.Labels["dev.devorch.service"] != svc {
			t.Errorf("%s: image labels %v lack project %s / service", svc, img.Config.Labels, s.project)
		}
		if c := s.inspect(s.name(svc, 1)); c.Config.Image != ref || c.Image != img.ID || !c.State.Running {
			t.Errorf("%s: container runs %s (%s) running=%v, want %s (%s)", svc, c.Config.Image, c.Image, c.State.Running, ref, img.ID)
		}
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("--ansi never, but the output has escape sequences:\n%q", r.stderr)
	}

	// app: args, target, build labels, its own ignore file.
	img := imageInspect(t, s.cli, s.project+"-app")
	if img.Config.Labels["com.example.built"] != "yes" {
		t.Errorf("app: build label missing: %v", img.Config.Labels)
	}
	if env := s.inspect(s.name("app", 1)).Config.Env; !contains(env, "GREETING=hello") {
		t.Errorf("app: build arg not used: env %v", env)
	}
	for file, want := range map[string]string{"/stage": "final", "/built": "yes", "/ctx/keep.txt": "v1"} {
		if out, code := s.execOut(s.name("app", 1), "/testapp", "cat", file); code != 0 || out != want {
			t.Errorf("app: cat %s = %q (exit %d), want %q", file, out, code, want)
		}
	}
	ls := s.lsCtx("app")
	if contains(ls, "df-only.txt") || !contains(ls, "secret.txt") {
		t.Errorf("app: app.Dockerfile.dockerignore must replace .dockerignore; /ctx = %v", ls)
	}
	for _, svc := range []string{"outside", "inline"} {
		ls := s.lsCtx(svc)
		if contains(ls, "secret.txt") || !contains(ls, "keep.txt") || !contains(ls, "df-only.txt") {
			t.Errorf("%s: .dockerignore not applied as the only ignore file; /ctx = %v", svc, ls)
		}
		for _, f := range ls {
			if strings.Contains(strings.ToLower(f), "dockerfile") && f != "app.Dockerfile" && f != "app.Dockerfile.dockerignore" {
				t.Errorf("%s: generated Dockerfile %s leaked into the image context: %v", svc, f, ls)
			}
		}
	}

	// Nothing changed: no build, no recreate.
	first := s.ids()
	r = s.must("up", "-d")
	if strings.Contains(r.stderr, "Building") {
		t.Errorf("second up rebuilt:\n%s", r.stderr)
	}
	if got := s.ids(); !sameMap(got, first) {
		t.Errorf("second up changed containers: %v -> %v", first, got)
	}

	// --build with the same inputs: the cached image is the same, so the
	// container stays.
	r = s.must("up", "-d", "--build", "app")
	if !strings.Contains(r.stderr, " Image "+s.project+"-app  Building") {
		t.Errorf("up --build did not build:\n%s", r.stderr)
	}
	if got := s.ids(); got[s.name("app", 1)] != first[s.name("app", 1)] {
		if imageInspect(t, s.cli, testenv.TestappImage).ID == base { // else the base image was rebuilt meanwhile
			t.Errorf("up --build recreated app although its image did not change:\n%s", r.stderr)
		}
	}

	// --build with a changed context: new image, container recreated.
	s.write("app/keep.txt", "v2")
	r = s.must("up", "-d", "--build", "app")
	got := s.ids()
	if got[s.name("app", 1)] == first[s.name("app", 1)] {
		t.Errorf("up --build with a changed context did not recreate app:\n%s", r.stderr)
	}
	for _, svc := range []string{"outside", "inline"} {
		if got[s.name(svc, 1)] != first[s.name(svc, 1)] {
			t.Errorf("up --build app recreated %s", svc)
		}
	}
	if out, _ := s.execOut(s.name("app", 1), "/testapp", "cat", "/ctx/keep.txt"); out != "v2" {
		t.Errorf("app after rebuild: keep.txt = %q, want v2", out)
	}

	// The rebuild left the previous app image untagged (as docker build
	// does); down --rmi local must still remove the project's images.
	r = s.devorch("down", "--rmi", "local")
	if r.code != 0 {
		t.Errorf("down --rmi local after a rebuild: %s", r)
	}
	for _, svc := range []string{"app", "outside", "inline"} {
		if imagePresent(t, s.cli, s.project+"-"+svc) {
			t.Errorf("down --rmi local kept %s-%s", s.project, svc)
		}
	}
	if !imagePresent(t, s.cli, testenv.TestappImage) {
		t.Fatalf("down --rmi local removed the base image %s", testenv.TestappImage)
	}
	s.assertNothingLeft()
}

func TestBuildCommandNoBuildAndRmiLocal(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"compose.yaml": `
services:
  web:
    build: .
  db:
    image: devorch-test/testapp:latest
`,
		"Dockerfile": "FROM devorch-test/testapp:latest\nRUN [\"/testapp\", \"write\", \"/built\", \"yes\"]\n",
	})
	ref := s.builtImages("web")[0]

	r := s.fails("up", "-d", "--no-build")
	if !strings.Contains(r.stderr, ref) || !strings.Contains(r.stderr, "--no-build") {
		t.Errorf("--no-build with a missing image: unclear error:\n%s", r)
	}
	s.assertNothingLeft()

	r = s.must("build")
	if !strings.Contains(r.stderr, " Image "+ref+"  Built") {
		t.Errorf("build: no Built line:\n%s", r)
	}
	if l := imageInspect(t, s.cli, ref).Config.Labels; l[testenv.LabelProject] != s.project {
		t.Errorf("built image labels %v, want %s=%s", l, testenv.LabelProject, s.project)
	}
	s.assertNothingLeft() // build creates no containers, networks or volumes

	r = s.must("up", "-d", "--no-build")
	if strings.Contains(r.stderr, "Building") {
		t.Errorf("up --no-build built:\n%s", r)
	}
	if out, code := s.execOut(s.name("web", 1), "/testapp", "cat", "/built"); code != 0 || out != "yes" {
		t.Errorf("web: /built = %q (exit %d)", out, code)
	}

	r = s.must("down", "--rmi", "local")
	if imagePresent(t, s.cli, ref) {
		t.Errorf("down --rmi local kept %s:\n%s", ref, r)
	}
	if !imagePresent(t, s.cli, testenv.TestappImage) {
		t.Fatalf("down --rmi local removed %s (used by db, not built):\n%s", testenv.TestappImage, r)
	}
	s.assertNothingLeft()

	// The safety net the suite relies on: testenv.Cleanup removes images
	// labelled with the project.
	s.must("build", "web")
	if err := testenv.Cleanup(context.Background(), s.cli, s.project); err != nil {
		t.Fatal(err)
	}
	if imagePresent(t, s.cli, ref) {
		t.Errorf("testenv.Cleanup kept the project's image %s", ref)
	}
}

func TestBuildKitOnlyFeaturesFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // in stderr; "$DIR" is the project directory
	}{
		{
			name: "run-mount",
			files: map[string]string{
				"compose.yaml": "services:\n  web:\n    build: .\n    volumes: [data:/data]\nvolumes:\n  data:\n",
				"Dockerfile":   "FROM devorch-test/busybox:latest\n\nRUN --mount=type=cache,target=/x true\n",
			},
			want: []string{`service "web"`, "RUN --mount", filepath.Join("$DIR", "Dockerfile") + ":3", "BuildKit"},
		},
		{
			name: "ssh",
			files: map[string]string{
				"compose.yaml": "services:\n  web:\n    build:\n      context: .\n      ssh: [default]\n",
				"Dockerfile":   "FROM devorch-test/busybox:latest\n",
			},
			want: []string{`service "web"`, "ssh", "BuildKit"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, tc.files)
			s.builtImages("web")
			for _, args := range [][]string{{"up", "-d"}, {"build"}} {
				r := s.fails(args...)
				if r.code != wantBuildFailure {
					t.Errorf("devorch %s: exit %d, want %d:\n%s", strings.Join(args, " "), r.code, wantBuildFailure, r)
				}
				for _, w := range tc.want {
					if w = strings.ReplaceAll(w, "$DIR", s.dir); !strings.Contains(r.stderr, w) {
						t.Errorf("devorch %s: error lacks %q:\n%s", strings.Join(args, " "), w, r)
					}
				}
				if strings.Contains(r.stderr, "Step 1/") {
					t.Errorf("devorch %s: sent the build to the daemon instead of refusing it:\n%s", strings.Join(args, " "), r)
				}
				s.assertNothingLeft()
			}
		})
	}
}

func TestBuildBrokenDockerfileFails(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    build: .\n  db:\n    image: devorch-test/testapp:latest\n    volumes: [data:/data]\nvolumes:\n  data:\n",
		"Dockerfile":   "FROM devorch-test/busybox:latest\nRUN /does-not-exist\n",
	})
	s.builtImages("web")
	r := s.fails("up", "-d")
	if r.code != wantBuildFailure {
		t.Errorf("exit %d, want %d:\n%s", r.code, wantBuildFailure, r)
	}
	for _, w := range []string{`build service "web" failed`, "returned a non-zero code: 127", "/does-not-exist: not found"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("build error lacks %q:\n%s", w, r)
		}
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("--ansi never, but the output has escape sequences:\n%q", r.stderr)
	}
	if imagePresent(t, s.cli, s.project+"-web") {
		t.Errorf("a failed build left an image named %s-web", s.project)
	}
	s.assertNothingLeft()
}
