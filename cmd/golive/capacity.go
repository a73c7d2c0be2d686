package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/capacity"
	"github.com/golive-dev/golive/scenarios/engine"
	"github.com/golive-dev/golive/scenarios/spec"
)

func init() { addCommand(newCapacityCmd) }

func newCapacityCmd() *cobra.Command {
	var (
		target, sloText, forecast, profile, out, scenario, logLevel string
		demandScale                                                 float64
		adminToken, dataDir                                         string
	)
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Find the highest issuance rate within an SLO and compare it with a forecast",
		Long: `capacity starts the issuer on a testbed and searches for the highest constant
issuance rate that still meets the SLO: rates grow geometrically while steps
pass, then bisect between the last pass and the first failure (not a fixed
ramp). It writes DIR/capacity.json (the capacity curve) and report.html, and
compares the capacity with the peak demand of a forecast scenario:
headroom = capacity / forecast peak, with the signer replicas or HSM slots
the forecast needs. Exit status 0 when the capacity covers the forecast, 1
when it does not, 2 on a usage error.`,
		Example: `  golive capacity --forecast launch-day
  golive capacity --target local --slo "p99<200ms,success>=99%" --forecast launch-day --demand-scale 3
  golive capacity --scenario my-capacity.yaml --out out/cap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := spec.Resolve(scenario)
			if err != nil {
				return usageErr("--scenario: %s", firstLine(err))
			}
			if sc.Capacity == nil {
				return usageErr("--scenario %s has no capacity section (see the built-in 'capacity')", scenario)
			}
			slo, err := parseSLO(sloText)
			if err != nil {
				return usageErr("--slo %q: %v (e.g. \"p99<200ms,success>=99%%\")", sloText, err)
			}
			var fc *spec.Scenario
			if forecast != "" {
				if fc, err = spec.Resolve(forecast); err != nil {
					return usageErr("--forecast: %s", firstLine(err))
				}
			}
			if out == "" {
				out = filepath.Join("out", "capacity")
			}
			log, _ := newLogger(io.Discard, "info", "text")
			if logLevel != "" {
				if log, err = newLogger(cmd.ErrOrStderr(), logLevel, "text"); err != nil {
					return usageErr("%v", err)
				}
			}
			stderr := cmd.ErrOrStderr()
			var progress func(string)
			if isTerminal(stderr) {
				progress = func(s string) { fmt.Fprintln(stderr, s) }
			}
			res, err := engine.RunCapacity(cmd.Context(), engine.CapacityOptions{
				Scenario: sc, Forecast: fc, DemandScale: demandScale, SLO: slo, Target: target, Profile: profile,
				Out: out, Progress: progress, Logger: log, AdminToken: adminToken, DataDir: dataDir,
			})
			if res == nil {
				if errors.Is(err, context.Canceled) {
					return failErr("interrupted")
				}
				return failErr("capacity: %v", err)
			}
			if werr := writeCapacitySummary(out, sc.Name, res); werr != nil {
				return failErr("%v", werr)
			}
			if r, lerr := reports.Load(out); lerr == nil {
				_ = reports.Write(context.WithoutCancel(cmd.Context()), r, out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "capacity %.1f/s at p99 <= %.0f ms (%s, %s, %d steps)", res.CapacityRPS, res.SLO.P99MS, res.Profile, res.Target, len(res.Steps))
			if !res.Bounded {
				fmt.Fprint(w, " — not bounded: the search ended at its first or last rate")
			}
			fmt.Fprintln(w)
			if err != nil {
				fmt.Fprintf(w, "note: %v\n", err)
			}
			if fc != nil {
				fmt.Fprintf(w, "forecast %s peak %.1f/s: headroom %.2fx, %s\n", fc.Name, res.ForecastPeakRPS, res.Headroom, strings.ToUpper(res.Verdict))
				fmt.Fprintln(w, res.Advice)
			}
			fmt.Fprintln(w, filepath.Join(out, "report.html"))
			if fc != nil && res.Verdict != "pass" {
				return quietFail(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "auto", "where the issuer runs: auto, docker, local or url=BASE")
	f.StringVar(&sloText, "slo", "", "SLO, e.g. \"p99<200ms,success>=99%\" (default: the scenario's)")
	f.StringVar(&forecast, "forecast", "launch-day", "scenario whose peak demand the capacity must cover (\"\" for none)")
	f.Float64Var(&demandScale, "demand-scale", 1, "multiply the forecast demand")
	f.StringVar(&profile, "profile", "", "issuer profile (default: the scenario's)")
	f.StringVar(&scenario, "scenario", "capacity", "scenario with the search settings and the system")
	f.StringVar(&out, "out", "", "output directory (default out/capacity)")
	f.StringVar(&adminToken, "admin-token", os.Getenv("GOLIVE_ADMIN_TOKEN"), "url target: the deployment's admin token (default $GOLIVE_ADMIN_TOKEN)")
	f.StringVar(&dataDir, "data", "", "url target: a directory with the deployment's register.jsonl and mailbox/")
	f.StringVar(&logLevel, "log-level", "", "write logs to stderr at this level")
	return cmd
}

var sloPart = regexp.MustCompile(`^\s*(p99|success)\s*(<=|<|>=|>)\s*([0-9.]+)\s*(ms|s|%)?\s*$`)

// parseSLO reads "p99<200ms,success>=99%"; "" keeps the scenario's.
func parseSLO(s string) (capacity.SLO, error) {
	var slo capacity.SLO
	if strings.TrimSpace(s) == "" {
		return slo, nil
	}
	for _, part := range strings.Split(s, ",") {
		m := sloPart.FindStringSubmatch(part)
		if m == nil {
			return slo, fmt.Errorf("cannot read %q", strings.TrimSpace(part))
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return slo, err
		}
		switch m[1] {
		case "p99":
			if m[2] != "<" && m[2] != "<=" {
				return slo, errors.New("p99 takes < or <=")
			}
			unit := time.Millisecond
			if m[4] == "s" {
				unit = time.Second
			} else if m[4] != "ms" {
				return slo, errors.New("p99 needs a unit, ms or s")
			}
			slo.P99 = time.Duration(v * float64(unit))
		case "success":
			if m[2] != ">" && m[2] != ">=" {
				return slo, errors.New("success takes > or >=")
			}
			if m[4] == "%" {
				v /= 100
			}
			if v <= 0 || v > 1 {
				return slo, errors.New("success must be in (0, 100%]")
			}
			slo.MinSuccess = v
		}
	}
	if slo.P99 <= 0 {
		return slo, errors.New("a p99 bound is required")
	}
	return slo, nil
}

// writeCapacitySummary writes the summary.json a report needs beside
// capacity.json.
func writeCapacitySummary(dir, scenario string, r *engine.CapacityResult) error {
	s := &rundir.Summary{Verdict: r.Verdict, Scenario: scenario, Target: r.Target, Profile: r.Profile, Started: time.Now().UTC()}
	if s.Verdict == "" {
		s.Verdict = "pass"
	}
	if r.ForecastPeakRPS > 0 {
		s.Thresholds = append(s.Thresholds, rundir.Threshold{Expr: fmt.Sprintf("capacity >= forecast peak (%s)", r.ForecastScenario),
			OK:    r.Headroom >= 1,
			Value: fmt.Sprintf("%s vs %s (%.2fx)", rundir.FormatRate(r.CapacityRPS), rundir.FormatRate(r.ForecastPeakRPS), r.Headroom),
			Scope: "run"})
	}
	return rundir.WriteSummary(dir, s)
}
