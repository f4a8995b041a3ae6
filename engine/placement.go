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
	"github.com/devorch/devorch/engine/usage"
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
	// soft are the recorded-usage numbers placement counted services by.
	soft []schedule.SoftUse
}

func (pl *placement) host(service string, replica int) string {
	return pl.hostOf[schedule.ReplicaKey{Service: service, Replica: replica}]
}

// place runs the scheduler over the snapshot. With every host reachable a
// replica that fits nowhere is an error naming every host's reason; with
// some unreachable, such services are reported in failed and the rest is
// placed.
func (e *Engine) place(ctx context.Context, p *compose.Project, set []string, scale map[string]int, w *world, views map[string]*hostView, explain bool) (*placement, error) {
	req, anyDown := placeRequest(p, set, scale, w, e.Pool.Hosts, views, explain)
	where := volumes.Where(p.Name, w.volumes)
	for _, key := range slices.Sorted(maps.Keys(where.Split)) {
		hs := where.Split[key]
		for _, h := range hs[1:] {
			e.warn("volume %q exists on hosts %s and %s; placement follows %s", key, hs[0], h, hs[0])
		}
	}
	req.VolumeHosts = where.Host
	probeLocalPorts(req.Hosts, req.Services, w, p.Name, probePort)
	e.softReservations(p, req.Services)
	return placeAround(req, anyDown, schedule.Place)
}

// softReservations gives each service that declares no reservation what
// its recorded usage would reserve (usage.SoftReservation), for the
// scheduler to rank hosts by: a score, never a filter. Declared
// reservations win, per resource (the scheduler ignores the other).
func (e *Engine) softReservations(p *compose.Project, services []schedule.Service) {
	if e.Usage == nil || e.Pool.Single() {
		return
	}
	hist, warnings := e.Usage.Load(p.Name)
	for _, w := range warnings {
		e.warn("%s", w)
	}
	for i := range services {
		s := &services[i]
		h, _, _ := usage.Find(hist, p.Name, s.Name, p.Hashes[s.Name])
		if h == nil {
			continue
		}
		if cpus, mem, ok := usage.SoftReservation(h); ok {
			s.SoftNanoCPUs, s.SoftMemory = int64(cpus*1e9), int64(mem)
		}
	}
}

// placeRequest is what place asks the scheduler, but for where volumes are
// and ports other processes hold: the hosts with what runs there besides
// the services placed, where those services' replicas are now, the
// services and the networks. anyDown says whether some host is
// unreachable.
func placeRequest(p *compose.Project, set []string, scale map[string]int, w *world, pool []*hosts.Host, views map[string]*hostView, explain bool) (schedule.Request, bool) {
	inSet := map[string]bool{}
	for _, s := range set {
		inSet[s] = true
	}
	req := schedule.Request{Strategy: schedule.Strategy(p.X.Strategy), Explain: explain}
	anyDown := false
	for _, h := range pool {
		v := views[h.Name]
		anyDown = anyDown || v.err != nil
		req.Hosts = append(req.Hosts, scheduleHost(h, v, w.all[h.Name], p.Name, inSet))
	}
	req.Current = currentHosts(w.project, inSet)
	for _, name := range set {
		req.Services = append(req.Services, scheduleService(p.Services[name], scale, len(pool) > 1))
	}
	for name, n := range p.Networks {
		req.Networks = append(req.Networks, schedule.Network{Name: name, Colocate: compose.NetworkX(n).Colocate})
	}
	sort.Slice(req.Networks, func(i, j int) bool { return req.Networks[i].Name < req.Networks[j].Name })
	return req, anyDown
}

// scheduleHost is a host as the scheduler sees it: its capacity, and the
// reservations, count and published ports of its running containers but
// the project's replicas of the services in inSet: those are placed.
func scheduleHost(h *hosts.Host, v *hostView, cs []Container, project string, inSet map[string]bool) schedule.Host {
	sh := schedule.Host{Name: h.Name, Reachable: v.reachable, Labels: h.Labels, NanoCPUs: int64(v.ncpu) * 1e9, MemoryBytes: v.mem, OS: v.os, Arch: v.arch,
		UsedPorts: map[schedule.PortKey]string{}, Local: isLocal(h.Endpoint, h.Address)}
	if v.err != nil {
		sh.Err = v.err.Error()
	}
	for _, c := range cs {
		ours := c.Labels[labels.Project] == project && inSet[c.Service] && !c.OneOff
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
	return sh
}

// currentHosts is where the replicas of the services in inSet are now.
// With two containers for one replica (a copy moved off a host that was
// unreachable and came back, or an interrupted recreate), the current one
// is the one the plan keeps: running first, then the newest.
func currentHosts(project []Container, inSet map[string]bool) map[schedule.ReplicaKey]string {
	chosen := map[schedule.ReplicaKey]Container{}
	for _, c := range project {
		if c.OneOff || !inSet[c.Service] {
			continue
		}
		k := schedule.ReplicaKey{Service: c.Service, Replica: c.Replica}
		prev, seen := chosen[k]
		if !seen || (c.Running() && !prev.Running()) || (c.Running() == prev.Running() && plan.Newer(c, prev)) {
			chosen[k] = c
		}
	}
	out := map[schedule.ReplicaKey]string{}
	for k, c := range chosen {
		out[k] = c.HostName()
	}
	return out
}

// scheduleService is a service as the scheduler sees it. Its fixed
// published ports count only with several hosts: with one, port clashes
// are validate's to report (it names the holder); with several, placement
// avoids them.
func scheduleService(s types.ServiceConfig, scale map[string]int, severalHosts bool) schedule.Service {
	ss := schedule.Service{Name: s.Name, Replicas: plan.DesiredScale(s, scale), Platform: s.Platform}
	if s.Deploy != nil {
		ss.Constraints = s.Deploy.Placement.Constraints
	}
	ss.ReservedNanoCPUs, ss.ReservedMemory = spec.Reservations(s)
	if severalHosts && !strings.HasPrefix(s.NetworkMode, types.ServicePrefix) && s.NetworkMode != "host" {
		for _, pc := range s.Ports {
			start, end, ok := plan.PortRange(pc.Published)
			if !ok || start != end {
				continue
			}
			ss.Ports = append(ss.Ports, schedule.PortKey{HostIP: pc.HostIP, Port: uint16(start), Protocol: pc.Protocol})
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
	return ss
}

// probeLocalPorts marks, on the reachable hosts of this machine, the ports
// the services publish that another process holds: the scheduler avoids
// them as it avoids containers' ports. Each port is probed once per host,
// and not at all when a container already holds it.
func probeLocalPorts(hs []schedule.Host, services []schedule.Service, w *world, project string, probe func(ip string, port int, proto string) error) {
	probed := map[string]bool{}
	for _, ss := range services {
		for _, key := range ss.Ports {
			for i := range hs {
				h := &hs[i]
				pk := h.Name + "/" + key.String()
				if !h.Local || !h.Reachable || probed[pk] {
					continue
				}
				probed[pk] = true
				if _, held := h.UsedPorts[key]; held || heldByProject(w, h.Name, project, key.Port) {
					continue
				}
				proto := key.Protocol
				if proto == "" {
					proto = "tcp"
				}
				if err := probe(key.HostIP, int(key.Port), proto); err != nil {
					h.UsedPorts[key] = "another process"
				}
			}
		}
	}
}

// placeAround places the request (place is schedule.Place). While some
// host is down (anyDown), a service that fits nowhere cannot move off it:
// it is left out with what must be placed with it, and the rest is placed;
// those left out are in the placement's failed, with the scheduler's
// reason.
func placeAround(req schedule.Request, anyDown bool, place func(schedule.Request) (schedule.Result, error)) (*placement, error) {
	failed := map[string]string{}
	for {
		res, err := place(req)
		if err == nil {
			return placementOf(res, failed), nil
		}
		var un *schedule.Unplaceable
		if !errors.As(err, &un) || !anyDown {
			return nil, err
		}
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

// placementOf maps the scheduler's answer to the run's placement.
func placementOf(res schedule.Result, failed map[string]string) *placement {
	pl := &placement{hostOf: map[schedule.ReplicaKey]string{}, why: map[schedule.ReplicaKey]string{}, volumeHosts: res.VolumeHosts, reasons: res.Reasons, failed: failed, soft: res.Soft}
	for _, a := range res.Assignments {
		k := schedule.ReplicaKey{Service: a.Service, Replica: a.Replica}
		pl.hostOf[k], pl.why[k] = a.Host, a.Why
	}
	return pl
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

// summary is the placement as plain data, for the plan's --dry-run table.
func (pl *placement) summary() []plan.Placed {
	out := make([]plan.Placed, 0, len(pl.hostOf))
	for k, host := range pl.hostOf {
		out = append(out, plan.Placed{Service: k.Service, Replica: k.Replica, Host: host, Why: pl.why[k], Verdicts: pl.reasons[k]})
	}
	return out
}
