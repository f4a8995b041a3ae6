// Command devorch runs compose stacks on one or more Docker hosts, with a
// terminal UI for developers and compose-compatible commands for scripts.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/hosts"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/internal/errtext"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error // nil: exit silently with code
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Exit codes compose v2 uses for specific failures.
const (
	exitFileNotFound  = 14
	exitParseFailure  = 15
	exitSyntaxFailure = 16
	exitBuildFailure  = 17
	exitPullFailure   = 18
	exitInterrupted   = 130
)

// loadError marks an error loading the compose model.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// usageError marks a command line mistake.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	var be *images.BuildError
	var pe *images.PullError
	var le *loadError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, compose.ErrNoConfigFile):
		return exitFileNotFound
	case errors.As(err, &le):
		if errors.Is(err, os.ErrNotExist) {
			return exitFileNotFound
		}
		return exitParseFailure
	case errors.As(err, &ue):
		return exitSyntaxFailure
	case errors.As(err, &be):
		return exitBuildFailure
	case errors.As(err, &pe):
		return exitPullFailure
	}
	return 1
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop, caught := signalContext(context.Background())
	defer stop()
	app := newApp(stdin, stdout, stderr)
	app.caught = caught
	return app.execute(ctx, app.rootCommand(), args)
}

// execute runs root with args and turns the outcome into an exit code and
// at most a short message on stderr: offending values are cut (a 5 MB
// scalar is not echoed whole), and a panic becomes a one-line internal
// error with exit code 1 instead of a Go stack trace (DEVORCH_DEBUG=1 adds
// the stack).
func (a *app) execute(ctx context.Context, root *cobra.Command, args []string) (code int) {
	// Progress drawing ends before the error is printed.
	closed := false
	closeAll := func() {
		if !closed {
			closed = true
			for _, c := range a.closers {
				c()
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			closeAll()
			fmt.Fprintf(a.errOut, "%sinternal error: %s (a bug in devorch: please report it with the command that caused it)\n", a.errorPrefix(), errtext.Clip(errtext.OneLine(fmt.Sprint(r))))
			if os.Getenv("DEVORCH_DEBUG") != "" {
				a.errOut.Write(debug.Stack())
			}
			code = 1
		}
	}()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	closeAll()
	if err == nil {
		return 0
	}
	code = exitCode(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return code
	}
	if code == exitInterrupted && ctx.Err() != nil {
		// Cancelled by a signal: 130 for SIGINT, 143 for SIGTERM.
		return signalExitCode(a.caught.get())
	}
	msg := errtext.Clip(err.Error())
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(a.errOut, a.errorPrefix()+msg)
	return code
}

// app holds what every command shares: global flags and streams.
type app struct {
	in          io.Reader
	out, errOut io.Writer

	files      []string
	project    string
	envFiles   []string
	profiles   []string
	projectDir string
	hostFlags  []string
	progress   string
	ansi       string
	parallel   int
	dryRun     bool
	target     string
	// closers run when the command ends (progress drawing).
	closers []func()
	// caught is the stop signal the run received, if any.
	caught *caughtSignal
}

func newApp(in io.Reader, out, errOut io.Writer) *app {
	return &app{in: in, out: out, errOut: errOut}
}

func (a *app) errorPrefix() string {
	if a.colorOn(a.errOut) {
		return "\x1b[31mError:\x1b[0m "
	}
	return "Error: "
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "devorch",
		Short: "Run compose stacks on one or more Docker hosts, fast, with a terminal UI",
		Long: `devorch reads standard compose files and runs the stack on one or more Docker
hosts: networks, volumes, images, containers in dependency order, health waits.
Its commands and flags follow docker compose, so scripts port over.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       engine.Version,
		RunE: func(cmd *cobra.Command, args []string) error {
			// In a terminal, bare devorch opens the TUI on the project;
			// in a script it prints help.
			if a.interactive() {
				return a.attachTUI(cmd.Context())
			}
			return cmd.Help()
		},
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		// Nothing may act for real under --dry-run.
		if a.dryRun && cmd.Name() != "up" && cmd.Name() != "config" {
			return &usageError{fmt.Errorf("--dry-run is supported by up only (devorch --dry-run up shows the placement and the plan)")}
		}
		if err := compose.CheckTarget(a.target); err != nil {
			return &usageError{fmt.Errorf("--%w", err)}
		}
		// A malformed --host is a command line mistake whatever the command.
		if _, err := hosts.Declared(a.hostFlags, "", nil); err != nil {
			return &usageError{err}
		}
		return nil
	}
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(flagError(root))
	// Global flags come before the subcommand, as in docker compose v2:
	// they are the root's own flags, parsed while traversing to the
	// subcommand, so subcommands may reuse their shorthands (run -p, rm -f).
	root.TraverseChildren = true
	pf := root.Flags()
	pf.StringArrayVarP(&a.files, "file", "f", nil, "Compose configuration files (repeatable; later files override earlier ones)")
	pf.StringVarP(&a.project, "project-name", "p", "", "Project name")
	pf.StringArrayVar(&a.envFiles, "env-file", nil, "Alternate environment files")
	pf.StringArrayVar(&a.profiles, "profile", nil, "Profiles to enable (repeatable)")
	pf.StringVar(&a.projectDir, "project-directory", "", "Alternate working directory (default: the directory of the first compose file)")
	pf.StringArrayVar(&a.hostFlags, "host", nil, "Docker host NAME=ENDPOINT[;address=IP][;label.KEY=VALUE] (repeatable; default: DEVORCH_HOSTS, x-devorch hosts, else the local Docker)")
	pf.StringVar(&a.progress, "progress", "auto", "Progress output: auto, tty, plain, quiet")
	pf.StringVar(&a.ansi, "ansi", "auto", "Control characters: auto, never, always")
	pf.IntVar(&a.parallel, "parallel", 0, "Maximum concurrent Docker calls (default: DEVORCH_PARALLEL or 16)")
	pf.BoolVar(&a.dryRun, "dry-run", false, "Show what would be done without doing it")
	pf.StringVar(&a.target, "target", "", "Where the stack runs: hosts (devorch places containers on its hosts) or swarm (Swarm services on the Swarm the default host manages) (default: DEVORCH_TARGET, x-devorch target, else hosts)")

	root.AddCommand(
		a.upCommand(), a.downCommand(), a.psCommand(), a.logsCommand(), a.configCommand(),
		a.startCommand(), a.stopCommand(), a.restartCommand(), a.killCommand(), a.rmCommand(),
		a.pauseCommand(true), a.pauseCommand(false), a.createCommand(),
		a.execCommand(), a.runCommand(), a.buildCommand(), a.pullCommand(), a.imagesCommand(),
		a.portCommand(), a.cpCommand(), a.topCommand(), a.lsCommand(), a.versionCommand(),
		a.watchCommand(), a.hostsCommand(), a.volumeCommand(), a.tuiCommand(), a.scaleCommand(), a.statsCommand(), a.tuneCommand(),
		netprobeCommand(),
	)
	root.InitDefaultCompletionCmd()
	strictHelp(root)
	strictArgs(root)
	return root
}
