package swarm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
)

// fakeWorld is a few Docker daemons and the Swarms among them, as far as
// this package looks. One lock covers it all: Observe asks the hosts at
// once.
type fakeWorld struct {
	mu       sync.Mutex
	clusters []*fakeCluster
	calls    []string // "a init", "b join worker", "c leave force=true", "a node-remove <id>"
}

// fakeCluster is one Swarm: its spec labels and its nodes, including the
// ones that left and were not removed (Docker lists them as down).
type fakeCluster struct {
	id     string
	labels map[string]string
	nodes  []*fakeNode
}

type fakeNode struct {
	id      string
	host    *fakeHost
	manager bool
	leader  bool
	version uint64
	labels  map[string]string
}

// fakeHost is one daemon; addr is its node's address. Set state to report
// pending or error, err to make it unreachable, moves to have that many
// NodeInspectWithRaw calls followed by someone else's update of the node.
type fakeHost struct {
	w        *fakeWorld
	name     string
	addr     string
	cluster  *fakeCluster // nil: not in a Swarm
	node     *fakeNode
	state    swarm.LocalNodeState
	err      error
	networks []network.Summary
	moves    int
	initReq  swarm.InitRequest
	joinReqs []swarm.JoinRequest
}

func (w *fakeWorld) host(name, addr string) *fakeHost {
	return &fakeHost{w: w, name: name, addr: addr}
}

// swarmOf seeds a Swarm the hosts are already in, with no labels on its
// nodes: the first manager leads.
func (w *fakeWorld) swarmOf(id string, labels map[string]string, managers, workers []*fakeHost) *fakeCluster {
	c := &fakeCluster{id: id, labels: labels}
	w.clusters = append(w.clusters, c)
	for i, h := range append(slices.Clone(managers), workers...) {
		h.addNode(c, i < len(managers), i == 0)
	}
	return c
}

func (h *fakeHost) addNode(c *fakeCluster, manager, leader bool) {
	h.cluster = c
	h.node = &fakeNode{id: "node-" + h.name, host: h, manager: manager, leader: leader, version: 1, labels: map[string]string{}}
	c.nodes = append(c.nodes, h.node)
}

func (w *fakeWorld) hosts(hs ...*fakeHost) []Host {
	var out []Host
	for _, h := range hs {
		out = append(out, Host{Name: h.name, Address: h.addr, API: h})
	}
	return out
}

// lock takes the world's lock (the caller unlocks), records the call when
// named, and answers the host's error, or Docker's when a manager is
// wanted and the host is none.
func (h *fakeHost) lock(call string, manager bool) error {
	h.w.mu.Lock()
	switch {
	case h.err != nil:
		return h.err
	case call != "":
		h.w.calls = append(h.w.calls, h.name+" "+call)
	}
	if manager && (h.node == nil || !h.node.manager) {
		return errors.New("This node is not a swarm manager.")
	}
	return nil
}

func (h *fakeHost) Info(ctx context.Context) (system.Info, error) {
	defer h.w.mu.Unlock()
	if err := h.lock("", false); err != nil {
		return system.Info{}, err
	}
	s := swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive, NodeAddr: h.addr}
	if c := h.cluster; c != nil {
		s.LocalNodeState, s.NodeID, s.ControlAvailable = swarm.LocalNodeStateActive, h.node.id, h.node.manager
		for _, n := range c.nodes {
			if n.manager && n.host.cluster == c {
				s.Managers++
				s.RemoteManagers = append(s.RemoteManagers, swarm.Peer{NodeID: n.id, Addr: n.host.addr + ":2377"})
			}
		}
		if h.node.manager {
			s.Cluster = &swarm.ClusterInfo{ID: c.id}
		}
	}
	if h.state != "" {
		s.LocalNodeState, s.Error = h.state, "something went wrong"
	}
	return system.Info{Swarm: s}, nil
}

func (h *fakeHost) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	defer h.w.mu.Unlock()
	if err := h.lock("init", false); err != nil {
		return "", err
	}
	if h.cluster != nil {
		return "", errors.New("This node is already part of a swarm.")
	}
	h.initReq = req
	c := &fakeCluster{id: fmt.Sprintf("cluster%d", len(h.w.clusters)+1), labels: maps.Clone(req.Spec.Labels)}
	h.w.clusters = append(h.w.clusters, c)
	h.addNode(c, true, true)
	return h.node.id, nil
}

func token(c *fakeCluster, role string) string { return "SWMTKN-" + c.id + "-" + role }

func (h *fakeHost) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error {
	defer h.w.mu.Unlock()
	if err := h.lock("", false); err != nil {
		return err
	}
	if h.cluster != nil {
		return errors.New("This node is already part of a swarm.")
	}
	for _, c := range h.w.clusters {
		for _, n := range c.nodes {
			if !n.manager || n.host.cluster != c || !slices.Contains(req.RemoteAddrs, n.host.addr+":2377") {
				continue
			}
			role := map[string]string{token(c, "worker"): "worker", token(c, "manager"): "manager"}[req.JoinToken]
			if role == "" {
				return errors.New("invalid join token")
			}
			h.w.calls = append(h.w.calls, h.name+" join "+role)
			h.joinReqs = append(h.joinReqs, req)
			h.addNode(c, role == "manager", false)
			return nil
		}
	}
	return fmt.Errorf("no manager at %v", req.RemoteAddrs)
}

func (h *fakeHost) SwarmLeave(ctx context.Context, force bool) error {
	defer h.w.mu.Unlock()
	if err := h.lock(fmt.Sprintf("leave force=%t", force), false); err != nil {
		return err
	}
	if h.cluster == nil {
		return errors.New("This node is not part of a swarm")
	}
	if h.node.manager && !force {
		return errors.New("You are attempting to leave the swarm on a node that is participating as a manager. Use `--force` to ignore this message.")
	}
	h.cluster, h.node = nil, nil // its node stays in the Swarm's list, down
	return nil
}

func (h *fakeHost) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	defer h.w.mu.Unlock()
	if err := h.lock("", true); err != nil {
		return swarm.Swarm{}, err
	}
	c := h.cluster
	s := swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: c.id}, JoinTokens: swarm.JoinTokens{Worker: token(c, "worker"), Manager: token(c, "manager")}}
	s.Spec.Labels = maps.Clone(c.labels)
	return s, nil
}

func (n *fakeNode) view() swarm.Node {
	v := swarm.Node{ID: n.id}
	v.Version.Index = n.version
	v.Spec.Labels = maps.Clone(n.labels)
	if n.manager {
		v.ManagerStatus = &swarm.ManagerStatus{Leader: n.leader}
	}
	return v
}

func (h *fakeHost) NodeList(ctx context.Context, _ swarm.NodeListOptions) ([]swarm.Node, error) {
	defer h.w.mu.Unlock()
	if err := h.lock("", true); err != nil {
		return nil, err
	}
	var out []swarm.Node
	for _, n := range h.cluster.nodes {
		out = append(out, n.view())
	}
	return out, nil
}

// find locks (the caller unlocks) and finds a node of the host's Swarm.
func (h *fakeHost) find(call, id string) (*fakeNode, error) {
	if err := h.lock(call, true); err != nil {
		return nil, err
	}
	for _, n := range h.cluster.nodes {
		if n.id == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("node %s not found", id)
}

func (h *fakeHost) NodeInspectWithRaw(ctx context.Context, id string) (swarm.Node, []byte, error) {
	defer h.w.mu.Unlock()
	n, err := h.find("", id)
	if err != nil {
		return swarm.Node{}, nil, err
	}
	v := n.view()
	if h.moves > 0 {
		h.moves--
		n.version++
	}
	return v, nil, nil
}

func (h *fakeHost) NodeUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.NodeSpec) error {
	defer h.w.mu.Unlock()
	n, err := h.find("node-update "+id, id)
	if err != nil {
		return err
	}
	if version.Index != n.version {
		return errors.New("update out of sequence")
	}
	n.labels, n.version = maps.Clone(spec.Labels), n.version+1
	return nil
}

func (h *fakeHost) NodeRemove(ctx context.Context, id string, _ swarm.NodeRemoveOptions) error {
	defer h.w.mu.Unlock()
	n, err := h.find("node-remove "+id, id)
	if err != nil {
		return err
	}
	h.cluster.nodes = slices.DeleteFunc(h.cluster.nodes, func(m *fakeNode) bool { return m == n })
	return nil
}

func (h *fakeHost) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	defer h.w.mu.Unlock()
	if err := h.lock("", false); err != nil {
		return nil, err
	}
	var out []network.Summary
	for _, n := range h.networks {
		if o.Filters.MatchKVList("label", n.Labels) && o.Filters.ExactMatch("driver", n.Driver) {
			out = append(out, n)
		}
	}
	return out, nil
}
