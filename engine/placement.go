package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/system"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/plan"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/engine/spec"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/volumes"
)

// hostView is what a run knows about one host.
type hostView struct {
	host      *hosts.Host
	reachable bool
	err       error
	ncpu      int
	mem       int64
	os, arch  string
	// info is the host's docker info (engine version, runtimes, drivers).
	info *system.Info
}

// probeHosts pings every host in parallel with a short timeout and reads
// its capacity; an unreachable host is reported, not fatal.
func (e *Engine) probeHosts(ctx context.Context) map[string]*hostView {
	out := map[string]*hostView{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range e.Pool.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &hostView{host: h}
			info, err := h.Info(ctx, 2*time.Second)
			if err != nil {
				v.err = err
			} else {
				v.reachable = true
				v.ncpu, v.mem, v.os, v.arch = info.NCPU, info.MemTotal, info.OSType, info.Architecture
				v.info = info
			}
			mu.Lock()
			out[h.Name] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// placement is the host of every replica of the services converged.
type placement struct {
	hostOf      map[schedule.ReplicaKey]string
	why         map[schedule.ReplicaKey]string
	volumeHosts map[string]string
	reasons     map[schedule.ReplicaKey][]schedule.HostVerdict
	// failed holds services that could not be placed while some host is
	// unreachable, with the reason.
	failed map[string]string
}

func (pl *placement) host(service string, replica int) string {
	return pl.hostOf[schedule.ReplicaKey{Service: service, Replica: replica}]
}

// place runs the scheduler over the snapshot. With every host reachable a
// replica that fits nowhere is an error naming every host's reason; with
// some unreachable, such services are reported in failed and the rest is
// placed.
func (e *Engine) place(ctx context.Context, p *compose.Project, set []string, scale map[string]int, w *world, views map[string]*hostView, explain bool) (*placement, error) {
	inSet := map[string]bool{}
	for _, s := range set {
		inSet[s] = true
	}
	req := schedule.Request{Strategy: schedule.Strategy(p.X.Strategy), Current: map[schedule.ReplicaKey]string{}, Explain: explain}
	anyDown := false
	for _, h := range e.Pool.Hosts {
		v := views[h.Name]
		sh := schedule.Host{Name: h.Name, Reachable: v.reachable, Labels: h.Labels, NanoCPUs: int64(v.ncpu) * 1e9, MemoryBytes: v.mem, OS: v.os, Arch: v.arch,
			UsedPorts: map[schedule.PortKey]string{}, Local: isLocal(h.Endpoint, h.Address)}
		if v.err != nil {
			sh.Err = v.err.Error()
			anyDown = true
		}
		for _, c := range w.all[h.Name] {
			ours := c.Labels[labels.Project] == p.Name && inSet[c.Service] && !c.OneOff
			if ours || !c.Running() {
				continue
			}
			sh.Containers++
			if cpu, err := strconv.ParseInt(c.Labels[labels.ReserveCPUs], 10, 64); err == nil {
				sh.ReservedNanoCPUs += cpu
			}
			if mem, err := strconv.ParseInt(c.Labels[labels.ReserveMemory], 10, 64); err == nil {
				sh.ReservedMemory += mem
			}
			for _, port := range c.Ports {
				if port.PublicPort != 0 {
					sh.UsedPorts[schedule.PortKey{HostIP: port.IP, Port: port.PublicPort, Protocol: port.Type}] = "container " + c.Name
				}
			}
		}
		req.Hosts = append(req.Hosts, sh)
	}
	// Where the project's replicas and volumes are now.
	// With two containers for one replica (a copy moved off a host that was
	// unreachable and came back, or an interrupted recreate), the current one
	// is the one the plan keeps: running first, then the newest.
	chosen := map[schedule.ReplicaKey]Container{}
	for _, c := range w.project {
		if c.OneOff || !inSet[c.Service] {
			continue
		}
		k := schedule.ReplicaKey{Service: c.Service, Replica: c.Replica}
		prev, seen := chosen[k]
		if !seen || (c.Running() && !prev.Running()) || (c.Running() == prev.Running() && c.Created.After(prev.Created)) {
			chosen[k] = c
		}
	}
	for k, c := range chosen {
		req.Current[k] = c.HostName()
	}
	where := volumes.Where(p.Name, w.volumes)
	for _, key := range slices.Sorted(maps.Keys(where.Split)) {
		hs := where.Split[key]
		for _, h := range hs[1:] {
			e.warn("volume %q exists on hosts %s and %s; placement follows %s", key, hs[0], h, hs[0])
		}
	}
	req.VolumeHosts = where.Host
	// Services.
	probed := map[string]bool{}
	for _, name := range set {
		s := p.Services[name]
		ss := schedule.Service{Name: name, Replicas: plan.DesiredScale(s, scale), Platform: s.Platform}
		if s.Deploy != nil {
			ss.Constraints = s.Deploy.Placement.Constraints
		}
		ss.ReservedNanoCPUs, ss.ReservedMemory = spec.Reservations(s)
		// With one host, port clashes are validate's to report (it names
		// the holder); with several, placement avoids them.
		if len(e.Pool.Hosts) > 1 && !strings.HasPrefix(s.NetworkMode, types.ServicePrefix) && s.NetworkMode != "host" {
			for _, pc := range s.Ports {
				start, end, ok := plan.PortRange(pc.Published)
				if !ok || start != end {
					continue
				}
				ss.Ports = append(ss.Ports, schedule.PortKey{HostIP: pc.HostIP, Port: uint16(start), Protocol: pc.Protocol})
				// On this machine, ports held by other processes count too.
				for i := range req.Hosts {
					h := &req.Hosts[i]
					key := schedule.PortKey{HostIP: pc.HostIP, Port: uint16(start), Protocol: pc.Protocol}
					pk := h.Name + "/" + key.String()
					if !h.Local || !h.Reachable || probed[pk] {
						continue
					}
					probed[pk] = true
					if _, held := h.UsedPorts[key]; held || heldByProject(w, h.Name, p.Name, uint16(start)) {
						continue
					}
					proto := pc.Protocol
					if proto == "" {
						proto = "tcp"
					}
					if err := probePort(pc.HostIP, start, proto); err != nil {
						h.UsedPorts[key] = "another process"
					}
				}
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				ss.Volumes = append(ss.Volumes, v.Source)
			}
		}
		if t := compose.NamespaceTargets(s); len(t) > 0 {
			ss.Follows = t[0]
		}
		if s.NetworkMode == "" {
			for n := range s.Networks {
				ss.Networks = append(ss.Networks, n)
			}
			sort.Strings(ss.Networks)
		}
		req.Services = append(req.Services, ss)
	}
	for name, n := range p.Networks {
		req.Networks = append(req.Networks, schedule.Network{Name: name, Colocate: compose.NetworkX(n).Colocate})
	}
	sort.Slice(req.Networks, func(i, j int) bool { return req.Networks[i].Name < req.Networks[j].Name })
	failed := map[string]string{}
	for {
		res, err := schedule.Place(req)
		if err == nil {
			pl := &placement{hostOf: map[schedule.ReplicaKey]string{}, why: map[schedule.ReplicaKey]string{}, volumeHosts: res.VolumeHosts, reasons: res.Reasons, failed: failed}
			for _, a := range res.Assignments {
				k := schedule.ReplicaKey{Service: a.Service, Replica: a.Replica}
				pl.hostOf[k], pl.why[k] = a.Host, a.Why
			}
			return pl, nil
		}
		var un *schedule.Unplaceable
		if !errors.As(err, &un) || !anyDown {
			return nil, err
		}
		// Some host is down: this service cannot move. Leave it (and what
		// must be placed with it) out, and place the rest.
		drop := map[string]bool{un.Service: true}
		for _, g := range un.Group {
			drop[g] = true
		}
		for d := range drop {
			failed[d] = err.Error()
		}
		var keep []schedule.Service
		for _, s := range req.Services {
			if !drop[s.Name] && !drop[s.Follows] {
				keep = append(keep, s)
			} else {
				failed[s.Name] = err.Error()
			}
		}
		if len(keep) == len(req.Services) {
			return nil, err
		}
		req.Services = keep
	}
}

func heldByProject(w *world, host, project string, port uint16) bool {
	for _, c := range w.all[host] {
		if c.Labels[labels.Project] != project {
			continue
		}
		for _, p := range c.Ports {
			if p.PublicPort == port {
				return true
			}
		}
	}
	return false
}
