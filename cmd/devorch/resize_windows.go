//go:build windows

package main

import "time"

// watchResize sends on resized (without blocking) whenever the console
// changes size, until stop is called. Windows has no SIGWINCH, so it polls
// the size, as the docker CLI does there (every 250 ms).
func watchResize(size func() (uint, uint), resized chan<- struct{}) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		h, w := size()
		for {
			select {
			case <-t.C:
				if nh, nw := size(); nh != h || nw != w {
					h, w = nh, nw
					select {
					case resized <- struct{}{}:
					default:
					}
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
