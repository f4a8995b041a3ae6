package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/spec"
)

func runTestProject() *compose.Project {
	web := types.ServiceConfig{Name: "web", Restart: "always", ContainerName: "the-web"}
	web.Labels, web.Command = types.Labels{"team": "a"}, types.ShellCommand{"serve"}
	web.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080"}}
	web.Environment = types.MappingWithEquals{"KEEP": valPtr("1"), "OVER": valPtr("old")}
	web.Deploy = &types.DeployConfig{}
	web.DependsOn = types.DependsOnConfig{"db": {Condition: types.ServiceConditionStarted, Required: true}}
	db := types.ServiceConfig{Name: "db"}
	db.DependsOn = types.DependsOnConfig{"cache": {Condition: types.ServiceConditionStarted, Required: true}}
	return &compose.Project{Project: &types.Project{
		Name:     "proj",
		Services: types.Services{"web": web, "db": db, "cache": {Name: "cache"}},
		Volumes:  types.Volumes{"data": {}},
	}}
}

func TestRunService(t *testing.T) {
	p := runTestProject()
	tests := []struct {
		name    string
		o       RunOptions
		st      Streams
		check   func(t *testing.T, s types.ServiceConfig)
		wantErr string
	}{
		{name: "unknown service", o: RunOptions{Service: "nope"}, wantErr: `"nope"`},
		{name: "what belongs to the long-running service is dropped", o: RunOptions{Service: "web"},
			check: func(t *testing.T, s types.ServiceConfig) {
				if s.Restart != "" || s.Deploy != nil || s.ContainerName != "" || s.Ports != nil {
					t.Errorf("restart %q, deploy %v, container_name %q, ports %v: want all empty", s.Restart, s.Deploy, s.ContainerName, s.Ports)
				}
				if !reflect.DeepEqual(s.Command, types.ShellCommand{"serve"}) {
					t.Errorf("command = %q, want the service's", s.Command)
				}
			}},
		{name: "overrides", o: RunOptions{Service: "web", Cmd: []string{"sh"}, Entrypoint: &[]string{"/bin/x"}, User: "1000", WorkDir: "/w"},
			check: func(t *testing.T, s types.ServiceConfig) {
				if !reflect.DeepEqual(s.Command, types.ShellCommand{"sh"}) || !reflect.DeepEqual(s.Entrypoint, types.ShellCommand{"/bin/x"}) || s.User != "1000" || s.WorkingDir != "/w" {
					t.Errorf("command %q, entrypoint %q, user %q, workdir %q", s.Command, s.Entrypoint, s.User, s.WorkingDir)
				}
			}},
		{name: "-e sets, overrides and passes a bare key on", o: RunOptions{Service: "web", Env: []string{"OVER=new", "BARE", "E="}},
			check: func(t *testing.T, s types.ServiceConfig) {
				want := []string{"BARE", "E=", "KEEP=1", "OVER=new"}
				if got := spec.Env(s.Environment); !reflect.DeepEqual(got, want) {
					t.Errorf("env = %q, want %q", got, want)
				}
			}},
		{name: "--service-ports keeps the ports and -p adds", o: RunOptions{Service: "web", ServicePorts: true, Publish: []string{"9000:90"}},
			check: func(t *testing.T, s types.ServiceConfig) {
				if len(s.Ports) != 2 || s.Ports[0].Target != 80 || s.Ports[1].Target != 90 || s.Ports[1].Published != "9000" {
					t.Errorf("ports = %+v, want 8080:80 then 9000:90", s.Ports)
				}
			}},
		{name: "a bad -p", o: RunOptions{Service: "web", Publish: []string{"x:y:z:w"}}, wantErr: "-p x:y:z:w: "},
		{name: "-v bind and volume", o: RunOptions{Service: "web", Volumes: []string{"./src:/src:ro", "data:/data"}},
			check: func(t *testing.T, s types.ServiceConfig) {
				if len(s.Volumes) != 2 || s.Volumes[0].Type != types.VolumeTypeBind || !s.Volumes[0].ReadOnly || s.Volumes[1].Type != types.VolumeTypeVolume {
					t.Errorf("volumes = %+v", s.Volumes)
				}
			}},
		{name: "-v of an undeclared volume", o: RunOptions{Service: "web", Volumes: []string{"other:/x"}},
			wantErr: `-v other:/x: volume "other" is not declared in the top-level volumes`},
		{name: "stdin is open when given and attached", o: RunOptions{Service: "web"}, st: Streams{In: strings.NewReader(""), TTY: true},
			check: func(t *testing.T, s types.ServiceConfig) {
				if !s.StdinOpen || !s.Tty {
					t.Errorf("stdin_open %v, tty %v: want both", s.StdinOpen, s.Tty)
				}
			}},
		{name: "detached, stdin is closed", o: RunOptions{Service: "web", Detach: true}, st: Streams{In: strings.NewReader("")},
			check: func(t *testing.T, s types.ServiceConfig) {
				if s.StdinOpen {
					t.Error("stdin_open with --detach")
				}
			}},
		{name: "-l adds to the service's labels", o: RunOptions{Service: "web", Labels: map[string]string{"run": "yes"}},
			check: func(t *testing.T, s types.ServiceConfig) {
				if want := (types.Labels{"team": "a", "run": "yes"}); !reflect.DeepEqual(s.Labels, want) {
					t.Errorf("labels = %v, want %v", s.Labels, want)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := runService(p, tt.o, tt.st)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			tt.check(t, s)
		})
	}
	// The project's service is what it was: run's overrides are the
	// one-off container's only.
	if !reflect.DeepEqual(p.Services["web"], runTestProject().Services["web"]) {
		t.Errorf("runService changed the project's service: %+v", p.Services["web"])
	}
}

func TestWithService(t *testing.T) {
	p := runTestProject()
	s := p.Services["web"]
	s.User = "run"
	rp := withService(p, "web", s)
	if rp.Services["web"].User != "run" || rp.Name != "proj" || len(rp.Services) != 3 {
		t.Errorf("run project: user %q, name %q, %d services", rp.Services["web"].User, rp.Name, len(rp.Services))
	}
	if p.Services["web"].User != "" {
		t.Error("withService changed the project it copied")
	}
}

func TestRunDeps(t *testing.T) {
	p := runTestProject()
	tests := []struct {
		service string
		want    []string
	}{
		{"web", []string{"cache", "db"}},
		{"db", []string{"cache"}},
		{"cache", nil},
	}
	for _, tt := range tests {
		got := runDeps(p, tt.service)
		if len(got) > 1 {
			got = append([]string(nil), got...)
			// Order is compose's business; the set is run's.
			if got[0] > got[1] {
				got[0], got[1] = got[1], got[0]
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("runDeps(%s) = %q, want %q", tt.service, got, tt.want)
		}
	}
}

func TestSetRunStreams(t *testing.T) {
	bound := nat.PortMap{"80/tcp": {{HostPort: "8080"}}}
	size := func() (uint, uint) { return 24, 80 }
	tests := []struct {
		name           string
		stdin          bool
		o              RunOptions
		st             Streams
		wantAttachOut  bool
		wantAutoRemove bool
		wantPorts      nat.PortMap
		wantConsole    [2]uint
	}{
		{name: "attached with stdin", stdin: true, wantAttachOut: true, wantPorts: nat.PortMap{}},
		{name: "attached --rm is removed by run, not the daemon", o: RunOptions{Remove: true}, wantAttachOut: true, wantPorts: nat.PortMap{}},
		{name: "detached --rm is removed by the daemon", o: RunOptions{Remove: true, Detach: true}, wantAutoRemove: true, wantPorts: nat.PortMap{}},
		{name: "--service-ports keeps the bindings", o: RunOptions{ServicePorts: true}, wantAttachOut: true, wantPorts: bound},
		{name: "-p keeps the bindings", o: RunOptions{Publish: []string{"1:1"}}, wantAttachOut: true, wantPorts: bound},
		{name: "a terminal gives its size", st: Streams{TTY: true, Size: size}, wantAttachOut: true, wantPorts: nat.PortMap{}, wantConsole: [2]uint{24, 80}},
		{name: "no size without a terminal", st: Streams{Size: size}, wantAttachOut: true, wantPorts: nat.PortMap{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := &spec.Container{Config: &container.Config{}, Host: &container.HostConfig{PortBindings: bound}}
			setRunStreams(cs, tt.stdin, tt.o, tt.st)
			c, h := cs.Config, cs.Host
			if c.AttachStdin != tt.stdin || c.StdinOnce != tt.stdin {
				t.Errorf("attach stdin %v, stdin once %v, want %v", c.AttachStdin, c.StdinOnce, tt.stdin)
			}
			if c.AttachStdout != tt.wantAttachOut || c.AttachStderr != tt.wantAttachOut {
				t.Errorf("attach stdout %v, stderr %v, want %v", c.AttachStdout, c.AttachStderr, tt.wantAttachOut)
			}
			if h.AutoRemove != tt.wantAutoRemove {
				t.Errorf("auto remove %v, want %v", h.AutoRemove, tt.wantAutoRemove)
			}
			if !reflect.DeepEqual(h.PortBindings, tt.wantPorts) {
				t.Errorf("port bindings %v, want %v", h.PortBindings, tt.wantPorts)
			}
			if h.ConsoleSize != tt.wantConsole {
				t.Errorf("console size %v, want %v", h.ConsoleSize, tt.wantConsole)
			}
		})
	}
}

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

func (f *fakeRun) ContainerAttach(_ context.Context, _ string, o container.AttachOptions) (dockertypes.HijackedResponse, error) {
	f.calls = append(f.calls, "attach")
	if f.attachErr != nil {
		return dockertypes.HijackedResponse{}, f.attachErr
	}
	client, server := net.Pipe()
	go func() {
		_, _ = stdcopy.NewStdWriter(server, stdcopy.Stdout).Write([]byte(f.output))
		server.Close()
	}()
	return dockertypes.HijackedResponse{Conn: client, Reader: bufio.NewReader(client)}, nil
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
			code, err := runAttached(context.Background(), &tt.f, "id", "c", false, tt.remove, Streams{Out: &out})
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
	if code, err := startDetached(context.Background(), f, "id", "proj-web-run-1", Streams{Out: &out}); code != 0 || err != nil {
		t.Fatalf("code %d, error %v", code, err)
	}
	if out.String() != "proj-web-run-1\n" || !reflect.DeepEqual(f.calls, []string{"start"}) {
		t.Errorf("output %q, calls %q", out.String(), f.calls)
	}
	f = &fakeRun{startErr: errors.New("bad")}
	if code, err := startDetached(context.Background(), f, "id", "c", Streams{}); code != 1 || err == nil || err.Error() != "start container c: bad" {
		t.Errorf("code %d, error %v", code, err)
	}
}
