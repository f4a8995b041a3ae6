package engine

import (
	"context"
	"testing"
)

func TestSemBoundsAndRefusesACancelledContext(t *testing.T) {
	s := newSem(2)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := s.acquire(ctx); err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
	}
	full, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.acquire(full); err == nil {
		t.Fatal("a third acquire succeeded on a semaphore of 2")
	}
	s.release()
	// A slot is free, but the run was interrupted: no new call may start.
	// (A channel select picks at random between a free slot and a done
	// context; this must refuse every time.)
	for i := 0; i < 200; i++ {
		if err := s.acquire(full); err == nil {
			t.Fatalf("try %d: acquire succeeded with a cancelled context", i)
		}
	}
	if err := s.acquire(ctx); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}
