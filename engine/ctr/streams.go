package ctr

import (
	"context"
	"errors"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"
)

// Streams connect an interactive command (exec, run) to the caller's
// terminal or pipes. The caller puts a terminal in raw mode; Exec and
// RunAttached only copy bytes and forward size changes.
type Streams struct {
	In  io.Reader // nil: no stdin
	Out io.Writer
	Err io.Writer
	// TTY allocates a pseudo-terminal in the container.
	TTY bool
	// Size returns the terminal's height and width (nil: unknown).
	Size func() (uint, uint)
	// Resized delivers a value whenever the terminal is resized.
	Resized <-chan struct{}
}

// forwardResize passes each terminal resize on to resize until ctx ends
// or Resized closes.
func forwardResize(ctx context.Context, st Streams, resize func(h, w uint)) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-st.Resized:
			if !ok {
				return
			}
			h, w := st.Size()
			resize(h, w)
		}
	}
}

// pipe copies between a hijacked connection and the streams until the
// output ends.
func pipe(ctx context.Context, resp types.HijackedResponse, st Streams, stdin bool) error {
	outDone := make(chan error, 1)
	go func() {
		var err error
		out, errw := st.Out, st.Err
		if out == nil {
			out = io.Discard
		}
		if errw == nil {
			errw = io.Discard
		}
		if st.TTY {
			_, err = io.Copy(out, resp.Reader)
		} else {
			_, err = stdcopy.StdCopy(out, errw, resp.Reader)
		}
		outDone <- err
	}()
	if stdin && st.In != nil {
		go func() {
			_, _ = io.Copy(resp.Conn, st.In)
			_ = resp.CloseWrite()
		}()
	}
	select {
	case err := <-outDone:
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
