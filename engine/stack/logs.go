package stack

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sync/errgroup"

	"github.com/devorch/devorch/engine/logstream"
	"github.com/devorch/devorch/internal/labels"
)

// LogLine is one line a task wrote.
type LogLine struct {
	Service string // compose name
	Slot    int    // 0 for a global service's task
	Node    string
	Stream  string // stdout or stderr
	Time    time.Time
	Text    string
}

// LogOptions are `devorch logs`'s choices on a Swarm.
type LogOptions struct {
	Services []string
	Follow   bool
	Tail     string
	Since    string
	// Timestamps asks the caller to show each line's time.
	Timestamps bool
}

// Logs streams the project's services' logs through the Swarm's service
// logs (the manager gathers them from the nodes), each line with its task's
// slot and node, until the streams end or, with Follow, ctx ends.
func Logs(ctx context.Context, t *Target, project string, o LogOptions, emit func(LogLine)) error {
	svcs, err := t.API.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+project))})
	if err != nil {
		return fmt.Errorf("list the project's services on host %q: %w", t.Manager, err)
	}
	found := map[string]bool{}
	tasks := &taskIndex{api: t.API, nodes: t.NodeNames()}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range svcs {
		name := s.Spec.Labels[labels.Service]
		if len(o.Services) > 0 && !slices.Contains(o.Services, name) {
			continue
		}
		found[name] = true
		g.Go(func() error {
			rc, err := t.API.ServiceLogs(gctx, s.ID, container.LogsOptions{
				ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail, Since: o.Since,
				Timestamps: true, Details: true,
			})
			if err != nil {
				return fmt.Errorf("logs of service %s: %w", s.Spec.Name, err)
			}
			defer rc.Close()
			line := func(stream string) io.WriteCloser {
				return logstream.NewLineWriter(func(l string) {
					ll := parseLogLine(l)
					ll.Service, ll.Stream = name, stream
					ll.Slot, ll.Node = tasks.lookup(gctx, ll.taskID)
					emit(ll.LogLine)
				})
			}
			out, errw := line("stdout"), line("stderr")
			_, err = stdcopy.StdCopy(out, errw, rc)
			out.Close()
			errw.Close()
			if err != nil && gctx.Err() == nil {
				return fmt.Errorf("logs of service %s: %w", s.Spec.Name, err)
			}
			return nil
		})
	}
	for _, s := range o.Services {
		if !found[s] {
			return fmt.Errorf("no Swarm service found for service %q", s)
		}
	}
	return g.Wait()
}

// parsedLine is a log line with the task it came from.
type parsedLine struct {
	LogLine
	taskID string
}

// parseLogLine splits a service log line, asked for with Timestamps and
// Details: "<time> <k=v,k=v…> <text>".
func parseLogLine(l string) parsedLine {
	var p parsedLine
	p.Time, l = logstream.SplitTimestamp(l)
	details, text, ok := strings.Cut(l, " ")
	if !ok || !strings.Contains(details, "com.docker.swarm.") {
		p.Text = l
		return p
	}
	p.Text = text
	for _, kv := range strings.Split(details, ",") {
		if v, ok := strings.CutPrefix(kv, "com.docker.swarm.task.id="); ok {
			p.taskID = v
		}
	}
	return p
}

// taskIndex finds a task's slot and node, reading the Swarm's tasks again
// when a task it does not know yet shows up.
type taskIndex struct {
	api   API
	nodes map[string]string
	mu    sync.Mutex
	known map[string]swarm.Task
}

func (x *taskIndex) lookup(ctx context.Context, id string) (int, string) {
	if id == "" {
		return 0, ""
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.known[id]
	if !ok {
		if tasks, err := x.api.TaskList(ctx, swarm.TaskListOptions{}); err == nil {
			x.known = map[string]swarm.Task{}
			for _, t := range tasks {
				x.known[t.ID] = t
			}
			t, ok = x.known[id]
		}
	}
	if !ok {
		return 0, ""
	}
	node := x.nodes[t.NodeID]
	if node == "" {
		node = short(t.NodeID)
	}
	return t.Slot, node
}
