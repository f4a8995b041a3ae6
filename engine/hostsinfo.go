package engine

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"

	"github.com/devorch/devorch/internal/labels"
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
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
