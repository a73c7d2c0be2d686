package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/scenarios/engine"
	"github.com/golive-dev/golive/scenarios/spec"
)

func init() { addCommand(newScenariosCmd) }

func newScenariosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List, show and validate scenario files",
		Long: `Scenarios are YAML files: a simulated clock, the system under test, traffic
classes with demand curves, faults, phases, thresholds and checks (see
docs/scenarios.md; docs/scenario.schema.json gives editors completion).
The built-in scenarios are embedded in the binary.`,
		Example: `  golive scenarios list
  golive scenarios show launch-day > my-launch.yaml
  golive scenarios validate my-launch.yaml`,
	}
	cmd.AddCommand(newScenariosListCmd(), newScenariosShowCmd(), newScenariosValidateCmd())
	return cmd
}

func newScenariosListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios with their simulated window and run length",
		Long: `Prints each built-in scenario: its simulated window, default timescale, the
wall time a run takes at that timescale, the requests a run sends at demand
scale 1 (real-world demand / timescale; for a capacity search the most it
can send) and a one-line summary.`,
		Example: `  golive scenarios list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIMULATED\tTIMESCALE\tWALL\tREQUESTS\tSUMMARY")
			for _, name := range spec.Builtins() {
				s, err := spec.Builtin(name)
				if err != nil {
					// A broken built-in is a bug in the binary, not in the command line.
					return failErr("built-in scenario %s: %v", name, err)
				}
				wall, reqs := s.WallDuration(0).Round(time.Second).String(), fmt.Sprintf("%.0f", s.Requests(0, 1))
				if s.Capacity != nil {
					wall, reqs = "<="+wall, "<="+reqs
				}
				fmt.Fprintf(tw, "%s\t%s\tx%g\t%s\t%s\t%s\n", s.Name, simWindow(s), s.Clock.Timescale, wall, reqs, summary(s.Description, 80))
			}
			return tw.Flush()
		},
	}
}

func newScenariosShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in scenario's YAML (a starting point for your own)",
		Example: `  golive scenarios show outage-tuesday
  golive scenarios show launch-day > my-launch.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := spec.BuiltinSource(args[0])
			if err != nil {
				return usageErr("no built-in scenario %q; the built-ins are %s", args[0], strings.Join(spec.Builtins(), ", "))
			}
			_, err = cmd.OutOrStdout().Write(src)
			return err
		},
	}
}

func newScenariosValidateCmd() *cobra.Command {
	var timescale, demandScale float64
	var profile string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files and report every error with file:line:col",
		Long: `Parses each file (or a built-in name, or - for standard input) and prints
"ok FILE" with the scenario's window and run length, or every problem as
FILE:LINE:COL: message on standard error. Exit code 2 when any file is
invalid or no file is given (a usage error, as everywhere in golive: exit 1
is only for a failed judgement).

It also warns (on standard error; the exit code stays 0) when the timescale
makes a fault window or phase last less wall time than the client timeout,
backoff or Retry-After that decides it, and names the largest timescale that
keeps the scenario meaningful (docs/scenarios.md); and when the demand at
this timescale and demand scale leaves a threshold or check too few events
to judge (a run would say inconclusive), naming the largest timescale and
the smallest demand scale that give enough, for the scenario's profile and
every profile its profiles block configures.`,
		Example: `  golive scenarios validate my-launch.yaml
  golive scenarios validate outage-tuesday --timescale 3600
  golive scenarios validate scenarios/*.yaml
  golive scenarios show launch-day | golive scenarios validate -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("scenarios validate needs at least one FILE (or - for standard input)")
			}
			if timescale < 0 {
				return usageErr("--timescale must be positive (simulated seconds per wall second)")
			}
			if demandScale < 0 {
				return usageErr("--demand-scale must be positive (a multiple of the scenario's demand)")
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			bad := 0
			for _, arg := range args {
				s, err := loadForValidate(cmd.InOrStdin(), arg)
				if err != nil {
					bad++
					var es spec.Errors
					if errors.As(err, &es) {
						fmt.Fprintln(errw, es.Error())
					} else {
						fmt.Fprintf(errw, "%s: %v\n", arg, err)
					}
					continue
				}
				ts := s.Clock.Timescale
				if timescale > 0 {
					ts = timescale
				}
				fmt.Fprintf(out, "ok %s: %s, %s at x%g, %s wall, %.0f requests\n",
					s.Source, s.Name, simWindow(s), ts, s.WallDuration(ts).Round(time.Second), s.Requests(ts, 0))
				printClockWarnings(errw, s, profile, ts)
				for _, p := range judgedProfiles(s, profile) {
					if _, err := printEvidenceWarnings(errw, engine.Options{Scenario: s, Profile: p, Timescale: ts, DemandScale: demandScale}); err != nil {
						fmt.Fprintf(errw, "warning: %s (%s): cannot tell what its thresholds need: %v\n", s.Name, p, err)
					}
				}
			}
			if bad > 0 {
				return usageErr("%d of %d scenario file(s) invalid", bad, len(args))
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&timescale, "timescale", 0, "check at this timescale instead of the scenario's")
	cmd.Flags().Float64Var(&demandScale, "demand-scale", 0, "check at this demand scale instead of the scenario's")
	cmd.Flags().StringVar(&profile, "profile", "", "check the waits of this issuer profile (default: the scenario's)")
	return cmd
}

// loadForValidate reads arg as standard input ("-"), a file, or a
// built-in name, in that order.
func loadForValidate(stdin io.Reader, arg string) (*spec.Scenario, error) {
	if arg == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("cannot read standard input: %w", err)
		}
		return spec.Parse(data, "<stdin>")
	}
	if _, err := os.Stat(arg); err != nil && !strings.ContainsAny(arg, `/\.`) {
		if _, berr := spec.BuiltinSource(arg); berr == nil {
			return spec.Builtin(arg)
		}
	}
	return spec.Load(arg)
}

// simWindow prints the simulated window compactly: "2021-06-14 07:00-20:00".
func simWindow(s *spec.Scenario) string {
	c := s.Clock
	start, end := c.Start.In(c.Location), c.End.In(c.Location)
	endText := end.Format("15:04")
	if end.Sub(start) >= 24*time.Hour || (end.YearDay() != start.YearDay() && !(end.Hour() == 0 && end.Minute() == 0)) {
		endText = end.Format("2006-01-02 15:04")
	} else if end.YearDay() != start.YearDay() {
		endText = "24:00"
	}
	return start.Format("2006-01-02 15:04") + "-" + endText
}

// summary is the first line of a description, cut to max runes.
func summary(desc string, max int) string {
	line, _, _ := strings.Cut(desc, "\n")
	if r := []rune(line); len(r) > max {
		line = string(r[:max-3]) + "..."
	}
	return line
}
