package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/reports"
)

func init() { addCommand(newReportCmd) }

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report RUN_DIR [--out DIR]",
		Short: "Write report.html, summary.md and junit.xml for a run directory",
		Long: `Reads a run directory written by 'golive run' (summary.json, timeseries.csv,
metrics.csv, events.json, histogram.hdr, capacity.json) and writes:

  report.html   one self-contained page: verdict, headline numbers, SLO table,
                consistency and security, charts, per-phase and per-class detail
  summary.md    verdict, headline numbers and threshold table for CI comments
  junit.xml     one testcase per threshold and check
  charts/       every chart as PNG and SVG

When RUN_DIR holds one run directory per profile (RUN_DIR/naive-2021,
RUN_DIR/hardened) the report compares them. Missing optional files leave
their charts out with a note. The exit code says whether the report was
written (0) or the input could not be read (1), not whether the run passed:
gating is 'golive gate'.`,
		Example: `  golive report out/run
  golive report out/compare --out out/compare-report`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("report needs exactly one RUN_DIR, got %d argument(s) (see 'golive report --help')", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if out == "" {
				out = dir
			}
			run, err := reports.Load(dir)
			if err != nil {
				return failErr("cannot read the run: %v", err)
			}
			charts, err := reports.WriteCharts(cmd.Context(), run, out)
			if err != nil {
				return failErr("cannot write the report: %v", err)
			}
			var omitted []string
			for _, c := range charts {
				if c.Omitted != "" {
					omitted = append(omitted, strings.TrimPrefix(c.ID, "chart-"))
				}
			}
			if len(omitted) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "golive: charts left out: %s (see the notes in the report)\n", strings.Join(omitted, ", "))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "golive: verdict %s: %s\n", run.OverallLabel(), run.VerdictLine())
			fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(out, reports.HTMLFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the report into (default RUN_DIR)")
	return cmd
}
