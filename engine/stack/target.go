package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/devorch/devorch/internal/labels"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
)

// API is what the Swarm target asks of a Swarm manager.
type API interface {
	TaskAPI
	Info(ctx context.Context) (system.Info, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, service swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	ServiceLogs(ctx context.Context, serviceID string, options container.LogsOptions) (io.ReadCloser, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error
	ConfigList(ctx context.Context, options swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigCreate(ctx context.Context, config swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigRemove(ctx context.Context, id string) error
	SecretList(ctx context.Context, options swarm.SecretListOptions) ([]swarm.Secret, error)
	SecretCreate(ctx context.Context, secret swarm.SecretSpec) (swarm.SecretCreateResponse, error)
	SecretRemove(ctx context.Context, id string) error
}

// NodeAPI is what the target asks of a node's own daemon, when devorch
// knows its endpoint (it is one of devorch's hosts).
type NodeAPI interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
}

// Host is one of devorch's hosts as the target sees it: its name, its
// API, and the docker info it answered (nil: it did not answer).
type Host struct {
	Name string
	API  NodeAPI
	// Address is the address declared for the host (";address="); a node
	// advertising it is this host.
	Address string
	// Info, when the caller read it, names the host's node by ID. Info
	// reads a node's daemon: Open asks for it only of hosts it cannot
	// match by address.
	Info func(ctx context.Context) (*system.Info, error)
}

// Node is one node of the Swarm.
type Node struct {
	ID string
	// Host is the devorch host that is this node ("" when devorch has no
	// endpoint for it: it cannot give it images nor reach its
	// containers).
	Host         string
	Hostname     string
	Role         string
	Availability string
	State        string
	Addr         string
	NanoCPUs     int64
	MemoryBytes  int64
	// Labels are the node's labels (node.labels.*), EngineLabels its
	// daemon's (engine.labels.*); OS and Arch its platform.
	Labels, EngineLabels map[string]string
	OS, Arch             string
}

// Name is how devorch shows the node: its devorch host name, else its
// hostname and short ID.
func (n Node) Name() string {
	if n.Host != "" {
		return n.Host
	}
	return n.Hostname + "/" + short(n.ID)
}

// Target is the Swarm a stack is deployed to.
type Target struct {
	// Manager is the devorch host that manages the Swarm; API is its.
	Manager string
	API     API
	Nodes   []Node
	// Hosts are the devorch hosts that are nodes of this Swarm, by node ID.
	Hosts map[string]Host
}

// Open reads the Swarm's nodes from mgr, its manager, and matches each
// to the devorch host that is it: by the address declared for the host
// and the one the node advertises, else by the node ID in the host's docker
// info. A host that is not a manager gets an error naming it and what
// makes one. Hosts must be reachable (the caller leaves out those that are
// not).
func Open(ctx context.Context, mgr string, api API, hosts []Host) (*Target, error) {
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		info, ierr := api.Info(ctx)
		if ierr != nil || info.Swarm.ControlAvailable {
			return nil, fmt.Errorf("list the Swarm's nodes on host %q: %w", mgr, err)
		}
		state := string(info.Swarm.LocalNodeState)
		if state == "" {
			state = "inactive"
		}
		role := "not in a Swarm"
		if state == string(swarm.LocalNodeStateActive) {
			role = "a worker, not a manager"
		}
		return nil, fmt.Errorf("--target swarm: host %q is %s (Swarm state %s): run devorch hosts join to form a Swarm of the declared hosts (the first one its manager), or docker swarm init on it", mgr, role, state)
	}
	t := &Target{Manager: mgr, API: api, Hosts: map[string]Host{}}
	byAddr := map[string]string{}
	for _, n := range nodes {
		if n.Status.Addr != "" {
			byAddr[n.Status.Addr] = n.ID
		}
	}
	matched := map[string]Host{}
	var unmatched []Host
	for _, h := range hosts {
		if id, ok := byAddr[h.Address]; ok && h.Address != "" {
			if _, taken := matched[id]; !taken {
				matched[id] = h
				continue
			}
		}
		unmatched = append(unmatched, h)
	}
	// The others by their node ID, reading their info in parallel.
	ids := make([]string, len(unmatched))
	var wg sync.WaitGroup
	for i, h := range unmatched {
		if h.Info == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if info, err := h.Info(ctx); err == nil && info != nil {
				ids[i] = info.Swarm.NodeID
			}
		}()
	}
	wg.Wait()
	for i, h := range unmatched {
		if _, taken := matched[ids[i]]; ids[i] != "" && !taken {
			matched[ids[i]] = h
		}
	}
	for _, n := range nodes {
		node := nodeOf(n, "")
		if h, ok := matched[n.ID]; ok {
			node.Host = h.Name
			t.Hosts[n.ID] = h
		}
		t.Nodes = append(t.Nodes, node)
	}
	slices.SortFunc(t.Nodes, func(a, b Node) int { return strings.Compare(a.Name(), b.Name()) })
	return t, nil
}

// NodeNames maps node IDs to how devorch shows them.
func (t *Target) NodeNames() map[string]string {
	out := make(map[string]string, len(t.Nodes))
	for _, n := range t.Nodes {
		out[n.ID] = n.Name()
	}
	return out
}

// unknownNodes are the nodes devorch has no endpoint for: it cannot give
// them images, so no task may land there.
func (t *Target) unknownNodes() []Node {
	var out []Node
	for _, n := range t.Nodes {
		if n.Host == "" {
			out = append(out, n)
		}
	}
	return out
}

// HasIPVS says whether this machine's kernel has IPVS, which Swarm's
// virtual IPs and routing mesh need: loaded (/proc/net/ip_vs,
// /sys/module/ip_vs) or available as a module Docker can load. The test
// hosts, and hosts on this machine, share its kernel; for hosts elsewhere
// DEVORCH_SWARM_IPVS=1 or 0 says it.
func HasIPVS() bool {
	switch os.Getenv("DEVORCH_SWARM_IPVS") {
	case "1", "true", "yes":
		return true
	case "0", "false", "no":
		return false
	}
	for _, p := range []string{"/proc/net/ip_vs", "/sys/module/ip_vs"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	rel := kernelRelease()
	if rel == "" {
		return false
	}
	f, err := os.Open(filepath.Join("/lib/modules", rel, "modules.dep"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "/ip_vs.ko") {
			return true
		}
	}
	return false
}

// kernelRelease is uname -r, read from /proc.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Ps lists the project's tasks, as docker stack ps does (see Rows).
func Ps(ctx context.Context, t *Target, project string) ([]TaskRow, error) {
	f := filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))
	svcs, err := t.API.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list the project's services on host %q: %w", t.Manager, err)
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	tf := filters.NewArgs()
	for _, s := range svcs {
		tf.Add("service", s.ID)
	}
	tasks, err := t.API.TaskList(ctx, swarm.TaskListOptions{Filters: tf})
	if err != nil {
		return nil, fmt.Errorf("list the project's tasks on host %q: %w", t.Manager, err)
	}
	return Rows(svcs, tasks, t.NodeNames()), nil
}
