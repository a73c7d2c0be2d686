package engine

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// Summary is summary.json; package rundir owns the format.
type Summary = rundir.Summary

func phasesOf(sc *spec.Scenario, c simclock.Clock) []rundir.Phase {
	out := []rundir.Phase{}
	for _, p := range sc.Phases {
		out = append(out, rundir.Phase{Name: p.Name, Start: p.Start, End: p.End, WallStart: c.Wall(p.Start), WallEnd: c.Wall(p.End)})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(l loadgen.LatencySummary) rundir.LatencyMS {
	return rundir.LatencyMS{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

func (r *run) summary(t loadgen.Totals, rep consistency.Report, cerr error, ev *rundir.Events, interrupted bool) *Summary {
	s := &Summary{Scenario: r.sc.Name, Target: string(r.tb.Kind()), Profile: r.profile, Seed: r.seed,
		Timescale: r.timescale, DemandScale: r.demandScale, Started: r.started.UTC(), Interrupted: interrupted,
		GoodputClasses: r.goodputClasses}
	s.WallSeconds = time.Since(r.started).Seconds()
	s.Sim.Start, s.Sim.End = r.sc.Clock.Start, r.sc.Clock.End
	n := func(v uint64) int64 { return int64(v) }
	s.Requests = rundir.Requests{Total: n(t.Requests), Actions: n(t.Actions), OK: n(t.OK), Deferred: n(t.Deferred),
		TicketDone: n(t.TicketDone), Rejected: n(t.Rejected), Overload: n(t.Overload), Error: n(t.Error), Timeout: n(t.Timeout),
		Transport: n(t.Transport), Retries: n(t.Retries), RetryAmplification: t.RetryAmplification,
		PastTimeout: t.PastTimeout, Failovers: t.Failovers}
	s.Latency, s.Service = latencyOf(t.Latency), latencyOf(t.Service)
	s.LateSends, s.DroppedSends = n(t.Late), n(t.Dropped)
	s.Machine = r.machine
	s.Classes = map[string]rundir.ClassSummary{}
	for name, c := range t.Classes {
		s.Classes[name] = rundir.ClassSummary{Requests: n(c.Requests), Actions: n(c.Actions), OK: n(c.OK + c.TicketDone),
			Deferred: n(c.Deferred), Delivered: n(c.Delivered), Failed: n(c.Error + c.Timeout + c.Transport + c.Overload),
			Late: n(c.Late), Latency: latencyOf(c.Latency),
			Kind: string(r.kinds[name]), Bytes: n(c.BytesIn), NotModified: n(c.NotModified)}
	}
	r.publicSummaries(s.Classes)
	r.mu.Lock()
	sec := r.security
	sec.StuffedLogins = int64(r.stuffed)
	pending := r.ticketsPending
	r.mu.Unlock()
	i := func(v int) int64 { return int64(v) }
	s.Consistency = rundir.Consistency{Acknowledged: i(rep.Acknowledged), Verified: i(rep.Verified), Lost: i(rep.Lost),
		Duplicates: i(rep.Duplicates), Unverified: i(rep.Unverified), TicketsPending: i(pending), LostExamples: rep.LostUVCIs}
	if cerr != nil {
		s.Consistency.Error = cerr.Error()
	}
	sec.FraudIssued, sec.FraudRevoked, sec.FraudEscaped = i(rep.FraudIssued), i(rep.FraudRevoked), i(rep.FraudEscaped)
	s.Security = sec
	s.Probes = ev.Probes
	s.Aborted = r.aborted
	if r.faultErr != nil {
		s.FaultError = r.faultErr.Error()
	}
	s.Workers = r.o.Workers
	s.WorkerHealth = r.workerHealth
	s.System = &rundir.System{Registry: r.sc.System.Registry, RegistryStandby: r.sc.System.RegistryStandby,
		Signers: max(r.sc.System.Signers, 1), Portals: len(testbed.PortalURLs(r.tb))}
	s.System.PortalURL = r.tb.PortalURL()
	s.System.TLS = strings.HasPrefix(s.System.PortalURL, "https://")
	if s.System.Registry == "" {
		s.System.Registry = spec.RegistrySQLite
	}
	s.Browsers = r.browsers.summary(ev.Phases)
	return s
}

// failovers are the registry cluster's promotions for events.json, on
// the simulated clock beside the wall clock.
func (r *run) failovers() []rundir.Failover {
	reg := testbed.RegistryOf(r.tb)
	if reg == nil {
		return nil
	}
	var out []rundir.Failover
	for _, f := range reg.Failovers() {
		rf := rundir.Failover{Failed: f.Failed, NewPrimary: f.NewPrimary, Error: f.Error,
			Detected: r.clock.Sim(f.Detected), WallDetected: f.Detected}
		if !f.Killed.IsZero() {
			rf.Killed, rf.WallKilled = r.clock.Sim(f.Killed), f.Killed
		}
		if !f.Promoted.IsZero() {
			rf.Promoted, rf.WallPromoted = r.clock.Sim(f.Promoted), f.Promoted
		}
		out = append(out, rf)
	}
	return out
}

// recovery measures the first failover's recovery from the timeseries:
// from the kill (or the detection) to the first certificate delivered
// after the promotion, and goodput after it against goodput before.
func (r *run) recovery(ev *rundir.Events, rows []rundir.Row, classes []string) *rundir.Recovery {
	if len(ev.Failovers) == 0 || len(rows) == 0 {
		return nil
	}
	f := ev.Failovers[0]
	fault := f.Killed
	if fault.IsZero() {
		fault = f.Detected
	}
	promoted := f.Promoted
	if promoted.IsZero() {
		// Never promoted: the service did not come back.
		return &rundir.Recovery{Fault: fault}
	}
	rec := rundir.RecoveryOf(rows, classes, r.timescale, time.Time{}, fault, promoted)
	return &rec
}

// write writes events.json, metrics.csv and a first summary.json (the
// threshold evaluator reads the run directory), with the rates and phase
// totals from timeseries.csv.
func (r *run) write(s *Summary, ev *rundir.Events, scrapes []rundir.Scrape) error {
	dir := r.o.Out
	if err := rundir.WriteEvents(dir, ev); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if err := rundir.WriteMetricsFile(dir, scrapes); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	var rows []rundir.Row
	if rs, err := rundir.ReadTimeseriesFile(dir); err == nil {
		rows = rs
		// One definition of offered load and goodput, the thresholds' too.
		s.OfferedRate, s.Goodput = rundir.Rates(rows, r.timescale, s.GoodputClasses, s.Sim.Seconds())
		s.Phases = phaseSummaries(ev.Phases, rows)
		s.Recovery = r.recovery(ev, rows, s.GoodputClasses)
	} else {
		r.log.Warn("no rates or phase totals", "err", err)
	}
	r.fillTimeToCert(s, ev.Phases)
	s.Cost = r.cost.cost(s.Requests.Total, s.Goodput.Count)
	s.Evidence = r.evidence(rows)
	s.Checks = r.checks(s, ev)
	if err := rundir.WriteSummary(dir, s); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// fillTimeToCert puts the customers' time to certificate into the run's,
// each issue class's and each phase's summary.
func (r *run) fillTimeToCert(s *Summary, phases []rundir.Phase) {
	run, classes, perPhase := r.waits.summaries(phases)
	if run.Actions == 0 {
		return
	}
	s.TimeToCert = &run
	for name, t := range classes {
		if c, ok := s.Classes[name]; ok {
			c.TimeToCert = &t
			s.Classes[name] = c
		}
	}
	for i := range s.Phases {
		if t, ok := perPhase[s.Phases[i].Name]; ok && t.Actions > 0 {
			s.Phases[i].TimeToCert = &t
		}
	}
}

func phaseSummaries(phases []rundir.Phase, rows []rundir.Row) []rundir.PhaseSummary {
	out := []rundir.PhaseSummary{}
	for _, p := range phases {
		ps := rundir.PhaseSummary{Name: p.Name}
		for _, b := range rows {
			if !p.Contains(b.Start) {
				continue
			}
			ps.Requests += b.Responses()
			ps.Good += b.OK
			ps.Delivered += b.Delivered
			ps.Failed += b.Failures()
			ps.Latency.P99 = max(ps.Latency.P99, b.P99) // the worst second's p99
			ps.Latency.Max = max(ps.Latency.Max, b.Max)
		}
		out = append(out, ps)
	}
	return out
}

// checks evaluates the scenario's named checks.
func (r *run) checks(s *Summary, ev *rundir.Events) []rundir.Check {
	var out []rundir.Check
	for _, name := range r.sc.ChecksFor(r.profile) {
		c := rundir.Check{Name: name}
		switch name {
		case "consistency":
			c.OK = s.Consistency.Lost == 0 && s.Consistency.Duplicates == 0 && s.Consistency.Unverified == 0 && s.Consistency.Error == ""
			c.Detail = fmt.Sprintf("%d acknowledged, %d lost, %d duplicates, %d unverified", s.Consistency.Acknowledged, s.Consistency.Lost, s.Consistency.Duplicates, s.Consistency.Unverified)
		case "backlog_drained":
			c.OK = s.Consistency.TicketsPending == 0
			c.Detail = fmt.Sprintf("%d tickets still pending", s.Consistency.TicketsPending)
		case "no_request_outlives_timeout":
			maxTimeout := time.Duration(0)
			for _, to := range r.timeouts {
				maxTimeout = max(maxTimeout, to)
			}
			// One attempt is bounded by its class's timeout (+1 s grace);
			// a user action may retry, so the bound is per attempt.
			c.OK = s.Service.Max <= ms(maxTimeout+time.Second)
			c.Detail = fmt.Sprintf("slowest attempt %.0f ms, client timeout %s", s.Service.Max, maxTimeout)
			if b := s.Browsers; b != nil {
				// A page of the staff portal is bounded by the staff's
				// patience the same way: every post answered in time.
				slowest := 0.0
				if b.TimeToAnswer.Max != nil {
					slowest = *b.TimeToAnswer.Max
				}
				ok := b.Timeout == 0 && slowest <= b.AnswerTimeoutMS+ms(time.Second)
				c.OK = c.OK && ok
				c.Detail += fmt.Sprintf("; browsers: slowest page %.0f ms, %d without an answer within %.0f ms", slowest, b.Timeout, b.AnswerTimeoutMS)
			}
		case "fraud_contained":
			c.OK = s.Security.FraudEscaped == 0
			c.Detail = fmt.Sprintf("%d fraudulent certificates issued, %d revoked, %d escaped", s.Security.FraudIssued, s.Security.FraudRevoked, s.Security.FraudEscaped)
		case "signers_recovered", "steady_state":
			c.OK = true
			for _, p := range ev.Probes {
				if p.When == "after" && !p.OK {
					c.OK = false
					c.Detail = fmt.Sprint(p.Deviations)
				}
			}
		default:
			c.Detail = "unknown check"
		}
		out = append(out, c)
	}
	return out
}

func (r *run) evaluate(exprs []*threshold.Expr) []rundir.Threshold {
	out := make([]rundir.Threshold, len(exprs))
	rd, err := threshold.OpenRunDir(r.o.Out)
	if err != nil {
		for i, e := range exprs {
			out[i] = rundir.Threshold{Expr: e.String(), Value: "no data", Scope: "run", Detail: err.Error()}
		}
		return out
	}
	for i, t := range threshold.EvaluateAll(rd, exprs) {
		out[i] = rundir.Threshold{Expr: t.Expr, OK: t.OK, Value: t.Value, Scope: t.Scope, Detail: t.Detail, Abort: t.Abort}
	}
	return out
}

// verdict decides pass, fail or inconclusive (judge.go) and rewrites
// summary.json.
func (r *run) verdict(s *Summary) error {
	r.judge(s)
	if err := rundir.WriteSummary(r.o.Out, s); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

func vegetaTarget(method, url string, body []byte, h http.Header) vegeta.Target {
	return vegeta.Target{Method: method, URL: url, Body: body, Header: h}
}
