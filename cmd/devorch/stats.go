package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	"github.com/devorch/devorch/engine"
)

// statsCommand is compose v2's `stats`: live CPU, memory, network and
// block IO per container, read by the monitor, which also feeds the usage
// history `tune` reads; --record samples for a while, stores and exits.
func (a *app) statsCommand() *cobra.Command {
	var noStream, all, noTrunc bool
	var format string
	var record time.Duration
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [SERVICE...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		Long: `Shows CPU, memory, network and block IO of the project's containers, as docker
compose stats does, and records what it reads into the per-user usage history
that devorch tune turns into deploy.resources. --record DURATION samples every
running container for that long, stores the history and exits.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return &usageError{fmt.Errorf("--format %q: want table or json", format)}
			}
			e, p, name, pr, closePool, err := a.labelEngine(cmd, true)
			if err != nil {
				return err
			}
			defer closePool()
			if p != nil {
				if err := compose.CheckServices(p.Project, args); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			if record > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, record)
				defer cancel()
			}
			mctx, stopMon := context.WithCancel(ctx)
			defer stopMon()
			bus := engine.NewBus()
			recordHook, rec, save := usageRecorder(name, func(w string) { pr.sink(engine.Event{Kind: engine.KindWarning, Detail: w}) })
			mon, err := e.NewMonitor(mctx, name, p, bus, engine.MonitorOptions{NoLogs: true, StatsInterval: time.Second, Record: recordHook})
			if err != nil {
				return err
			}
			defer mon.Close()
			ch, unsub := bus.Subscribe(1024)
			defer unsub()
			if record > 0 {
				fmt.Fprintf(a.errOut, "Recording the resource usage of project %s for %s…\n", name, record)
				<-ctx.Done()
				stopMon()
				mon.Close()
				save()
				n, svcs := 0, 0
				if rec != nil {
					n, svcs = rec.Samples()
				}
				if cmd.Context().Err() != nil && n == 0 {
					return nil
				}
				fmt.Fprintf(a.errOut, "Recorded %d readings of %d services; devorch tune turns them into deploy.resources\n", n, svcs)
				if n == 0 {
					return errors.New("nothing was recorded: no container of the project is running")
				}
				return nil
			}
			defer save()
			keep := func(c engine.ContainerState) bool {
				return (all || c.Running()) && (len(args) == 0 || slices.Contains(args, c.Service))
			}
			seen := map[string]time.Time{}
			tty := isTerminal(a.out) && format == "table"
			deadline := time.After(30 * time.Second)
			for {
				// A round is complete when every shown running container
				// has a reading newer than the last one printed.
				select {
				case <-ctx.Done():
					return nil
				case <-deadline:
					if noStream {
						return a.printStats(mon.Containers(), keep, format, noTrunc, false)
					}
				case ev := <-ch:
					if ev.Kind != engine.KindStats {
						continue
					}
				}
				cs := mon.Containers()
				ready := true
				for _, c := range cs {
					if !keep(c) || !c.Running() {
						continue
					}
					if len(c.Samples) == 0 || !c.Samples[len(c.Samples)-1].Time.After(seen[c.ID]) {
						ready = false
					}
				}
				if !ready {
					continue
				}
				for _, c := range cs {
					if len(c.Samples) > 0 {
						seen[c.ID] = c.Samples[len(c.Samples)-1].Time
					}
				}
				if err := a.printStats(cs, keep, format, noTrunc, tty); err != nil || noStream {
					return err
				}
			}
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	fl.BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	fl.StringVar(&format, "format", "table", "Format the output: table or json")
	fl.DurationVar(&record, "record", 0, "Sample every running container for DURATION (e.g. 2m), store the usage history, and exit")
	return cmd
}

// printStats prints one round, as docker stats does: a table (redrawn in
// place in a terminal) or a JSON object per container.
func (a *app) printStats(cs []engine.ContainerState, keep func(engine.ContainerState) bool, format string, noTrunc, redraw bool) error {
	slices.SortFunc(cs, func(x, y engine.ContainerState) int { return strings.Compare(x.Name, y.Name) })
	type row struct{ id, name, cpu, mem, memPct, net, block, pids string }
	var rows []row
	for _, c := range cs {
		if !keep(c) {
			continue
		}
		r := row{id: c.ID, name: c.Name, cpu: "--", mem: "-- / --", memPct: "--", net: "--", block: "--", pids: "--"}
		if !noTrunc && len(r.id) > 12 {
			r.id = r.id[:12]
		}
		if n := len(c.Samples); n > 0 && c.Running() {
			s := c.Samples[n-1]
			r.cpu = fmt.Sprintf("%.2f%%", s.CPUPercent)
			r.mem = units.BytesSize(float64(s.MemUsage)) + " / " + units.BytesSize(float64(s.MemLimit))
			if s.MemLimit > 0 {
				r.memPct = fmt.Sprintf("%.2f%%", float64(s.MemUsage)/float64(s.MemLimit)*100)
			}
			r.net = units.HumanSizeWithPrecision(float64(s.NetRx), 3) + " / " + units.HumanSizeWithPrecision(float64(s.NetTx), 3)
			r.block = units.HumanSizeWithPrecision(float64(s.BlockRead), 3) + " / " + units.HumanSizeWithPrecision(float64(s.BlockWrite), 3)
			r.pids = fmt.Sprint(s.Pids)
		}
		rows = append(rows, r)
	}
	if format == "json" {
		enc := json.NewEncoder(a.out)
		for _, r := range rows {
			if err := enc.Encode(map[string]string{"ID": r.id, "Name": r.name, "CPUPerc": r.cpu, "MemUsage": r.mem, "MemPerc": r.memPct, "NetIO": r.net, "BlockIO": r.block, "PIDs": r.pids}); err != nil {
				return err
			}
		}
		return nil
	}
	if redraw {
		fmt.Fprint(a.out, "\x1b[2J\x1b[H")
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.name, r.cpu, r.mem, r.memPct, r.net, r.block, r.pids)
	}
	return tw.Flush()
}
