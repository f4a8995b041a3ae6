package main

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/devorch/devorch/engine"
)

// terminalStreams connects the process's stdio to an interactive command:
// a real TTY (raw mode, size, resizes) when attached to one and tty is
// wanted, plain pipes otherwise.
func (a *app) terminalStreams(wantTTY, wantStdin bool) (engine.Streams, func(), error) {
	st := engine.Streams{Out: a.out, Err: a.errOut}
	if wantStdin {
		st.In = a.in
	}
	restore := func() {}
	if !wantTTY {
		return st, restore, nil
	}
	inFd, inTerm := term.GetFdInfo(a.in)
	outFd, outTerm := term.GetFdInfo(a.out)
	if !inTerm || !outTerm {
		return st, restore, nil
	}
	st.TTY = true
	st.Size = func() (uint, uint) {
		ws, err := term.GetWinsize(outFd)
		if err != nil {
			return 24, 80
		}
		return uint(ws.Height), uint(ws.Width)
	}
	resized := make(chan struct{}, 1)
	stopResize := watchResize(st.Size, resized)
	st.Resized = resized
	state, err := term.SetRawTerminal(inFd)
	if err != nil {
		stopResize()
		return st, restore, fmt.Errorf("set terminal to raw mode: %w", err)
	}
	restore = func() {
		stopResize()
		_ = term.RestoreTerminal(inFd, state)
	}
	return st, restore, nil
}

func (a *app) execCommand() *cobra.Command {
	var o engine.ExecOptions
	var noTTY, interactive bool
	var env []string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			swarm, err := a.onSwarm(p)
			if err != nil {
				return err
			}
			o.Service, o.Cmd, o.Env = args[0], args[1:], env
			st, restore, err := a.terminalStreams(!noTTY, interactive && !o.Detach)
			if err != nil {
				return err
			}
			exec := e.Exec
			if swarm {
				exec = e.StackExec
			}
			code, err := exec(context.WithoutCancel(cmd.Context()), name, o, st)
			restore()
			if err != nil {
				return err
			}
			return exitWith(code)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: Run command in the background")
	fl.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (by default a TTY is allocated when attached to one)")
	fl.BoolVarP(&interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fl.StringArrayVarP(&env, "env", "e", nil, "Set environment variables")
	fl.StringVarP(&o.User, "user", "u", "", "Run the command as this user")
	fl.StringVarP(&o.WorkDir, "workdir", "w", "", "Path to workdir directory for this command")
	fl.BoolVar(&o.Privileged, "privileged", false, "Give extended privileges to the process")
	fl.IntVar(&o.Index, "index", 0, "Index of the container if service has multiple replicas")
	return cmd
}

func (a *app) runCommand() *cobra.Command {
	var o engine.RunOptions
	var noTTY, interactive, build, noBuild, quietPull bool
	var entrypoint string
	var labelFlags []string
	var pull string
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, _, closePool, err := a.modelEngine(cmd.Context(), nil, false, true)
			if err != nil {
				return err
			}
			defer closePool()
			swarm, err := a.onSwarm(p)
			if err != nil {
				return err
			}
			o.Service, o.Cmd = args[0], args[1:]
			o.Images = engine.ImageOptions{Build: build, NoBuild: noBuild, Pull: pull, Quiet: quietPull}
			if cmd.Flags().Changed("entrypoint") {
				ep := []string{entrypoint}
				if entrypoint == "" {
					ep = []string{}
				}
				o.Entrypoint = &ep
			}
			o.Labels = map[string]string{}
			for _, l := range labelFlags {
				k, v, _ := cutEq(l)
				o.Labels[k] = v
			}
			st, restore, err := a.terminalStreams(!noTTY && !o.Detach, interactive && !o.Detach)
			if err != nil {
				return err
			}
			run := e.Run
			if swarm {
				run = e.StackRun
			}
			code, err := run(context.WithoutCancel(cmd.Context()), p, o, st)
			restore()
			if err != nil {
				return err
			}
			return exitWith(code)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&o.Detach, "detach", "d", false, "Run container in background and print container ID")
	fl.BoolVar(&o.Remove, "rm", false, "Automatically remove the container when it exits")
	fl.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	fl.BoolVarP(&interactive, "interactive", "i", true, "Keep STDIN open even if not attached")
	fl.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	fl.StringArrayVarP(&labelFlags, "label", "l", nil, "Add or override a label")
	fl.StringVar(&o.Name, "name", "", "Assign a name to the container")
	fl.StringVarP(&o.User, "user", "u", "", "Run as specified username or uid")
	fl.StringVarP(&o.WorkDir, "workdir", "w", "", "Working directory inside the container")
	fl.StringVar(&entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	fl.BoolVar(&o.NoDeps, "no-deps", false, "Don't start linked services")
	fl.BoolVar(&o.ServicePorts, "service-ports", false, "Run command with all service's ports enabled and mapped to the host")
	fl.StringArrayVarP(&o.Publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fl.StringArrayVarP(&o.Volumes, "volume", "v", nil, "Bind mount a volume")
	fl.BoolVar(&build, "build", false, "Build image before starting container")
	fl.BoolVar(&noBuild, "no-build", false, "Don't build an image, even if it's missing")
	fl.StringVar(&pull, "pull", "", `Pull image before running ("always"|"missing"|"never")`)
	fl.BoolVar(&quietPull, "quiet-pull", false, "Pull without printing progress information")
	_ = time.Second
	return cmd
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
