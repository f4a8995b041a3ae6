package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// watcher is a running `devorch watch` process whose output lines a test
// reads.
type watcher struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   []string
}

func (s *stack) startWatch(args ...string) *watcher {
	s.t.Helper()
	cmd := s.command(append([]string{"watch"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	w := &watcher{t: s.t, cmd: cmd, lines: make(chan string, 1024)}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan struct{})
	go w.read(stdout, nil)
	go w.read(stderr, ready)
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-ready:
	case <-time.After(waitDeadline):
		s.t.Fatalf("watch did not start within %s:\n%s", waitDeadline, w.output())
	}
	return w
}

func (w *watcher) read(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		w.mu.Lock()
		w.all = append(w.all, line)
		w.mu.Unlock()
		if ready != nil && strings.HasPrefix(line, "Watching ") {
			close(ready)
			ready = nil
		}
		if strings.HasPrefix(line, "[watch] ") {
			w.lines <- line
		}
	}
}

func (w *watcher) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.all, "\n")
}

// next waits for the next batch line.
func (w *watcher) next(what string) string {
	w.t.Helper()
	select {
	case l := <-w.lines:
		w.t.Logf("%s %s: %s", time.Now().Format("15:04:05.000"), what, l)
		return l
	case <-time.After(waitDeadline):
		w.t.Fatalf("no watch line for %s within %s:\n%s", what, waitDeadline, w.output())
		return ""
	}
}

// quiet asserts no batch line arrives for d.
func (w *watcher) quiet(d time.Duration, what string) {
	w.t.Helper()
	select {
	case l := <-w.lines:
		w.t.Errorf("%s: unexpected batch %q", what, l)
	case <-time.After(d):
	}
}

const watchStack = `
services:
  web:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./static
          target: /srv/static
          action: sync
          ignore: ["*.log", "cache/"]
        - path: ./conf
          target: /etc/app
          action: sync+restart
        - path: ./hooks
          target: /srv/hooks
          action: sync+exec
          exec:
            command: ["sh", "-c", "cat /srv/hooks/* > /srv/ran"]
        - path: ./restart.txt
          action: restart
`

func TestWatchSyncActions(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"compose.yaml":     watchStack,
		"static/index.txt": "v1",
		"static/.git/HEAD": "ref",
		"conf/app.conf":    "a=1",
		"hooks/h.txt":      "hook1",
		"restart.txt":      "0",
		".dockerignore":    "",
	})
	w := s.startWatch()
	web := s.name("web", 1)
	cat := func(p string) string {
		out, _ := s.execOut(web, "cat", p)
		return out
	}
	// A plain sync; file mode kept.
	s.write("static/index.txt", "v2")
	if err := os.Chmod(filepath.Join(s.dir, "static/index.txt"), 0o751); err != nil {
		t.Fatal(err)
	}
	if l := w.next("edit"); !strings.Contains(l, "web sync ok: 1 files") {
		t.Errorf("line %q", l)
	}
	if got := cat("/srv/static/index.txt"); got != "v2" {
		t.Errorf("synced content %q", got)
	}
	if out, _ := s.execOut(web, "stat", "-c", "%a", "/srv/static/index.txt"); strings.TrimSpace(out) != "751" {
		t.Errorf("mode %q", out)
	}
	// New directories created later are watched, their files synced.
	if err := os.MkdirAll(filepath.Join(s.dir, "static/new/deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.write("static/new/deeper/f.txt", "deep")
	// The watcher watches a new directory as soon as it sees it created,
	// before that batch closes: once its line is out, later files count.
	w.next("new dir")
	s.write("static/new/deeper/g.txt", "later")
	w.next("file in new dir")
	if got := cat("/srv/static/new/deeper/g.txt"); got != "later" {
		t.Errorf("file in a directory created after the start: %q", got)
	}
	// Ignored: the rule's ignore, .git, editor swap files.
	s.write("static/debug.log", "x")
	s.write("static/cache/c.bin", "x")
	s.write("static/.git/index", "x")
	s.write("static/.index.txt.swp", "x")
	s.write("static/index.txt~", "x")
	// Then one file that is not ignored: the next batch is that file
	// alone, and none of the ignored ones reached the container.
	s.write("static/marker.txt", "m")
	if l := w.next("ignored files, then one that is not"); !strings.Contains(l, "web sync ok: 1 files (0 deleted)") {
		t.Errorf("ignored files were synced: %q", l)
	}
	if got := cat("/srv/static/marker.txt"); got != "m" {
		t.Errorf("the file after the ignored ones: %q", got)
	}
	for _, p := range []string{"debug.log", "cache/c.bin", ".git/index", ".index.txt.swp", "index.txt~"} {
		if _, code := s.execOut(web, "cat", "/srv/static/"+p); code == 0 {
			t.Errorf("ignored %s is in the container", p)
		}
	}
	// Deletion.
	if err := os.Remove(filepath.Join(s.dir, "static/index.txt")); err != nil {
		t.Fatal(err)
	}
	if l := w.next("delete"); !strings.Contains(l, "(1 deleted)") {
		t.Errorf("delete line %q", l)
	}
	if _, code := s.execOut(web, "cat", "/srv/static/index.txt"); code == 0 {
		t.Errorf("deleted file still in the container")
	}
	// sync+restart.
	started := s.inspect(web).State.StartedAt
	s.write("conf/app.conf", "a=2")
	if l := w.next("sync+restart"); !strings.Contains(l, "web sync+restart ok") {
		t.Errorf("line %q", l)
	}
	if s.inspect(web).State.StartedAt == started {
		t.Errorf("sync+restart did not restart")
	}
	if got := cat("/etc/app/app.conf"); got != "a=2" {
		t.Errorf("synced conf %q", got)
	}
	// sync+exec.
	s.write("hooks/h.txt", "hook2")
	if l := w.next("sync+exec"); !strings.Contains(l, "web sync+exec ok") {
		t.Errorf("line %q", l)
	}
	if got := cat("/srv/ran"); got != "hook2" {
		t.Errorf("exec did not run after sync: %q", got)
	}
	// restart on a single watched file.
	started = s.inspect(web).State.StartedAt
	s.write("restart.txt", "1")
	if l := w.next("restart"); !strings.Contains(l, "web restart ok") {
		t.Errorf("line %q", l)
	}
	if s.inspect(web).State.StartedAt == started {
		t.Errorf("restart action did not restart")
	}
}

// Editors save atomically: a temp file renamed over the real one (most),
// or the real one renamed away and rewritten (vim's backupcopy=no). Each
// lands in one batch as one change to the real file, never a delete.
func TestWatchAtomicSavesAndBursts(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"compose.yaml": watchStack, "static/doc.txt": "v1", "conf/x": "", "hooks/x": "", "restart.txt": ""})
	w := s.startWatch()
	web := s.name("web", 1)
	dir := filepath.Join(s.dir, "static")
	// Temp file + rename over.
	tmp := filepath.Join(dir, ".doc.txt.tmp.1234")
	if err := os.WriteFile(tmp, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "doc.txt")); err != nil {
		t.Fatal(err)
	}
	if l := w.next("rename-over save"); !strings.Contains(l, "1 files (0 deleted)") {
		t.Errorf("rename-over: %q", l)
	}
	w.quiet(300*time.Millisecond, "rename-over save")
	// vim: rename the original away, write the new one, delete the backup.
	real := filepath.Join(dir, "doc.txt")
	if err := os.Rename(real, real+"~"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "4913"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(dir, "4913"))
	if err := os.WriteFile(real, []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(real + "~")
	if l := w.next("vim save"); !strings.Contains(l, "1 files (0 deleted)") {
		t.Errorf("vim save: %q", l)
	}
	w.quiet(300*time.Millisecond, "vim save")
	if out, _ := s.execOut(web, "cat", "/srv/static/doc.txt"); out != "v3" {
		t.Errorf("content after vim save %q", out)
	}
	// A burst (a branch switch): 1,000 files, all synced, nothing deleted.
	// How many batches it takes is timing: one on a quiet machine (what
	// bench/hotreload measures; the grouping logic is engine/watch's
	// TestBurstIsOneBatch), more when this test's writes are descheduled
	// for longer than the settle window, as on a busy machine.
	burst := filepath.Join(dir, "burst")
	if err := os.MkdirAll(burst, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if err := os.WriteFile(filepath.Join(burst, fmt.Sprintf("f%04d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inContainer := func() string {
		out, _ := s.execOut(web, "sh", "-c", "ls /srv/static/burst | wc -l")
		return strings.TrimSpace(out)
	}
	files, batches := 0, 0
	for files < 1000 || inContainer() != "1000" {
		l := w.next("burst")
		batches++
		var n, deleted int
		_, counts, ok := strings.Cut(l, "web sync ok: ")
		if _, err := fmt.Sscanf(counts, "%d files (%d deleted)", &n, &deleted); !ok || err != nil {
			t.Fatalf("burst batch %d: %q", batches, l)
		}
		if deleted != 0 {
			t.Errorf("burst batch %d deleted files: %q", batches, l)
		}
		files += n
	}
	t.Logf("the burst of 1000 files came in %d batches", batches)
}

func TestWatchRebuildAndComposeEdit(t *testing.T) {
	t.Parallel()
	const file = `
services:
  app:
    build: ./app
    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s}
    environment: {V: "1"}
    develop:
      watch:
        - path: ./app
          action: rebuild
  other:
    image: devorch-test/testapp:latest
`
	s := newStack(t, map[string]string{
		"compose.yaml":   file,
		"app/Dockerfile": "FROM devorch-test/testapp:latest\nCOPY version /version\n",
		"app/version":    "1",
	})
	w := s.startWatch()
	app, other := s.name("app", 1), s.name("other", 1)
	before := s.ids()
	// rebuild: only app is recreated, with the new image.
	s.write("app/version", "2")
	if l := w.next("rebuild"); !strings.Contains(l, "app rebuild ok") {
		t.Fatalf("rebuild line %q\n%s", l, w.output())
	}
	after := s.ids()
	if after[app] == before[app] || after[other] != before[other] {
		t.Errorf("rebuild recreated the wrong containers: %v -> %v", before, after)
	}
	if out, _ := s.execOut(app, "/testapp", "cat", "/version"); out != "2" {
		t.Errorf("version after rebuild %q", out)
	}
	// A failed build leaves the running container alone and shows the error.
	s.write("app/Dockerfile", "FROM devorch-test/testapp:latest\nRUN [\"/testapp\", \"exit\", \"3\"]\n")
	l := w.next("failed rebuild")
	if !strings.Contains(l, "app rebuild error") || !strings.Contains(l, "non-zero code: 3") {
		t.Errorf("failed rebuild line %q", l)
	}
	if s.ids()[app] != after[app] || !s.inspect(app).State.Running {
		t.Errorf("a failed build touched the running container")
	}
	// Editing the compose file converges the stack: only the changed service.
	s.write("app/Dockerfile", "FROM devorch-test/testapp:latest\nCOPY version /version\n")
	w.next("fixed rebuild")
	before = s.ids()
	s.write("compose.yaml", strings.Replace(file, "image: devorch-test/testapp:latest", "image: devorch-test/testapp:latest\n    environment: {EDITED: \"yes\"}", 1))
	if l := w.next("compose edit"); !strings.Contains(l, "project reload ok") {
		t.Errorf("reload line %q\n%s", l, w.output())
	}
	after = s.ids()
	if after[other] == before[other] || after[app] != before[app] {
		t.Errorf("compose edit recreated the wrong containers: %v -> %v", before, after)
	}
	if !contains(s.inspect(other).Config.Env, "EDITED=yes") {
		t.Errorf("edit not applied")
	}
}

// Changes made while devorch was not watching are synced on start when the
// rule sets initial_sync.
func TestWatchInitialSync(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{
		"compose.yaml": `
services:
  web:
    image: devorch-test/busybox:latest
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./static
          target: /srv/static
          action: sync
          initial_sync: true
`,
		"static/a.txt":     "from the image era",
		"static/sub/b.txt": "nested",
	})
	s.must("up", "-d")
	// Edited while nobody watches.
	s.write("static/a.txt", "edited offline")
	w := s.startWatch("--no-up")
	_ = w
	web := s.name("web", 1)
	for path, want := range map[string]string{"/srv/static/a.txt": "edited offline", "/srv/static/sub/b.txt": "nested"} {
		if out, _ := s.execOut(web, "cat", path); out != want {
			t.Errorf("%s = %q after initial sync, want %q", path, out, want)
		}
	}
}
