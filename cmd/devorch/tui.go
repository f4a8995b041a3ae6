package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	usagehist "github.com/devorch/devorch/engine/usage"
	"github.com/devorch/devorch/tui"
)

func (a *app) tuiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tui",
		Short: "Open the terminal UI on a running project (quitting leaves it running)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !isTerminal(a.out) || !isTerminal(a.in) {
				return errors.New("devorch tui needs a terminal (stdin and stdout)")
			}
			return a.attachTUI(cmd.Context())
		},
	}
}

// globalArgs are the flags a child devorch (the TUI's shell) needs to see
// the same project on the same hosts.
func (a *app) globalArgs() []string {
	var out []string
	for _, f := range a.files {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		out = append(out, "-f", f)
	}
	if a.projectDir != "" {
		if abs, err := filepath.Abs(a.projectDir); err == nil {
			out = append(out, "--project-directory", abs)
		}
	}
	for _, f := range a.envFiles {
		out = append(out, "--env-file", f)
	}
	for _, p := range a.profiles {
		out = append(out, "--profile", p)
	}
	for _, h := range a.hostFlags {
		out = append(out, "--host", h)
	}
	return out
}

// tuiEngine builds an engine whose events go to a bus the monitor shares:
// the TUI reads that one stream.
func (a *app) tuiEngine(ctx context.Context, p *compose.Project, project string) (*engine.Engine, *engine.Monitor, *tui.EngineBackend, func(), error) {
	bus := engine.NewBus()
	e, closePool, err := a.newEngine(p, bus.Publish)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// The TUI feeds the usage history (devorch tune) while it is open.
	record, rec, save := usageRecorder(project, func(w string) { fmt.Fprintln(a.errOut, "WARN "+w) })
	mon, err := e.NewMonitor(ctx, project, p, bus, engine.MonitorOptions{Record: record})
	if err != nil {
		closePool()
		return nil, nil, nil, nil, err
	}
	b := tui.NewEngineBackend(e, mon, p, project)
	b.GlobalArgs = a.globalArgs()
	b.Reload = func(ctx context.Context) (*compose.Project, error) { return a.loadProject(ctx, nil) }
	if rec != nil && p != nil {
		// The detail view's recommendation and T's override file: the stored
		// history with this session's readings. An unusable store file is
		// reported when the session is saved.
		b.Usage, _ = usagehist.NewLive(usageStore(), rec, project, p.WorkingDir, usagehist.SpecsFrom(p.Services, p.Hashes))
	}
	return e, mon, b, func() { mon.Close(); save(); closePool() }, nil
}

// attachTUI opens the TUI on a running project: `devorch tui`, or bare
// devorch in a terminal.
func (a *app) attachTUI(ctx context.Context) error {
	p, name, err := a.projectOrName(ctx)
	if err != nil {
		return err
	}
	if swarm, err := a.onSwarm(p); err != nil || swarm {
		if err != nil {
			return err
		}
		return a.swarmTUI(ctx, p, name)
	}
	_, _, b, done, err := a.tuiEngine(ctx, p, name)
	if err != nil {
		return err
	}
	defer done()
	_, err = tui.Run(ctx, b, tui.Options{Mode: tui.ModeAttach, Stdin: a.in, Stdout: a.out})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// swarmTUI is the TUI on a project deployed to a Swarm: it follows the
// Swarm's events (engine.StackMonitor) and acts through the services.
func (a *app) swarmTUI(ctx context.Context, p *compose.Project, name string) error {
	bus := engine.NewBus()
	e, closePool, err := a.newEngine(p, bus.Publish)
	if err != nil {
		return err
	}
	defer closePool()
	mon, err := e.StackMonitor(ctx, name)
	if err != nil {
		return err
	}
	defer mon.Stop()
	b := tui.NewSwarmBackend(e, mon, bus, p, name)
	b.GlobalArgs = a.globalArgs()
	defer b.WantLogs(false) // ends the service logs stream, if the logs view started one
	_, err = tui.Run(ctx, b, tui.Options{Mode: tui.ModeAttach, Stdin: a.in, Stdout: a.out})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// upTUI is `devorch up` in a terminal: the TUI shows the stack coming up
// and running. Ctrl-C stops the stack (exit 130, as compose's attached
// mode); q asks whether to stop it or leave it running.
func (a *app) upTUI(parent context.Context, p *compose.Project, opts engine.UpOptions, watch bool) error {
	// The TUI handles Ctrl-C itself (raw terminal); a SIGINT from outside
	// must not cancel the stop that follows.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	e, _, b, done, err := a.tuiEngine(ctx, p, p.Name)
	if err != nil {
		return err
	}
	defer done()
	upDone := make(chan error, 1)
	go func() {
		_, err := e.Up(ctx, p, opts)
		upDone <- err
		if err == nil && watch {
			if _, werr := b.SetWatch(true); werr != nil {
				e.Sink(engine.Event{Kind: engine.KindWarning, Detail: "hot reload: " + werr.Error()})
			}
		}
	}()
	// Bubble Tea ends on SIGTERM as if asked to quit; devorch treats it as
	// Ctrl-C: the stack stops and the exit code is 143.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	res, err := tui.Run(ctx, b, tui.Options{Mode: tui.ModeUp, Stdin: a.in, Stdout: a.out, UpDone: upDone})
	_, _ = b.SetWatch(false)
	interruptCode := exitInterrupted
	select {
	case sig := <-term:
		res.StopStack, res.Interrupted, interruptCode = true, true, signalExitCode(sig)
	default:
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if !res.StopStack {
		fmt.Fprintf(a.errOut, "The stack keeps running. Stop it with: devorch -p %s down\n", p.Name)
		return nil
	}
	// Stop the stack, printing plainly now that the TUI is gone.
	pr, err := a.newPrinter(true)
	if err != nil {
		return err
	}
	e.Sink = pr.sink
	fmt.Fprintln(a.errOut, "Gracefully stopping...")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(parent), 2*time.Minute)
	defer scancel()
	if err := e.Stop(sctx, p.Name, opts.Services, opts.Timeout); err != nil {
		return err
	}
	if res.Interrupted {
		return &exitError{code: interruptCode}
	}
	return nil
}

// interactive reports whether a command talks to a person at a terminal.
func (a *app) interactive() bool {
	return isTerminal(a.out) && isTerminal(a.in) && os.Getenv("TERM") != "dumb"
}
