package stack

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/devorch/devorch/internal/labels"
)

// TaskError is a task that failed, was rejected, or cannot be scheduled;
// or, with no slot and no node, a service whose update Swarm paused or
// rolled back.
type TaskError struct {
	// Service is the compose service's name.
	Service string
	// Slot is the replica's slot; 0 for a global task.
	Slot int
	// Node is the display name of the task's node; empty while unassigned.
	Node string
	// State is the task's state ("failed", "rejected", "pending"), or the
	// update's ("update paused", "rollback paused", "rolled back").
	State string
	// Err is Swarm's reason.
	Err string
}

// Error reads like `service "api" (task api.2 on node h3): rejected: No
// such image: sha256:…`.
func (e TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %q", e.Service)
	switch {
	case e.Slot > 0 && e.Node != "":
		fmt.Fprintf(&b, " (task %s.%d on node %s)", e.Service, e.Slot, e.Node)
	case e.Slot > 0:
		fmt.Fprintf(&b, " (task %s.%d)", e.Service, e.Slot)
	case e.Node != "":
		fmt.Fprintf(&b, " (task on node %s)", e.Node)
	}
	b.WriteString(": " + e.State)
	if e.Err != "" {
		b.WriteString(": " + e.Err)
	}
	return b.String()
}

// Progress is how far one service's tasks are from what its spec asks.
type Progress struct {
	// Service is the compose service's name.
	Service string
	// Running counts the tasks that run (or, for a job, completed), one
	// per slot or node; Desired is how many the spec asks for.
	Running, Desired int
	// Updating is the service's UpdateStatus.State while an update or
	// rollback is under way or paused, else "".
	Updating string
	// Failed lists what went wrong since the deploy began.
	Failed []TaskError
	// Done says the service reached its spec: Running == Desired and no
	// update under way but, at most, Swarm's watch over tasks it has
	// already replaced (see Evaluate).
	Done bool
}

// Evaluate compares svc's spec with its tasks. tasks may hold other
// services' tasks, which it skips; nodes names node IDs for display (an
// unnamed node shows its short ID); activeNodes is how many nodes can take
// tasks; since is when the deploy began: a task that failed or was
// rejected counts only if it was created at or after it (the zero time
// counts all), because Swarm keeps the history of earlier runs.
//
// The caller should list only the tasks of each service's current spec
// (TaskList's "_up-to-date" filter, as Wait does): right after an update
// the previous spec's tasks still run, and counting them would call the
// service done before the update started.
//
// Running counts tasks in state running. Swarm holds a task whose image
// has a healthcheck in "starting" until the check passes, so for those
// running means healthy. A replicated service desires its replica count.
// A global service has no count: it desires one task per eligible node,
// and Evaluate takes the nodes its running-desired tasks are on, which is
// every eligible one since the orchestrator creates them all at once; with
// none yet it desires 1 (the tasks are not created yet, or no node
// qualifies — either way it is not done), unless there is no active node
// at all. A job (replicated-job, global-job) counts, in Running, the slots
// or nodes whose task of the current job iteration completed, and is done
// when that reaches the total completions (replicated) or the nodes it
// has tasks on (global).
//
// A paused update or rollback, and a rollback that started at or after
// since, are failures: the spec the deployer wrote is not what runs. An
// update still "updating" once every slot runs a task of the current spec
// is Swarm watching the new tasks for its update_config.monitor (5 s by
// default) before it calls the update completed: the service is done for
// a wait that, as compose's --wait, waits for its tasks to run and be
// healthy; should one fail within that window, Swarm pauses or rolls back
// the update and the next ps or wait reports it.
func Evaluate(svc swarm.Service, tasks []swarm.Task, nodes map[string]string, activeNodes int, since time.Time) Progress {
	p := Progress{Service: composeName(svc)}
	mode := svc.Spec.Mode
	global := mode.Global != nil || mode.GlobalJob != nil
	job := mode.ReplicatedJob != nil || mode.GlobalJob != nil

	// Keyed by slot, or by node for global services, so that two tasks of
	// one slot (a start-first update, a restart) count once.
	desired := map[string]bool{}
	running := map[string]bool{}
	for _, t := range tasks {
		if t.ServiceID != svc.ID {
			continue
		}
		if e, ok := taskFailure(p.Service, t, nodes, since); ok {
			p.Failed = append(p.Failed, e)
		}
		key := strconv.Itoa(t.Slot)
		if global {
			key = t.NodeID
		}
		if job {
			if !currentIteration(svc, t) || t.DesiredState != swarm.TaskStateComplete {
				continue
			}
			desired[key] = true
			if t.Status.State == swarm.TaskStateComplete {
				running[key] = true
			}
			continue
		}
		if !wanted(t) {
			continue
		}
		desired[key] = true
		if t.Status.State == swarm.TaskStateRunning {
			running[key] = true
		}
	}
	p.Running = len(running)

	switch {
	case mode.Replicated != nil && mode.Replicated.Replicas != nil:
		p.Desired = int(*mode.Replicated.Replicas)
	case mode.Replicated != nil:
		p.Desired = 1
	case mode.ReplicatedJob != nil:
		p.Desired = jobCompletions(mode.ReplicatedJob)
	default:
		p.Desired = len(desired)
		if p.Desired == 0 && activeNodes > 0 {
			p.Desired = 1
		}
	}

	if u := svc.UpdateStatus; u != nil {
		switch u.State {
		case "", swarm.UpdateStateCompleted:
		case swarm.UpdateStateRollbackCompleted:
			if started := updateStart(u); started != nil && !started.Before(since) {
				p.Failed = append(p.Failed, TaskError{Service: p.Service, State: "rolled back", Err: u.Message})
			}
		case swarm.UpdateStatePaused:
			p.Updating = string(u.State)
			p.Failed = append(p.Failed, TaskError{Service: p.Service, State: "update paused", Err: u.Message})
		case swarm.UpdateStateRollbackPaused:
			p.Updating = string(u.State)
			p.Failed = append(p.Failed, TaskError{Service: p.Service, State: "rollback paused", Err: u.Message})
		default:
			p.Updating = string(u.State)
		}
	}
	if job {
		p.Done = p.Running >= p.Desired && p.Updating == ""
	} else {
		p.Done = p.Running == p.Desired && (p.Updating == "" || p.Updating == string(swarm.UpdateStateUpdating))
	}
	return p
}

// taskFailure says whether t is a failure to report: it failed or was
// rejected at or after since, or it waits to be scheduled and Swarm says
// why it cannot be ("no suitable node (…)").
func taskFailure(service string, t swarm.Task, nodes map[string]string, since time.Time) (TaskError, bool) {
	e := TaskError{Service: service, Slot: t.Slot, Node: nodeName(nodes, t.NodeID), State: string(t.Status.State)}
	switch t.Status.State {
	case swarm.TaskStateFailed, swarm.TaskStateRejected:
		if t.CreatedAt.Before(since) {
			return TaskError{}, false
		}
		e.Err = taskErr(t.Status)
		return e, true
	case swarm.TaskStatePending:
		if !wanted(t) || t.Status.Err == "" {
			return TaskError{}, false
		}
		e.Err = t.Status.Err
		return e, true
	}
	return TaskError{}, false
}

// taskErr is why a task ended: Swarm's error, else the container's exit
// code, else the status message.
func taskErr(s swarm.TaskStatus) string {
	switch {
	case s.Err != "":
		return s.Err
	case s.ContainerStatus != nil && s.ContainerStatus.ExitCode != 0:
		return "exit code " + strconv.Itoa(s.ContainerStatus.ExitCode)
	}
	return s.Message
}

// currentIteration says whether t belongs to svc's latest job run; a task
// or service that does not say counts as current.
func currentIteration(svc swarm.Service, t swarm.Task) bool {
	if svc.JobStatus == nil || t.JobIteration == nil {
		return true
	}
	return t.JobIteration.Index == svc.JobStatus.JobIteration.Index
}

// jobCompletions is how many tasks of a replicated job must complete, with
// Swarm's defaults: TotalCompletions, else MaxConcurrent, else 1.
func jobCompletions(j *swarm.ReplicatedJob) int {
	switch {
	case j.TotalCompletions != nil:
		return int(*j.TotalCompletions)
	case j.MaxConcurrent != nil:
		return int(*j.MaxConcurrent)
	}
	return 1
}

// updateStart is when an update or rollback began, if Swarm says.
func updateStart(u *swarm.UpdateStatus) *time.Time {
	if u.StartedAt != nil {
		return u.StartedAt
	}
	return u.CompletedAt
}

// composeName is the compose name of a devorch or docker stack service:
// its service label, else its name without the "<namespace>_" prefix.
func composeName(svc swarm.Service) string {
	if name := svc.Spec.Labels[labels.Service]; name != "" {
		return name
	}
	if ns := svc.Spec.Labels[labels.StackNamespace]; ns != "" {
		return strings.TrimPrefix(svc.Spec.Name, ns+"_")
	}
	return svc.Spec.Name
}

// NodeNames names each node for display: its devorch host name (the
// labels.Host label devorch puts on nodes it joined), else its hostname.
func NodeNames(nodes []swarm.Node) map[string]string {
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		name := n.Spec.Labels[labels.Host]
		if name == "" {
			name = n.Description.Hostname
		}
		if name != "" {
			m[n.ID] = name
		}
	}
	return m
}

// activeNodes counts the nodes the scheduler can give tasks to: up, and
// neither paused nor drained.
func activeNodes(nodes []swarm.Node) int {
	n := 0
	for _, node := range nodes {
		if node.Status.State == swarm.NodeStateReady && node.Spec.Availability == swarm.NodeAvailabilityActive {
			n++
		}
	}
	return n
}

// nodeName is how a node shows: its name in nodes, else its short ID.
func nodeName(nodes map[string]string, id string) string {
	if name := nodes[id]; name != "" {
		return name
	}
	return shortID(id)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// wanted says whether Swarm wants t to run: desired running, or ready (a
// task Swarm made to replace one, on a drained or lost node say, waits
// desired "ready" until it is scheduled and its predecessor stopped).
func wanted(t swarm.Task) bool {
	return t.DesiredState == swarm.TaskStateRunning || t.DesiredState == swarm.TaskStateReady
}
