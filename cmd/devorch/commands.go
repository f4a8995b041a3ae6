package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
	"github.com/devorch/devorch/engine/images"
	"github.com/devorch/devorch/engine/swarm"
	"github.com/devorch/devorch/netctl"
)

// labelCommand is the shape of commands that act on a project's containers
// and work from labels when there is no compose file.
func (a *app) labelEngine(cmd *cobra.Command, logPrefix bool) (*engine.Engine, *compose.Project, string, *printer, func(), error) {
	p, name, err := a.projectOrName(cmd.Context())
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	pr, err := a.newPrinter(logPrefix)
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	e, closePool, err := a.newEngine(p, pr.sink)
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	pr.multiHost = len(e.Pool.Hosts) > 1
	return e, p, name, pr, closePool, nil
}

// modelEngine loads the compose model (checking the named services) and
// builds an engine reporting to a printer; quiet silences progress. For a
// command that creates containers, the model is validated first.
func (a *app) modelEngine(ctx context.Context, services []string, quiet, creates bool) (*engine.Engine, *compose.Project, *printer, func(), error) {
	load := a.loadProject
	if creates {
		load = a.loadValidProject
	}
	p, err := load(ctx, services)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pr, err := a.newPrinter(true)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if quiet {
		pr.buildOutput = false
		pr.mode = "quiet"
	}
	e, closePool, err := a.newEngine(p, pr.sink)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pr.multiHost = len(e.Pool.Hosts) > 1
	return e, p, pr, closePool, nil
}

func (a *app) downCommand() *cobra.Command {
	var volumes, removeOrphans bool
	var rmi string
	var timeout int
	cmd := &cobra.Command{
		Use:   "down [OPTIONS]",
		Short: "Stop and remove containers, networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if rmi != "" && rmi != "local" && rmi != "all" {
				return &usageError{fmt.Errorf("--rmi %q: want local or all", rmi)}
			}
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return a.stackDown(cmd, e, name, p, volumes, rmi)
			}
			return e.Down(cmd.Context(), name, p, engine.DownOptions{
				RemoveOrphans: removeOrphans, Volumes: volumes, RemoveImages: rmi,
				Timeout: stopTimeout(timeout, cmd.Flags().Changed("timeout")),
			})
		},
	}
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove named volumes declared in the volumes section and anonymous volumes attached to containers")
	cmd.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the compose file")
	cmd.Flags().StringVar(&rmi, "rmi", "", `Remove images used by services: "local" removes only images built without a custom tag ("local"|"all")`)
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Seconds to wait for containers to stop")
	return cmd
}

func (a *app) psCommand() *cobra.Command {
	var all, quiet, services bool
	var format string
	var status []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if p != nil {
				if err := compose.CheckServices(p.Project, args); err != nil {
					return err
				}
			}
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return a.stackPs(cmd, e, name, args, quiet, format)
			}
			if services {
				var names []string
				if p != nil {
					names = p.ServiceNames()
					if len(args) > 0 {
						names = args
					}
				} else {
					entries, err := e.Ps(cmd.Context(), name, engine.PsOptions{All: true})
					if err != nil {
						return err
					}
					seen := map[string]bool{}
					for _, en := range entries {
						seen[en.Service] = true
					}
					names = sortedStrings(seen)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(a.out, n)
				}
				return nil
			}
			entries, err := e.Ps(cmd.Context(), name, engine.PsOptions{Services: args, All: all, Status: status})
			if err != nil {
				return err
			}
			switch {
			case quiet:
				for _, en := range entries {
					fmt.Fprintln(a.out, en.ID)
				}
			case format == "json":
				enc := json.NewEncoder(a.out)
				for _, en := range entries {
					if err := enc.Encode(psJSON(en)); err != nil {
						return err
					}
				}
			case format == "table" || format == "":
				tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
				header := "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS"
				multi := len(e.Pool.Hosts) > 1
				if multi {
					header += "\tHOST"
				}
				fmt.Fprintln(tw, header)
				for _, en := range entries {
					line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", en.Name, en.Image, quoteCommand(en.Command), en.Service, ago(en.Created), en.Status, en.PortsString())
					if multi {
						line += "\t" + en.Host
					}
					fmt.Fprintln(tw, line)
				}
				return tw.Flush()
			default:
				return &usageError{fmt.Errorf("--format %q: want table or json", format)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	fl.BoolVar(&services, "services", false, "Display services")
	fl.StringVar(&format, "format", "table", "Format the output: table or json")
	fl.StringArrayVar(&status, "status", nil, "Filter services by status: created, restarting, running, removing, paused, exited, dead")
	return cmd
}

// psJSON is one line of `ps --format json`, with compose v2's field names.
func psJSON(en engine.PsEntry) map[string]any {
	pubs := []map[string]any{}
	for _, p := range en.Publishers {
		pubs = append(pubs, map[string]any{"URL": p.URL, "TargetPort": p.TargetPort, "PublishedPort": p.PublishedPort, "Protocol": p.Protocol})
	}
	nets := []string{}
	for n := range en.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	return map[string]any{
		"ID": en.ID, "Name": en.Name, "Names": en.Name, "Image": en.Image, "Command": quoteCommand(en.Command),
		"Project": en.Project, "Service": en.Service, "Replica": en.Replica, "CreatedAt": en.Created.Format(time.RFC3339),
		"State": en.State, "Status": en.Status, "Health": en.Health, "ExitCode": en.ExitCode,
		"Publishers": pubs, "Ports": en.PortsString(), "Networks": strings.Join(nets, ","), "Host": en.Host,
	}
}

func quoteCommand(c string) string { return `"` + c + `"` }

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func (a *app) logsCommand() *cobra.Command {
	var o engine.LogsOptions
	var noColor, noPrefix bool
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, pr, closePool, err := a.labelEngine(cmd, !noPrefix)
			if err != nil {
				return err
			}
			defer closePool()
			if p != nil {
				if err := compose.CheckServices(p.Project, args); err != nil {
					return err
				}
			}
			if noColor {
				pr.color = false
			}
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return a.stackLogs(cmd, e, name, args, o)
			}
			entries, err := e.Ps(cmd.Context(), name, engine.PsOptions{All: true, Services: args})
			if err != nil {
				return err
			}
			for _, en := range entries {
				pr.reserve(fmt.Sprintf("%s-%d", en.Service, en.Replica))
			}
			o.Services = args
			err = e.Logs(cmd.Context(), name, o)
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	fl.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	fl.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	fl.StringVar(&o.Since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fl.StringVar(&o.Until, "until", "", "Show logs before a timestamp or relative")
	fl.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	fl.BoolVar(&noPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fl.IntVar(&o.Index, "index", 0, "index of the container if service has multiple replicas")
	return cmd
}

func (a *app) configCommand() *cobra.Command {
	var format, hash string
	var services, volumes, quiet, profiles, imgs bool
	var output string
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render the compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.loadValidProject(cmd.Context(), args)
			if err != nil {
				return err
			}
			for _, w := range p.Warnings {
				fmt.Fprintf(a.errOut, "WARN %s\n", w)
			}
			out := a.out
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			switch {
			case quiet:
				return nil
			case services:
				for _, n := range p.ServiceNames() {
					fmt.Fprintln(out, n)
				}
				return nil
			case volumes:
				for _, n := range p.VolumeNames() {
					fmt.Fprintln(out, n)
				}
				return nil
			case profiles:
				set := map[string]bool{}
				for _, s := range p.AllServices() {
					for _, pr := range s.Profiles {
						set[pr] = true
					}
				}
				for _, n := range sortedStrings(set) {
					fmt.Fprintln(out, n)
				}
				return nil
			case imgs:
				for _, n := range p.ServiceNames() {
					fmt.Fprintln(out, images.Ref(p, p.Services[n]))
				}
				return nil
			case hash != "":
				names := strings.Split(hash, ",")
				if hash == "*" {
					names = p.ServiceNames()
				}
				sort.Strings(names)
				for _, n := range names {
					h, ok := p.Hashes[n]
					if !ok {
						return fmt.Errorf("no such service: %q", n)
					}
					fmt.Fprintf(out, "%s %s\n", n, h)
				}
				return nil
			}
			if len(args) > 0 {
				sel, err := p.WithSelectedServices(args)
				if err != nil {
					return err
				}
				p.Project = sel
			}
			var b []byte
			switch format {
			case "yaml", "":
				b, err = p.MarshalYAML()
			case "json":
				b, err = p.MarshalJSON()
			default:
				return &usageError{fmt.Errorf("--format %q: want yaml or json", format)}
			}
			if err != nil {
				return err
			}
			_, err = out.Write(b)
			if format == "json" {
				fmt.Fprintln(out)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "yaml", "Format the output: yaml or json")
	fl.BoolVar(&services, "services", false, "Print the service names, one per line")
	fl.BoolVar(&volumes, "volumes", false, "Print the volume names, one per line")
	fl.BoolVar(&profiles, "profiles", false, "Print the profile names, one per line")
	fl.BoolVar(&imgs, "images", false, "Print the image names, one per line")
	fl.StringVar(&hash, "hash", "", `Print the service config hash, one per line ("*" for all services)`)
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	fl.StringVarP(&output, "output", "o", "", "Save to file (default to stdout)")
	return cmd
}

func (a *app) stopCommand() *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return e.StackStop(cmd.Context(), name, args)
			}
			return e.Stop(cmd.Context(), name, args, stopTimeout(timeout, cmd.Flags().Changed("timeout")))
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Seconds to wait for containers to stop")
	return cmd
}

func (a *app) startCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return e.StackStart(cmd.Context(), name, args)
			}
			return e.Start(cmd.Context(), name, p, args)
		},
	}
}

func (a *app) restartCommand() *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if swarm, err := a.onSwarm(p); err != nil || swarm {
				if err != nil {
					return err
				}
				return e.StackRestart(cmd.Context(), name, args)
			}
			return e.Restart(cmd.Context(), name, args, stopTimeout(timeout, cmd.Flags().Changed("timeout")))
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Seconds to wait for containers to stop")
	return cmd
}

func (a *app) killCommand() *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			return e.Kill(cmd.Context(), name, args, signal)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	var force, stop, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		Long:  "Removes stopped service containers. devorch never asks for confirmation: -f is accepted for compatibility.",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			removed, err := e.Rm(cmd.Context(), name, args, engine.RmOptions{Stop: stop, Volumes: volumes})
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(a.errOut, "No stopped containers")
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal (devorch never asks)")
	cmd.Flags().BoolVarP(&stop, "stop", "s", false, "Stop the containers, if required, before removing")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
	return cmd
}

func (a *app) pauseCommand(pause bool) *cobra.Command {
	use, short := "pause [SERVICE...]", "Pause services"
	if !pause {
		use, short = "unpause [SERVICE...]", "Unpause services"
	}
	return &cobra.Command{
		Use: use, Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			return e.Pause(cmd.Context(), name, args, pause)
		},
	}
}

func (a *app) createCommand() *cobra.Command {
	var build, noBuild, force, noRecreate, removeOrphans bool
	var pull string
	var scale []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SERVICE...]",
		Short: "Creates containers for a service",
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := parseScale(scale)
			if err != nil {
				return err
			}
			e, p, _, closePool, err := a.modelEngine(cmd.Context(), args, false, true)
			if err != nil {
				return err
			}
			defer closePool()
			if err := compose.CheckSelected(p); err != nil {
				return err
			}
			_, err = e.Up(cmd.Context(), p, engine.UpOptions{
				Services: args, Images: engine.ImageOptions{Build: build, NoBuild: noBuild, Pull: pull},
				ForceRecreate: force, NoRecreate: noRecreate, RemoveOrphans: removeOrphans, Scale: sc, NoStart: true,
			})
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&build, "build", false, "Build images before starting containers")
	fl.BoolVar(&noBuild, "no-build", false, "Don't build an image, even if it's missing")
	fl.BoolVar(&force, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	fl.BoolVar(&noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	fl.BoolVar(&removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the compose file")
	fl.StringVar(&pull, "pull", "", `Pull image before running ("always"|"missing"|"never"|"build")`)
	fl.StringArrayVar(&scale, "scale", nil, "Scale SERVICE to NUM instances")
	return cmd
}

func (a *app) buildCommand() *cobra.Command {
	var noCache, quiet bool
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, _, closePool, err := a.modelEngine(cmd.Context(), args, quiet, false)
			if err != nil {
				return err
			}
			defer closePool()
			return e.Build(cmd.Context(), p, args, noCache)
		},
	}
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "Do not use cache when building the image")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Don't print anything to STDOUT")
	return cmd
}

func (a *app) pullCommand() *cobra.Command {
	var ignoreBuildable, quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, p, _, closePool, err := a.modelEngine(cmd.Context(), args, quiet, false)
			if err != nil {
				return err
			}
			defer closePool()
			return e.Pull(cmd.Context(), p, args, ignoreBuildable)
		},
	}
	cmd.Flags().BoolVar(&ignoreBuildable, "ignore-buildable", false, "Ignore images that can be built")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Pull without printing progress information")
	return cmd
}

func (a *app) imagesCommand() *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			list, err := e.Images(cmd.Context(), name, args)
			if err != nil {
				return err
			}
			switch {
			case quiet:
				seen := map[string]bool{}
				for _, im := range list {
					if !seen[im.ID] {
						seen[im.ID] = true
						fmt.Fprintln(a.out, im.ID)
					}
				}
			case format == "json":
				return json.NewEncoder(a.out).Encode(list)
			default:
				tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\tHOST")
				for _, im := range list {
					id := strings.TrimPrefix(im.ID, "sha256:")
					if len(id) > 12 {
						id = id[:12]
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Container, im.Repository, im.Tag, id, engine.HumanSize(im.Size), im.Host)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table or json")
	return cmd
}

func (a *app) portCommand() *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			var port int
			if _, err := fmt.Sscanf(args[1], "%d", &port); err != nil {
				return &usageError{fmt.Errorf("invalid port %q", args[1])}
			}
			addr, err := e.Port(cmd.Context(), name, args[0], port, protocol, index)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 0, "Index of the container if service has multiple replicas")
	return cmd
}

func (a *app) cpCommand() *cobra.Command {
	var o engine.CopyOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n  devorch cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files/folders between a service container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			o.Source, o.Dest = args[0], args[1]
			return e.Copy(cmd.Context(), name, o)
		},
	}
	cmd.Flags().IntVar(&o.Index, "index", 0, "Index of the container if service has multiple replicas")
	cmd.Flags().BoolVarP(&o.FollowLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	return cmd
}

func (a *app) topCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			list, err := e.Top(cmd.Context(), name, args)
			if err != nil {
				return err
			}
			for i, t := range list {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				fmt.Fprintln(a.out, t.Container)
				tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, strings.Join(t.Titles, "\t"))
				for _, p := range t.Processes {
					fmt.Fprintln(tw, strings.Join(p, "\t"))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (a *app) lsCommand() *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running devorch projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := a.newPrinter(true)
			if err != nil {
				return err
			}
			e, closePool, err := a.newEngine(nil, pr.sink)
			if err != nil {
				return err
			}
			defer closePool()
			list, err := e.Ls(cmd.Context(), all)
			if err != nil {
				return err
			}
			switch {
			case quiet:
				for _, p := range list {
					fmt.Fprintln(a.out, p.Name)
				}
			case format == "json":
				return json.NewEncoder(a.out).Encode(list)
			default:
				tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
				for _, p := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped projects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table or json")
	return cmd
}

func (a *app) versionCommand() *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the devorch version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if short {
				fmt.Fprintln(a.out, engine.Version)
				return nil
			}
			if format == "json" {
				return json.NewEncoder(a.out).Encode(map[string]string{"version": engine.Version, "go": runtime.Version()})
			}
			fmt.Fprintf(a.out, "devorch version %s (%s, %s/%s)\n", engine.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "Shows only the version number")
	cmd.Flags().StringVar(&format, "format", "pretty", "Format the output: pretty or json")
	return cmd
}

var errNoTTY = errors.New("the input device is not a TTY")

func (a *app) hostsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "hosts [OPTIONS]",
		Short: "List the Docker hosts devorch uses, with reachability, capacity and reservations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, name, closePool, err := a.hostsEngine(cmd)
			if err != nil {
				return err
			}
			defer closePool()
			list := e.Hosts(cmd.Context(), name)
			if format == "json" {
				enc := json.NewEncoder(a.out)
				for _, h := range list {
					if err := enc.Encode(h); err != nil {
						return err
					}
				}
				return nil
			}
			if format != "table" && format != "" {
				return &usageError{fmt.Errorf("--format %q: want table or json", format)}
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tENDPOINT\tSTATUS\tENGINE\tCPUS\tMEMORY\tRESERVED\tCONTAINERS\tSWARM")
			for _, h := range list {
				status := "reachable"
				if !h.Reachable {
					status = "unreachable: " + h.Error
				}
				reserved := fmt.Sprintf("%.2g CPUs, %s", float64(h.ReservedNanoCPUs)/1e9, engine.HumanSize(h.ReservedMemory))
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d/%d\t%s\n", h.Name, h.Endpoint, status, h.Version, h.CPUs, engine.HumanSize(h.Memory), reserved, h.Running, h.Containers, swarmColumn(h.Swarm))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table or json")
	cmd.AddCommand(a.hostsJoinCommand(), a.hostsLeaveCommand())
	return cmd
}

// swarmColumn is a host's Swarm role and the Swarm's short ID.
func swarmColumn(m swarm.Member) string {
	if m.Cluster == "" {
		return m.Role()
	}
	return m.Role() + " " + m.Cluster[:min(12, len(m.Cluster))]
}

func (a *app) hostsJoinCommand() *cobra.Command {
	var managers int
	cmd := &cobra.Command{
		Use:   "join [OPTIONS]",
		Short: "Form a Docker Swarm among the declared hosts, or join them to the one they are in (idempotent), for overlay networks across hosts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSwarmEngine(cmd, func(e *engine.Engine, say func(string, ...any)) error {
				return e.SwarmJoin(cmd.Context(), managers, say)
			})
		},
	}
	cmd.Flags().IntVar(&managers, "managers", 1, "How many of the hosts manage the Swarm (an odd number)")
	return cmd
}

func (a *app) hostsLeaveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "leave",
		Short: "Undo devorch hosts join: dissolve the Swarm devorch formed, or take out the hosts it joined to another",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSwarmEngine(cmd, func(e *engine.Engine, say func(string, ...any)) error {
				return e.SwarmLeave(cmd.Context(), say)
			})
		},
	}
}

// withSwarmEngine runs a hosts join/leave step with an engine over the
// declared hosts, reporting each step on stdout.
func (a *app) withSwarmEngine(cmd *cobra.Command, run func(*engine.Engine, func(string, ...any)) error) error {
	e, _, closePool, err := a.hostsEngine(cmd)
	if err != nil {
		return err
	}
	defer closePool()
	return run(e, func(format string, args ...any) { fmt.Fprintf(a.out, format+"\n", args...) })
}

// hostsEngine is an engine over the declared hosts for the hosts commands,
// which work with or without a compose file (name: the project's, if any).
func (a *app) hostsEngine(cmd *cobra.Command) (e *engine.Engine, name string, closePool func(), err error) {
	p, name, err := a.projectOrName(cmd.Context())
	if err != nil && !errors.Is(err, compose.ErrNoConfigFile) {
		return nil, "", nil, err
	}
	pr, err := a.newPrinter(true)
	if err != nil {
		return nil, "", nil, err
	}
	e, closePool, err = a.newEngine(p, pr.sink)
	if err != nil {
		return nil, "", nil, err
	}
	return e, name, closePool, nil
}

func (a *app) volumeCommand() *cobra.Command {
	root := &cobra.Command{Use: "volume", Short: "The project's named volumes on each host"}
	var format string
	ls := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List the project's volumes: which host holds each and how much data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			list, err := e.VolumeList(cmd.Context(), name)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(a.out)
				for _, v := range list {
					if err := enc.Encode(v); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tHOST\tDRIVER\tSIZE\tUSED BY")
			for _, v := range list {
				size := "?"
				if v.Size >= 0 {
					size = engine.HumanSize(v.Size)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.Host, v.Driver, size, strings.Join(v.UsedBy, ","))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&format, "format", "table", "Format the output: table or json")
	mv := &cobra.Command{
		Use:   "mv VOLUME HOST",
		Short: "Move a volume's data to another host (copied through a helper container, verified, then the source removed)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, name, _, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			unlock, err := e.Lock(cmd.Context(), name, 0)
			if err != nil {
				return err
			}
			defer unlock()
			return e.VolumeMove(cmd.Context(), name, args[0], args[1])
		},
	}
	root.AddCommand(ls, mv)
	return root
}

// netprobeCommand is the network probe devorch runs in helper containers
// to check that an encrypted overlay carries traffic (hidden: not for
// users).
func netprobeCommand() *cobra.Command {
	return &cobra.Command{
		Use:    engine.ProbeCommand + " listen | dial ADDR",
		Hidden: true,
		Args:   cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case args[0] == "listen" && len(args) == 1:
				return netctl.ServeProbe(cmd.Context())
			case args[0] == "dial" && len(args) == 2:
				return netctl.DialProbe(args[1], 10*time.Second)
			}
			return &usageError{fmt.Errorf("want listen, or dial ADDR")}
		},
	}
}
