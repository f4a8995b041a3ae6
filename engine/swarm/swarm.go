// Package swarm owns devorch's use of Docker Swarm's membership across its
// hosts: which of them form one Swarm and who manages it (Observe and
// Topology), forming one or joining the hosts to the one they are in, on
// the user's request only (Join), and undoing what devorch formed or
// joined and nothing else (Leave). devorch knows what it did by labels: the
// Swarm it initialised carries labels.SwarmFormed in its spec, a node it
// joined carries labels.SwarmJoined, and every node it touched carries its
// devorch host name (labels.Host). It works over a narrow Docker API and
// plain data, like the other packages below the engine.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/devorch/devorch/internal/labels"
)

// API is the part of the Docker client this package uses.
type API interface {
	Info(ctx context.Context) (system.Info, error)
	SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error)
	SwarmJoin(ctx context.Context, req swarm.JoinRequest) error
	SwarmLeave(ctx context.Context, force bool) error
	SwarmInspect(ctx context.Context) (swarm.Swarm, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
	NodeInspectWithRaw(ctx context.Context, nodeID string) (swarm.Node, []byte, error)
	NodeUpdate(ctx context.Context, nodeID string, version swarm.Version, node swarm.NodeSpec) error
	NodeRemove(ctx context.Context, nodeID string, options swarm.NodeRemoveOptions) error
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
}

// Host is one devorch host as this package sees it: its name, the address
// other hosts reach it at ("" lets Docker choose) and its API.
type Host struct {
	Name    string
	Address string
	API     API
	// Info, when set, reads the host's docker info in place of API.Info
	// (the caller may have just read it).
	Info func(ctx context.Context) (system.Info, error)
}

func (h Host) info(ctx context.Context) (system.Info, error) {
	if h.Info != nil {
		return h.Info(ctx)
	}
	return h.API.Info(ctx)
}

// Member is one host's place in a Swarm.
type Member struct {
	Host string `json:"Host"`
	// State is Docker's local node state: inactive, pending, active,
	// error or locked; "" when the host did not answer (Err says why).
	State    string `json:"State,omitempty"`
	NodeID   string `json:"NodeID,omitempty"`
	NodeAddr string `json:"NodeAddr,omitempty"`
	Manager  bool   `json:"Manager,omitempty"`
	Leader   bool   `json:"Leader,omitempty"`
	// Cluster is the Swarm's ID, known when a manager among the hosts
	// lists this node ("" otherwise).
	Cluster string `json:"Cluster,omitempty"`
	Err     string `json:"Error,omitempty"`
}

// Active says whether the host is a working member of a Swarm.
func (m Member) Active() bool { return m.State == string(swarm.LocalNodeStateActive) }

// Role is the member's role as `devorch hosts` shows it.
func (m Member) Role() string {
	switch {
	case m.State == "":
		return "?"
	case !m.Active():
		if m.State == string(swarm.LocalNodeStateInactive) {
			return "-"
		}
		return m.State
	case m.Leader:
		return "manager (leader)"
	case m.Manager:
		return "manager"
	}
	return "worker"
}

// Topology is the Swarm membership of every host, in the pool's order.
type Topology struct {
	Members []Member
	// managers maps a cluster ID to the names of the hosts that manage it.
	managers map[string][]string
}

// Member returns the named host's membership.
func (t Topology) Member(host string) (Member, bool) {
	for _, m := range t.Members {
		if m.Host == host {
			return m, true
		}
	}
	return Member{}, false
}

// Manager returns a host that manages the cluster ("" if none does).
func (t Topology) Manager(cluster string) string {
	if ms := t.managers[cluster]; len(ms) > 0 {
		return ms[0]
	}
	return ""
}

// Shared returns the Swarm every named host is an active member of, and a
// host that manages it, or ok false when they are not all in one Swarm a
// host of the pool manages.
func (t Topology) Shared(names []string) (cluster, manager string, ok bool) {
	for i, n := range names {
		m, found := t.Member(n)
		if !found || !m.Active() || m.Cluster == "" {
			return "", "", false
		}
		if i == 0 {
			cluster = m.Cluster
		} else if m.Cluster != cluster {
			return "", "", false
		}
	}
	manager = t.Manager(cluster)
	return cluster, manager, cluster != "" && manager != ""
}

// Observe asks every host for its Swarm state, and each manager for the
// nodes of its Swarm, so that workers are placed in theirs.
func Observe(ctx context.Context, hs []Host) Topology {
	t := Topology{Members: make([]Member, len(hs)), managers: map[string][]string{}}
	nodes := make([][]swarm.Node, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Members[i], nodes[i] = observe(ctx, h)
		}()
	}
	wg.Wait()
	clusterOf := map[string]string{} // node ID → cluster
	leaders := map[string]bool{}
	for i, m := range t.Members {
		if m.Cluster == "" {
			continue
		}
		t.managers[m.Cluster] = append(t.managers[m.Cluster], hs[i].Name)
		for _, n := range nodes[i] {
			clusterOf[n.ID] = m.Cluster
			if n.ManagerStatus != nil && n.ManagerStatus.Leader {
				leaders[n.ID] = true
			}
		}
	}
	for i := range t.Members {
		m := &t.Members[i]
		if m.Cluster == "" && m.Active() {
			m.Cluster = clusterOf[m.NodeID]
		}
		m.Leader = leaders[m.NodeID]
	}
	return t
}

func observe(ctx context.Context, h Host) (Member, []swarm.Node) {
	m := Member{Host: h.Name}
	info, err := h.info(ctx)
	if err != nil {
		m.Err = err.Error()
		return m, nil
	}
	s := info.Swarm
	m.State, m.NodeID, m.NodeAddr, m.Manager = string(s.LocalNodeState), s.NodeID, s.NodeAddr, s.ControlAvailable
	if s.Error != "" {
		m.Err = s.Error
	}
	if !m.Manager || !m.Active() || s.Cluster == nil {
		return m, nil
	}
	m.Cluster = s.Cluster.ID
	nodes, err := h.API.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		m.Err = err.Error()
		return m, nil
	}
	return m, nodes
}

// JoinOptions are `devorch hosts join`'s choices.
type JoinOptions struct {
	// Managers is how many of the hosts manage the Swarm (odd; 0 means 1).
	Managers int
	// Say reports each step, for the user.
	Say func(format string, args ...any)
}

// Join forms a Swarm among the hosts, or joins them to the one some of
// them are already in; it is idempotent. The first host initialises a new
// Swarm (advertising its address); the others join as workers, or as
// managers until there are Managers of them. Every node is labelled with
// its devorch host name.
func Join(ctx context.Context, hs []Host, o JoinOptions) error {
	if o.Managers == 0 {
		o.Managers = 1
	}
	if o.Managers < 0 || o.Managers%2 == 0 || o.Managers > len(hs) {
		return fmt.Errorf("--managers %d: want an odd number from 1 to the number of hosts (%d): a Swarm keeps its quorum with a majority of its managers", o.Managers, len(hs))
	}
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	t := Observe(ctx, hs)
	cluster, err := chooseCluster(t)
	if err != nil {
		return err
	}
	byName := map[string]Host{}
	for _, h := range hs {
		byName[h.Name] = h
	}
	var mgr Host
	if cluster == "" {
		mgr = hs[0]
		if err := initSwarm(ctx, mgr); err != nil {
			return err
		}
		say("%s: formed a new Swarm (manager)", mgr.Name)
	} else {
		mgr = byName[t.Manager(cluster)]
		say("reusing the Swarm %s managed by %s", short(cluster), mgr.Name)
	}
	s, err := mgr.API.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("host %q: inspect its Swarm: %w", mgr.Name, err)
	}
	minfo, err := mgr.info(ctx)
	if err != nil {
		return fmt.Errorf("host %q: %w", mgr.Name, err)
	}
	remote := managerAddr(minfo.Swarm)
	managers := minfo.Swarm.Managers
	joined := map[string]bool{}
	if cluster == "" {
		joined[mgr.Name] = true
	}
	for _, h := range hs {
		m, _ := t.Member(h.Name)
		if h.Name == mgr.Name || (m.Active() && m.Cluster != "") {
			if h.Name != mgr.Name {
				say("%s: already a %s", h.Name, m.Role())
			}
			continue
		}
		token, role := s.JoinTokens.Worker, "worker"
		if managers < o.Managers {
			token, role = s.JoinTokens.Manager, "manager"
			managers++
		}
		req := swarm.JoinRequest{ListenAddr: listenAddr(h), AdvertiseAddr: h.Address, RemoteAddrs: []string{remote}, JoinToken: token}
		if err := h.API.SwarmJoin(ctx, req); err != nil {
			return fmt.Errorf("host %q: join the Swarm at %s as a %s: %w", h.Name, remote, role, err)
		}
		joined[h.Name] = true
		say("%s: joined as a %s", h.Name, role)
	}
	return labelNodes(ctx, mgr, hs, joined)
}

// chooseCluster is the Swarm the hosts already share ("" for none), or an
// error when they cannot be joined into one.
func chooseCluster(t Topology) (string, error) {
	var clusters []string
	for _, m := range t.Members {
		switch {
		case m.Err != "" && m.State == "":
			return "", fmt.Errorf("host %q is unreachable: %s", m.Host, m.Err)
		case m.State == string(swarm.LocalNodeStateInactive):
		case !m.Active():
			return "", fmt.Errorf("host %q is in Swarm state %q (%s): repair it with docker swarm leave --force on that host first", m.Host, m.State, m.Err)
		case m.Cluster == "":
			return "", fmt.Errorf("host %q is a worker of a Swarm none of the declared hosts manages: declare one of its managers as a host, or leave it with docker swarm leave on that host", m.Host)
		default:
			if !slices.Contains(clusters, m.Cluster) {
				clusters = append(clusters, m.Cluster)
			}
		}
	}
	if len(clusters) > 1 {
		var in []string
		for _, c := range clusters {
			var names []string
			for _, m := range t.Members {
				if m.Cluster == c {
					names = append(names, m.Host)
				}
			}
			in = append(in, fmt.Sprintf("%s in %s", strings.Join(names, ", "), short(c)))
		}
		return "", fmt.Errorf("the hosts are in different Swarms (%s): one Swarm must go first (devorch hosts leave, or docker swarm leave)", strings.Join(in, "; "))
	}
	if len(clusters) == 1 {
		return clusters[0], nil
	}
	return "", nil
}

func initSwarm(ctx context.Context, h Host) error {
	req := swarm.InitRequest{ListenAddr: listenAddr(h), AdvertiseAddr: h.Address}
	req.Spec.Annotations.Labels = map[string]string{labels.SwarmFormed: "true"}
	if _, err := h.API.SwarmInit(ctx, req); err != nil {
		return fmt.Errorf("host %q: form a Swarm (advertising %q): %w", h.Name, h.Address, err)
	}
	return nil
}

func listenAddr(h Host) string {
	if h.Address != "" {
		return h.Address + ":2377"
	}
	return "0.0.0.0:2377"
}

// managerAddr is where joining nodes reach this manager.
func managerAddr(s swarm.Info) string {
	for _, p := range s.RemoteManagers {
		if p.NodeID == s.NodeID {
			return p.Addr
		}
	}
	return s.NodeAddr + ":2377"
}

// labelNodes gives each host's node its devorch host name, and the ones
// joined now labels.SwarmJoined.
func labelNodes(ctx context.Context, mgr Host, hs []Host, joined map[string]bool) error {
	for _, h := range hs {
		info, err := h.info(ctx)
		if err != nil {
			return fmt.Errorf("host %q: %w", h.Name, err)
		}
		id := info.Swarm.NodeID
		want := map[string]string{labels.Host: h.Name}
		if joined[h.Name] {
			want[labels.SwarmJoined] = "true"
		}
		if err := updateNodeLabels(ctx, mgr.API, id, want); err != nil {
			return fmt.Errorf("host %q: label its Swarm node: %w", h.Name, err)
		}
	}
	return nil
}

// updateNodeLabels adds labels to a node, retrying when another update
// got in between (the version moved).
func updateNodeLabels(ctx context.Context, api API, id string, want map[string]string) error {
	var err error
	for range 5 {
		var n swarm.Node
		n, _, err = api.NodeInspectWithRaw(ctx, id)
		if err != nil {
			return err
		}
		spec := n.Spec
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		changed := false
		for k, v := range want {
			if spec.Labels[k] != v {
				spec.Labels[k], changed = v, true
			}
		}
		if !changed {
			return nil
		}
		if err = api.NodeUpdate(ctx, id, n.Version, spec); err == nil {
			return nil
		}
	}
	return err
}

// Leave undoes what Join did: every host leaves a Swarm devorch formed
// (workers first, managers last); of a Swarm devorch did not form, only
// the workers it joined leave, and are removed from its node list.
// Nothing leaves while a project's overlay networks are on the Swarm.
func Leave(ctx context.Context, hs []Host, say func(format string, args ...any)) error {
	if say == nil {
		say = func(string, ...any) {}
	}
	t := Observe(ctx, hs)
	cluster, err := chooseCluster(t)
	if err != nil {
		return err
	}
	if cluster == "" {
		say("no host is in a Swarm")
		return nil
	}
	byName := map[string]Host{}
	for _, h := range hs {
		byName[h.Name] = h
	}
	mgr := byName[t.Manager(cluster)]
	s, err := mgr.API.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("host %q: inspect its Swarm: %w", mgr.Name, err)
	}
	formed := s.Spec.Labels[labels.SwarmFormed] == "true"
	var workers, managers []Member
	for _, m := range t.Members {
		if !m.Active() {
			continue
		}
		if m.Manager {
			managers = append(managers, m)
		} else {
			workers = append(workers, m)
		}
	}
	if !formed {
		return leaveJoined(ctx, byName, mgr, workers, managers, say)
	}
	if err := refuseInUse(ctx, mgr); err != nil {
		return err
	}
	for _, m := range workers {
		if err := byName[m.Host].API.SwarmLeave(ctx, false); err != nil {
			return fmt.Errorf("host %q: leave the Swarm: %w", m.Host, err)
		}
		say("%s: left the Swarm", m.Host)
	}
	// The manager devorch talks to goes last: the others leave with force
	// (the Swarm is going away, its quorum with it).
	sort.SliceStable(managers, func(i, j int) bool { return managers[j].Host == mgr.Name })
	for _, m := range managers {
		if err := byName[m.Host].API.SwarmLeave(ctx, true); err != nil {
			return fmt.Errorf("host %q: leave the Swarm: %w", m.Host, err)
		}
		say("%s: left the Swarm (manager)", m.Host)
	}
	return nil
}

// leaveJoined takes out of a Swarm devorch did not form the workers it
// joined to it; its own members stay.
func leaveJoined(ctx context.Context, byName map[string]Host, mgr Host, workers, managers []Member, say func(string, ...any)) error {
	var mine []Member
	for _, m := range append(slices.Clone(workers), managers...) {
		n, _, err := mgr.API.NodeInspectWithRaw(ctx, m.NodeID)
		if err != nil {
			return fmt.Errorf("host %q: inspect its Swarm node: %w", m.Host, err)
		}
		if n.Spec.Labels[labels.SwarmJoined] != "true" {
			continue
		}
		if m.Manager {
			return fmt.Errorf("host %q was joined by devorch as a manager of a Swarm devorch did not form: demote it first (docker node demote), then run devorch hosts leave again", m.Host)
		}
		mine = append(mine, m)
	}
	if len(mine) == 0 {
		return errors.New("the hosts' Swarm was not formed by devorch and devorch joined none of them to it: devorch leaves only what it made (use docker swarm leave on a host to take it out)")
	}
	if err := refuseInUse(ctx, mgr); err != nil {
		return err
	}
	for _, m := range mine {
		if err := byName[m.Host].API.SwarmLeave(ctx, false); err != nil {
			return fmt.Errorf("host %q: leave the Swarm: %w", m.Host, err)
		}
		if err := mgr.API.NodeRemove(ctx, m.NodeID, swarm.NodeRemoveOptions{Force: true}); err != nil {
			return fmt.Errorf("host %q left the Swarm, but removing its node from %s failed: %w", m.Host, mgr.Name, err)
		}
		say("%s: left the Swarm", m.Host)
	}
	return nil
}

// refuseInUse refuses to take the Swarm apart under a project's overlay
// networks: their containers would lose each other.
func refuseInUse(ctx context.Context, mgr Host) error {
	nets, err := mgr.API.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labels.Project), filters.Arg("driver", "overlay"))})
	if err != nil {
		return fmt.Errorf("host %q: list networks: %w", mgr.Name, err)
	}
	var projects []string
	for _, n := range nets {
		if p := n.Labels[labels.Project]; !slices.Contains(projects, p) {
			projects = append(projects, p)
		}
	}
	if len(projects) > 0 {
		sort.Strings(projects)
		return fmt.Errorf("the Swarm still carries overlay networks of project(s) %s: run devorch down in them first", strings.Join(projects, ", "))
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
