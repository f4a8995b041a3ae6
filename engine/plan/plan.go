// Package plan decides what a run of up does, without I/O: from the
// containers observed on the hosts (Container), the desired model and the
// placement, the action for every replica (Make), and the checks that need
// nothing more than what the engine gathered beforehand (Validate: names
// and published ports held by other containers or processes). The engine
// does the reading and the acting.
package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine/schedule"
	"github.com/devorch/devorch/internal/labels"
	"github.com/devorch/devorch/netctl"
)

// Action is what convergence does to one replica.
type Action string

const (
	ActKeep     Action = "keep"     // running and up to date: not touched
	ActStart    Action = "start"    // up to date but stopped: started
	ActCreate   Action = "create"   // missing: created and started
	ActRecreate Action = "recreate" // config or image changed: replaced
	ActRestart  Action = "restart"  // kept, but restarted because a depends_on {restart: true} dependency changed
	ActRemove   Action = "remove"   // a replica beyond the scale, a duplicate or an orphan
)

// Step is one planned action on one replica.
type Step struct {
	Service  string
	Replica  int
	Host     string
	Name     string // the container's name once converged
	Action   Action
	Reason   string
	Existing *Container // the container acted on (nil for create)
	// Why is the scheduler's reason for the replica's host.
	Why string
	// Rename is set when a kept container has a temporary name left by an
	// interrupted recreate.
	Rename bool
}

// Plan is what Up will do, per service, before doing any of it.
type Plan struct {
	Steps   []Step
	Orphans []Container
	// Placement is where every replica goes, with the scheduler's reasons;
	// the engine fills it in for --dry-run's table.
	Placement []Placed
	// Soft says which recorded usage placement counted services without
	// declared reservations by ("api 0.35 CPUs 240MiB").
	Soft []string
	// Networks is each network's kind across the hosts it spans (bridge,
	// overlay, link fallback), with the hosts: filled in by the engine
	// when there are several hosts.
	Networks []NetworkKind
	// Overlays maps the networks that are Swarm overlays to the manager
	// host they are created on.
	Overlays map[string]string
	// Replaced lists, by host, the IDs of the bridges that overlays
	// replace: taken off before the overlays are created, their
	// containers recreated on the overlays.
	Replaced map[string][]string
}

// NetworkKind is how one network connects its containers in this run.
type NetworkKind struct {
	Key, Kind string
	Hosts     []string
}

// Placed is where one replica goes, as the scheduler decided it.
type Placed struct {
	Service string
	Replica int
	Host    string
	Why     string
	// Verdicts is every host's verdict, when the scheduler explained.
	Verdicts []schedule.HostVerdict
}

// ServiceSteps returns the steps for one service, by replica.
func (p *Plan) ServiceSteps(service string) []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Service == service {
			out = append(out, s)
		}
	}
	return out
}

// Input is what planning needs; it is plain data, so planning is a pure
// function tested without Docker.
type Input struct {
	Project  *compose.Project
	Services []string                     // the services to converge
	Existing []Container                  // the project's service containers (not one-offs), on all hosts
	Images   map[string]map[string]string // service → host → image ID it should run
	Scale    map[string]int
	// Force recreates these services even when unchanged (--force-recreate
	// applies to the services named, or all; dependencies pulled in by them
	// are recreated only when they diverged, as in compose).
	Force      map[string]bool
	NoRecreate bool
	// Place returns the host of a replica: where a new one goes, or where
	// the scheduler moves an existing one ("" or its own host: it stays).
	Place func(service string, replica int) string
	// LinkSig returns the cross-host link signature a replica on a host
	// must have (nil: none).
	LinkSig func(service, host string, replica int) string
	// Why returns the scheduler's reason for a replica's host (nil: none).
	Why func(service string, replica int) string
	// Replaced maps the IDs of networks this run replaces (a bridge whose
	// network becomes a Swarm overlay) to the reason: a container on one
	// is recreated.
	Replaced map[string]string
}

// ContainerName is the name of a service replica's container.
func ContainerName(p *compose.Project, s types.ServiceConfig, replica int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, s.Name, replica)
}

// DesiredScale is the number of replicas wanted for a service, override
// being --scale.
func DesiredScale(s types.ServiceConfig, override map[string]int) int {
	if n, ok := override[s.Name]; ok {
		return n
	}
	return s.GetScale()
}

// Make plans the run: for every replica of the services converged, in
// dependency order, whether it is kept, started, created, recreated or
// restarted, and which containers go (duplicates, replicas beyond the
// scale); containers of services no longer in the model are orphans.
func Make(in Input) (*Plan, error) {
	p := in.Project
	plan := &Plan{}
	selected := map[string]bool{}
	for _, s := range in.Services {
		selected[s] = true
	}
	bySvc := map[string][]Container{}
	for _, c := range in.Existing {
		bySvc[c.Service] = append(bySvc[c.Service], c)
	}
	// Orphans: containers of services no longer in the model.
	for _, c := range in.Existing {
		if _, ok := p.Services[c.Service]; ok {
			continue
		}
		if _, ok := p.DisabledServices[c.Service]; ok {
			continue
		}
		plan.Orphans = append(plan.Orphans, c)
	}
	changed := map[string]bool{} // services whose containers are created or replaced
	order, err := compose.Order(compose.NewGraph(p.Project, in.Services), compose.Up)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		s := p.Services[name]
		n := DesiredScale(s, in.Scale)
		if s.ContainerName != "" && n > 1 {
			return nil, fmt.Errorf("service %q: container_name %q cannot be used with %d replicas: container names must be unique", name, s.ContainerName, n)
		}
		replicas := map[int][]Container{}
		for _, c := range bySvc[name] {
			replicas[c.Replica] = append(replicas[c.Replica], c)
		}
		// Namespace sharers follow their target: recreated with it.
		followsChanged := ""
		for _, t := range compose.NamespaceTargets(s) {
			if changed[t] {
				followsChanged = t
			}
		}
		for r := 1; r <= n; r++ {
			cname := ContainerName(p, s, r)
			cs := replicas[r]
			if len(cs) == 0 {
				host := in.Place(name, r)
				plan.Steps = append(plan.Steps, Step{Service: name, Replica: r, Host: host, Name: cname, Action: ActCreate, Reason: "missing", Why: whyOf(in, name, r)})
				changed[name] = true
				continue
			}
			want := in.Images[name]
			best, extras := pickReplica(cs, cname, p.Hashes[name], want)
			for i := range extras {
				plan.Steps = append(plan.Steps, Step{Service: name, Replica: r, Host: extras[i].HostName(), Name: extras[i].Name, Action: ActRemove, Reason: "duplicate replica", Existing: &extras[i]})
			}
			st := Step{Service: name, Replica: r, Host: best.HostName(), Name: cname, Existing: best, Rename: best.Name != cname, Why: whyOf(in, name, r)}
			reason := recreateReason(in, &st, want, followsChanged)
			switch {
			case reason != "" && !in.NoRecreate:
				st.Action, st.Reason = ActRecreate, reason
				changed[name] = true
			case best.Running():
				st.Action = ActKeep
				if reason != "" {
					st.Reason = reason + " (--no-recreate)"
				}
			default:
				st.Action, st.Reason = ActStart, best.State
			}
			plan.Steps = append(plan.Steps, st)
		}
		plan.Steps = append(plan.Steps, scaledDown(name, n, replicas)...)
	}
	restartDependents(plan, p, changed, selected)
	return plan, nil
}

// recreateReason says why the kept container of st must be replaced ("" if
// it need not), moving st to the host the scheduler now gives it.
func recreateReason(in Input, st *Step, want map[string]string, followsChanged string) string {
	p, best, name, r := in.Project, st.Existing, st.Service, st.Replica
	switch to := in.Place(name, r); {
	case to != "" && to != best.HostName():
		// The scheduler moved it (its host became infeasible).
		st.Host = to
		return "moved from host " + best.HostName() + " to " + to
	case in.Force[name]:
		return "--force-recreate"
	case best.Hash != p.Hashes[name]:
		return "configuration changed"
	case want != nil && want[best.HostName()] != "" && best.ImageID != want[best.HostName()]:
		return "image changed"
	case followsChanged != "":
		return fmt.Sprintf("shares a namespace with %s, which is replaced", followsChanged)
	case replacedNetwork(in.Replaced, best) != "":
		return replacedNetwork(in.Replaced, best)
	case in.LinkSig != nil && in.LinkSig(name, st.Host, r) != best.Labels[labels.Links]:
		return "cross-host links changed"
	}
	return ""
}

// replacedNetwork is why c must be recreated for a network it is on that
// the run replaces ("" if none).
func replacedNetwork(replaced map[string]string, c *Container) string {
	for _, id := range c.NetworkIDs {
		if why := replaced[id]; why != "" {
			return why
		}
	}
	return ""
}

// scaledDown removes the replicas beyond the scale n, highest first.
func scaledDown(name string, n int, replicas map[int][]Container) []Step {
	var extra []int
	for r := range replicas {
		if r > n || r < 1 {
			extra = append(extra, r)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(extra)))
	var out []Step
	for _, r := range extra {
		for i := range replicas[r] {
			c := replicas[r][i]
			out = append(out, Step{Service: name, Replica: r, Host: c.HostName(), Name: c.Name, Action: ActRemove, Reason: "scaled down", Existing: &c})
		}
	}
	return out
}

// restartDependents applies depends_on {restart: true}: a kept dependent
// restarts when its dependency (in the run) changed.
func restartDependents(plan *Plan, p *compose.Project, changed, selected map[string]bool) {
	for i := range plan.Steps {
		st := &plan.Steps[i]
		if st.Action != ActKeep {
			continue
		}
		s := p.Services[st.Service]
		for _, d := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if s.DependsOn[d].Restart && changed[d] && selected[d] {
				st.Action, st.Reason = ActRestart, d+" changed"
				break
			}
		}
	}
}

// Newer says whether a was created after b: the rule that picks the
// newest of two copies of one replica, shared by placement and the plan so
// they never keep different copies. Equal times (the container list has
// whole seconds) fall to the host name, then the ID, so the choice does
// not depend on the order hosts answered in.
func Newer(a, b Container) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	if a.HostName() != b.HostName() {
		return a.HostName() < b.HostName()
	}
	return a.ID < b.ID
}

// pickReplica chooses which of several containers for one replica number
// to keep (after an interrupted run there can be two): the one already up
// to date, else the one with the right name, else the newest.
func pickReplica(cs []Container, name, hash string, want map[string]string) (*Container, []Container) {
	score := func(c Container) int {
		s := 0
		if c.Hash == hash && (want == nil || want[c.HostName()] == "" || want[c.HostName()] == c.ImageID) {
			s += 4
		}
		if c.Name == name {
			s += 2
		}
		if c.Running() {
			s++
		}
		return s
	}
	sorted := append([]Container(nil), cs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		si, sj := score(sorted[i]), score(sorted[j])
		if si != sj {
			return si > sj
		}
		return Newer(sorted[i], sorted[j])
	})
	best := sorted[0]
	return &best, sorted[1:]
}

// String renders the plan as a table, for --dry-run: the placement of
// every replica with its reason, then the actions per host.
func (p *Plan) String() string {
	var b strings.Builder
	if len(p.Networks) > 0 {
		b.WriteString("NETWORKS\n")
		for _, n := range p.Networks {
			fmt.Fprintf(&b, "  %s: %s (%s)\n", n.Key, n.Kind, strings.Join(n.Hosts, ", "))
		}
	}
	if len(p.Soft) > 0 {
		fmt.Fprintf(&b, "SOFT RESERVATIONS (recorded usage, for services that declare none; placement ranks hosts by them, never refuses one)\n  %s\n", strings.Join(p.Soft, "\n  "))
	}
	if len(p.Placement) > 0 {
		b.WriteString("PLACEMENT\n")
		placed := slices.SortedFunc(slices.Values(p.Placement), func(a, b Placed) int {
			return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Replica, b.Replica))
		})
		for _, r := range placed {
			fmt.Fprintf(&b, "  %s-%d → %s  (%s)\n", r.Service, r.Replica, r.Host, r.Why)
			for _, v := range r.Verdicts {
				if !v.Placed {
					fmt.Fprintf(&b, "      %s: %s\n", v.Host, v.Reason)
				}
			}
		}
		b.WriteString("PLAN\n")
	}
	for _, s := range p.Steps {
		line := fmt.Sprintf("%-9s %-30s host=%s", s.Action, s.Name, s.Host)
		if s.Reason != "" {
			line += "  (" + s.Reason + ")"
		}
		b.WriteString(line + "\n")
	}
	for _, o := range p.Orphans {
		b.WriteString(fmt.Sprintf("%-9s %-30s host=%s  (orphan: service %s is not in the model)\n", "orphan", o.Name, o.HostName(), o.Service))
	}
	return b.String()
}

func whyOf(in Input, service string, replica int) string {
	if in.Why == nil {
		return ""
	}
	return in.Why(service, replica)
}

// Uses returns what the plan's containers use on each host: the networks
// (compose keys, as netctl asks for them) and the named volumes (compose
// keys). Containers the plan removes use nothing.
func (p *Plan) Uses(model *compose.Project) (nets netctl.Need, vols map[string]map[string]bool) {
	nets, vols = netctl.Need{}, map[string]map[string]bool{}
	for _, st := range p.Steps {
		if st.Action == ActRemove {
			continue
		}
		s := model.Services[st.Service]
		if vols[st.Host] == nil {
			vols[st.Host] = map[string]bool{}
		}
		nets.Add(st.Host, s)
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				vols[st.Host][v.Source] = true
			}
		}
	}
	return nets, vols
}
