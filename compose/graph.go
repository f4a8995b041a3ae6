package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Dependencies returns the services s must wait for before it starts: its
// depends_on entries plus the services whose namespaces or volumes it shares
// (network_mode/ipc/pid: service:x, volumes_from), sorted. Dependencies that
// are not in the project (an optional depends_on whose service is disabled)
// are left out.
func Dependencies(p *types.Project, s types.ServiceConfig) []string {
	set := map[string]bool{}
	for name := range s.DependsOn {
		set[name] = true
	}
	for _, n := range NamespaceTargets(s) {
		set[n] = true
	}
	var out []string
	for n := range set {
		if _, ok := p.Services[n]; ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// NamespaceTargets lists services whose container s joins or shares:
// network_mode, ipc and pid set to service:x, and volumes_from service.
// A container that shares a namespace must be recreated with its target.
func NamespaceTargets(s types.ServiceConfig) []string {
	var out []string
	for _, v := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if strings.HasPrefix(v, types.ServicePrefix) {
			out = append(out, strings.TrimPrefix(v, types.ServicePrefix))
		}
	}
	for _, vf := range s.VolumesFrom {
		if strings.HasPrefix(vf, types.ContainerPrefix) {
			continue
		}
		name, _, _ := strings.Cut(vf, ":")
		out = append(out, name)
	}
	return out
}

// Dependents returns the services that depend on name (directly), sorted.
func Dependents(p *types.Project, name string) []string {
	var out []string
	for _, s := range p.Services {
		for _, d := range Dependencies(p, s) {
			if d == name {
				out = append(out, s.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// WithDependencies returns names plus everything they transitively depend on,
// sorted.
func WithDependencies(p *types.Project, names []string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		s, ok := p.Services[n]
		if !ok {
			return
		}
		for _, d := range Dependencies(p, s) {
			visit(d)
		}
	}
	for _, n := range names {
		visit(n)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkGraph reports a dependency on an unknown service and cycles, naming
// the services involved. compose-go checks depends_on; this covers the
// namespace and volumes_from links too.
func checkGraph(p *types.Project) error {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, t := range NamespaceTargets(p.Services[n]) {
			if _, ok := p.Services[t]; !ok {
				return fmt.Errorf("service %q refers to undefined service %q", n, t)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(string) error
	visit = func(n string) error {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range Dependencies(p, p.Services[n]) {
			switch color[d] {
			case grey:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), d)
				return fmt.Errorf("dependency cycle detected: %s", strings.Join(cycle, " -> "))
			case white:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, n := range names {
		if color[n] == white {
			if err := visit(n); err != nil {
				return err
			}
		}
	}
	return nil
}
