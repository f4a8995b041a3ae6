package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tolerant batching for the tests of what lands in a batch (grouping, the
// state read when it closes, new directories): a test's own writes can be
// descheduled for longer than the default 8 ms on a busy machine, which
// would split a batch the test means as one. The default windows are
// checked by TestSettleWindow; their speed is measured by bench/hotreload
// and BenchmarkSingleSave.
var tolerant = Options{Settle: 250 * time.Millisecond, MaxSettle: 2 * time.Second}

func mustWatch(t *testing.T, dir string, m *Matcher, o Options) *Watcher {
	t.Helper()
	if m != nil {
		o.Ignore = m.Ignored
	}
	w, err := New([]string{dir}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// batchDeadline bounds a wait for a batch: generous, since a busy machine
// is slow, not wrong.
const batchDeadline = time.Minute

func next(t *testing.T, w *Watcher) Batch {
	t.Helper()
	select {
	case b := <-w.Batches():
		return b
	case <-time.After(batchDeadline):
		t.Fatalf("no batch within %s", batchDeadline)
		return Batch{}
	}
}

// nothingElse writes a marker file and checks that the next batch is that
// file alone: nothing that happened before it is still to come.
func nothingElse(t *testing.T, w *Watcher, dir string) {
	t.Helper()
	marker := filepath.Join(dir, fmt.Sprintf("marker-%d", time.Now().UnixNano()))
	write(t, marker, "m")
	if b := next(t, w); len(b.Changes) != 1 || b.Changes[0].Path != marker {
		t.Fatalf("a batch before the marker's, or with it: %+v", b.Changes)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSettleWindow: with the default options one save closes after 8 ms
// of quiet, and the window grows with the batch up to 150 ms.
func TestSettleWindow(t *testing.T) {
	o := Options{}.withDefaults()
	for _, c := range []struct {
		events int
		want   time.Duration
	}{
		{1, 8*time.Millisecond + 250*time.Microsecond},
		{2, 8*time.Millisecond + 500*time.Microsecond},
		{100, 33 * time.Millisecond},
		{568, 150 * time.Millisecond},
		{100000, 150 * time.Millisecond},
	} {
		if got := o.settle(c.events, false); got != c.want {
			t.Errorf("settle after %d events = %v, want %v", c.events, got, c.want)
		}
		if got := o.settle(c.events, true); got != o.MaxSettle {
			t.Errorf("settle after %d events with a path gone = %v, want the whole %v", c.events, got, o.MaxSettle)
		}
	}
}

// An editor descheduled between renaming the old file away and writing
// the new one must not split its save into a delete and a create: a batch
// in which a path went away waits the whole MaxSettle. The pause below is
// a minimum gap (load only makes it longer), well past Settle and well
// within MaxSettle.
func TestSaveInterruptedAfterTheRenameIsOneChange(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "doc.txt")
	write(t, real, "v1")
	m, _ := NewMatcher(dir, nil, nil, "", "")
	w := mustWatch(t, dir, m, Options{Settle: time.Millisecond, MaxSettle: 3 * time.Second})
	if err := os.Rename(real, real+"~"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the editor is descheduled
	write(t, real, "v2")
	os.Remove(real + "~")
	b := next(t, w)
	if len(b.Changes) != 1 || b.Changes[0].Path != real || b.Changes[0].Deleted {
		t.Fatalf("interrupted save: %+v", b.Changes)
	}
}

func TestSingleSaveIsOneBatch(t *testing.T) {
	dir := t.TempDir()
	w := mustWatch(t, dir, nil, Options{})
	write(t, filepath.Join(dir, "a.txt"), "1")
	b := next(t, w)
	if len(b.Changes) != 1 || b.Changes[0].Deleted || filepath.Base(b.Changes[0].Path) != "a.txt" {
		t.Fatalf("changes %+v", b.Changes)
	}
}

// BenchmarkSingleSave is the time from one save to its batch with the
// default options (the settle window plus inotify and scheduling).
func BenchmarkSingleSave(b *testing.B) {
	dir := b.TempDir()
	w, err := New([]string{dir}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := filepath.Join(dir, "a.txt")
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(p, []byte(strconv.Itoa(i)), 0o644); err != nil {
			b.Fatal(err)
		}
		<-w.Batches()
	}
}

func TestAtomicSavesAreOneChangeNeverADelete(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "doc.txt")
	write(t, real, "v1")
	m, _ := NewMatcher(dir, nil, nil, "", "")
	w := mustWatch(t, dir, m, tolerant)
	// Temp file renamed over the real one.
	tmp := filepath.Join(dir, ".doc.txt.tmp.42")
	write(t, tmp, "v2")
	if err := os.Rename(tmp, real); err != nil {
		t.Fatal(err)
	}
	b := next(t, w)
	if len(b.Changes) != 1 || b.Changes[0].Path != real || b.Changes[0].Deleted {
		t.Fatalf("rename-over: %+v", b.Changes)
	}
	nothingElse(t, w, dir)
	// vim: rename away to a backup, probe file, write, delete the backup.
	if err := os.Rename(real, real+"~"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "4913"), "")
	os.Remove(filepath.Join(dir, "4913"))
	write(t, real, "v3")
	os.Remove(real + "~")
	b = next(t, w)
	if len(b.Changes) != 1 || b.Changes[0].Path != real || b.Changes[0].Deleted {
		t.Fatalf("vim save: %+v", b.Changes)
	}
	nothingElse(t, w, dir)
}

func TestBurstIsOneBatch(t *testing.T) {
	dir := t.TempDir()
	w := mustWatch(t, dir, nil, tolerant)
	// A burst with no pause longer than the settle window is one batch.
	// On a busy machine this goroutine can be descheduled for longer than
	// that between two writes, and then the watcher rightly closes a
	// batch: such pauses are measured, and each may add one batch.
	pauses := 0
	last := time.Now()
	for i := 0; i < 2000; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("d%d/f%04d", i%10, i)), "x")
		now := time.Now()
		if now.Sub(last) >= tolerant.Settle {
			pauses++
		}
		last = now
	}
	// A file split across two batches (created in one, written in the
	// next) counts once.
	seen := map[string]bool{}
	batches := 0
	for len(seen) < 2000 {
		b := next(t, w)
		batches++
		for _, c := range b.Changes {
			if !c.Dir {
				seen[c.Path] = true
			}
		}
	}
	if files := len(seen); files != 2000 || batches > 1+pauses {
		t.Fatalf("burst: %d files in %d batches with %d pauses of %s or more in the writes, want 2000 in %d at most", files, batches, pauses, tolerant.Settle, 1+pauses)
	}
	if pauses > 0 {
		t.Logf("%d batches; the writes paused %d times for %s or more", batches, pauses, tolerant.Settle)
	}
	nothingElse(t, w, dir)
}

// A new directory is watched as soon as the watcher sees it created,
// before that batch closes: once the batch is out, files in it count.
func TestNewDirectoriesAreWatched(t *testing.T) {
	dir := t.TempDir()
	w := mustWatch(t, dir, nil, tolerant)
	if err := os.MkdirAll(filepath.Join(dir, "x/y/z"), 0o755); err != nil {
		t.Fatal(err)
	}
	next(t, w)
	write(t, filepath.Join(dir, "x/y/z/late.txt"), "1")
	b := next(t, w)
	if len(b.Changes) != 1 || !strings.HasSuffix(b.Changes[0].Path, "x/y/z/late.txt") {
		t.Fatalf("file in a new directory: %+v", b.Changes)
	}
	// Removed and recreated: still watched.
	if err := os.RemoveAll(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	next(t, w)
	write(t, filepath.Join(dir, "x/y/again.txt"), "1")
	b = next(t, w)
	found := false
	for _, c := range b.Changes {
		found = found || strings.HasSuffix(c.Path, "x/y/again.txt")
	}
	if !found {
		t.Fatalf("recreated directory: %+v", b.Changes)
	}
	write(t, filepath.Join(dir, "x/y/again2.txt"), "1")
	if b := next(t, w); len(b.Changes) != 1 {
		t.Fatalf("after recreate: %+v", b.Changes)
	}
}

func TestMatcher(t *testing.T) {
	root := t.TempDir()
	ctx := filepath.Join(root, "app")
	write(t, filepath.Join(ctx, ".dockerignore"), "node_modules\n*.pyc\n")
	write(t, filepath.Join(ctx, "app.Dockerfile.dockerignore"), "**/secret.txt\n")
	m, err := NewMatcher(filepath.Join(ctx, "src"), []string{"*.log", "cache/"}, nil, ctx, "app.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"src/main.go":              false,
		"src/debug.log":            true,
		"src/cache/x.bin":          true,
		"src/.git/HEAD":            true,
		"src/.main.go.swp":         true,
		"src/main.go~":             true,
		"src/#main.go#":            true,
		"src/4913":                 true,
		"src/secret.txt":           true,  // <Dockerfile>.dockerignore wins over .dockerignore
		"src/node_modules/x/y.js":  false, // .dockerignore is not read when the Dockerfile's own exists
		"src/___jb_tmp___":         true,
		"src/deep/dir/ok.txt":      false,
		"src/deep/dir/app.tmp.123": true,
	}
	for rel, want := range cases {
		if got := m.Ignored(filepath.Join(ctx, rel), false); got != want {
			t.Errorf("%s: ignored=%v, want %v", rel, got, want)
		}
	}
	inc, err := NewMatcher(root, nil, []string{"*.go"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if inc.Ignored(filepath.Join(root, "a.go"), false) || !inc.Ignored(filepath.Join(root, "a.txt"), false) || inc.Ignored(filepath.Join(root, "sub"), true) {
		t.Errorf("include rules")
	}
}

func TestLimitErrorNamesTheSysctl(t *testing.T) {
	err := limitOrErr(fmt.Errorf("add: %w", syscall.ENOSPC), "/src", 8192)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("%T %v", err, err)
	}
	if !strings.Contains(err.Error(), "fs.inotify.max_user_watches") || !strings.Contains(err.Error(), "sysctl") || !strings.Contains(err.Error(), "/src") {
		t.Errorf("message: %v", err)
	}
}
