package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// A person at a terminal stops a run with Ctrl-C (SIGINT); CI runners,
// `timeout` and process supervisors send SIGTERM. devorch treats both
// alike — the first one stops what the run started, gracefully — and exits
// as a shell reports a process ended by the signal: 128 + its number, 130
// for SIGINT and 143 for SIGTERM.

// stopSignals are the signals that end a run.
func stopSignals() []os.Signal { return []os.Signal{os.Interrupt, syscall.SIGTERM} }

// caughtSignal remembers the first stop signal a run received.
type caughtSignal struct {
	mu  sync.Mutex
	sig os.Signal
}

func (c *caughtSignal) set(sig os.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sig == nil {
		c.sig = sig
	}
}

// get returns the first signal caught, or nil.
func (c *caughtSignal) get() os.Signal {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sig
}

// signalContext is signal.NotifyContext that also records which signal
// cancelled the context. Until stop is called, later signals are caught
// too (and ignored here), so a second Ctrl-C never kills devorch in the
// middle of the stop the first one asked for; commands that act on a
// second signal listen for it themselves.
func signalContext(parent context.Context) (context.Context, func(), *caughtSignal) {
	ctx, cancel := context.WithCancel(parent)
	caught := &caughtSignal{}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals()...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				caught.set(sig)
				cancel()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
	return ctx, stop, caught
}

// signalExitCode is the exit code of a run ended by sig: 128 + its number.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitInterrupted
}
