package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
)

type upFlags struct {
	detach, wait, build, noBuild, forceRecreate, noRecreate, noDeps bool
	removeOrphans, abortOnExit, noColor, noLogPrefix, noTUI         bool
	quietPull, noStart, timestamps, watch                           bool
	waitTimeout                                                     int
	exitCodeFrom, pull, registry                                    string
	scale                                                           []string
	timeout                                                         int
}

func (a *app) upCommand() *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		Long: `Builds or pulls missing images, creates networks and volumes, and creates,
recreates and starts containers in dependency order. Unchanged services are not
touched. Without -d it follows the containers' logs until they stop; the first
Ctrl-C stops the stack gracefully, a second one kills it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runUp(cmd, args, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.detach, "detach", "d", false, "Run containers in the background")
	fl.BoolVar(&f.wait, "wait", false, "Wait for services to be running or healthy (implies -d)")
	fl.IntVar(&f.waitTimeout, "wait-timeout", 0, "Maximum seconds to wait for services (and for another devorch holding the project)")
	fl.BoolVar(&f.build, "build", false, "Build images before starting containers")
	fl.BoolVar(&f.noBuild, "no-build", false, "Don't build an image, even if it's missing")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fl.BoolVar(&f.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	fl.BoolVar(&f.noDeps, "no-deps", false, "Don't start linked services")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the compose file")
	fl.BoolVar(&f.abortOnExit, "abort-on-container-exit", false, "Stop all containers if any container was stopped")
	fl.StringVar(&f.exitCodeFrom, "exit-code-from", "", "Return the exit code of the selected service container (implies --abort-on-container-exit)")
	fl.StringArrayVar(&f.scale, "scale", nil, "Scale SERVICE to NUM instances (overrides scale in the compose file)")
	fl.IntVarP(&f.timeout, "timeout", "t", 10, "Seconds to wait for containers to stop when replacing or stopping them")
	fl.StringVar(&f.pull, "pull", "", `Pull image before running ("always"|"missing"|"never"|"build")`)
	fl.BoolVar(&f.quietPull, "quiet-pull", false, "Pull without printing progress information")
	fl.BoolVar(&f.noColor, "no-color", false, "Produce monochrome output")
	fl.BoolVar(&f.noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fl.BoolVar(&f.noTUI, "no-tui", false, "In a terminal, stream logs as docker compose does instead of opening the TUI")
	fl.BoolVar(&f.noStart, "no-start", false, "Don't start the services after creating them")
	fl.BoolVar(&f.timestamps, "timestamps", false, "Show timestamps")
	fl.BoolVarP(&f.watch, "watch", "w", false, "Watch source code and sync/rebuild/restart containers when files are updated (develop.watch)")
	fl.StringVar(&f.registry, "registry", "", "With --target swarm: push the images to this registry (host[:port][/path]) and let the nodes pull them by digest (default: DEVORCH_REGISTRY, x-devorch registry, else copy them to the nodes)")
	return cmd
}

func (a *app) runUp(cmd *cobra.Command, args []string, f upFlags) error {
	ctx := cmd.Context()
	if f.build && f.noBuild {
		return &usageError{errors.New("--build and --no-build are incompatible")}
	}
	if f.forceRecreate && f.noRecreate {
		return &usageError{errors.New("--force-recreate and --no-recreate are incompatible")}
	}
	switch f.pull {
	case "", "always", "missing", "never", "build":
	default:
		return &usageError{fmt.Errorf("--pull %q: want always, missing, never or build", f.pull)}
	}
	if f.exitCodeFrom != "" {
		f.abortOnExit = true
	}
	if f.wait {
		f.detach = true
	}
	if f.detach && f.abortOnExit {
		return &usageError{errors.New("-d and --abort-on-container-exit (or --exit-code-from) are incompatible")}
	}
	p, err := a.loadValidProject(ctx, args)
	if err != nil {
		return err
	}
	if err := compose.CheckSelected(p); err != nil {
		return err
	}
	if swarm, err := a.onSwarm(p); err != nil || swarm {
		if err != nil {
			return err
		}
		return a.runStackUp(cmd, p, args, f)
	}
	if f.registry != "" {
		return &usageError{errors.New("--registry applies to --target swarm only: on devorch's own hosts the images are copied between hosts")}
	}
	if f.exitCodeFrom != "" {
		if _, ok := p.Services[f.exitCodeFrom]; !ok {
			return fmt.Errorf("--exit-code-from: no such service: %q", f.exitCodeFrom)
		}
	}
	scale, err := parseScale(f.scale)
	if err != nil {
		return err
	}
	pr, err := a.newPrinter(!f.noLogPrefix)
	if err != nil {
		return err
	}
	if f.noColor {
		pr.color = false
	}
	e, closePool, err := a.newEngine(p, pr.sink)
	if err != nil {
		return err
	}
	defer closePool()
	pr.multiHost = len(e.Pool.Hosts) > 1
	for _, s := range p.Services {
		for r := 1; r <= s.GetScale(); r++ {
			pr.reserve(fmt.Sprintf("%s-%d", s.Name, r))
		}
	}
	opts := engine.UpOptions{
		Services: args, NoDeps: f.noDeps,
		Images:        engine.ImageOptions{Build: f.build, NoBuild: f.noBuild, Pull: f.pull, Quiet: f.quietPull},
		ForceRecreate: f.forceRecreate, NoRecreate: f.noRecreate, RemoveOrphans: f.removeOrphans,
		Scale: scale, Timeout: stopTimeout(f.timeout, cmd.Flags().Changed("timeout")),
		Wait: f.wait, WaitTimeout: time.Duration(f.waitTimeout) * time.Second,
		LockTimeout: time.Duration(f.waitTimeout) * time.Second,
		DryRun:      a.dryRun, NoStart: f.noStart,
	}
	if a.dryRun {
		res, err := e.Up(ctx, p, opts)
		if err != nil {
			return err
		}
		fmt.Fprint(a.out, res.Plan.String())
		return nil
	}
	if !f.detach && !f.noStart && !f.noTUI && a.interactive() {
		return a.upTUI(ctx, p, opts, f.watch)
	}
	if f.detach || f.noStart {
		_, err := e.Up(ctx, p, opts)
		if err != nil {
			return err
		}
		if f.watch {
			return a.runWatch(ctx, e, p, args)
		}
		return nil
	}
	return a.upAttached(ctx, e, p, pr, opts, f)
}

// upAttached runs up in the foreground: logs stream until the containers
// stop; Ctrl-C stops the stack gracefully, a second Ctrl-C kills it.
func (a *app) upAttached(parent context.Context, e *engine.Engine, p *compose.Project, pr *printer, opts engine.UpOptions, f upFlags) error {
	// Our own signal handling: the first interrupt must not cancel the
	// graceful stop that follows it.
	// SIGTERM (CI runners, timeout) is handled as the first Ctrl-C; the
	// exit code says which one it was (130, 143).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals()...)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	interrupted := make(chan struct{})
	interruptCode := exitInterrupted
	go func() {
		select {
		case sig := <-sigs:
			interruptCode = signalExitCode(sig)
			close(interrupted)
			cancel()
		case <-ctx.Done():
		}
	}()
	att := e.NewAttacher(context.WithoutCancel(parent), p.Name)
	att.KeepAlive = f.watch
	if f.timestamps {
		att.ShowTimestamps()
	}
	defer att.Close()
	opts.OnStart = func(c engine.Container, fresh bool) {
		pr.reserve(fmt.Sprintf("%s-%d", c.Service, c.Replica))
		att.Add(c, fresh)
	}
	if stopAlerts, err := followAlerts(ctx, e, p, pr); err == nil {
		defer stopAlerts()
	} else {
		fmt.Fprintf(a.errOut, "alerts: %v\n", err)
	}
	_, upErr := e.Up(ctx, p, opts)
	if upErr != nil && !isInterrupted(interrupted) {
		return upErr
	}
	if f.watch && upErr == nil {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go func() {
			if err := a.runWatch(wctx, e, p, opts.Services); err != nil {
				fmt.Fprintf(a.errOut, "watch: %v\n", err)
			}
		}()
	}
	var res engine.AttachResult
	if !isInterrupted(interrupted) {
		res = att.Wait(ctx, f.abortOnExit)
	}
	set := opts.Services
	stopCtx, stopCancel := context.WithCancel(context.WithoutCancel(parent))
	defer stopCancel()
	stopSet := func() error {
		return e.Stop(stopCtx, p.Name, set, opts.Timeout)
	}
	switch {
	case isInterrupted(interrupted):
		fmt.Fprintln(a.errOut, "Gracefully stopping... (press Ctrl+C again to force)")
		done := make(chan error, 1)
		go func() { done <- stopSet() }()
		select {
		case err := <-done:
			att.Drain(2 * time.Second)
			if err != nil {
				return err
			}
		case <-sigs:
			stopCancel()
			killCtx, kc := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
			defer kc()
			_ = e.Kill(killCtx, p.Name, set, "SIGKILL")
		}
		return &exitError{code: interruptCode}
	case res.First != nil:
		fmt.Fprintln(a.errOut, "Aborting on container exit...")
		if err := stopSet(); err != nil {
			return err
		}
		att.Drain(2 * time.Second)
		if f.exitCodeFrom != "" {
			code, _ := att.ExitCodeOf(stopCtx, f.exitCodeFrom)
			return exitWith(code)
		}
		return exitWith(res.ExitCode)
	}
	att.Drain(2 * time.Second)
	if f.exitCodeFrom != "" {
		code, _ := att.ExitCodeOf(stopCtx, f.exitCodeFrom)
		return exitWith(code)
	}
	return nil
}

func exitWith(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

func isInterrupted(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
