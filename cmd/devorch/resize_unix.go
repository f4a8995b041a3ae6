//go:build !windows

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// watchResize sends on resized (without blocking) whenever the terminal
// changes size, until stop is called. Unix says so with SIGWINCH.
func watchResize(_ func() (uint, uint), resized chan<- struct{}) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				select {
				case resized <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}
