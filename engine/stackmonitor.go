package engine

import (
	"context"

	"github.com/devorch/devorch/engine/stack"
)

// StackMonitor follows the project on the Swarm the default host manages
// (stack.NewMonitor), for the TUI; Stop ends it.
func (e *Engine) StackMonitor(ctx context.Context, project string) (*stack.Monitor, error) {
	t, err := e.openStack(ctx)
	if err != nil {
		return nil, err
	}
	return stack.NewMonitor(ctx, t, project, stack.MonitorOptions{})
}

// StackLogLines streams the project's Swarm service logs to emit
// (stack.Logs), not to the engine's sink: the TUI keeps them per task.
func (e *Engine) StackLogLines(ctx context.Context, project string, o stack.LogOptions, emit func(stack.LogLine)) error {
	return e.onStack(ctx, func(t *stack.Target) error { return stack.Logs(ctx, t, project, o, emit) })
}
