package engine

import (
	"context"
	"errors"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
)

// execAPI is what running a command in a container needs of a Docker
// client.
type execAPI interface {
	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecStart(ctx context.Context, execID string, options container.ExecStartOptions) error
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
}

// execRequest is one command to run in a container.
type execRequest struct {
	cmd        []string
	user       string
	workDir    string
	env        []string
	privileged bool
	// streams takes the output (a nil writer discards it) and gives stdin
	// (In) and, with TTY, a terminal and its size.
	streams Streams
	// detach starts the command and returns at once, with code 0.
	detach bool
	// timeout, when set, bounds the Docker calls from create to inspect,
	// not the wait for the output: a command that outlives it is still
	// waited for (Docker cannot kill an exec), and then its inspect fails.
	timeout time.Duration
	// mustExit makes a command still running when its output ended an
	// error instead of an exit code.
	mustExit bool
}

// execCallError is a Docker call of an exec that failed (create, start,
// attach or inspect), as opposed to its output stream breaking. Its text is
// the call's error.
type execCallError struct{ err error }

func (e execCallError) Error() string { return e.err.Error() }
func (e execCallError) Unwrap() error { return e.err }

// runExec creates, starts, streams and inspects one exec and returns its
// exit code. When the command never ran (create, attach or start failed)
// the code is 126, as a shell reports a command it cannot run; when its
// output or state could not be read the code is 1.
func runExec(ctx context.Context, cli execAPI, containerID string, r execRequest) (int, error) {
	callCtx := ctx
	if r.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	st := r.streams
	cfg := container.ExecOptions{
		User: r.user, Privileged: r.privileged, Tty: st.TTY, Env: r.env, WorkingDir: r.workDir, Cmd: r.cmd,
		AttachStdin: st.In != nil && !r.detach, AttachStdout: !r.detach, AttachStderr: !r.detach,
	}
	if st.TTY && st.Size != nil {
		h, w := st.Size()
		cfg.ConsoleSize = &[2]uint{h, w}
	}
	created, err := cli.ContainerExecCreate(callCtx, containerID, cfg)
	if err != nil {
		return 126, execCallError{err}
	}
	if r.detach {
		if err := cli.ContainerExecStart(callCtx, created.ID, container.ExecStartOptions{Detach: true}); err != nil {
			return 126, execCallError{err}
		}
		return 0, nil
	}
	resp, err := cli.ContainerExecAttach(callCtx, created.ID, container.ExecAttachOptions{Tty: st.TTY, ConsoleSize: cfg.ConsoleSize})
	if err != nil {
		return 126, execCallError{err}
	}
	if st.TTY && st.Resized != nil && st.Size != nil {
		go forwardResize(ctx, st, func(h, w uint) {
			_ = cli.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: h, Width: w})
		})
	}
	err = pipe(ctx, resp, st, cfg.AttachStdin)
	resp.Close()
	if err != nil {
		return 1, err
	}
	insp, err := cli.ContainerExecInspect(callCtx, created.ID)
	if err != nil {
		return 1, execCallError{err}
	}
	if r.mustExit && insp.Running {
		return 1, errors.New("exec still running")
	}
	return insp.ExitCode, nil
}
