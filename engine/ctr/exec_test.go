package ctr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// fakeExec is a Docker client's exec calls: it records what it was asked
// and answers from its fields.
type fakeExec struct {
	createErr, startErr, attachErr, inspectErr error
	// output writes the command's output to the attached stream, then the
	// stream ends.
	output  func(w net.Conn)
	inspect container.ExecInspect

	created  container.ExecOptions
	started  *container.ExecStartOptions
	attached *container.ExecAttachOptions
	// callDeadline records whether each call's context had a deadline, and
	// inspectCtxErr the inspect context's error when it was called.
	callDeadline  []bool
	inspectCtxErr error
}

func (f *fakeExec) note(ctx context.Context) {
	_, ok := ctx.Deadline()
	f.callDeadline = append(f.callDeadline, ok)
}

func (f *fakeExec) ContainerExecCreate(ctx context.Context, _ string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	f.note(ctx)
	f.created = o
	return container.ExecCreateResponse{ID: "exec1"}, f.createErr
}

func (f *fakeExec) ContainerExecStart(ctx context.Context, _ string, o container.ExecStartOptions) error {
	f.note(ctx)
	f.started = &o
	return f.startErr
}

func (f *fakeExec) ContainerExecAttach(ctx context.Context, _ string, o container.ExecAttachOptions) (types.HijackedResponse, error) {
	f.note(ctx)
	f.attached = &o
	if f.attachErr != nil {
		return types.HijackedResponse{}, f.attachErr
	}
	client, server := net.Pipe()
	go func() {
		if f.output != nil {
			f.output(server)
		}
		server.Close()
	}()
	return types.HijackedResponse{Conn: client, Reader: bufio.NewReader(client)}, nil
}

func (f *fakeExec) ContainerExecResize(context.Context, string, container.ResizeOptions) error {
	return nil
}

func (f *fakeExec) ContainerExecInspect(ctx context.Context, _ string) (container.ExecInspect, error) {
	f.note(ctx)
	f.inspectCtxErr = ctx.Err()
	if f.inspectErr != nil {
		return container.ExecInspect{}, f.inspectErr
	}
	if err := ctx.Err(); err != nil {
		return container.ExecInspect{}, err
	}
	return f.inspect, nil
}

// muxed writes out and errOut as Docker multiplexes a non-TTY exec's output.
func muxed(out, errOut string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = stdcopy.NewStdWriter(c, stdcopy.Stdout).Write([]byte(out))
		_, _ = stdcopy.NewStdWriter(c, stdcopy.Stderr).Write([]byte(errOut))
	}
}

func TestExecCapturesOutputAndExitCode(t *testing.T) {
	f := &fakeExec{output: muxed("out\n", "err\n"), inspect: container.ExecInspect{ExitCode: 3}}
	var out, errOut bytes.Buffer
	code, err := Exec(context.Background(), f, "c1", ExecRequest{
		Cmd: []string{"sh", "-c", "x"}, User: "u", WorkDir: "/w", Env: []string{"A=1"}, Privileged: true,
		Streams: Streams{Out: &out, Err: &errOut},
	})
	if err != nil || code != 3 {
		t.Fatalf("Exec = %d, %v; want 3, nil", code, err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Errorf("output %q / %q, want demultiplexed \"out\\n\" / \"err\\n\"", out.String(), errOut.String())
	}
	want := container.ExecOptions{Cmd: []string{"sh", "-c", "x"}, User: "u", WorkingDir: "/w", Env: []string{"A=1"}, Privileged: true,
		AttachStdout: true, AttachStderr: true}
	if !reflect.DeepEqual(f.created, want) {
		t.Errorf("created with %+v, want %+v", f.created, want)
	}
	if f.started != nil {
		t.Error("an attached exec was also started detached")
	}
	if !reflect.DeepEqual(f.callDeadline, []bool{false, false, false}) {
		t.Errorf("calls had deadlines %v; want create, attach and inspect, with no deadline when no timeout is set", f.callDeadline)
	}
}

func TestExecFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		f        *fakeExec
		req      ExecRequest
		wantCode int
		wantCall bool // the error is a refused Docker call
		wantMsg  string
	}{
		{name: "create refused: never ran", f: &fakeExec{createErr: boom}, wantCode: 126, wantCall: true, wantMsg: "boom"},
		{name: "attach refused: never ran", f: &fakeExec{attachErr: boom}, wantCode: 126, wantCall: true, wantMsg: "boom"},
		{name: "start refused: never ran", f: &fakeExec{startErr: boom}, req: ExecRequest{Detach: true}, wantCode: 126, wantCall: true, wantMsg: "boom"},
		{name: "inspect refused", f: &fakeExec{inspectErr: boom}, wantCode: 1, wantCall: true, wantMsg: "boom"},
		{name: "still running where it must have exited", f: &fakeExec{inspect: container.ExecInspect{Running: true}}, req: ExecRequest{MustExit: true},
			wantCode: 1, wantMsg: "exec still running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := Exec(context.Background(), tt.f, "c1", tt.req)
			if err == nil || err.Error() != tt.wantMsg || code != tt.wantCode {
				t.Fatalf("Exec = %d, %v; want %d, %q", code, err, tt.wantCode, tt.wantMsg)
			}
			if got := errors.As(err, new(ExecCallError)); got != tt.wantCall {
				t.Errorf("ExecCallError = %v, want %v", got, tt.wantCall)
			}
			if tt.wantCall && !errors.Is(err, boom) {
				t.Errorf("%v does not wrap the call's error", err)
			}
		})
	}
}

func TestExecStillRunningIsAnExitCodeUnlessItMustHaveExited(t *testing.T) {
	f := &fakeExec{inspect: container.ExecInspect{Running: true}}
	if code, err := Exec(context.Background(), f, "c1", ExecRequest{}); err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v; want 0, nil", code, err)
	}
}

func TestExecDetached(t *testing.T) {
	f := &fakeExec{}
	code, err := Exec(context.Background(), f, "c1", ExecRequest{Cmd: []string{"x"}, Detach: true, Streams: Streams{In: bytes.NewReader(nil)}})
	if err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v; want 0, nil", code, err)
	}
	if f.started == nil || !f.started.Detach || f.attached != nil {
		t.Errorf("started %+v, attached %+v; want a detached start and no attach", f.started, f.attached)
	}
	if f.created.AttachStdin || f.created.AttachStdout || f.created.AttachStderr {
		t.Errorf("a detached exec attaches: %+v", f.created)
	}
}

// A broken stream is not a refused call: engine.Exec reports it without
// naming the container.
func TestExecStreamEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeExec{output: func(net.Conn) { cancel(); time.Sleep(time.Second) }}
	code, err := Exec(ctx, f, "c1", ExecRequest{})
	if !errors.Is(err, context.Canceled) || code != 1 || errors.As(err, new(ExecCallError)) {
		t.Fatalf("Exec = %d, %v; want 1 and the context's error as it is", code, err)
	}
}

// The timeout bounds the calls, not the command: output that comes after it
// is still read to the end, and the inspect then fails.
func TestExecTimeoutBoundsTheCalls(t *testing.T) {
	f := &fakeExec{output: func(c net.Conn) {
		time.Sleep(50 * time.Millisecond)
		muxed("late", "")(c)
	}}
	var out bytes.Buffer
	code, err := Exec(context.Background(), f, "c1", ExecRequest{Timeout: 10 * time.Millisecond, Streams: Streams{Out: &out}})
	if !errors.Is(err, context.DeadlineExceeded) || code != 1 {
		t.Fatalf("Exec = %d, %v; want 1 and the deadline", code, err)
	}
	if out.String() != "late" {
		t.Errorf("output %q, want the late output read to its end", out.String())
	}
	for i, ok := range f.callDeadline {
		if !ok {
			t.Errorf("call %d had no deadline", i)
		}
	}
}

func TestExecTTY(t *testing.T) {
	f := &fakeExec{output: func(c net.Conn) { _, _ = c.Write([]byte("raw")) }}
	var out bytes.Buffer
	_, err := Exec(context.Background(), f, "c1", ExecRequest{Streams: Streams{Out: &out, TTY: true, Size: func() (uint, uint) { return 24, 80 }}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.created.Tty || f.created.ConsoleSize == nil || *f.created.ConsoleSize != [2]uint{24, 80} {
		t.Errorf("created %+v, want a 24x80 TTY", f.created)
	}
	if f.attached == nil || !f.attached.Tty || f.attached.ConsoleSize == nil {
		t.Errorf("attached %+v, want TTY with the console size", f.attached)
	}
	if out.String() != "raw" {
		t.Errorf("TTY output %q, want it copied as is", out.String())
	}
}
