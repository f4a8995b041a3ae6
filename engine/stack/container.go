package stack

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-units"

	"github.com/devorch/devorch/internal/labels"
)

// containerSpec is what each task's container is made from.
func containerSpec(p *types.Project, s types.ServiceConfig, img Image, o Options, w *warner) (*swarm.ContainerSpec, error) {
	hc, err := healthcheck(s.HealthCheck)
	if err != nil {
		return nil, err
	}
	mounts, err := mounts(p, s, o.Namespace, w)
	if err != nil {
		return nil, err
	}
	configs, err := configRefs(p, s, o)
	if err != nil {
		return nil, err
	}
	secrets, err := secretRefs(p, s, o)
	if err != nil {
		return nil, err
	}
	// Swarm cannot tell an empty entrypoint from none: `entrypoint: []`
	// would run the image's entrypoint, not clear it.
	if s.Entrypoint != nil && len(s.Entrypoint) == 0 {
		w.ignore("an empty entrypoint", "a task spec cannot clear the image's entrypoint; it runs as the image says")
	}
	cs := &swarm.ContainerSpec{
		Image:           img.Ref,
		Labels:          containerLabels(s.Labels, o.Namespace, s.Name),
		Command:         nonEmpty(s.Entrypoint),
		Args:            nonEmpty(s.Command),
		Hostname:        s.Hostname,
		Env:             environment(s.Environment),
		Dir:             s.WorkingDir,
		User:            s.User,
		Groups:          nonEmpty(s.GroupAdd),
		Init:            s.Init,
		StopSignal:      s.StopSignal,
		TTY:             s.Tty,
		OpenStdin:       s.StdinOpen,
		ReadOnly:        s.ReadOnly,
		Mounts:          mounts,
		StopGracePeriod: (*time.Duration)(s.StopGracePeriod),
		Healthcheck:     hc,
		Hosts:           extraHosts(s.ExtraHosts),
		DNSConfig:       dnsConfig(s),
		Secrets:         secrets,
		Configs:         configs,
		Isolation:       container.Isolation(s.Isolation),
		Sysctls:         nonEmptyMap(s.Sysctls),
		CapabilityAdd:   nonEmpty(s.CapAdd),
		CapabilityDrop:  nonEmpty(s.CapDrop),
		Ulimits:         ulimits(s.Ulimits),
		OomScoreAdj:     s.OomScoreAdj,
	}
	return cs, nil
}

func nonEmpty[S ~[]string](s S) []string {
	if len(s) == 0 {
		return nil
	}
	return []string(s)
}

func nonEmptyMap[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return map[string]string(m)
}

// environment is the service's environment as sorted KEY=VALUE pairs. A
// variable without a value (compose's "pass it through if set") found
// nothing to pass when the project was loaded, so it is left out.
func environment(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// extraHosts turns extra_hosts into SwarmKit's /etc/hosts notation,
// "IP hostname", sorted by host name (compose-go keeps them in a map).
func extraHosts(h types.HostsList) []string {
	var out []string
	for _, host := range slices.Sorted(maps.Keys(h)) {
		for _, ip := range h[host] {
			out = append(out, ip+" "+host)
		}
	}
	return out
}

func dnsConfig(s types.ServiceConfig) *swarm.DNSConfig {
	if len(s.DNS) == 0 && len(s.DNSSearch) == 0 && len(s.DNSOpts) == 0 {
		return nil
	}
	return &swarm.DNSConfig{
		Nameservers: nonEmpty(s.DNS),
		Search:      nonEmpty(s.DNSSearch),
		Options:     nonEmpty(s.DNSOpts),
	}
}

// healthcheck maps a compose healthcheck; `disable: true` becomes Docker's
// NONE test, which switches off one the image defines.
func healthcheck(h *types.HealthCheckConfig) (*container.HealthConfig, error) {
	if h == nil {
		return nil, nil
	}
	if h.Disable {
		if len(h.Test) != 0 && !(len(h.Test) == 1 && h.Test[0] == "NONE") {
			return nil, errors.New("healthcheck: test and disable cannot both be set")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	d := func(p *types.Duration) time.Duration {
		if p == nil {
			return 0
		}
		return time.Duration(*p)
	}
	hc := &container.HealthConfig{
		Test:          nonEmpty(h.Test),
		Interval:      d(h.Interval),
		Timeout:       d(h.Timeout),
		StartPeriod:   d(h.StartPeriod),
		StartInterval: d(h.StartInterval),
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc, nil
}

func ulimits(u map[string]*types.UlimitsConfig) []*container.Ulimit {
	if len(u) == 0 {
		return nil
	}
	out := make([]*container.Ulimit, 0, len(u))
	for _, n := range slices.Sorted(maps.Keys(u)) {
		c := u[n]
		if c == nil {
			continue
		}
		soft, hard := int64(c.Soft), int64(c.Hard)
		if c.Single != 0 {
			soft, hard = int64(c.Single), int64(c.Single)
		}
		out = append(out, &container.Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	return out
}

// mounts maps the service's volumes in declaration order, then its tmpfs
// entries. A named volume becomes the node-local volume <ns>_<key> (or its
// compose name:), created by Swarm on each node a task lands on, labelled
// so that devorch and docker stack find it again.
func mounts(p *types.Project, s types.ServiceConfig, namespace string, w *warner) ([]mount.Mount, error) {
	var out []mount.Mount
	for i, v := range s.Volumes {
		m, err := volumeMount(p, v, namespace, w)
		if err != nil {
			return nil, fmt.Errorf("volumes[%d] (%s): %w", i, v.Target, err)
		}
		out = append(out, m)
	}
	for i, t := range s.Tmpfs {
		m, err := tmpfsEntry(t)
		if err != nil {
			return nil, fmt.Errorf("tmpfs[%d] (%s): %w", i, t, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func volumeMount(p *types.Project, v types.ServiceVolumeConfig, namespace string, w *warner) (mount.Mount, error) {
	m := mount.Mount{
		Type:        mount.Type(v.Type),
		Source:      v.Source,
		Target:      v.Target,
		ReadOnly:    v.ReadOnly,
		Consistency: mount.Consistency(v.Consistency),
	}
	switch v.Type {
	case types.VolumeTypeVolume, "":
		m.Type = mount.TypeVolume
		if v.Volume != nil && (v.Volume.NoCopy || v.Volume.Subpath != "") {
			m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath}
		}
		if v.Source == "" {
			return m, nil // anonymous: each task gets its own
		}
		vc, ok := p.Volumes[v.Source]
		if !ok {
			return mount.Mount{}, fmt.Errorf("undefined volume %q", v.Source)
		}
		m.Source = vc.Name
		if m.Source == "" {
			m.Source = ServiceName(namespace, v.Source)
		}
		if bool(vc.External) {
			return m, nil
		}
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		l := make(map[string]string, len(vc.Labels)+3)
		for k, val := range vc.Labels {
			l[k] = val
		}
		l[labels.StackNamespace] = namespace
		l[labels.Project] = namespace
		l[labels.Volume] = v.Source
		m.VolumeOptions.Labels = l
		if vc.Driver != "" || len(vc.DriverOpts) > 0 {
			m.VolumeOptions.DriverConfig = &mount.Driver{Name: vc.Driver, Options: nonEmptyMap(vc.DriverOpts)}
		}
	case types.VolumeTypeBind:
		if v.Bind != nil {
			if v.Bind.Propagation != "" {
				m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
			}
			if v.Bind.SELinux != "" {
				w.ignore(fmt.Sprintf("the bind mount's selinux option on %s", v.Target), "a Swarm bind mount has no relabel option")
			}
		}
	case types.VolumeTypeTmpfs:
		if v.Tmpfs != nil && (v.Tmpfs.Size != 0 || v.Tmpfs.Mode != 0) {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
		}
	case types.VolumeTypeImage:
		if v.Image != nil && v.Image.SubPath != "" {
			m.ImageOptions = &mount.ImageOptions{Subpath: v.Image.SubPath}
		}
	case types.VolumeTypeNamedPipe, types.VolumeTypeCluster:
	default:
		return mount.Mount{}, fmt.Errorf("volume type %q is not one Swarm knows", v.Type)
	}
	return m, nil
}

// tmpfsEntry maps one entry of the service-level tmpfs list, "path" or
// "path:size=…,mode=…".
func tmpfsEntry(entry string) (mount.Mount, error) {
	target, opts, _ := strings.Cut(entry, ":")
	m := mount.Mount{Type: mount.TypeTmpfs, Target: target}
	if opts == "" {
		return m, nil
	}
	m.TmpfsOptions = &mount.TmpfsOptions{}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return mount.Mount{}, fmt.Errorf("size: %w", err)
			}
			m.TmpfsOptions.SizeBytes = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return mount.Mount{}, fmt.Errorf("mode: %w", err)
			}
			m.TmpfsOptions.Mode = os.FileMode(n)
		default:
			m.TmpfsOptions.Options = append(m.TmpfsOptions.Options, []string{k, v})
			if v == "" {
				m.TmpfsOptions.Options[len(m.TmpfsOptions.Options)-1] = []string{k}
			}
		}
	}
	return m, nil
}

// fileRef is a config or secret reference resolved to Swarm's terms.
type fileRef struct {
	name, target, uid, gid string
	mode                   os.FileMode
}

// resolveRef names the Swarm object behind a compose reference and fills
// docker stack's defaults: the target is the source key (a config lands at
// /<key>, a secret in /run/secrets), owned by root, mode 0444.
func resolveRef(kind string, r types.FileReferenceConfig, objs map[string]types.FileObjectConfig, names map[string]string) (fileRef, error) {
	obj, ok := objs[r.Source]
	if !ok {
		return fileRef{}, fmt.Errorf("%ss: undefined %s %q", kind, kind, r.Source)
	}
	name := names[r.Source]
	if name == "" && bool(obj.External) {
		name = obj.Name
	}
	if name == "" {
		return fileRef{}, fmt.Errorf("%ss: no Swarm %s name for %q: the deployer gave none", kind, kind, r.Source)
	}
	ref := fileRef{name: name, target: r.Target, uid: r.UID, gid: r.GID, mode: 0o444}
	if ref.target == "" {
		ref.target = r.Source
	}
	if ref.uid == "" {
		ref.uid = "0"
	}
	if ref.gid == "" {
		ref.gid = "0"
	}
	if r.Mode != nil {
		ref.mode = os.FileMode(*r.Mode)
	}
	return ref, nil
}

// configRefs references the service's configs in declaration order.
func configRefs(p *types.Project, s types.ServiceConfig, o Options) ([]*swarm.ConfigReference, error) {
	if len(s.Configs) == 0 {
		return nil, nil
	}
	objs := make(map[string]types.FileObjectConfig, len(p.Configs))
	for k, c := range p.Configs {
		objs[k] = types.FileObjectConfig(c)
	}
	out := make([]*swarm.ConfigReference, 0, len(s.Configs))
	for _, c := range s.Configs {
		r, err := resolveRef("config", types.FileReferenceConfig(c), objs, o.Configs)
		if err != nil {
			return nil, err
		}
		out = append(out, &swarm.ConfigReference{
			File:       &swarm.ConfigReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode},
			ConfigID:   o.ConfigIDs[r.name],
			ConfigName: r.name,
		})
	}
	return out, nil
}

// secretRefs references the service's secrets in declaration order.
func secretRefs(p *types.Project, s types.ServiceConfig, o Options) ([]*swarm.SecretReference, error) {
	if len(s.Secrets) == 0 {
		return nil, nil
	}
	objs := make(map[string]types.FileObjectConfig, len(p.Secrets))
	for k, c := range p.Secrets {
		objs[k] = types.FileObjectConfig(c)
	}
	out := make([]*swarm.SecretReference, 0, len(s.Secrets))
	for _, c := range s.Secrets {
		r, err := resolveRef("secret", types.FileReferenceConfig(c), objs, o.Secrets)
		if err != nil {
			return nil, err
		}
		out = append(out, &swarm.SecretReference{
			File:       &swarm.SecretReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode},
			SecretID:   o.SecretIDs[r.name],
			SecretName: r.name,
		})
	}
	return out, nil
}
