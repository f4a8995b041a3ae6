package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	return filepath.Join(os.TempDir(), fmt.Sprintf("devorch-%d", os.Getuid()))
}

// Lock takes the project's lock, so that two devorch processes never both
// converge one project. When another process holds it, Lock reports that
// once and waits, up to timeout (0: wait as long as ctx allows).
func (e *Engine) Lock(ctx context.Context, project string, timeout time.Duration) (unlock func(), err error) {
	dir := e.lockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, project+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			holder := "another devorch"
			if b, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					holder = fmt.Sprintf("another devorch (pid %d)", pid)
				}
			}
			e.warn("%s is working on project %q; waiting for it to finish", holder, project)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-deadline:
			f.Close()
			return nil, fmt.Errorf("project %q: %w after %s", project, ErrLockTimeout, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
