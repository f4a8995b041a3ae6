package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ErrLockTimeout is returned when another devorch kept the project's lock
// longer than the caller would wait.
var ErrLockTimeout = errors.New("timed out waiting for the project lock")

// lockDir is where per-project lock files live.
func (e *Engine) lockDir() string {
	if e.LockDir != "" {
		return e.LockDir
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "devorch")
	}
	// os.Getuid is -1 on Windows, where the temp dir is per user anyway.
	if uid := os.Getuid(); uid >= 0 {
		return filepath.Join(os.TempDir(), fmt.Sprintf("devorch-%d", uid))
	}
	return filepath.Join(os.TempDir(), "devorch")
}

// Lock takes the project's lock, so that two devorch processes never both
// converge one project. When another process holds it, Lock reports that
// once and waits, up to timeout (0: wait as long as ctx allows).
//
// The lock is gofrs/flock's (flock(2) on Unix, LockFileEx on Windows): the
// kernel drops it when the process dies, so a killed devorch never leaves a
// stale lock. The holder's pid goes to a separate file because Windows
// forbids other handles to read or write a locked range of the lock file.
func (e *Engine) Lock(ctx context.Context, project string, timeout time.Duration) (unlock func(), err error) {
	dir := e.lockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, project+".lock")
	pidPath := filepath.Join(dir, project+".pid")
	fl := flock.New(path, flock.SetPermissions(0o600))
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	told := false
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			break
		}
		if !told {
			holder := "another devorch"
			if b, err := os.ReadFile(pidPath); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					holder = fmt.Sprintf("another devorch (pid %d)", pid)
				}
			}
			e.warn("%s is working on project %q; waiting for it to finish", holder, project)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, fmt.Errorf("project %q: %w after %s", project, ErrLockTimeout, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return func() {
		// The pid goes first, while the lock still keeps the next holder
		// from writing its own.
		_ = os.Remove(pidPath)
		_ = fl.Unlock()
	}, nil
}
