package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/devorch/devorch/compose"
	usagehist "github.com/devorch/devorch/engine/usage"
)

// tuneCommand prints, per service, the deploy.resources its recorded usage
// suggests and what they are based on, and with --write writes them as a
// compose override file; it never edits the user's own file.
func (a *app) tuneCommand() *cobra.Command {
	var write, format string
	cmd := &cobra.Command{
		Use:   "tune [OPTIONS] [SERVICE...]",
		Short: "Recommend deploy.resources from the usage devorch recorded",
		Long: `Reads the usage history the TUI, an attached up and devorch stats record
(per user, in $XDG_STATE_HOME/devorch, else ~/.local/state/devorch) and prints
per service: reservations from a high percentile of what it used (CPU p95,
memory p99) with 20 % headroom, limits from its peak with 50 % margin, what
they are based on, and warnings (memory near its limit, CPU throttled, far
above or below its reservation). A service needs at least 30 readings over
30 seconds (devorch stats --record 40s); fewer are reported as too little
history. --write FILE (default compose.tune.yaml) writes an override file
with just those deploy.resources: apply it with -f compose.yaml -f FILE.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return &usageError{fmt.Errorf("--format %q: want table or json", format)}
			}
			p, err := a.loadProject(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if err := compose.CheckServices(p.Project, args); err != nil {
				return err
			}
			recs, notes, err := recommendations(p, args)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintln(a.errOut, n)
			}
			if cmd.Flags().Changed("write") || write != "" {
				path, err := writeOverride(p, write, recs)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.errOut, "Wrote %s: apply it with -f %s -f %s\n", path, firstFile(p), path)
			}
			if format == "json" {
				b, err := usagehist.JSON(recs)
				if err != nil {
					return err
				}
				_, err = a.out.Write(append(b, '\n'))
				return err
			}
			return printRecommendations(a, recs)
		},
	}
	cmd.Flags().StringVar(&write, "write", "", "Write the recommendations as a compose override file (default compose.tune.yaml)")
	cmd.Flags().Lookup("write").NoOptDefVal = usagehist.DefaultOverride
	cmd.Flags().StringVar(&format, "format", "table", "Format the output: table or json")
	return cmd
}

// recommendations are the services' recommendations from the stored
// history of their current configuration, else of their latest earlier
// one (said in notes).
func recommendations(p *compose.Project, only []string) ([]usagehist.Recommendation, []string, error) {
	st := usageStore()
	if st == nil {
		return nil, nil, errors.New("no usage history: neither XDG_STATE_HOME nor HOME is set")
	}
	hist, notes := st.Load(p.Name)
	names := only
	if len(names) == 0 {
		names = p.ServiceNames()
	}
	slices.Sort(names)
	var recs []usagehist.Recommendation
	for _, name := range names {
		h, _, fallback := usagehist.Find(hist, p.Name, name, p.Hashes[name])
		if fallback {
			notes = append(notes, fmt.Sprintf("service %q: no history of its current configuration; using the one recorded for its latest earlier one", name))
		}
		recs = append(recs, usagehist.Recommend(name, h, usagehist.DeclaredFrom(p.Services[name])))
	}
	return recs, notes, nil
}

// writeOverride writes the override file next to the project's first
// compose file (a relative path is taken from the project directory).
func writeOverride(p *compose.Project, path string, recs []usagehist.Recommendation) (string, error) {
	if path == "" {
		path = usagehist.DefaultOverride
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.WorkingDir, path)
	}
	if err := usagehist.WriteOverride(path, recs); err != nil {
		return "", err
	}
	return path, nil
}

func firstFile(p *compose.Project) string {
	if len(p.ComposeFiles) > 0 {
		return p.ComposeFiles[0]
	}
	return "compose.yaml"
}

func printRecommendations(a *app, recs []usagehist.Recommendation) error {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tRESERVATIONS\tLIMITS\tBASED ON")
	var warns []string
	for _, r := range recs {
		if !r.Enough {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\n", r.Service, r.Why)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s CPUs, %s\t%s CPUs, %s\t%d readings over %s: CPU p95 %.0f%%, peak %.0f%%; memory p99 %s, peak %s\n",
			r.Service, fmtCPU(r.ReserveCPUs), units.BytesSize(float64(r.ReserveMemory)), fmtCPU(r.LimitCPUs), units.BytesSize(float64(r.LimitMemory)),
			r.Samples, r.Span.Round(1e9), r.CPUP95, r.CPUPeak, units.BytesSize(float64(r.MemP99)), units.BytesSize(float64(r.MemPeak)))
		for _, w := range r.Warnings {
			warns = append(warns, fmt.Sprintf("%s: %s", r.Service, w))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(warns) > 0 {
		fmt.Fprintln(a.out)
		fmt.Fprintln(a.out, "WARNINGS")
		fmt.Fprintln(a.out, "  "+strings.Join(warns, "\n  "))
	}
	return nil
}

func fmtCPU(c float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", c), "0"), ".")
}
