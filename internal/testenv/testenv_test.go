package testenv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

func TestMain(m *testing.M) { Main(m) }

// runContainer runs image with cmd to completion and returns its exit code
// and combined output; the container is removed afterwards.
func runContainer(t *testing.T, cli *client.Client, project, image string, cmd []string) (int64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  image,
		Cmd:    cmd,
		Labels: map[string]string{LabelProject: project, LabelTest: "1"},
	}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create %s: %v", image, err)
	}
	defer func() {
		if err := cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("removing container: %v", err)
		}
	}()
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", image, err)
	}
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		t.Fatalf("wait %s: %v", image, err)
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		t.Fatalf("reading logs: %v", err)
	}
	return code, out.String()
}

func TestImagesRunAndAreCached(t *testing.T) {
	cli := Images(t)
	project := NewProject(t, cli)

	if code, out := runContainer(t, cli, project, TestappImage, []string{"echo", "hi"}); code != 0 || out != "hi\n" {
		t.Errorf("testapp echo hi: exit %d, output %q", code, out)
	}
	if code, out := runContainer(t, cli, project, TestappImage, []string{"exit", "3"}); code != 3 {
		t.Errorf("testapp exit 3: exit %d, output %q", code, out)
	}
	if code, out := runContainer(t, cli, project, BusyboxImage, []string{"sh", "-c", "echo hi"}); code != 0 || out != "hi\n" {
		t.Errorf("busybox sh -c 'echo hi': exit %d, output %q", code, out)
	}
	if code, out := runContainer(t, cli, project, BusyboxImage, []string{"sh", "-c", "touch /tmp/x && ls /tmp && which nc httpd"}); code != 0 || out != "x\n/bin/nc\n/bin/httpd\n" {
		t.Errorf("busybox applets: exit %d, output %q", code, out)
	}

	ctx := context.Background()
	ids := map[string]string{}
	for _, ref := range []string{TestappImage, BusyboxImage} {
		insp, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		ids[ref] = insp.ID
		if insp.Config.Labels[LabelTest] != "1" || insp.Config.Labels[LabelTestContent] == "" {
			t.Errorf("%s labels = %v", ref, insp.Config.Labels)
		}
		if insp.Config.Healthcheck != nil {
			t.Errorf("%s has a HEALTHCHECK; tests set it in compose files", ref)
		}
	}
	built, err := ensureImages(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 0 {
		t.Errorf("second EnsureImages rebuilt %v", built)
	}
	for ref, id := range ids {
		insp, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if insp.ID != id {
			t.Errorf("%s changed from %s to %s", ref, id, insp.ID)
		}
	}
}

func TestCheckLeaksAndCleanup(t *testing.T) {
	cli := RequireDocker(t)
	ctx := context.Background()
	project := NewProject(t, cli)
	labels := map[string]string{LabelProject: project, LabelTest: "1"}

	if _, err := cli.NetworkCreate(ctx, project+"_default", network.CreateOptions{Labels: labels}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: project + "_data", Labels: labels}); err != nil {
		t.Fatal(err)
	}
	Images(t)
	if _, err := cli.ContainerCreate(ctx, &container.Config{Image: BusyboxImage, Labels: labels}, nil, nil, nil, project+"-c"); err != nil {
		t.Fatal(err)
	}

	ours := func() map[string]bool {
		t.Helper()
		kinds := map[string]bool{}
		err := CheckLeaks(ctx, cli)
		var leaks Leaks
		if err != nil && !errors.As(err, &leaks) {
			t.Fatalf("CheckLeaks: %v", err)
		}
		for _, l := range leaks {
			if l.Project == project {
				kinds[l.Kind] = true
			}
		}
		return kinds
	}
	if got := ours(); !got["container"] || !got["network"] || !got["volume"] {
		t.Fatalf("CheckLeaks found %v for %s, want container, network and volume", got, project)
	}
	if err := CheckLeaks(ctx, cli); err == nil || !strings.Contains(err.Error(), project+"-c") {
		t.Errorf("leak error does not name the container: %v", err)
	}
	if err := Cleanup(ctx, cli, project); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := ours(); len(got) != 0 {
		t.Fatalf("after Cleanup, CheckLeaks still finds %v for %s", got, project)
	}
	if err := Cleanup(ctx, cli, project); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
}

func TestProjectName(t *testing.T) {
	valid := regexp.MustCompile(`^dvt-[a-z0-9][a-z0-9_-]*-[0-9a-f]{4}$`)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		p := ProjectName(t)
		if !valid.MatchString(p) || len(p) > 40 {
			t.Fatalf("invalid project name %q", p)
		}
		seen[p] = true
	}
	if len(seen) < 15 {
		t.Errorf("project names not random enough: %v", seen)
	}
	t.Run("Sub/With Spaces & CAPS.v2", func(t *testing.T) {
		p := ProjectName(t)
		if !valid.MatchString(p) || !strings.HasPrefix(p, "dvt-testprojectname-sub-") {
			t.Errorf("invalid project name %q", p)
		}
	})
	if p := ProjectName(t); !trackedProjects()[p] {
		t.Errorf("ProjectName result %s not tracked", p)
	}
}

// TestMainFailsOnLeaks runs this test binary again with a helper test that
// leaks a volume: Main must report it, exit 1 and remove it.
func TestMainFailsOnLeaks(t *testing.T) {
	if os.Getenv("DEVORCH_TESTENV_LEAK_HELPER") == "1" {
		cli := RequireDocker(t)
		labels := map[string]string{LabelProject: ProjectName(t), LabelTest: "1"}
		if _, err := cli.VolumeCreate(context.Background(), volume.CreateOptions{Name: labels[LabelProject] + "_leak", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		return // leak it on purpose
	}
	cli := RequireDocker(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainFailsOnLeaks$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DEVORCH_TESTENV_LEAK_HELPER=1")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("helper run: %v, want exit status 1\n%s", err, out)
	}
	m := regexp.MustCompile(`volume (dvt-testmainfailsonleaks-[0-9a-f]{4})_leak`).FindSubmatch(out)
	if m == nil || !strings.Contains(string(out), "leaked test resource") {
		t.Fatalf("helper output does not report the leaked volume:\n%s", out)
	}
	if _, err := cli.VolumeInspect(context.Background(), string(m[1])+"_leak"); err == nil {
		Cleanup(context.Background(), cli, string(m[1]))
		t.Fatalf("Main did not remove the leaked volume %s_leak", m[1])
	}
}

func TestWriteFiles(t *testing.T) {
	dir := WriteFiles(t, "", map[string]string{
		"compose.yaml":   "services: {}\n",
		"app/config.txt": "x",
	})
	for name, want := range map[string]string{"compose.yaml": "services: {}\n", "app/config.txt": "x"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv", "testenv.go")); err != nil {
		t.Errorf("RepoRoot %s: %v", root, err)
	}
}
