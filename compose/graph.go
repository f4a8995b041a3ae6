package compose

import (
	"fmt"
	"maps"
	"slices"
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
	names := slices.Sorted(maps.Keys(p.Services))
	for _, n := range names {
		for _, t := range NamespaceTargets(p.Services[n]) {
			if _, ok := p.Services[t]; !ok {
				return fmt.Errorf("service %q refers to undefined service %q", n, t)
			}
		}
	}
	_, err := Order(NewGraph(p, names), Up)
	return err
}

// Graph maps each service to the services it waits for, each marked
// required or not (depends_on's required: false). A dependency that is not
// itself a key of the graph is outside the walk and is not waited for: a
// service left out of the run (up --no-deps, start of some services) or
// disabled.
type Graph map[string]map[string]bool

// NewGraph returns the graph of the named services of p: their
// Dependencies among names. A name that p does not define is a service
// with no dependencies (containers of a service the file no longer has).
func NewGraph(p *types.Project, names []string) Graph {
	g := make(Graph, len(names))
	for _, n := range names {
		g[n] = nil
	}
	for _, n := range names {
		s, ok := p.Services[n]
		if !ok {
			continue
		}
		for _, d := range Dependencies(p, s) {
			if _, in := g[d]; !in {
				continue
			}
			if g[n] == nil {
				g[n] = map[string]bool{}
			}
			// A namespace or volumes_from target that depends_on does
			// not name cannot be done without.
			dep, named := s.DependsOn[d]
			g[n][d] = !named || dep.Required
		}
	}
	return g
}

// dependencies returns the services of g that n waits for, sorted.
func (g Graph) dependencies(n string) []string {
	var out []string
	for d := range g[n] {
		if _, ok := g[d]; ok {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// Order returns the services of g in an order Walk could visit them one at
// a time: with Up every service comes after what it depends on, with Down
// before it. Ties go by name, depth first, so the order is stable from run
// to run (plans and dry runs list steps in it). A cycle is an error that
// names it.
func Order(g Graph, dir Direction) ([]string, error) {
	const (
		unseen = iota
		open
		closed
	)
	state := map[string]int{}
	var stack, out []string
	var visit func(string) error
	visit = func(n string) error {
		state[n] = open
		stack = append(stack, n)
		for _, d := range g.dependencies(n) {
			switch state[d] {
			case open:
				i := slices.Index(stack, d)
				cycle := append(slices.Clone(stack[i:]), d)
				return fmt.Errorf("dependency cycle detected: %s", strings.Join(cycle, " -> "))
			case unseen:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = closed
		out = append(out, n)
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(g)) {
		if state[n] == unseen {
			if err := visit(n); err != nil {
				return nil, err
			}
		}
	}
	if dir == Down {
		slices.Reverse(out)
	}
	return out, nil
}
