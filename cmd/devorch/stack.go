package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	swarmstack "github.com/devorch/devorch/engine/stack"
)

// targetOf is where the project runs: --target, DEVORCH_TARGET, the
// file's x-devorch target, else devorch's own hosts.
func (a *app) targetOf(p *compose.Project) (string, error) {
	if a.target != "" {
		return a.target, nil
	}
	if t := os.Getenv("DEVORCH_TARGET"); t != "" {
		if err := compose.CheckTarget(t); err != nil {
			return "", &usageError{fmt.Errorf("DEVORCH_TARGET: %w", err)}
		}
		return t, nil
	}
	if p != nil && p.X.Target != "" {
		return p.X.Target, nil
	}
	return compose.TargetHosts, nil
}

// registryOf is the registry a Swarm's images go through: --registry,
// DEVORCH_REGISTRY, the file's x-devorch registry (checked when the file
// is loaded), else none (devorch copies the images to the nodes).
func registryOf(flag string, p *compose.Project) (string, error) {
	for _, r := range []struct{ value, from string }{{flag, "--registry"}, {os.Getenv("DEVORCH_REGISTRY"), "DEVORCH_REGISTRY"}} {
		if r.value == "" {
			continue
		}
		if err := compose.CheckRegistry(r.value); err != nil {
			return "", &usageError{fmt.Errorf("%s: %w", r.from, err)}
		}
		return r.value, nil
	}
	if p != nil {
		return p.X.Registry, nil
	}
	return "", nil
}

// onSwarm says whether the command targets a Swarm.
func (a *app) onSwarm(p *compose.Project) (bool, error) {
	t, err := a.targetOf(p)
	return t == compose.TargetSwarm, err
}

// runStackUp is up --target swarm: the project as Swarm services on the
// Swarm the default host manages.
func (a *app) runStackUp(cmd *cobra.Command, p *compose.Project, args []string, f upFlags) error {
	switch {
	case a.dryRun:
	case f.noStart, f.abortOnExit, f.watch, f.noRecreate:
		return &usageError{errors.New("--no-start, --abort-on-container-exit, --exit-code-from, --watch and --no-recreate do not apply to Swarm services")}
	}
	scale, err := parseScale(f.scale)
	if err != nil {
		return err
	}
	for name, n := range scale {
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("--scale: no such service: %q", name)
		}
		s.Scale = &n
		if s.Deploy != nil {
			s.Deploy.Replicas = &n
		}
		p.Services[name] = s
	}
	registry, err := registryOf(f.registry, p)
	if err != nil {
		return err
	}
	pr, err := a.newPrinter(true)
	if err != nil {
		return err
	}
	e, closePool, err := a.newEngine(p, pr.sink)
	if err != nil {
		return err
	}
	defer closePool()
	pl, err := e.StackUp(cmd.Context(), p, engine.StackOptions{
		Images:        engine.ImageOptions{Build: f.build, NoBuild: f.noBuild, Pull: f.pull, Quiet: f.quietPull},
		RemoveOrphans: f.removeOrphans, Partial: len(args) > 0, Force: f.forceRecreate,
		Wait: f.wait, WaitTimeout: time.Duration(f.waitTimeout) * time.Second,
		LockTimeout: time.Duration(f.waitTimeout) * time.Second,
		DryRun:      a.dryRun, Registry: registry,
	})
	if err == nil && a.dryRun {
		fmt.Fprint(a.out, pl.String())
	}
	if err != nil || a.dryRun || f.detach {
		return err
	}
	// Attached: the services' logs until Ctrl-C, which stops following
	// only: the Swarm keeps running them (devorch down removes them).
	fmt.Fprintln(a.errOut, "Following the services' logs; Ctrl-C stops following, the services keep running on the Swarm (devorch --target swarm down removes them)")
	err = e.StackLogs(cmd.Context(), p.Name, swarmstack.LogOptions{Follow: true, Timestamps: f.timestamps})
	if cmd.Context().Err() != nil {
		return nil
	}
	return err
}

// stackDown is down --target swarm.
func (a *app) stackDown(cmd *cobra.Command, e *engine.Engine, name string, p *compose.Project, volumes bool, rmi string) error {
	return e.StackDown(cmd.Context(), name, p, swarmstack.RemoveOptions{Volumes: volumes}, rmi)
}

// stackPs is ps --target swarm: the project's tasks, as docker stack ps
// lists them, with devorch's host names for the nodes.
func (a *app) stackPs(cmd *cobra.Command, e *engine.Engine, name string, services []string, quiet bool, format string) error {
	rows, err := e.StackPs(cmd.Context(), name)
	if err != nil {
		return err
	}
	if len(services) > 0 {
		keep := rows[:0]
		for _, r := range rows {
			for _, s := range services {
				if r.Service == s {
					keep = append(keep, r)
				}
			}
		}
		rows = keep
	}
	switch {
	case quiet:
		for _, r := range rows {
			fmt.Fprintln(a.out, r.ID)
		}
	case format == "json":
		enc := json.NewEncoder(a.out)
		for _, r := range rows {
			if err := enc.Encode(map[string]any{
				"ID": r.ID, "Name": r.Name, "Service": r.Service, "Slot": r.Slot, "Node": r.Node, "Image": r.Image,
				"DesiredState": r.DesiredState, "CurrentState": r.CurrentState, "Error": r.Err, "Ports": strings.Join(r.Ports, ", "),
			}); err != nil {
				return err
			}
		}
	case format == "table" || format == "":
		tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tIMAGE\tNODE\tDESIRED STATE\tCURRENT STATE\tERROR\tPORTS")
		for _, r := range rows {
			current := r.CurrentState
			if !r.Since.IsZero() {
				current += " " + ago(r.Since)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Image, r.Node, r.DesiredState, current, r.Err, strings.Join(r.Ports, ", "))
		}
		return tw.Flush()
	default:
		return &usageError{fmt.Errorf("--format %q: want table or json", format)}
	}
	return nil
}

// stackLogs is logs --target swarm, through the Swarm's service logs.
func (a *app) stackLogs(cmd *cobra.Command, e *engine.Engine, name string, services []string, o engine.LogsOptions) error {
	if o.Until != "" || o.Index > 0 {
		return &usageError{errors.New("--until and --index are not supported with --target swarm yet")}
	}
	tail := o.Tail
	if tail == "all" {
		tail = ""
	}
	err := e.StackLogs(cmd.Context(), name, swarmstack.LogOptions{Services: services, Follow: o.Follow, Tail: tail, Since: o.Since, Timestamps: o.Timestamps})
	if cmd.Context().Err() != nil {
		return nil
	}
	return err
}

// scaleCommand is compose's `scale SERVICE=REPLICAS...`: on devorch's
// hosts an up of those services with that scale (no dependencies), on a
// Swarm one update of each service's replicas.
func (a *app) scaleCommand() *cobra.Command {
	var noDeps bool
	cmd := &cobra.Command{
		Use:   "scale [OPTIONS] SERVICE=REPLICAS...",
		Short: "Scale services",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, err := parseScale(args)
			if err != nil {
				return &usageError{err}
			}
			names := make([]string, 0, len(want))
			for n := range want {
				names = append(names, n)
			}
			e, p, _, closePool, err := a.modelEngine(cmd.Context(), names, false, true)
			if err != nil {
				return err
			}
			defer closePool()
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return e.StackScale(cmd.Context(), p.Name, want)
			}
			_, err = e.Up(cmd.Context(), p, engine.UpOptions{Services: names, Scale: want, NoDeps: noDeps, NoRecreate: true})
			return err
		},
	}
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "Don't start linked services")
	return cmd
}
