package engine

import (
	"context"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/ctr"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/internal/labels"
)

var exitRe = regexp.MustCompile(`^Exited \((-?\d+)\)`)

func fromSummary(h *hosts.Host, s container.Summary) Container {
	c := Container{
		Host:    h,
		ID:      s.ID,
		Image:   s.Image,
		ImageID: s.ImageID,
		Service: s.Labels[labels.Service],
		Hash:    s.Labels[labels.ConfigHash],
		OneOff:  s.Labels[labels.OneOff] == "true",
		State:   string(s.State),
		Status:  s.Status,
		Labels:  s.Labels,
		Created: time.Unix(s.Created, 0),
		Ports:   s.Ports,
		Command: s.Command,
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	c.Replica, _ = strconv.Atoi(s.Labels[labels.Replica])
	switch {
	case strings.Contains(s.Status, "(healthy)"):
		c.Health = "healthy"
	case strings.Contains(s.Status, "(unhealthy)"):
		c.Health = "unhealthy"
	case strings.Contains(s.Status, "(health: starting)"):
		c.Health = "starting"
	}
	if m := exitRe.FindStringSubmatch(s.Status); m != nil {
		c.ExitCode, _ = strconv.Atoi(m[1])
	}
	if s.NetworkSettings != nil {
		c.Networks = map[string]string{}
		for name, n := range s.NetworkSettings.Networks {
			if n != nil {
				c.Networks[name] = n.IPAddress
				c.NetworkIDs = append(c.NetworkIDs, n.NetworkID)
			}
		}
	}
	return c
}

// hostTimeout bounds a read from one host, so that a host that stops
// answering shows as unreachable: the time a run gives a host before it
// declares it lost (DEVORCH_HOST_TIMEOUT, 15 s). A few seconds is not
// enough for an ssh host on a busy machine, whose first call starts ssh and
// a docker CLI on the far side.
func hostTimeout() time.Duration { return hosts.HostTimeout(os.Getenv) }

// listOptions selects containers.
type listOptions struct {
	all         bool     // include stopped containers
	skipOneOffs bool     // service containers only, no `devorch run` one-offs
	services    []string // empty: all services
}

// list returns the project's containers on every host, sorted by service,
// replica and name. An unreachable host is an error naming it.
func (e *Engine) list(ctx context.Context, project string, o listOptions) ([]Container, error) {
	var mu sync.Mutex
	var out []Container
	g, gctx := errgroup.WithContext(ctx)
	single := e.Pool.Single()
	for _, h := range e.Pool.Hosts {
		g.Go(func() error {
			hctx, cancel := context.WithTimeout(gctx, hostTimeout())
			defer cancel()
			cs, err := listHost(hctx, h, project, o)
			if err != nil {
				if single {
					return err
				}
				// Another host's containers are still worth showing.
				e.warn("host %q is unreachable: %v; its containers are not listed", h.Name, err)
				return nil
			}
			mu.Lock()
			out = append(out, cs...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sortContainers(out)
	return out, nil
}

func listHost(ctx context.Context, h *hosts.Host, project string, o listOptions) ([]Container, error) {
	list, err := ctr.List(ctx, h.Client, h.Name, h.Endpoint, project, ctr.ListOptions{All: o.all, SkipOneOffs: o.skipOneOffs, Services: o.services})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range o.services {
		want[s] = true
	}
	var out []Container
	for _, s := range list {
		c := fromSummary(h, s)
		if len(want) > 0 && !want[c.Service] {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func sortContainers(cs []Container) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.OneOff != b.OneOff {
			return !a.OneOff
		}
		if a.Replica != b.Replica {
			return a.Replica < b.Replica
		}
		return a.Name < b.Name
	})
}

// byService groups containers by service name.
func byService(cs []Container) map[string][]Container {
	m := map[string][]Container{}
	for _, c := range cs {
		m[c.Service] = append(m[c.Service], c)
	}
	return m
}

// preciseDuplicates gives the containers that share a replica number with
// another (a copy moved off a host that was lost and came back, or an
// interrupted recreate) their creation time to the nanosecond: the list
// has whole seconds only, and which copy is the newest decides which one
// placement and the plan keep. A container that cannot be inspected keeps
// its listed time.
func preciseDuplicates(ctx context.Context, cs []Container) {
	count := map[[2]string]int{}
	key := func(c Container) [2]string { return [2]string{c.Service, strconv.Itoa(c.Replica)} }
	for _, c := range cs {
		if !c.OneOff {
			count[key(c)]++
		}
	}
	for i, c := range cs {
		if c.OneOff || count[key(c)] < 2 {
			continue
		}
		insp, err := ctr.Inspect(ctx, c.Host.Client, c.ID)
		if err != nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, insp.Created); err == nil {
			cs[i].Created = t
		}
	}
}
