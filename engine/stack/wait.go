package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// TaskAPI is what Wait reads from a Swarm manager.
type TaskAPI interface {
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
}

// WaitOptions says what Wait waits for.
type WaitOptions struct {
	// Namespace is the stack (project) name.
	Namespace string
	// Services are the compose services to wait for; empty waits for all
	// of the namespace's.
	Services []string
	// Since is when the deploy began; see Evaluate.
	Since time.Time
	// Nodes names node IDs for messages; a node missing here is named by
	// NodeNames.
	Nodes map[string]string
	// Report, when set, is called with a service's progress each time it
	// changes, services in name order.
	Report func(Progress)
	// Interval is the time between polls; 250ms when zero.
	Interval time.Duration
}

// Wait polls the services until every one is done (see Evaluate), and
// returns nil then. As soon as a service has failed tasks or a paused
// update it returns those failures, each a TaskError naming service, task,
// node and Swarm's reason, joined in order. When ctx ends first it says
// which services were not done and how far each got. A service named in
// Services that the namespace lacks is an error; a namespace with no
// services at all has nothing to wait for.
//
// Wait polls because the Swarm API (20.10 and later) sends no task
// events; ctx bounds it. Every poll reads the services, their tasks of the
// current spec and the nodes. An API error ends the wait.
func Wait(ctx context.Context, api TaskAPI, o WaitOptions) error {
	interval := o.Interval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	var (
		last  = map[string]Progress{}
		modes = map[string]swarm.ServiceMode{}
		timer *time.Timer
	)
	for {
		done, failures, err := pollOnce(ctx, api, o, last, modes)
		switch {
		case failures != nil:
			return failures
		case ctx.Err() != nil:
			// The API call that ctx cut short says less than this.
			return notDone(ctx, o, last, modes)
		case err != nil:
			return err
		case done:
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(interval)
			defer timer.Stop()
		} else {
			timer.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return notDone(ctx, o, last, modes)
		case <-timer.C:
		}
	}
}

// pollOnce reads and evaluates once, keeping each service's progress and mode
// in last and modes and reporting what changed. It says whether every
// service is done, and returns the services' failures apart from its own
// errors (reading the API, a missing service).
func pollOnce(ctx context.Context, api TaskAPI, o WaitOptions, last map[string]Progress, modes map[string]swarm.ServiceMode) (done bool, failures, err error) {
	all, err := api.ServiceList(ctx, swarm.ServiceListOptions{
		Filters: filters.NewArgs(filters.Arg("label", labels.StackNamespace+"="+o.Namespace)),
	})
	if err != nil {
		return false, nil, fmt.Errorf("list the services of stack %q: %w", o.Namespace, err)
	}
	services, err := selectServices(all, o)
	if err != nil || len(services) == 0 {
		return err == nil, nil, err
	}

	// One list for every service; "_up-to-date" keeps only the tasks of
	// each service's current spec (docker service update's progress asks
	// the same), so the previous spec's tasks, still running early in an
	// update, are not taken for the new ones.
	args := filters.NewArgs(filters.Arg("_up-to-date", "true"))
	for _, s := range services {
		args.Add("service", s.ID)
	}
	// The tasks and the nodes, read at once.
	var nodeList []swarm.Node
	var nodeErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		nodeList, nodeErr = api.NodeList(ctx, swarm.NodeListOptions{})
	}()
	tasks, err := api.TaskList(ctx, swarm.TaskListOptions{Filters: args})
	<-listed
	if err != nil {
		return false, nil, fmt.Errorf("list the tasks of stack %q: %w", o.Namespace, err)
	}
	if nodeErr != nil {
		return false, nil, fmt.Errorf("list the Swarm's nodes: %w", nodeErr)
	}
	names := NodeNames(nodeList)
	for id, name := range o.Nodes {
		names[id] = name
	}
	active := activeNodes(nodeList)

	done = true
	var failed []TaskError
	for _, s := range services {
		p := Evaluate(s, tasks, names, active, o.Since)
		modes[p.Service] = s.Spec.Mode
		if prev, ok := last[p.Service]; !ok || !sameProgress(prev, p) {
			last[p.Service] = p
			if o.Report != nil {
				o.Report(p)
			}
		}
		failed = append(failed, p.Failed...)
		done = done && p.Done
	}
	if len(failed) > 0 {
		return false, joinFailures(failed), nil
	}
	return done, nil, nil
}

// selectServices picks the services Wait waits for, in compose name order.
func selectServices(all []swarm.Service, o WaitOptions) ([]swarm.Service, error) {
	byName := make(map[string]swarm.Service, len(all))
	for _, s := range all {
		byName[composeName(s)] = s
	}
	want := o.Services
	if len(want) == 0 {
		for name := range byName {
			want = append(want, name)
		}
	}
	want = slices.Clone(want)
	sort.Strings(want)
	want = slices.Compact(want)
	var missing []string
	out := make([]swarm.Service, 0, len(want))
	for _, name := range want {
		s, ok := byName[name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", name))
			continue
		}
		out = append(out, s)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stack %q has no service %s", o.Namespace, strings.Join(missing, ", "))
	}
	return out, nil
}

// joinFailures joins the failures sorted by their message, each once: a
// task that keeps failing the same way is one line, not one per restart.
func joinFailures(failed []TaskError) error {
	sort.SliceStable(failed, func(i, j int) bool { return failed[i].Error() < failed[j].Error() })
	failed = slices.Compact(failed)
	errs := make([]error, len(failed))
	for i, e := range failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// sameProgress says whether two readings of one service would report the
// same.
func sameProgress(a, b Progress) bool {
	return a.Running == b.Running && a.Desired == b.Desired && a.Updating == b.Updating &&
		a.Done == b.Done && slices.Equal(a.Failed, b.Failed)
}

// notDone is Wait's error when ctx ends: each service not done with how
// far it got, e.g. "waiting for services: api 1/3 running, web 3/3 running
// (updating): context deadline exceeded".
func notDone(ctx context.Context, o WaitOptions, last map[string]Progress, modes map[string]swarm.ServiceMode) error {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(last)) {
		p := last[name]
		if p.Done {
			continue
		}
		parts = append(parts, describeProgress(p, modes[name]))
	}
	// Services named but never read: the first poll did not return.
	unread := slices.Clone(o.Services)
	sort.Strings(unread)
	for _, name := range slices.Compact(unread) {
		if _, ok := last[name]; !ok {
			parts = append(parts, name)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("waiting for the services of stack %q: %w", o.Namespace, context.Cause(ctx))
	}
	return fmt.Errorf("waiting for services: %s: %w", strings.Join(parts, ", "), context.Cause(ctx))
}

// describeProgress says how far a service got, for the timeout error.
func describeProgress(p Progress, mode swarm.ServiceMode) string {
	verb := "running"
	if mode.ReplicatedJob != nil || mode.GlobalJob != nil {
		verb = "complete"
	}
	s := fmt.Sprintf("%s %d/%d %s", p.Service, p.Running, p.Desired, verb)
	if p.Updating != "" {
		s += " (" + strings.ReplaceAll(p.Updating, "_", " ") + ")"
	}
	return s
}
