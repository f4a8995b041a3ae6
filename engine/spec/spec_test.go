package spec

import (
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-units"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/internal/testmodel"
	"github.com/devorch/devorch/netctl"
)

func valPtr[T any](v T) *T { return &v }

func TestRestartPolicy(t *testing.T) {
	deploy := func(cond string, max *uint64) *types.DeployConfig {
		return &types.DeployConfig{RestartPolicy: &types.RestartPolicy{Condition: cond, MaxAttempts: max}}
	}
	tests := []struct {
		name    string
		restart string
		deploy  *types.DeployConfig
		want    container.RestartPolicy
		wantErr string
	}{
		{name: "unset", want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		{name: "no", restart: "no", want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		{name: "always", restart: "always", want: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{name: "unless-stopped", restart: "unless-stopped", want: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}},
		{name: "on-failure", restart: "on-failure", want: container.RestartPolicy{Name: container.RestartPolicyOnFailure}},
		{name: "on-failure with count", restart: "on-failure:3", want: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}},
		{name: "bad count", restart: "on-failure:x", wantErr: `service "s": restart "on-failure:x": bad retry count`},
		{name: "unknown word", restart: "sometimes", wantErr: `restart "sometimes" is not no, always, on-failure or unless-stopped`},
		{name: "deploy without condition", deploy: deploy("", nil), want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		{name: "deploy none", deploy: deploy("none", valPtr[uint64](2)), want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		{name: "deploy on-failure keeps attempts", deploy: deploy("on-failure", valPtr[uint64](3)), want: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}},
		// Docker refuses a retry count with any policy but on-failure.
		{name: "deploy any drops attempts", deploy: deploy("any", valPtr[uint64](3)), want: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{name: "deploy unknown condition", deploy: deploy("weird", nil), wantErr: `deploy.restart_policy.condition "weird" is not none, on-failure or any`},
		{name: "restart wins over deploy", restart: "always", deploy: deploy("on-failure", valPtr[uint64](3)), want: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{name: "deploy without restart_policy", deploy: &types.DeployConfig{}, want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := restartPolicy(types.ServiceConfig{Name: "s", Restart: tt.restart, Deploy: tt.deploy})
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHealthConfig(t *testing.T) {
	d := func(v time.Duration) *types.Duration { return valPtr(types.Duration(v)) }
	tests := []struct {
		name string
		in   types.HealthCheckConfig
		want container.HealthConfig
	}{
		{
			name: "every field",
			in: types.HealthCheckConfig{Test: []string{"CMD", "true"}, Interval: d(time.Second), Timeout: d(3 * time.Second),
				StartPeriod: d(5 * time.Second), StartInterval: d(500 * time.Millisecond), Retries: valPtr[uint64](4)},
			want: container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 3 * time.Second,
				StartPeriod: 5 * time.Second, StartInterval: 500 * time.Millisecond, Retries: 4},
		},
		// Unset durations stay zero, so the image's own values apply.
		{name: "test only", in: types.HealthCheckConfig{Test: []string{"CMD-SHELL", "exit 0"}}, want: container.HealthConfig{Test: []string{"CMD-SHELL", "exit 0"}}},
		{name: "retries zero", in: types.HealthCheckConfig{Retries: valPtr[uint64](0)}, want: container.HealthConfig{}},
		// disable: true discards everything else, the image's check included.
		{name: "disabled", in: types.HealthCheckConfig{Disable: true, Test: []string{"CMD", "true"}, Interval: d(time.Second)}, want: container.HealthConfig{Test: []string{"NONE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthConfig(&tt.in); !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	limits := func(r types.Resource) *types.DeployConfig {
		return &types.DeployConfig{Resources: types.Resources{Limits: &r}}
	}
	tests := []struct {
		name   string
		spec   types.ContainerSpec
		deploy *types.DeployConfig
		want   container.Resources
	}{
		{name: "nothing set", want: container.Resources{}},
		// float32(0.3) widened directly would give 300000011.
		{name: "cpus as the CLI reads them", spec: types.ContainerSpec{CPUS: 0.3}, want: container.Resources{NanoCPUs: 300_000_000}},
		{
			name: "service fields",
			spec: types.ContainerSpec{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, CPUSet: "0-1", CPUCount: 2, CPUPercent: 50,
				CgroupParent: "/p", MemLimit: 100 << 20, MemReservation: 50 << 20, MemSwapLimit: 200 << 20, MemSwappiness: 10,
				OomKillDisable: true, PidsLimit: 77},
			want: container.Resources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, CpusetCpus: "0-1", CPUCount: 2, CPUPercent: 50,
				CgroupParent: "/p", Memory: 100 << 20, MemoryReservation: 50 << 20, MemorySwap: 200 << 20, MemorySwappiness: valPtr[int64](10),
				OomKillDisable: valPtr(true), PidsLimit: valPtr[int64](77)},
		},
		// Zero means "not set": no pointer is sent, Docker keeps its default.
		{name: "zero swappiness and pids stay unset", spec: types.ContainerSpec{MemSwappiness: 0, PidsLimit: 0}, want: container.Resources{}},
		{
			name:   "deploy limits win",
			spec:   types.ContainerSpec{CPUS: 2, MemLimit: 1 << 30, PidsLimit: 10},
			deploy: limits(types.Resource{NanoCPUs: 1.5, MemoryBytes: 64 << 20, Pids: 100}),
			want:   container.Resources{NanoCPUs: 1_500_000_000, Memory: 64 << 20, PidsLimit: valPtr[int64](100)},
		},
		{
			name:   "unset deploy limits keep the service's",
			spec:   types.ContainerSpec{CPUS: 2, MemLimit: 1 << 30},
			deploy: limits(types.Resource{}),
			want:   container.Resources{NanoCPUs: 2_000_000_000, Memory: 1 << 30},
		},
		{
			name: "deploy reservations",
			spec: types.ContainerSpec{MemReservation: 1 << 20},
			deploy: &types.DeployConfig{Resources: types.Resources{Reservations: &types.Resource{
				MemoryBytes: 32 << 20,
				Devices:     []types.DeviceRequest{{Driver: "nvidia", Count: 2, Capabilities: []string{"gpu", "utility"}, IDs: []string{"0"}, Options: types.Mapping{"k": "v"}}},
			}}},
			want: container.Resources{MemoryReservation: 32 << 20, DeviceRequests: []container.DeviceRequest{
				{Driver: "nvidia", Count: 2, Capabilities: [][]string{{"gpu", "utility"}}, DeviceIDs: []string{"0"}, Options: map[string]string{"k": "v"}},
			}},
		},
		{
			name: "blkio",
			spec: types.ContainerSpec{BlkioConfig: &types.BlkioConfig{Weight: 300,
				WeightDevice:  []types.WeightDevice{{Path: "/dev/sda", Weight: 400}},
				DeviceReadBps: []types.ThrottleDevice{{Path: "/dev/sda", Rate: 12 << 20}}, DeviceWriteIOps: []types.ThrottleDevice{{Path: "/dev/sdb", Rate: 30}}}},
			want: container.Resources{BlkioWeight: 300,
				BlkioWeightDevice:    []*blkiodev.WeightDevice{{Path: "/dev/sda", Weight: 400}},
				BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 12 << 20}},
				BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: "/dev/sdb", Rate: 30}}},
		},
		{
			name: "ulimits by name, a single value sets both",
			spec: types.ContainerSpec{Ulimits: map[string]*types.UlimitsConfig{"nproc": {Single: 512}, "nofile": {Soft: 1024, Hard: 2048}}},
			want: container.Resources{Ulimits: []*units.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 512, Hard: 512}}},
		},
		{
			name: "devices default to the same path and rwm",
			spec: types.ContainerSpec{Devices: []types.DeviceMapping{{Source: "/dev/fuse"}, {Source: "/dev/null", Target: "/dev/n", Permissions: "r"}},
				DeviceCgroupRules: []string{"c 1:3 mr"}},
			want: container.Resources{Devices: []container.DeviceMapping{
				{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
				{PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "r"},
			}, DeviceCgroupRules: []string{"c 1:3 mr"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resources(types.ServiceConfig{Deploy: tt.deploy, ContainerSpec: tt.spec}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMounts(t *testing.T) {
	p := &compose.Project{Project: &types.Project{
		WorkingDir: "/proj",
		Secrets:    types.Secrets{"token": {File: "/proj/token.txt"}, "env": {Environment: "TOKEN"}},
		Configs:    types.Configs{"conf": {File: "/proj/app.conf"}, "inline": {Content: "x"}},
	}}
	vols := map[string]string{"data": "proj_data"}
	short := func(src, dst string, ro bool, selinux, prop string) types.ServiceVolumeConfig {
		return types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: src, Target: dst, ReadOnly: ro,
			Bind: &types.ServiceVolumeBind{CreateHostPath: true, SELinux: selinux, Propagation: prop}}
	}
	bind := func(src, dst string, ro bool, b types.ServiceVolumeBind) types.ServiceVolumeConfig {
		return types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: src, Target: dst, ReadOnly: ro, Bind: &b}
	}
	tests := []struct {
		name       string
		volumes    []types.ServiceVolumeConfig
		secrets    []types.ServiceSecretConfig
		configs    []types.ServiceConfigObjConfig
		wantBinds  []string
		wantMounts []mount.Mount
		wantErr    string
	}{
		{name: "none"},
		// A bind that may create its source is a bind string, as the CLI
		// sends it; only that form carries the SELinux relabel.
		{
			name:      "short binds",
			volumes:   []types.ServiceVolumeConfig{short("./src", "/src", false, "", ""), short("/abs", "/abs", true, "z", "rslave")},
			wantBinds: []string{"/proj/src:/src", "/abs:/abs:ro,z,rslave"},
		},
		{
			name:       "long bind that must not create its source",
			volumes:    []types.ServiceVolumeConfig{bind("./b", "/b", true, types.ServiceVolumeBind{Propagation: "rprivate"})},
			wantMounts: []mount.Mount{{Type: mount.TypeBind, Source: "/proj/b", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rprivate"}}},
		},
		{
			name:       "recursive bind is a mount",
			volumes:    []types.ServiceVolumeConfig{bind("/r", "/r", false, types.ServiceVolumeBind{CreateHostPath: true, Recursive: "readonly"})},
			wantMounts: []mount.Mount{{Type: mount.TypeBind, Source: "/r", Target: "/r", BindOptions: &mount.BindOptions{CreateMountpoint: true}}},
		},
		{
			name:    "selinux on a mount",
			volumes: []types.ServiceVolumeConfig{bind("/x", "/x", false, types.ServiceVolumeBind{SELinux: "z"})},
			wantErr: `service "s": bind /x: selinux "z" cannot be combined with create_host_path: false or recursive`,
		},
		{
			name: "named, anonymous and tmpfs",
			volumes: []types.ServiceVolumeConfig{
				{Type: types.VolumeTypeVolume, Source: "data", Target: "/data", Volume: &types.ServiceVolumeVolume{NoCopy: true, Subpath: "sub"}},
				{Type: types.VolumeTypeVolume, Target: "/anon", ReadOnly: true},
				{Type: types.VolumeTypeTmpfs, Target: "/t", Tmpfs: &types.ServiceVolumeTmpfs{Size: 1024, Mode: 0o700}},
			},
			wantMounts: []mount.Mount{
				{Type: mount.TypeVolume, Source: "proj_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Subpath: "sub"}},
				{Type: mount.TypeVolume, Target: "/anon", ReadOnly: true},
				{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1024, Mode: 0o700}},
			},
		},
		{
			name:    "undeclared volume",
			volumes: []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "other", Target: "/o"}},
			wantErr: `service "s": volume "other" is not declared in the top-level volumes`,
		},
		{
			name:    "unsupported type",
			volumes: []types.ServiceVolumeConfig{{Type: types.VolumeTypeNamedPipe, Source: "p", Target: "/p"}},
			wantErr: `service "s": volume type "npipe" is not supported by devorch`,
		},
		// File secrets and configs come after the volumes; content and
		// environment ones are copied in before start, not mounted.
		{
			name:    "secrets and configs",
			volumes: []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/data"}},
			secrets: []types.ServiceSecretConfig{{Source: "token"}, {Source: "token", Target: "renamed"}, {Source: "token", Target: "/etc/t"}, {Source: "env"}},
			configs: []types.ServiceConfigObjConfig{{Source: "conf"}, {Source: "conf", Target: "etc/rel.conf"}, {Source: "inline"}},
			wantMounts: []mount.Mount{
				{Type: mount.TypeVolume, Source: "proj_data", Target: "/data"},
				{Type: mount.TypeBind, Source: "/proj/token.txt", Target: "/run/secrets/token", ReadOnly: true},
				{Type: mount.TypeBind, Source: "/proj/token.txt", Target: "/run/secrets/renamed", ReadOnly: true},
				{Type: mount.TypeBind, Source: "/proj/token.txt", Target: "/etc/t", ReadOnly: true},
				{Type: mount.TypeBind, Source: "/proj/app.conf", Target: "/conf", ReadOnly: true},
				{Type: mount.TypeBind, Source: "/proj/app.conf", Target: "/etc/rel.conf", ReadOnly: true},
			},
		},
		{name: "undeclared secret", secrets: []types.ServiceSecretConfig{{Source: "nope"}}, wantErr: `service "s": secret "nope" is not declared in the top-level secrets`},
		{name: "undeclared config", configs: []types.ServiceConfigObjConfig{{Source: "nope"}}, wantErr: `service "s": config "nope" is not declared in the top-level configs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := types.ServiceConfig{Name: "s"}
			s.Volumes, s.Secrets, s.Configs = tt.volumes, tt.secrets, tt.configs
			binds, mounts, err := mounts(p, s, vols)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(binds, tt.wantBinds) {
				t.Errorf("binds = %q, want %q", binds, tt.wantBinds)
			}
			if !reflect.DeepEqual(mounts, tt.wantMounts) {
				t.Errorf("mounts = %+v\nwant     %+v", mounts, tt.wantMounts)
			}
		})
	}
}

func TestPorts(t *testing.T) {
	tests := []struct {
		name      string
		expose    []string
		ports     []types.ServicePortConfig
		publish   []netctl.Publish
		wantSet   []string
		wantBinds map[string][]string // port: "ip|hostport", in order
		wantErr   string
	}{
		{name: "none"},
		{name: "expose ranges and protocols", expose: []string{"7000", "7100-7101/udp"}, wantSet: []string{"7000/tcp", "7100/udp", "7101/udp"}},
		{
			name:      "ports",
			ports:     []types.ServicePortConfig{{Target: 80, Published: "8080"}, {Target: 80, Published: "8081", HostIP: "127.0.0.1"}, {Target: 53, Protocol: "udp"}},
			wantSet:   []string{"53/udp", "80/tcp"},
			wantBinds: map[string][]string{"80/tcp": {"|8080", "127.0.0.1|8081"}, "53/udp": {"|"}},
		},
		// A link publishes on the same port number once, whatever ports
		// already binds.
		{
			name:      "link publish",
			ports:     []types.ServicePortConfig{{Target: 80, Published: "80", HostIP: "10.0.0.2"}},
			publish:   []netctl.Publish{{HostIP: "10.0.0.2", Port: "80/tcp"}, {HostIP: "10.0.0.2", Port: "90/tcp"}, {HostIP: "10.0.0.2", Port: "90/tcp"}},
			wantSet:   []string{"80/tcp", "90/tcp"},
			wantBinds: map[string][]string{"80/tcp": {"10.0.0.2|80"}, "90/tcp": {"10.0.0.2|90"}},
		},
		{name: "bad expose", expose: []string{"abc"}, wantErr: `service "s": expose "abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := types.ServiceConfig{Name: "s"}
			s.Expose, s.Ports = tt.expose, tt.ports
			set, binds, err := ports(s, tt.publish)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			// Docker is sent no map at all when there is nothing in it.
			if (set == nil) != (len(tt.wantSet) == 0) || (binds == nil) != (len(tt.wantBinds) == 0) {
				t.Fatalf("set = %v, bindings = %v: want nil exactly when empty", set, binds)
			}
			var gotSet []string
			for p := range set {
				gotSet = append(gotSet, string(p))
			}
			if !sameStrings(gotSet, tt.wantSet) {
				t.Errorf("exposed = %v, want %v", gotSet, tt.wantSet)
			}
			gotBinds := map[string][]string{}
			for p, bs := range binds {
				for _, b := range bs {
					gotBinds[string(p)] = append(gotBinds[string(p)], b.HostIP+"|"+b.HostPort)
				}
			}
			if len(tt.wantBinds) > 0 && !reflect.DeepEqual(gotBinds, tt.wantBinds) {
				t.Errorf("bindings = %v, want %v", gotBinds, tt.wantBinds)
			}
		})
	}
}

func sameStrings(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestContainerLabels(t *testing.T) {
	p := &compose.Project{Project: &types.Project{Name: "proj", WorkingDir: "/proj", ComposeFiles: []string{"/proj/a.yaml", "/proj/b.yaml"}},
		Hashes: map[string]string{"web": "h1"}}
	reserving := types.ServiceConfig{Name: "web", Deploy: &types.DeployConfig{Resources: types.Resources{
		Reservations: &types.Resource{NanoCPUs: 0.5, MemoryBytes: 64 << 20}}}}
	labelled := types.ServiceConfig{Name: "web", Deploy: &types.DeployConfig{Labels: types.Labels{"b": "2"}}}
	labelled.Labels = types.Labels{"a": "1", "b": "1"}
	link := netctl.Link{ExtraHosts: []string{"db:192.0.2.2"}}
	tests := []struct {
		name string
		in   Input
		want map[string]string // besides the labels every container carries
	}{
		{name: "plain", in: Input{Service: types.ServiceConfig{Name: "web"}}, want: map[string]string{labels.OneOff: "false"}},
		{
			name: "the service's own, deploy's winning",
			in:   Input{Service: labelled},
			want: map[string]string{"a": "1", "b": "2", labels.OneOff: "false"},
		},
		{
			name: "link, placement and reservations",
			in:   Input{Service: reserving, Link: link, Placement: "most free memory"},
			want: map[string]string{labels.OneOff: "false", labels.Links: link.Signature(), labels.Placement: "most free memory",
				labels.ReserveCPUs: "500000000", labels.ReserveMemory: "67108864"},
		},
		// run places its container itself: nothing for the scheduler to count.
		{name: "a one-off reserves nothing", in: Input{Service: reserving, OneOff: true}, want: map[string]string{labels.OneOff: "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Project, tt.in.Replica, tt.in.Host, tt.in.ImageID, tt.in.Version = p, 2, "b", "sha256:1", "1.2.3"
			want := map[string]string{labels.Project: "proj", labels.Service: "web", labels.Replica: "2", labels.ConfigHash: "h1",
				labels.ImageID: "sha256:1", labels.Host: "b", labels.WorkingDir: "/proj", labels.ConfigFiles: "/proj/a.yaml,/proj/b.yaml",
				labels.DependsOn: "", labels.Version: "1.2.3"}
			maps.Copy(want, tt.want)
			if got := containerLabels(tt.in); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestInlineFiles(t *testing.T) {
	p := &compose.Project{Project: &types.Project{
		Environment: types.Mapping{"TOKEN": "t0k"},
		Secrets:     types.Secrets{"file": {File: "/proj/f"}, "env": {Environment: "TOKEN"}, "unset": {Environment: "NOPE"}, "inline": {Content: "s"}},
		Configs:     types.Configs{"conf": {Content: "c"}},
	}}
	mode := types.FileMode(0o400)
	tests := []struct {
		name    string
		secrets []types.ServiceSecretConfig
		configs []types.ServiceConfigObjConfig
		want    []InlineFile
		wantErr string
	}{
		{name: "none"},
		// A file source is bind-mounted, not copied.
		{name: "file sources are left out", secrets: []types.ServiceSecretConfig{{Source: "file"}}},
		{
			name:    "secrets then configs, targets under their directories",
			configs: []types.ServiceConfigObjConfig{{Source: "conf"}, {Source: "conf", Target: "etc/c.conf"}},
			secrets: []types.ServiceSecretConfig{{Source: "env"}, {Source: "inline", Target: "/abs", Mode: &mode, UID: "1000", GID: "1001"}},
			want: []InlineFile{
				{Target: "/run/secrets/env", Content: []byte("t0k"), Mode: 0o444},
				{Target: "/abs", Content: []byte("s"), Mode: 0o400, UID: 1000, GID: 1001},
				{Target: "/conf", Content: []byte("c"), Mode: 0o444},
				{Target: "/etc/c.conf", Content: []byte("c"), Mode: 0o444},
			},
		},
		{name: "unset environment", secrets: []types.ServiceSecretConfig{{Source: "unset"}}, wantErr: `service "s": secret "unset" comes from environment variable NOPE, which is not set`},
		{name: "undeclared secret", secrets: []types.ServiceSecretConfig{{Source: "nope"}}, wantErr: `service "s": secret "nope" is not declared`},
		{name: "undeclared config", configs: []types.ServiceConfigObjConfig{{Source: "nope"}}, wantErr: `service "s": config "nope" is not declared`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := types.ServiceConfig{Name: "s"}
			s.Secrets, s.Configs = tt.secrets, tt.configs
			got, err := InlineFiles(p, s)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

var wantErr = testmodel.WantErr
