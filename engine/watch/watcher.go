// Package watch owns hot reload's file side: it turns the services'
// develop.watch sections into rules, watches directory trees recursively
// with fsnotify (directories created later included), drops ignored paths
// (.dockerignore, the rule's ignore, .git/, editor swap and temp files),
// groups events into batches with an adaptive settle window, so that one
// save becomes one change within milliseconds, an editor's atomic save
// becomes one change to the real file (never a delete), and a burst of
// thousands of files becomes one batch, and packs a sync rule's changes
// into one tar stream. It also owns hot reload's container side, as plain
// functions over API (copy in and exec, what engine/ctr gives): it splits
// a batch into each service's jobs, least disturbing first (Jobs), copies
// the changes into the running replicas and deletes the deleted ones with
// rm (SyncInto), runs sync+exec hooks (ExecHook) and lists an initial
// sync's files (InitialChanges). The engine lists the replicas, restarts
// and rebuilds, and reports.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Change is one path in a batch, with its state when the batch closed.
type Change struct {
	Path    string // absolute
	Deleted bool
	Dir     bool
	Mode    fs.FileMode
}

// Batch is every change that settled together.
type Batch struct {
	Changes []Change
	Started time.Time // first event
	Closed  time.Time
	Events  int
}

// Options tune the batching.
type Options struct {
	// Settle is the quiet time that closes a batch (default 8ms); it
	// grows with the number of events in the batch, up to MaxSettle
	// (default 150ms), so slow bursts still land in one batch.
	Settle    time.Duration
	MaxSettle time.Duration
	// Cap closes a batch that keeps receiving events (default 5s).
	Cap time.Duration
	// Ignore reports whether a path (absolute) is ignored.
	Ignore func(path string, dir bool) bool
}

// Watcher watches trees and delivers batches.
type Watcher struct {
	fw      *fsnotify.Watcher
	o       Options
	roots   []string
	batches chan Batch
	errs    chan error
	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	dirs    map[string]bool
}

// LimitError says the inotify watch limit is too low for the tree.
type LimitError struct {
	Path    string
	Limit   string
	Watched int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("cannot watch %s: the tree needs more inotify watches than fs.inotify.max_user_watches (%s) allows (%d directories watched so far); raise it, e.g. `sysctl fs.inotify.max_user_watches=524288` (and fs.inotify.max_user_instances if several watchers run)", e.Path, e.Limit, e.Watched)
}

// New starts watching roots (directories or files).
func New(roots []string, o Options) (*Watcher, error) {
	o = o.withDefaults()
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, limitOrErr(err, strings.Join(roots, ", "), 0)
	}
	w := &Watcher{fw: fw, o: o, batches: make(chan Batch, 16), errs: make(chan error, 4), done: make(chan struct{}), dirs: map[string]bool{}}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			fw.Close()
			return nil, err
		}
		w.roots = append(w.roots, abs)
		fi, err := os.Stat(abs)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch %s: %w", abs, err)
		}
		if fi.IsDir() {
			if _, err := w.addTree(abs); err != nil {
				fw.Close()
				return nil, err
			}
		} else if err := w.addDir(filepath.Dir(abs)); err != nil {
			fw.Close()
			return nil, err
		}
	}
	go w.run()
	return w, nil
}

// Batches delivers settled batches.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Errors delivers watch errors (inotify limits, overflows).
func (w *Watcher) Errors() <-chan error { return w.errs }

// Watched is the number of directories watched.
func (w *Watcher) Watched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// Close stops watching.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	err := w.fw.Close()
	<-w.done
	return err
}

func (w *Watcher) addDir(dir string) error {
	w.mu.Lock()
	if w.dirs[dir] {
		w.mu.Unlock()
		return nil
	}
	n := len(w.dirs)
	w.mu.Unlock()
	if err := w.fw.Add(dir); err != nil {
		return limitOrErr(err, dir, n)
	}
	w.mu.Lock()
	w.dirs[dir] = true
	w.mu.Unlock()
	return nil
}

// addTree watches dir and every directory below it that is not ignored,
// and returns the files found (for directories created after the start,
// whose files may predate the watch).
func (w *Watcher) addTree(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p != dir && w.o.Ignore(p, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return w.addDir(p)
		}
		files = append(files, p)
		return nil
	})
	return files, err
}

func limitOrErr(err error, path string, n int) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) || strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "too many open files") {
		limit := "?"
		if b, rerr := os.ReadFile("/proc/sys/fs/inotify/max_user_watches"); rerr == nil {
			limit = strings.TrimSpace(string(b))
		}
		return &LimitError{Path: path, Limit: limit, Watched: n}
	}
	return fmt.Errorf("watch %s: %w", path, err)
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.Settle <= 0 {
		o.Settle = 8 * time.Millisecond
	}
	if o.MaxSettle <= 0 {
		o.MaxSettle = 150 * time.Millisecond
	}
	if o.Cap <= 0 {
		o.Cap = 5 * time.Second
	}
	if o.Ignore == nil {
		o.Ignore = func(string, bool) bool { return false }
	}
	return o
}

// settle is the quiet time that closes a batch of count events: it grows
// by ¼ ms per event, so that a slow burst stays one batch. A batch in which
// a path went away (removed or renamed) waits the whole MaxSettle: an
// editor's atomic save renames the old file away and writes the new one
// in two steps, and an editor descheduled between them on a busy machine
// must not turn one save into a delete followed by a create.
func (o Options) settle(count int, vanished bool) time.Duration {
	if vanished {
		return o.MaxSettle
	}
	d := o.Settle + time.Duration(count)*time.Millisecond/4
	if d > o.MaxSettle {
		d = o.MaxSettle
	}
	return d
}

// run collects events into batches: a batch closes when no event arrived
// for the settle window, which grows with the batch's size, or at the cap.
func (w *Watcher) run() {
	defer close(w.done)
	defer close(w.batches)
	var (
		touched = map[string]bool{}
		first   time.Time
		last    time.Time
		count   int
		gone    bool // a path of this batch was removed or renamed
		timer   *time.Timer
		timerC  <-chan time.Time
	)
	arm := func() {
		d := w.o.settle(count, gone)
		if rest := w.o.Cap - time.Since(first); rest < d {
			d = rest
		}
		if d < 0 {
			d = 0
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		timerC = timer.C
	}
	flush := func() {
		if len(touched) == 0 {
			return
		}
		b := Batch{Started: first, Closed: time.Now(), Events: count}
		paths := make([]string, 0, len(touched))
		for p := range touched {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fi, err := os.Lstat(p)
			switch {
			case err != nil:
				b.Changes = append(b.Changes, Change{Path: p, Deleted: true})
			case fi.IsDir():
				b.Changes = append(b.Changes, Change{Path: p, Dir: true, Mode: fi.Mode()})
			default:
				b.Changes = append(b.Changes, Change{Path: p, Mode: fi.Mode()})
			}
		}
		touched = map[string]bool{}
		count = 0
		gone = false
		timerC = nil
		w.batches <- b
	}
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				flush()
				return
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
				continue // attribute noise (editors, indexers)
			}
			dir := false
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					dir = true
				}
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				w.forget(ev.Name)
			}
			if w.o.Ignore(ev.Name, dir) {
				continue
			}
			now := time.Now()
			if len(touched) == 0 {
				first = now
			}
			last = now
			_ = last
			count++
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				gone = true
			}
			touched[ev.Name] = true
			if dir {
				// A new directory: watch it, and take the files already
				// in it (created before the watch existed).
				files, err := w.addTree(ev.Name)
				if err != nil {
					w.report(err)
				}
				for _, f := range files {
					touched[f] = true
				}
			}
			arm()
		case err, ok := <-w.fw.Errors:
			if !ok {
				flush()
				return
			}
			w.report(err)
		case <-timerC:
			flush()
		}
	}
}

// forget drops the watches of a removed or renamed directory tree (inotify
// drops them itself), so the same path can be watched again if recreated.
func (w *Watcher) forget(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirs[path] {
		return
	}
	prefix := path + string(filepath.Separator)
	for d := range w.dirs {
		if d == path || strings.HasPrefix(d, prefix) {
			delete(w.dirs, d)
			_ = w.fw.Remove(d)
		}
	}
}

func (w *Watcher) report(err error) {
	select {
	case w.errs <- err:
	default:
	}
}
