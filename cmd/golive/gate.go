package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/reports/gate"
	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

func init() { addCommand(newGateCmd) }

func newGateCmd() *cobra.Command {
	var (
		exprs, baselines []string
		maxReg           string
		asJSON           bool
		ab               abFlags
	)
	cmd := &cobra.Command{
		Use:   "gate RUN_DIR [--threshold EXPR]... [--baseline RUN_DIR|summary.json] [--max-regression 10%] | gate --ab BASELINE_BIN CANDIDATE_BIN",
		Short: "Pass or fail a run on its thresholds and against a baseline run (exit 0 pass, 1 fail, 2 usage, 3 inconclusive)",
		Long: `Judges a run directory: the thresholds the run recorded in summary.json
(re-evaluated from its files), every --threshold, and, with --baseline, a
noise-aware comparison of p50/p99 latency, goodput and error rate with the
baseline run. A comparison fails only when the run is significantly worse
than the baseline moved by --max-regression (one-sided Mann-Whitney U over
the per-second samples, p < 0.01) AND its median is worse by more than
--max-regression, so noise alone rarely fails it. See docs/gate.md for the
method and its measured false-alarm and detection rates.

Threshold syntax: METRIC OP VALUE [over DURATION | per phase] [abortOnFail],
e.g. "p99(issue) < 500ms", "rate(status>=500) < 1% over 1m",
"goodput >= 0.95*offered", "lost == 0". Times take Go's duration units
(ns, us or µs, ms, s, m, h; "1m30s"): "p99(issue) < 500us" is 0.5 ms.

A threshold the run itself found it had too few events to judge
(summary.json's evidence, docs/run-format.md) stays inconclusive here.

With --ab, gate compares two golive builds instead of two runs: it starts
the same system from each executable side by side (local child processes
by default), lets them take turns at one constant issuance rate (A, B, then
B, A, ...), and after every pair compares the CPU per request of each part
(portal, signers, proxy; from the kernel's accounting) and the median
latency. It stops as soon as a regression beyond half of --max-regression
is certain, or every CPU figure is certainly within --max-regression, and
at the latest when --budget runs out. See docs/gate.md for the test and its
measured detection and false-alarm rates.

Exit codes: 0 every check passed, 1 a check failed, 2 usage error, 3 no
check failed but one of the run's thresholds could not be judged.`,
		Example: `  golive gate runs/launch-day
  golive gate runs/today --baseline runs/yesterday --max-regression 10%
  golive gate runs/today --threshold 'p99(issue) < 500ms' --threshold 'rate(status>=500) < 1% over 1m'
  golive gate runs/today --baseline runs/yesterday/summary.json --json
  golive gate runs/today --baseline runs/base1 --baseline runs/base2 --baseline runs/base3
  golive gate --ab old/golive bin/golive --max-regression 10% --budget 5m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if ab.on {
				if len(args) != 2 {
					return usageErr("gate --ab takes two golive executables, BASELINE_BIN CANDIDATE_BIN, got %d arguments (see 'golive gate --help')", len(args))
				}
				return nil
			}
			if len(args) != 1 {
				return usageErr("gate takes one RUN_DIR, got %d arguments (see 'golive gate --help')", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if ab.on {
				if len(baselines) > 0 || len(exprs) > 0 || asJSON {
					return usageErr("gate --ab compares two builds: --baseline, --threshold and --json belong to the RUN_DIR form")
				}
				limit, err := parsePercent(maxReg)
				if err != nil {
					return usageErr("--max-regression %q: %v", maxReg, err)
				}
				if ab.rate <= 0 || ab.round < time.Second || ab.budget < ab.round || ab.maxPairs < gate.ABMinPairs {
					return usageErr("--rate %g, --round %s, --budget %s, --max-pairs %d: want a positive rate, rounds of 1s or more, a budget above a round and at least %d pairs",
						ab.rate, ab.round, ab.budget, ab.maxPairs, gate.ABMinPairs)
				}
				failed, err := runAB(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1], ab, limit)
				if err != nil {
					return err
				}
				if failed {
					return quietFail(verdict.ExitFail)
				}
				return nil
			}
			var opt gate.Options
			for _, s := range exprs {
				e, err := threshold.Parse(s)
				if err != nil {
					return usageErr("%v", err)
				}
				opt.Thresholds = append(opt.Thresholds, e)
			}
			limit, err := parsePercent(maxReg)
			if err != nil {
				return usageErr("--max-regression %q: %v", maxReg, err)
			}
			opt.MaxRegression = limit
			if len(baselines) > 0 {
				opt.Baseline, opt.MoreBaselines = baselines[0], baselines[1:]
			}
			rep, err := gate.Evaluate(args[0], opt)
			if err != nil {
				return usageErr("gate: %v", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := rep.JSON()
				if err != nil {
					return failErr("gate: %v", err)
				}
				fmt.Fprintln(out, string(b))
			} else {
				printReport(out, rep)
			}
			if code := verdict.ExitCode(rep.Verdict()); code != verdict.ExitPass {
				return quietFail(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&exprs, "threshold", nil, "a threshold the run must meet (repeatable)")
	f.StringArrayVar(&baselines, "baseline", nil, "a baseline run directory or its summary.json to compare with (repeat to pool several runs of the baseline build)")
	f.StringVar(&maxReg, "max-regression", "10%", "how much worse than the baseline a run may be, when the difference is significant")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&ab.on, "ab", false, "compare two golive builds (BASELINE_BIN CANDIDATE_BIN) run in turns on this machine")
	f.StringVar(&ab.target, "target", "local", "with --ab: where the builds' systems run (local or docker)")
	f.Float64Var(&ab.rate, "rate", 40, "with --ab: issuances per second during a turn")
	f.DurationVar(&ab.round, "round", 5*time.Second, "with --ab: how long each build's turn lasts")
	f.DurationVar(&ab.budget, "budget", 5*time.Minute, "with --ab: wall time the whole comparison may take, set-up included")
	f.IntVar(&ab.maxPairs, "max-pairs", 30, "with --ab: the most pairs of turns")
	f.StringVar(&ab.logLevel, "log-level", "", "with --ab: log to stderr at this level (debug, info, warn, error)")
	return cmd
}

// parsePercent reads "10%" or "0.1" as 0.1.
func parsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("not a percentage like 10%% or 0.1")
	}
	if pct {
		v /= 100
	}
	if v <= 0 || v >= 10 {
		return 0, fmt.Errorf("must be above 0%% and below 1000%%")
	}
	return v, nil
}

func countOK(rep *gate.Report) int {
	n := 0
	for _, c := range rep.Checks {
		if c.OK {
			n++
		}
	}
	return n
}

func printReport(w io.Writer, rep *gate.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Checks {
		result := "PASS"
		switch {
		case c.Inconclusive:
			result = "INCONCLUSIVE"
		case !c.OK:
			result = "FAIL"
		}
		name := c.Name
		if c.Kind == "regression" {
			name = "regression " + name
		}
		scope := c.Scope
		if scope == "" {
			scope = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", result, name, c.Value, scope, c.Detail)
	}
	tw.Flush()
	switch {
	case len(rep.Checks) == 0:
		fmt.Fprintln(w, "PASS: no checks (the run recorded no thresholds; add --threshold or --baseline)")
	case rep.Pass:
		fmt.Fprintf(w, "PASS: %d checks passed\n", len(rep.Checks))
	case rep.Failed() == 0:
		fmt.Fprintf(w, "INCONCLUSIVE: nothing failed, but the run had too few events to judge %d of %d checks\n", len(rep.Checks)-countOK(rep), len(rep.Checks))
	default:
		fmt.Fprintf(w, "FAIL: %d of %d checks failed\n", rep.Failed(), len(rep.Checks))
	}
}
