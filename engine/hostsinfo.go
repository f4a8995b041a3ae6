package engine

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/devorch/devorch/engine/swarm"
	"github.com/devorch/devorch/internal/labels"
	"github.com/docker/docker/api/types/system"
)

// HostEntry is one host as `devorch hosts` shows it.
type HostEntry struct {
	Name      string            `json:"Name"`
	Endpoint  string            `json:"Endpoint"`
	Address   string            `json:"Address,omitempty"`
	Labels    map[string]string `json:"Labels,omitempty"`
	Reachable bool              `json:"Reachable"`
	Error     string            `json:"Error,omitempty"`
	Version   string            `json:"EngineVersion,omitempty"`
	CPUs      int               `json:"CPUs"`
	Memory    int64             `json:"Memory"`
	// Reserved by devorch containers (every project) running there.
	ReservedNanoCPUs int64 `json:"ReservedNanoCPUs"`
	ReservedMemory   int64 `json:"ReservedMemory"`
	// Containers of this project there, and how many run.
	Containers int `json:"Containers"`
	Running    int `json:"Running"`
	// Swarm is the host's Swarm membership and role.
	Swarm swarm.Member `json:"Swarm"`
}

// Hosts reports every host of the pool: reachability (within a few
// seconds), engine version, capacity, what devorch reserves there and the
// project's containers.
func (e *Engine) Hosts(ctx context.Context, project string) []HostEntry {
	out := make([]HostEntry, len(e.Pool.Hosts))
	var wg sync.WaitGroup
	for i, h := range e.Pool.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			he := HostEntry{Name: h.Name, Endpoint: h.Endpoint, Address: h.Address, Labels: h.Labels}
			info, err := h.Info(ctx, 0)
			if err != nil {
				if inner := errors.Unwrap(err); inner != nil {
					err = inner
				}
				he.Error = err.Error()
				out[i] = he
				return
			}
			he.Reachable, he.Version, he.CPUs, he.Memory = true, info.ServerVersion, info.NCPU, info.MemTotal
			hctx, cancel := context.WithTimeout(ctx, hostTimeout())
			defer cancel()
			cs, err := listHost(hctx, h, "", listOptions{all: true})
			if err != nil {
				he.Reachable, he.Error = false, err.Error()
				out[i] = he
				return
			}
			for _, c := range cs {
				if c.Running() {
					if v, err := strconv.ParseInt(c.Labels[labels.ReserveCPUs], 10, 64); err == nil {
						he.ReservedNanoCPUs += v
					}
					if v, err := strconv.ParseInt(c.Labels[labels.ReserveMemory], 10, 64); err == nil {
						he.ReservedMemory += v
					}
				}
				if project != "" && c.Labels[labels.Project] == project {
					he.Containers++
					if c.Running() {
						he.Running++
					}
				}
			}
			out[i] = he
		}()
	}
	wg.Wait()
	// The Swarm of the hosts that answered: one that did not has made
	// the caller wait once already.
	var answered []swarm.Host
	for i, h := range e.swarmHosts(infoAge) {
		if out[i].Reachable {
			answered = append(answered, h)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, hostTimeout())
	defer cancel()
	t := swarm.Observe(tctx, answered)
	for i := range out {
		out[i].Swarm, _ = t.Member(out[i].Name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// swarmHosts is the pool as package swarm sees it.
// Its docker info is read once per maxAge (0: every time, as join and
// leave need while they change it).
func (e *Engine) swarmHosts(maxAge time.Duration) []swarm.Host {
	out := make([]swarm.Host, 0, len(e.Pool.Hosts))
	for _, h := range e.Pool.Hosts {
		info := func(ctx context.Context) (system.Info, error) {
			i, err := h.Info(ctx, maxAge)
			if err != nil {
				return system.Info{}, err
			}
			return *i, nil
		}
		out = append(out, swarm.Host{Name: h.Name, Address: h.Address, API: h.Client, Info: info})
	}
	return out
}

// infoAge is how old a host's docker info a command may reuse for the
// Swarm membership it has just read it for (hosts, up's network kinds).
const infoAge = 10 * time.Second

// SwarmJoin forms a Swarm among the pool's hosts, or joins them to the one
// some are in (`devorch hosts join`).
func (e *Engine) SwarmJoin(ctx context.Context, managers int, say func(string, ...any)) error {
	return swarm.Join(ctx, e.swarmHosts(0), swarm.JoinOptions{Managers: managers, Say: say})
}

// SwarmLeave undoes what SwarmJoin did (`devorch hosts leave`).
func (e *Engine) SwarmLeave(ctx context.Context, say func(string, ...any)) error {
	return swarm.Leave(ctx, e.swarmHosts(0), say)
}
