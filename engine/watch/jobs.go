package watch

import (
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// Job is one rule's action on the changes of a batch it covers.
type Job struct {
	Rule    Rule
	Changes []Change
}

// Count is how many paths the job reports: files written plus paths
// deleted (a directory only created or changed is not counted), and of
// them the deleted ones.
func (j *Job) Count() (files, deleted int) {
	for _, c := range j.Changes {
		if c.Deleted {
			deleted++
		} else if !c.Dir {
			files++
		}
	}
	return files + deleted, deleted
}

// Jobs gives each changed path to each service's first rule that covers
// it, and returns one queue per service (in the order services first
// appear), its jobs ordered by how much they disturb the containers: sync,
// sync+exec, sync+restart, restart, rebuild; rules of one kind in file
// order.
func Jobs(rules []Rule, changes []Change) [][]*Job {
	var services []string
	queues := map[string][]*Job{}
	byRule := map[int]*Job{}
	for _, c := range changes {
		taken := map[string]bool{}
		for i, r := range rules {
			if taken[r.Service] || !r.Covers(c.Path, c.Dir) {
				continue
			}
			taken[r.Service] = true
			j := byRule[i]
			if j == nil {
				j = &Job{Rule: r}
				byRule[i] = j
				if queues[r.Service] == nil {
					services = append(services, r.Service)
				}
				queues[r.Service] = append(queues[r.Service], j)
			}
			j.Changes = append(j.Changes, c)
		}
	}
	out := make([][]*Job, 0, len(services))
	for _, s := range services {
		q := queues[s]
		slices.SortStableFunc(q, func(a, b *Job) int {
			return disturbance(a.Rule.Trigger.Action) - disturbance(b.Rule.Trigger.Action)
		})
		out = append(out, q)
	}
	return out
}

// disturbance ranks watch actions by what they do to running containers.
func disturbance(a types.WatchAction) int {
	switch a {
	case types.WatchActionSync:
		return 0
	case types.WatchActionSyncExec:
		return 1
	case types.WatchActionSyncRestart:
		return 2
	case types.WatchActionRestart:
		return 3
	}
	return 4 // rebuild
}
