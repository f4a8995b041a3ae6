package engine

import "github.com/devorch/devorch/engine/plan"

// The plan's types under engine's name: cmd and tui know a run's plan as
// part of what Up returns, and need not know where it is made.
type (
	Plan   = plan.Plan
	Step   = plan.Step
	Action = plan.Action
)

const (
	ActKeep     = plan.ActKeep
	ActStart    = plan.ActStart
	ActCreate   = plan.ActCreate
	ActRecreate = plan.ActRecreate
	ActRestart  = plan.ActRestart
	ActRemove   = plan.ActRemove
)

// summary is the placement as plain data, for the plan's --dry-run table.
func (pl *placement) summary() []plan.Placed {
	out := make([]plan.Placed, 0, len(pl.hostOf))
	for k, host := range pl.hostOf {
		out = append(out, plan.Placed{Service: k.Service, Replica: k.Replica, Host: host, Why: pl.why[k], Verdicts: pl.reasons[k]})
	}
	return out
}
