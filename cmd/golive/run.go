package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/scenarios/engine"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/verdict"
)

func init() { addCommand(newRunCmd) }

func newRunCmd() *cobra.Command {
	var (
		target, profiles, out, logLevel      string
		adminToken, dataDir, metricsToken    string
		timescale, demandScale, cpuWaitLimit float64
		seed                                 uint64
		thresholds                           []string
		workers                              int
		workersDir                           string
		workerCPUs                           []string
		browsers                             int
		useTLS                               bool
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO|FILE",
		Short: "Replay a scenario against the issuer and write results, a report and a verdict",
		Long: `run starts the issuer on a testbed (docker, local child processes, or an
existing deployment at a URL), onboards the simulated pharmacies and
attackers, replays the scenario's demand on its compressed clock with its
faults, checks afterwards that nothing acknowledged was lost, evaluates the
thresholds and writes DIR/results.gob, timeseries.csv, events.json,
metrics.csv, summary.json and report.html.

--browsers N adds N real headless Chromium sessions (Debian's chromium)
of pharmacy staff beside the load, each signing in to the staff pages,
filling the form and waiting for the PDF: summary.json's browsers holds
their time to PDF per phase, and DIR/browsers/ screenshots (the first
page of each phase and outcome, and every failed journey) that the report
shows. Each browser is about a core under load: keep N at most the
cores you can spare (3 on a 2-core machine is the ceiling).

--tls (or the scenario's system: {tls: true}) serves the portals and the
signers over https with certificates from a CA the testbed makes for the
run (docker and local targets): the load, the slow attackers, the probes,
the metrics scrapes, the consistency check, the load workers and the
browsers all trust that CA and nothing else, and summary.json's
system.tls says the run used it. A url target is https when its URL is.

With several profiles (--profile naive-2021,hardened) each runs in turn into
DIR/<profile>/ and the report compares them. A profile whose thresholds
assert the 2021 failure (naive-2021) is a reproduction: its verdict reads
"reproduces 2021: yes" or "no".

A threshold or check the run has too few events for (a timescale or demand
scale that leaves too few requests of a class) is inconclusive, with the
largest timescale and smallest demand scale that can judge it; a warning
says so before the run starts.

Exit status (docs/ci.md): 0 when every profile passes (a reproduction:
reproduces), 1 when a threshold or check fails (a reproduction does not
reproduce) or the run breaks, 2 on a usage or setup error, 3 when nothing
failed but something was inconclusive. Ctrl-C stops the load, undoes the
faults and still writes what was gathered.`,
		Example: `  golive run launch-day
  golive run outage-tuesday --profile naive-2021,hardened --out out/tuesday
  golive run outage-tuesday --target docker --browsers 3
  golive run my-scenario.yaml --target local --timescale 600 --demand-scale 2
  golive run forged-pharmacy --target url=https://staging.example --threshold 'fraud_escaped == 0'
  golive run launch-day --target docker --workers 3 --timescale 600   # three load-worker containers, one merged result
  golive run launch-day --target local --tls --timescale 1800          # https end to end, with a CA made for the run`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("run takes one scenario name or file (golive scenarios list shows the built-ins)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := spec.Resolve(args[0])
			if err != nil {
				return usageErr("%s", firstLine(err))
			}
			var profs []string
			for _, p := range splitList(profiles) {
				if _, err := portalapi.ConfigForProfile(p); err != nil {
					return usageErr("--profile %q: want %s", p, strings.Join(portalapi.Profiles(), ", "))
				}
				profs = append(profs, p)
			}
			if len(profs) == 0 {
				profs = []string{""}
			}
			if timescale < 0 || demandScale < 0 {
				return usageErr("--timescale and --demand-scale must be positive")
			}
			if workers < 0 || workers > 64 {
				return usageErr("--workers %d: want 1 to 64 load workers, or 0 to send the load from this process", workers)
			}
			if workersDir != "" && workers == 0 {
				return usageErr("--workers-dir needs --workers N (how many workers will read their shards there)")
			}
			if browsers < 0 || browsers > loadgen.MaxJourneyUsers {
				return usageErr("--browsers %d: want 0 to %d (each is a Chromium process)", browsers, loadgen.MaxJourneyUsers)
			}
			if browsers > 0 && loadgen.ChromiumPath() == "" {
				return usageErr("--browsers needs Chromium on PATH: apt-get install -y chromium (or make test-deps)")
			}
			if out == "" {
				out = filepath.Join("out", sc.Name)
			}
			log, err := newLogger(io.Discard, "info", "text")
			if err != nil {
				return err
			}
			if logLevel != "" {
				if log, err = newLogger(cmd.ErrOrStderr(), logLevel, "text"); err != nil {
					return usageErr("%v", err)
				}
			}
			tty := isTerminal(cmd.ErrOrStderr())
			for _, p := range profs {
				printClockWarnings(cmd.ErrOrStderr(), sc, p, timescale)
				if _, err := printEvidenceWarnings(cmd.ErrOrStderr(), engine.Options{Scenario: sc, Profile: p,
					Timescale: timescale, DemandScale: demandScale, Thresholds: thresholds}); err != nil {
					return usageErr("%s", firstLine(err))
				}
			}
			var verdicts, labels []string
			for _, p := range profs {
				dir := out
				if len(profs) > 1 {
					dir = filepath.Join(out, p)
				}
				sum, err := runOne(cmd.Context(), cmd.ErrOrStderr(), tty, log, engine.Options{
					Scenario: sc, Target: target, Profile: p, Timescale: timescale, DemandScale: demandScale,
					Out: dir, Seed: seed, Thresholds: thresholds, AdminToken: adminToken, DataDir: dataDir,
					MetricsToken: metricsToken, CPUWaitLimit: cpuWaitLimit, Workers: workers, WorkersDir: workersDir, WorkerCPUSets: workerCPUs,
					Browsers: browsers, TLS: useTLS,
				})
				if sum != nil {
					label := verdict.Label(sum.Verdict, sum.Reproduces)
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s, %s): %s — %d requests, p99 %.0f ms, late %d, acknowledged %d, lost %d, duplicates %d, fraud issued %d, escaped %d; %s\n",
						sc.Name, label, sum.Profile, sum.Target, dir, sum.Requests.Total, sum.Latency.P99,
						sum.LateSends, sum.Consistency.Acknowledged, sum.Consistency.Lost, sum.Consistency.Duplicates,
						sum.Security.FraudIssued, sum.Security.FraudEscaped, filepath.Join(dir, "report.html"))
					if sum.Workers > 0 {
						var parts []string
						for _, w := range sum.WorkerHealth {
							parts = append(parts, fmt.Sprintf("%s %d", w.Name, w.Requests))
						}
						fmt.Fprintf(cmd.OutOrStdout(), "  workers: %d, requests %s\n", sum.Workers, strings.Join(parts, " + "))
					}
					if b := sum.Browsers; b != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "  browsers: %d journeys, %d PDFs, %d tickets, %d busy, %d failed, %d timed out; time to PDF p50 %s p99 %s; forms lost %d\n",
							b.Journeys, b.PDF, b.Ticket, b.Busy, b.Failed, b.Timeout, reports.MillisText(b.TimeToPDF.P50),
							reports.MillisText(b.TimeToPDF.P99), b.FormsLost)
					}
					if t := sum.TimeToCert; t != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "  customers: %d, time to certificate p50 %s p99 %s, %.1f%% left without one\n",
							t.Actions, reports.TimeToCertText(t.P50), reports.TimeToCertText(t.P99), 100*t.LeftShare)
					}
					for _, r := range sum.Reasons {
						fmt.Fprintf(cmd.OutOrStdout(), "  fail: %s\n", r)
					}
					for _, r := range sum.Inconclusive {
						fmt.Fprintf(cmd.OutOrStdout(), "  inconclusive: %s\n", r)
					}
					verdicts = append(verdicts, sum.Verdict)
					labels = append(labels, sum.Profile+": "+label)
				} else {
					verdicts = append(verdicts, verdict.Fail)
				}
				if err != nil {
					if errors.Is(err, context.Canceled) {
						return failErr("interrupted; partial results in %s", dir)
					}
					if sum == nil {
						// Nothing was judged: the run could not be set up
						// (testbed, register, onboarding). Exit 1 is only
						// for a failed judgement.
						return usageErr("%s: %v", sc.Name, err)
					}
					return failErr("%s: %v", sc.Name, err)
				}
			}
			// The exit code and, for a comparison, the headline follow every
			// profile's verdict (a reproduction's: whether it reproduced),
			// as the comparison's summary.md heading does.
			overall := verdict.Combine(verdicts...)
			if len(profs) > 1 {
				if r, err := reports.Load(out); err == nil {
					_ = reports.Write(context.WithoutCancel(cmd.Context()), r, out)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s; %s\n", sc.Name, verdict.Label(overall, ""), strings.Join(labels, " · "),
					filepath.Join(out, reports.MarkdownFile))
			}
			if code := verdict.ExitCode(overall); code != verdict.ExitPass {
				return quietFail(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "auto", "where the issuer runs: auto, docker, local or url=BASE")
	f.StringVar(&profiles, "profile", "", "issuer profile(s), comma-separated: hardened, naive-2021 (default: the scenario's)")
	f.Float64Var(&timescale, "timescale", 0, "simulated seconds per wall second (default: the scenario's)")
	f.Float64Var(&demandScale, "demand-scale", 0, "multiply every demand curve (default: the scenario's, usually 1 = real national rates)")
	f.StringVar(&out, "out", "", "run directory (default out/SCENARIO)")
	f.Uint64Var(&seed, "seed", 0, "random seed (default: the scenario's)")
	f.StringArrayVar(&thresholds, "threshold", nil, "extra threshold, e.g. 'p99(issue) < 500ms' (repeatable)")
	f.StringVar(&adminToken, "admin-token", os.Getenv("GOLIVE_ADMIN_TOKEN"), "url target: the deployment's admin token (default $GOLIVE_ADMIN_TOKEN)")
	f.StringVar(&metricsToken, "metrics-token", os.Getenv("GOLIVE_METRICS_TOKEN"), "url target: the bearer token of the deployment's /metrics (default $GOLIVE_METRICS_TOKEN)")
	f.StringVar(&dataDir, "data", "", "url target: a directory with the deployment's register.jsonl and mailbox/")
	f.Float64Var(&cpuWaitLimit, "cpu-wait-limit", engine.DefaultCPUWaitLimit, "seconds waited for a CPU per CPU second over which the machine counts as starved and a failed threshold is inconclusive (negative: never)")
	f.IntVar(&browsers, "browsers", 0, "also drive N headless Chromium staff sessions through the staff pages (time to PDF, screenshots)")
	f.BoolVar(&useTLS, "tls", false, "serve the portals and signers over https with a CA the testbed makes for the run (same as the scenario's system.tls)")
	f.StringVar(&logLevel, "log-level", "", "write logs to stderr at this level (debug, info, warn, error)")
	f.IntVar(&workers, "workers", 0, "send the load from N load workers (docker: containers, local: child processes) and merge their results (docs/workers.md); 0: from this process")
	f.StringVar(&workersDir, "workers-dir", "", "with --workers: write the shards to DIR/worker-N for workers started elsewhere (Kubernetes: golive k8s render)")
	f.StringSliceVar(&workerCPUs, "worker-cpus", nil, "docker: pin the workers to these CPU sets in turn, e.g. 2,3 or 2-3 (default: unpinned)")
	return cmd
}

// runOne runs one profile and renders its report, with a live line on a
// terminal.
func runOne(ctx context.Context, stderr io.Writer, tty bool, log *slog.Logger, o engine.Options) (*engine.Summary, error) {
	if tty {
		last := time.Time{}
		o.Progress = func(line string) {
			if time.Since(last) < 200*time.Millisecond {
				return
			}
			last = time.Now()
			if len(line) > 118 {
				line = line[:118]
			}
			fmt.Fprintf(stderr, "\r\033[K%s", line)
		}
	}
	o.Logger = log
	sum, err := engine.Run(ctx, o)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if sum != nil {
		if r, lerr := reports.Load(o.Out); lerr == nil {
			if werr := reports.Write(context.WithoutCancel(ctx), r, o.Out); werr != nil {
				fmt.Fprintf(stderr, "golive: writing the report: %v\n", werr)
			}
		} else {
			fmt.Fprintf(stderr, "golive: reading the run for its report: %v\n", lerr)
		}
	}
	return sum, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (and more)"
	}
	return s
}
