package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two Lock calls in one process use two open files, which flock(2) and
// LockFileEx treat as two holders: this is what two devorch processes see.
func TestLockExcludesASecondHolderAndNamesIt(t *testing.T) {
	var mu sync.Mutex
	var warnings []string
	e := &Engine{LockDir: t.TempDir(), Sink: func(ev Event) {
		if ev.Kind == KindWarning {
			mu.Lock()
			warnings = append(warnings, ev.Detail)
			mu.Unlock()
		}
	}}
	ctx := context.Background()
	unlock, err := e.Lock(ctx, "dvt-lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Lock(ctx, "dvt-lock", 100*time.Millisecond)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock while held: want ErrLockTimeout, got %v", err)
	}
	mu.Lock()
	got := strings.Join(warnings, "\n")
	mu.Unlock()
	if want := fmt.Sprintf("(pid %d) is working on project \"dvt-lock\"", os.Getpid()); !strings.Contains(got, want) {
		t.Errorf("warning %q does not contain %q", got, want)
	}
	// Another project is not blocked.
	other, err := e.Lock(ctx, "dvt-other", 100*time.Millisecond)
	if err != nil {
		t.Fatalf("lock of another project: %v", err)
	}
	other()

	// A waiter gets the lock once the holder lets go.
	got2 := make(chan error, 1)
	go func() {
		u, err := e.Lock(ctx, "dvt-lock", time.Minute)
		if err == nil {
			u()
		}
		got2 <- err
	}()
	unlock()
	select {
	case err := <-got2:
		if err != nil {
			t.Fatalf("waiter after unlock: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("waiter never got the lock after unlock")
	}
}
