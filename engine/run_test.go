package engine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
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
