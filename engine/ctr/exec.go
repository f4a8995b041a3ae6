package ctr

import (
	"context"
	"errors"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
)

// ExecAPI is what running a command in a container needs of a Docker
// client.
type ExecAPI interface {
	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecStart(ctx context.Context, execID string, options container.ExecStartOptions) error
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
}

// ExecRequest is one command to run in a container.
type ExecRequest struct {
	Cmd        []string
	User       string
	WorkDir    string
	Env        []string
	Privileged bool
	// Streams takes the output (a nil writer discards it) and gives stdin
	// (In) and, with TTY, a terminal and its size.
	Streams Streams
	// Detach starts the command and returns at once, with code 0.
	Detach bool
	// Timeout, when set, bounds the Docker calls from create to inspect,
	// not the wait for the output: a command that outlives it is still
	// waited for (Docker cannot kill an exec), and then its inspect fails.
	Timeout time.Duration
	// MustExit makes a command still running when its output ended an
	// error instead of an exit code.
	MustExit bool
}

// ExecCallError is a Docker call of an exec that failed (create, start,
// attach or inspect), as opposed to its output stream breaking. Its text is
// the call's error.
type ExecCallError struct{ Err error }

func (e ExecCallError) Error() string { return e.Err.Error() }
func (e ExecCallError) Unwrap() error { return e.Err }

// Exec creates, starts, streams and inspects one exec and returns its
// exit code. When the command never ran (create, attach or start failed)
// the code is 126, as a shell reports a command it cannot run; when its
// output or state could not be read the code is 1.
func Exec(ctx context.Context, api ExecAPI, containerID string, r ExecRequest) (int, error) {
	callCtx := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	st := r.Streams
	cfg := container.ExecOptions{
		User: r.User, Privileged: r.Privileged, Tty: st.TTY, Env: r.Env, WorkingDir: r.WorkDir, Cmd: r.Cmd,
		AttachStdin: st.In != nil && !r.Detach, AttachStdout: !r.Detach, AttachStderr: !r.Detach,
	}
	if st.TTY && st.Size != nil {
		h, w := st.Size()
		cfg.ConsoleSize = &[2]uint{h, w}
	}
	created, err := api.ContainerExecCreate(callCtx, containerID, cfg)
	if err != nil {
		return 126, ExecCallError{err}
	}
	if r.Detach {
		if err := api.ContainerExecStart(callCtx, created.ID, container.ExecStartOptions{Detach: true}); err != nil {
			return 126, ExecCallError{err}
		}
		return 0, nil
	}
	resp, err := api.ContainerExecAttach(callCtx, created.ID, container.ExecAttachOptions{Tty: st.TTY, ConsoleSize: cfg.ConsoleSize})
	if err != nil {
		return 126, ExecCallError{err}
	}
	if st.TTY && st.Resized != nil && st.Size != nil {
		go forwardResize(ctx, st, func(h, w uint) {
			_ = api.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: h, Width: w})
		})
	}
	err = pipe(ctx, resp, st, cfg.AttachStdin)
	resp.Close()
	if err != nil {
		return 1, err
	}
	insp, err := api.ContainerExecInspect(callCtx, created.ID)
	if err != nil {
		return 1, ExecCallError{err}
	}
	if r.MustExit && insp.Running {
		return 1, errors.New("exec still running")
	}
	return insp.ExitCode, nil
}
