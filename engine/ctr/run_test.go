package ctr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

func TestAwaitExit(t *testing.T) {
	tests := []struct {
		name     string
		wait     *container.WaitResponse
		err      error
		cancel   bool
		wantCode int
		wantErr  string
	}{
		{name: "exit code", wait: &container.WaitResponse{StatusCode: 3}, wantCode: 3},
		{name: "wait error in the answer", wait: &container.WaitResponse{Error: &container.WaitExitError{Message: "boom"}}, wantCode: 1, wantErr: "wait for c: boom"},
		{name: "wait call error", err: errors.New("gone"), wantCode: 1, wantErr: "wait for c: gone"},
		{name: "interrupted", cancel: true, wantCode: 130, wantErr: context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitC, errC := make(chan container.WaitResponse, 1), make(chan error, 1)
			if tt.wait != nil {
				waitC <- *tt.wait
			}
			if tt.err != nil {
				errC <- tt.err
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			code, err := awaitExit(ctx, "c", waitC, errC)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// fakeRun is a Docker client's calls for a one-off container: it records
// them in order and answers from its fields.
type fakeRun struct {
	attachErr, startErr error
	output              string // written to stdout of the attached stream
	exit                int64
	calls               []string
}

func (f *fakeRun) ContainerAttach(_ context.Context, _ string, o container.AttachOptions) (types.HijackedResponse, error) {
	f.calls = append(f.calls, "attach")
	if f.attachErr != nil {
		return types.HijackedResponse{}, f.attachErr
	}
	client, server := net.Pipe()
	go func() {
		_, _ = stdcopy.NewStdWriter(server, stdcopy.Stdout).Write([]byte(f.output))
		server.Close()
	}()
	return types.HijackedResponse{Conn: client, Reader: bufio.NewReader(client)}, nil
}

func (f *fakeRun) ContainerWait(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	f.calls = append(f.calls, "wait")
	w := make(chan container.WaitResponse, 1)
	w <- container.WaitResponse{StatusCode: f.exit}
	return w, make(chan error)
}

func (f *fakeRun) ContainerStart(context.Context, string, container.StartOptions) error {
	f.calls = append(f.calls, "start")
	return f.startErr
}

func (f *fakeRun) ContainerResize(context.Context, string, container.ResizeOptions) error {
	return nil
}

func (f *fakeRun) ContainerRemove(_ context.Context, _ string, o container.RemoveOptions) error {
	f.calls = append(f.calls, "remove")
	if !o.Force || !o.RemoveVolumes {
		return errors.New("remove without force or volumes")
	}
	return nil
}

func TestRunAttached(t *testing.T) {
	tests := []struct {
		name      string
		f         fakeRun
		remove    bool
		wantCode  int
		wantErr   string
		wantCalls []string
		wantOut   string
	}{
		{name: "attach and wait before start, then the exit code", f: fakeRun{output: "hi\n", exit: 4},
			wantCode: 4, wantCalls: []string{"attach", "wait", "start"}, wantOut: "hi\n"},
		{name: "--rm removes after the exit", f: fakeRun{exit: 0}, remove: true,
			wantCalls: []string{"attach", "wait", "start", "remove"}},
		{name: "attach fails", f: fakeRun{attachErr: errors.New("no")}, remove: true,
			wantCode: 1, wantErr: "attach to c: no", wantCalls: []string{"attach", "remove"}},
		{name: "start fails", f: fakeRun{startErr: errors.New("bad")}, remove: true,
			wantCode: 1, wantErr: "start container c: bad", wantCalls: []string{"attach", "wait", "start", "remove"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := RunAttached(context.Background(), &tt.f, "id", "c", false, tt.remove, Streams{Out: &out})
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(tt.f.calls, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", tt.f.calls, tt.wantCalls)
			}
			if out.String() != tt.wantOut {
				t.Errorf("output = %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestStartDetached(t *testing.T) {
	var out bytes.Buffer
	f := &fakeRun{}
	if code, err := StartDetached(context.Background(), f, "id", "proj-web-run-1", Streams{Out: &out}); code != 0 || err != nil {
		t.Fatalf("code %d, error %v", code, err)
	}
	if out.String() != "proj-web-run-1\n" || !reflect.DeepEqual(f.calls, []string{"start"}) {
		t.Errorf("output %q, calls %q", out.String(), f.calls)
	}
	f = &fakeRun{startErr: errors.New("bad")}
	if code, err := StartDetached(context.Background(), f, "id", "c", Streams{}); code != 1 || err == nil || err.Error() != "start container c: bad" {
		t.Errorf("code %d, error %v", code, err)
	}
}
