package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
)

func (a *app) watchCommand() *cobra.Command {
	var noUp, quiet, prune bool
	cmd := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Watch build context for service and rebuild/refresh containers when files are updated",
		Long: `Runs up (unless --no-up), then follows the services' develop.watch rules: changed
files are synced into the running containers, or rebuild, restart or run a command, as
each rule says. Each batch of changes prints one line: service, action, files, milliseconds.
Editing the compose file or its .env reloads the model and converges the stack.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, p, _, closePool, err := a.modelEngine(ctx, args, quiet, true)
			if err != nil {
				return err
			}
			defer closePool()
			if !noUp {
				if _, err := e.Up(ctx, p, engine.UpOptions{Services: args}); err != nil {
					return err
				}
			}
			_ = prune
			return a.runWatch(ctx, e, p, args)
		},
	}
	cmd.Flags().BoolVar(&noUp, "no-up", false, "Do not build & start services before watching")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "Hide build output")
	cmd.Flags().BoolVar(&prune, "prune", true, "Prune dangling images on rebuild (accepted for compatibility)")
	return cmd
}

// runWatch follows the develop.watch rules until ctx ends.
func (a *app) runWatch(ctx context.Context, e *engine.Engine, p *compose.Project, services []string) error {
	// While it watches, the stack's usage feeds the history devorch tune
	// reads (a monitor that only reads resources).
	record, _, save := usageRecorder(p.Name, func(w string) { fmt.Fprintln(a.errOut, "WARN "+w) })
	if record != nil {
		mctx, cancel := context.WithCancel(ctx)
		if mon, err := e.NewMonitor(mctx, p.Name, p, engine.NewBus(), engine.MonitorOptions{NoLogs: true, Record: record}); err == nil {
			defer func() { cancel(); mon.Close(); save() }()
		} else {
			cancel()
		}
	}
	err := e.Watch(ctx, p, engine.WatchOptions{
		Services: services,
		Reload: func(ctx context.Context) (*compose.Project, error) {
			return a.loadProject(ctx, nil)
		},
		Ready: func(n int) {
			fmt.Fprintf(a.errOut, "Watching %d directories for %s (Ctrl-C to stop)\n", n, p.Name)
		},
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
