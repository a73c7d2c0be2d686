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
		target, sloText, forecast, profile, out, scenario, logLevel, system string
		demandScale                                                         float64
		adminToken, dataDir                                                 string
		signers, hsmSlots, portals                                          int
		registry, registrySeed, registryDSN                                 string
		keepControls                                                        bool
	)
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Find the highest issuance rate within an SLO and compare it with a forecast",
		Long: `capacity starts the issuer on a testbed and searches for the highest constant
issuance rate that still meets the SLO: rates grow geometrically while steps
pass, then bisect between the last pass and the first failure (not a fixed
ramp). Every step starts from the same state (deferred backlog drained,
pharmacies reinstated and logged in afresh, anomaly windows forgotten, the
business day restarted) and lasts at least capacity.min_duration and long
enough for capacity.min_requests. Each step prints its outcome mix and, when
it fails, which SLO it missed and by how much.

The per-pharmacy quota and the anomaly detector's suspension limit what one
account may do, not what the system can do: they are held out of the search
(detection still runs and its events are counted) unless --keep-controls;
with them kept, a step they fail names them as the binding resource.

What is measured: the search settings and the system come from --scenario
(default: the forecast scenario when it has a capacity section, else the
built-in "capacity": 3 signers x 10 HSM slots of 50 ms). --forecast names
only the demand to compare with; --system forecast measures the forecast
scenario's own system instead (its profile, signers, HSM model and portal
settings). --signers and --hsm-slots change the measured system, e.g. to
apply the advice of an earlier search.

The capacity is checked against an analytic model: the HSM bound (signers x
slots / latency), the CPU bound (free cores / CPU seconds per request,
measured per component from /proc on the local target and from container
stats on docker) and the portal's admission limit; the output names the
binding resource. Sizing uses the measured rate per signer replica:
needed signers = ceil(peak x 1.25 / (capacity / signers)).

It writes DIR/capacity.json (every step, the model, the advice),
summary.json, summary.md and report.html. Exit status 0 when the capacity
covers the forecast peak, 1 when it does not, 2 on a usage error.`,
		Example: `  golive capacity --target local --forecast launch-day
  golive capacity --target local --forecast launch-day --signers 1     # apply the advice
  golive capacity --target local --forecast launch-day --registry postgres --portals 3
  golive capacity --slo "p99<200ms,success>=99%" --forecast launch-day --demand-scale 30
  golive capacity --forecast launch-day --system forecast --slo "p99<3s"
  golive capacity --scenario my-capacity.yaml --out out/cap
  golive registry fill --data full --certificates 10000000 && \
    golive capacity --target local --forecast launch-day --registry-seed full   # on a full registry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fc *spec.Scenario
			var err error
			if forecast != "" {
				if fc, err = spec.Resolve(forecast); err != nil {
					return usageErr("--forecast: %s", firstLine(err))
				}
			}
			if scenario == "" {
				scenario = "capacity"
				if fc != nil && fc.Capacity != nil {
					scenario = forecast
				}
			}
			sc, err := spec.Resolve(scenario)
			if err != nil {
				return usageErr("--scenario: %s", firstLine(err))
			}
			if sc.Capacity == nil {
				return usageErr("--scenario %s has no capacity section (see the built-in 'capacity')", scenario)
			}
			switch system {
			case "scenario", "forecast":
			default:
				return usageErr("--system %q: want scenario (the --scenario's system) or forecast (the forecast scenario's)", system)
			}
			if system == "forecast" && fc == nil {
				return usageErr("--system forecast needs a --forecast scenario")
			}
			if signers < 0 || signers > 32 || hsmSlots < 0 {
				return usageErr("--signers %d / --hsm-slots %d: want 1 to 32 signers and a positive slot count (0 keeps the scenario's)", signers, hsmSlots)
			}
			if portals < 0 || portals > spec.MaxPortals {
				return usageErr("--portals %d: want 1 to %d portals (0 keeps the scenario's)", portals, spec.MaxPortals)
			}
			switch registry {
			case "", spec.RegistrySQLite, spec.RegistryPostgres:
			default:
				return usageErr("--registry %q: want sqlite or postgres", registry)
			}
			if registryDSN != "" && registry != spec.RegistryPostgres {
				return usageErr("--registry-dsn needs --registry postgres")
			}
			if registryDSN != "" && registrySeed == "" {
				return usageErr("--registry-dsn needs --registry-seed DIR (the data directory the fill wrote the seal key to)")
			}
			if registrySeed != "" && registry == spec.RegistryPostgres && registryDSN == "" {
				return usageErr("--registry-seed with --registry postgres needs --registry-dsn (the database the fill wrote)")
			}
			if registrySeed != "" && target != "local" {
				return usageErr("--registry-seed needs --target local")
			}
			slo, err := parseSLO(sloText)
			if err != nil {
				return usageErr("--slo %q: %v (e.g. \"p99<200ms,success>=99%%\")", sloText, err)
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
			opts := engine.CapacityOptions{
				Scenario: sc, Forecast: fc, SystemFromForecast: system == "forecast", Signers: signers, HSMSlots: hsmSlots,
				Portals: portals, Registry: registry, RegistrySeed: registrySeed, RegistryDSN: registryDSN,
				KeepControls: keepControls, DemandScale: demandScale, SLO: slo, Target: target, Profile: profile,
				Out: out, Progress: progress, Logger: log, AdminToken: adminToken, DataDir: dataDir,
			}
			if err := engine.CheckCapacity(opts); err != nil {
				return usageErr("%s", strings.TrimPrefix(err.Error(), engine.ErrCapacitySetup.Error()+": "))
			}
			res, err := engine.RunCapacity(cmd.Context(), opts)
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
			printCapacity(cmd.OutOrStdout(), res, err)
			fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(out, "report.html"))
			if fc != nil && res.Verdict != "pass" {
				return quietFail(1)
			}
			if c := res.Consistency; c != nil && (c.Lost > 0 || c.Duplicates > 0) {
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
	f.StringVar(&scenario, "scenario", "", "scenario with the search settings and the system (default: the forecast when it has a capacity section, else the built-in capacity)")
	f.StringVar(&system, "system", "scenario", "measure the --scenario's system (scenario) or the forecast scenario's (forecast)")
	f.IntVar(&signers, "signers", 0, "signer replicas of the measured system (default: the scenario's)")
	f.IntVar(&hsmSlots, "hsm-slots", 0, "HSM slots per signer replica (default: the scenario's)")
	f.IntVar(&portals, "portals", 0, "portal replicas of the measured system, spread over by the probe (default: the scenario's; more than 1 needs --registry postgres, the default then)")
	f.StringVar(&registry, "registry", "", "the measured system's registry: sqlite or postgres (default: the scenario's)")
	f.StringVar(&registrySeed, "registry-seed", "", "start on a registry 'golive registry fill --data DIR' filled: DIR's SQLite registry is copied for the run (local target)")
	f.StringVar(&registryDSN, "registry-dsn", "", "with --registry postgres and --registry-seed: the filled PostgreSQL database the portals use (instead of a fresh cluster)")
	f.BoolVar(&keepControls, "keep-controls", false, "measure with the per-pharmacy quota and anomaly suspension as configured (default: held out)")
	f.StringVar(&out, "out", "", "output directory (default out/capacity)")
	f.StringVar(&adminToken, "admin-token", os.Getenv("GOLIVE_ADMIN_TOKEN"), "url target: the deployment's admin token (default $GOLIVE_ADMIN_TOKEN)")
	f.StringVar(&dataDir, "data", "", "url target: a directory with the deployment's register.jsonl and mailbox/")
	f.StringVar(&logLevel, "log-level", "", "write logs to stderr at this level")
	return cmd
}

// printCapacity writes the search's answer: the capacity, the model it was
// checked against, the binding resource, the forecast verdict and advice.
func printCapacity(w io.Writer, res *engine.CapacityResult, err error) {
	fmt.Fprintf(w, "capacity %.1f/s at p99 <= %.0f ms (%s, %s; %s system: signers %d x %d HSM slots of %.0f ms; %d steps)",
		res.CapacityRPS, res.SLO.P99MS, res.Profile, res.Target, res.SystemFrom, res.Signers, res.HSMSlots, res.HSMLatencyMS, len(res.Steps))
	if !res.Bounded {
		fmt.Fprint(w, " — not bounded: the search ended at its first or last rate")
	}
	fmt.Fprintln(w)
	if err != nil {
		fmt.Fprintf(w, "note: %v\n", err)
	}
	if len(res.ControlsHeldOut) > 0 {
		fmt.Fprintf(w, "held out: %s\n", strings.Join(res.ControlsHeldOut, "; "))
	}
	if len(res.Bounds) > 0 {
		parts := make([]string, 0, len(res.Bounds))
		for _, b := range res.Bounds {
			parts = append(parts, fmt.Sprintf("%s %.0f/s (%s)", b.Resource, b.RPS, b.Basis))
		}
		fmt.Fprintf(w, "analytic: %s\n", strings.Join(parts, " · "))
	}
	if c := res.CPUCost; c != nil {
		fmt.Fprintf(w, "cpu: %s at %.0f/s; %.1f of %d cores free for the run\n", c, c.AtRPS, c.Available, runtimeCPUs(res))
	}
	fmt.Fprintf(w, "binding: %s\n", res.Binding)
	if res.Binding.Why != "" && res.Binding.AnalyticRPS > 0 {
		fmt.Fprintf(w, "         %s\n", res.Binding.Why)
	}
	if res.ForecastScenario != "" {
		fmt.Fprintf(w, "forecast %s peak %.1f/s: headroom %.2fx, %s\n", res.ForecastScenario, res.ForecastPeakRPS, res.Headroom, strings.ToUpper(res.Verdict))
		fmt.Fprintf(w, "advice: %s\n", res.Advice)
		if res.Apply != "" {
			fmt.Fprintf(w, "apply: run again with %s\n", res.Apply)
		}
	}
	if c := res.Consistency; c != nil {
		fmt.Fprintf(w, "consistency: %d acknowledged, %d verified, %d lost, %d duplicates", c.Acknowledged, c.Verified, c.Lost, c.Duplicates)
		if c.Error != "" {
			fmt.Fprintf(w, " (check incomplete: %s)", c.Error)
		}
		fmt.Fprintln(w)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// runtimeCPUs is the machine's core count as the knee step measured it.
func runtimeCPUs(res *engine.CapacityResult) int {
	for _, s := range res.Steps {
		if s.CPU != nil && s.CPU.Cores > 0 {
			return s.CPU.Cores
		}
	}
	return 0
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
// capacity.json, with the search's own figures: requests and outcomes
// summed over its steps, the latency of the step at capacity, the
// consistency of its 201s. "kind": "capacity" tells reports it is not a
// scenario run.
func writeCapacitySummary(dir, scenario string, r *engine.CapacityResult) error {
	s := &rundir.Summary{Kind: rundir.KindCapacity, Verdict: r.Verdict, Scenario: scenario, Target: r.Target, Profile: r.Profile,
		Started: r.Started, WallSeconds: r.WallSeconds}
	if s.Verdict == "" {
		s.Verdict = "pass"
	}
	// "capacity >= forecast peak" is a check reports derive from
	// capacity.json; no threshold repeats it.
	var seconds float64
	for _, st := range r.Steps {
		o, q := st.Outcomes, &s.Requests
		q.OK += o.OK
		q.Deferred += o.Deferred
		q.Rejected += o.Rejected
		q.Overload += o.Overload
		q.Error += o.Error
		q.Timeout += o.Timeout
		q.Transport += o.Transport
		q.Actions += st.Requests
		seconds += st.DurationS
		s.OfferedRate.Peak, s.Goodput.Peak = max(s.OfferedRate.Peak, st.Rate), max(s.Goodput.Peak, st.Goodput)
		if st.OK && st.Rate == r.KneeRPS {
			s.Latency = rundir.LatencyMS{P50: st.P50MS, P90: st.P90MS, P99: st.P99MS}
		}
	}
	s.Requests.Total = s.Requests.OK + s.Requests.Deferred + s.Requests.Rejected + s.Requests.Overload +
		s.Requests.Error + s.Requests.Timeout + s.Requests.Transport
	s.OfferedRate.Count, s.Goodput.Count = s.Requests.Actions, s.Requests.OK
	s.OfferedRate.Unit, s.Goodput.Unit = rundir.RateUnit, rundir.RateUnit
	if seconds > 0 {
		s.OfferedRate.Mean, s.Goodput.Mean = float64(s.Requests.Actions)/seconds, float64(s.Requests.OK)/seconds
	}
	if c := r.Consistency; c != nil {
		s.Consistency = rundir.Consistency{Acknowledged: int64(c.Acknowledged), Verified: int64(c.Verified), Lost: int64(c.Lost),
			Duplicates: int64(c.Duplicates), Unverified: int64(c.Unverified), Error: c.Error}
		if c.Lost > 0 || c.Duplicates > 0 {
			s.Verdict = "fail"
		}
	}
	return rundir.WriteSummary(dir, s)
}
