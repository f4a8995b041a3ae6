package logstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/devorch/devorch/engine/plan"
)

// Stream reads one container's logs with o through api and calls line for
// each line with its stream ("stdout" or "stderr"; a TTY's output is all
// stdout) and its text, as Docker wrote it (with its timestamp when o asks
// for one). It returns when the logs end or ctx does.
func Stream(ctx context.Context, api API, c plan.Container, o container.LogsOptions, line func(stream, text string)) error {
	insp, err := api.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", c.Name, err)
	}
	rc, err := api.ContainerLogs(ctx, c.ID, o)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", c.Name, err)
	}
	defer rc.Close()
	emit := func(stream string) io.WriteCloser {
		return NewLineWriter(func(text string) { line(stream, text) })
	}
	stdout, stderr := emit("stdout"), emit("stderr")
	defer stdout.Close()
	defer stderr.Close()
	if insp.Config != nil && insp.Config.Tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil && err != io.EOF {
		return fmt.Errorf("logs of container %s: %w", c.Name, err)
	}
	return nil
}

// Lines streams c's logs with o (Timestamps set) from its host until ctx
// ends or the stream does, calling line for each line with its stream,
// Docker's timestamp and its text: the monitor's Logs.
func Lines(ctx context.Context, c plan.Container, o container.LogsOptions, line func(stream string, ts time.Time, text string)) error {
	return Stream(ctx, c.Host.Client, c, o, func(stream, l string) {
		ts, text := SplitTimestamp(l)
		line(stream, ts, text)
	})
}

// lineWriter calls fn for every complete line written to it; Close flushes
// a last partial line.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func(string)
}

// NewLineWriter returns a writer that calls fn for every complete line
// written to it (without its line ending); Close flushes a last partial
// line. Writes may come from several goroutines.
func NewLineWriter(fn func(string)) io.WriteCloser { return &lineWriter{fn: fn} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf.Next(i + 1))
		w.fn(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.fn(strings.TrimRight(w.buf.String(), "\r\n"))
		w.buf.Reset()
	}
	return nil
}

// SplitTimestamp splits a line Docker stamped (Timestamps: true) into its
// time and its text; a line without a stamp is dated now.
func SplitTimestamp(line string) (time.Time, string) {
	if i := strings.IndexByte(line, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, line[:i]); err == nil {
			return t, line[i+1:]
		}
	}
	return time.Now(), line
}
