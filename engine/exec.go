package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"
)

// Streams connect an interactive command (exec, run) to the caller's
// terminal or pipes. The caller puts a terminal in raw mode; the engine
// only copies bytes and forwards size changes.
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

// ExecOptions are `devorch exec`'s choices.
type ExecOptions struct {
	Service    string
	Index      int // replica, default 1
	Cmd        []string
	User       string
	WorkDir    string
	Env        []string
	Privileged bool
	Detach     bool
}

// findReplica returns the running container of a service's replica.
func (e *Engine) findReplica(ctx context.Context, project, service string, index int) (*Container, error) {
	if index <= 0 {
		index = 1
	}
	cs, err := e.list(ctx, project, listOptions{all: true, skipOneOffs: true, services: []string{service}})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("service %q is not running: it has no container", service)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Replica < cs[j].Replica })
	for i := range cs {
		if cs[i].Replica == index {
			if !cs[i].Running() {
				return nil, fmt.Errorf("container %s is not running (%s)", cs[i].Name, cs[i].Status)
			}
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("service %q has no replica %d", service, index)
}

// Exec runs a command in a running container of a service and returns its
// exit code.
func (e *Engine) Exec(ctx context.Context, project string, o ExecOptions, st Streams) (int, error) {
	c, err := e.findReplica(ctx, project, o.Service, o.Index)
	if err != nil {
		return 1, err
	}
	if len(o.Cmd) == 0 {
		return 1, errors.New("exec needs a command")
	}
	code, err := runExec(ctx, c.Host.Client, c.ID, execRequest{
		cmd: o.Cmd, user: o.User, workDir: o.WorkDir, env: o.Env, privileged: o.Privileged,
		streams: st, detach: o.Detach,
	})
	// A refused Docker call names the container; a broken stream is
	// reported as it is.
	if errors.As(err, new(execCallError)) {
		err = fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	return code, err
}

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
