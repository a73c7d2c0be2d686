package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/scenarios/consistency"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// Schema is summary.json's schema name.
const Schema = "golive.summary/v1"

// Summary is summary.json (docs/run-format.md).
type Summary struct {
	Schema  string   `json:"schema"`
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons,omitempty"`
	// Judgement adds verdict_text, reproduces, inconclusive and evidence
	// (judge.go).
	verdict.Judgement
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	Profile     string    `json:"profile"`
	Seed        uint64    `json:"seed"`
	Timescale   float64   `json:"timescale"`
	DemandScale float64   `json:"demand_scale"`
	Started     time.Time `json:"started"`
	WallSeconds float64   `json:"wall_seconds"`
	Interrupted bool      `json:"interrupted,omitempty"`
	// Aborted says which abortOnFail threshold stopped the load.
	Aborted string `json:"aborted,omitempty"`
	Sim     struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"sim"`
	Requests struct {
		Total              uint64  `json:"total"`
		Actions            uint64  `json:"actions"`
		OK                 uint64  `json:"ok"`
		Deferred           uint64  `json:"deferred"`
		TicketDone         uint64  `json:"ticket_done"`
		Rejected           uint64  `json:"rejected"`
		Overload           uint64  `json:"overload"`
		Error              uint64  `json:"error"`
		Timeout            uint64  `json:"timeout"`
		Transport          uint64  `json:"transport"`
		Retries            uint64  `json:"retries"`
		RetryAmplification float64 `json:"retry_amplification"`
	} `json:"requests"`
	OfferedRate Rate        `json:"offered_rate"`
	Goodput     Rate        `json:"goodput"`
	Latency     LatencyMS   `json:"latency_ms"`
	Service     LatencyMS   `json:"service_ms"`
	LateSends   uint64      `json:"late_sends"`
	Dropped     uint64      `json:"dropped_sends"`
	Consistency Consistency `json:"consistency"`
	Security    Security    `json:"security"`
	// TimeToCert is every legitimate customer's time from the first
	// attempt to the certificate (ttc.go); nil without issue classes.
	TimeToCert *TimeToCert `json:"time_to_cert_ms,omitempty"`
	// MaxResponseOverTimeout is how far the slowest user action outlived
	// its class's client timeout (0: none did).
	Checks     []Check                 `json:"checks"`
	Thresholds []threshold.Result      `json:"thresholds"`
	Classes    map[string]ClassSummary `json:"classes"`
	Phases     []PhaseSummary          `json:"phases"`
	Probes     []Probe                 `json:"probes"`
}

// Rate is a mean and a peak in requests per wall second.
type Rate struct {
	Mean float64 `json:"mean"`
	Peak float64 `json:"peak"`
}

// LatencyMS are percentiles in milliseconds.
type LatencyMS struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Consistency is the after-run check.
type Consistency struct {
	Acknowledged   int      `json:"acknowledged"`
	Verified       int      `json:"verified"`
	Lost           int      `json:"lost"`
	Duplicates     int      `json:"duplicates"`
	Unverified     int      `json:"unverified"`
	TicketsPending int      `json:"tickets_pending"`
	Error          string   `json:"error,omitempty"`
	LostExamples   []string `json:"lost_examples,omitempty"`
}

// Security counts what attackers tried and got.
type Security struct {
	FraudAttempts     int `json:"fraud_attempts"`
	ForgedAccounts    int `json:"forged_accounts"`
	FraudIssued       int `json:"fraud_issued"`
	FraudRevoked      int `json:"fraud_revoked"`
	FraudEscaped      int `json:"fraud_escaped"`
	AccountsSuspended int `json:"accounts_suspended"`
	StuffedLogins     int `json:"stuffed_logins"`
}

// Check is a named check of the scenario.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// ClassSummary is one traffic class's totals.
type ClassSummary struct {
	Requests uint64    `json:"requests"`
	Actions  uint64    `json:"actions"`
	OK       uint64    `json:"ok"`
	Deferred uint64    `json:"deferred"`
	Failed   uint64    `json:"failed"`
	Late     uint64    `json:"late"`
	Latency  LatencyMS `json:"latency_ms"`
	// TimeToCert is the customers' time to certificate (issue classes).
	TimeToCert *TimeToCert `json:"time_to_cert_ms,omitempty"`
}

// PhaseSummary is one phase's totals, from timeseries.csv. Per-second
// percentiles do not merge, so a phase reports its worst second's p99 and
// its maximum rather than a made-up phase p99.
type PhaseSummary struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	Good     int64  `json:"good"`
	Failed   int64  `json:"failed"`
	Latency  struct {
		WorstSecondP99 float64 `json:"p99"` // the worst second's p99
		Max            float64 `json:"max"`
	} `json:"latency_ms"`
	// TimeToCert covers the customer actions that began in the phase.
	TimeToCert *TimeToCert `json:"time_to_cert_ms,omitempty"`
}

// Probe is a steady-state probe: its checks and what deviated.
type Probe struct {
	When       string        `json:"when"`
	At         time.Time     `json:"at"`
	OK         bool          `json:"ok"`
	Deviations []string      `json:"deviations,omitempty"`
	Checks     []chaos.Probe `json:"checks,omitempty"`
}

// PhaseEvent is a phase window for events.json.
type PhaseEvent struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	WallStart time.Time `json:"wall_start"`
	WallEnd   time.Time `json:"wall_end"`
}

// Events is events.json.
type Events struct {
	Phases []PhaseEvent `json:"phases"`
	Faults []FaultEvent `json:"faults"`
	Probes []Probe      `json:"probes"`
}

func phasesOf(sc *spec.Scenario, c simclock.Clock) []PhaseEvent {
	out := []PhaseEvent{}
	for _, p := range sc.Phases {
		out = append(out, PhaseEvent{Name: p.Name, Start: p.Start, End: p.End, WallStart: c.Wall(p.Start), WallEnd: c.Wall(p.End)})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(l loadgen.LatencySummary) LatencyMS {
	return LatencyMS{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

func (r *run) summary(t loadgen.Totals, rep consistency.Report, cerr error, ev *Events, scrapes []Scrape, interrupted bool) *Summary {
	s := &Summary{Schema: Schema, Scenario: r.sc.Name, Target: string(r.tb.Kind()), Profile: r.profile, Seed: r.seed,
		Timescale: r.timescale, DemandScale: r.demandScale, Started: r.started.UTC(), Interrupted: interrupted}
	s.WallSeconds = time.Since(r.started).Seconds()
	s.Sim.Start, s.Sim.End = r.sc.Clock.Start, r.sc.Clock.End
	q := &s.Requests
	q.Total, q.Actions, q.OK, q.Deferred, q.TicketDone = t.Requests, t.Actions, t.OK, t.Deferred, t.TicketDone
	q.Rejected, q.Overload, q.Error, q.Timeout, q.Transport = t.Rejected, t.Overload, t.Error, t.Timeout, t.Transport
	q.Retries, q.RetryAmplification = t.Retries, t.RetryAmplification
	s.Latency, s.Service = latencyOf(t.Latency), latencyOf(t.Service)
	s.LateSends, s.Dropped = t.Late, t.Dropped
	s.Classes = map[string]ClassSummary{}
	for name, c := range t.Classes {
		s.Classes[name] = ClassSummary{Requests: c.Requests, Actions: c.Actions, OK: c.OK + c.TicketDone, Deferred: c.Deferred,
			Failed: c.Error + c.Timeout + c.Transport + c.Overload, Late: c.Late, Latency: latencyOf(c.Latency)}
	}
	r.mu.Lock()
	sec := r.security
	sec.StuffedLogins = r.stuffed
	pending := r.ticketsPending
	r.mu.Unlock()
	s.Consistency = Consistency{Acknowledged: rep.Acknowledged, Verified: rep.Verified, Lost: rep.Lost,
		Duplicates: rep.Duplicates, Unverified: rep.Unverified, TicketsPending: pending, LostExamples: rep.LostUVCIs}
	if cerr != nil {
		s.Consistency.Error = cerr.Error()
	}
	sec.FraudIssued, sec.FraudRevoked, sec.FraudEscaped = rep.FraudIssued, rep.FraudRevoked, rep.FraudEscaped
	s.Security = sec
	s.Probes = ev.Probes
	s.Aborted = r.aborted
	// Offered and achieved rates per wall second, from the timeseries.
	return s
}

// write writes events.json, metrics.csv and a first summary.json (the
// threshold evaluator reads the run directory).
func (r *run) write(s *Summary, ev *Events, scrapes []Scrape) error {
	dir := r.o.Out
	if err := writeJSON(filepath.Join(dir, "events.json"), ev); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeMetricsCSV(&buf, scrapes); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.csv"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("engine: metrics.csv: %w", err)
	}
	var buckets []threshold.Bucket
	if rd, err := threshold.OpenRunDir(dir); err == nil {
		if bs, err := rd.Buckets(); err == nil {
			r.fillRates(s, bs)
			s.Phases = phaseSummaries(ev.Phases, bs)
			buckets = bs
		}
	}
	r.fillTimeToCert(s, ev.Phases)
	s.Evidence = r.evidence(buckets)
	s.Checks = r.checks(s, ev)
	return writeJSON(filepath.Join(dir, "summary.json"), s)
}

// fillRates computes offered load and goodput per wall second from the
// per-simulated-second buckets.
func (r *run) fillRates(s *Summary, bs []threshold.Bucket) {
	type agg struct{ offered, good float64 }
	per := map[time.Time]*agg{}
	for _, b := range bs {
		a := per[b.Start]
		if a == nil {
			a = &agg{}
			per[b.Start] = a
		}
		a.offered += float64(b.Offered)
		a.good += float64(good(b))
	}
	var sumO, sumG float64
	for _, a := range per {
		sumO += a.offered
		sumG += a.good
	}
	wall := r.sc.Clock.SimDuration().Seconds() / r.timescale
	if wall > 0 {
		s.OfferedRate.Mean, s.Goodput.Mean = sumO/wall, sumG/wall
	}
	// Peaks over one wall second: a wall second holds timescale
	// simulated-second buckets.
	perWall := map[int64]*agg{}
	for t, a := range per {
		k := int64(t.Sub(r.sc.Clock.Start).Seconds() / r.timescale)
		w := perWall[k]
		if w == nil {
			w = &agg{}
			perWall[k] = w
		}
		w.offered += a.offered
		w.good += a.good
	}
	for _, w := range perWall {
		s.OfferedRate.Peak = max(s.OfferedRate.Peak, w.offered)
		s.Goodput.Peak = max(s.Goodput.Peak, w.good)
	}
}

// fillTimeToCert puts the customers' time to certificate into the run's,
// each issue class's and each phase's summary.
func (r *run) fillTimeToCert(s *Summary, phases []PhaseEvent) {
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

func phaseSummaries(phases []PhaseEvent, bs []threshold.Bucket) []PhaseSummary {
	out := []PhaseSummary{}
	for _, p := range phases {
		ps := PhaseSummary{Name: p.Name}
		for _, b := range bs {
			if b.Start.Before(p.Start) || !b.Start.Before(p.End) {
				continue
			}
			ps.Requests += b.Requests()
			ps.Good += good(b)
			ps.Failed += failed(b)
			ps.Latency.WorstSecondP99 = max(ps.Latency.WorstSecondP99, b.P99)
			ps.Latency.Max = max(ps.Latency.Max, b.Max)
		}
		out = append(out, ps)
	}
	return out
}

// checks evaluates the scenario's named checks.
func (r *run) checks(s *Summary, ev *Events) []Check {
	var out []Check
	for _, name := range r.sc.ChecksFor(r.profile) {
		c := Check{Name: name}
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

func (r *run) evaluate(exprs []*threshold.Expr, s *Summary) []threshold.Result {
	rd, err := threshold.OpenRunDir(r.o.Out)
	if err != nil {
		out := make([]threshold.Result, len(exprs))
		for i, e := range exprs {
			out[i] = threshold.Result{Expr: e.String(), Value: "no data", Scope: "run", Detail: err.Error()}
		}
		return out
	}
	return threshold.EvaluateAll(rd, exprs)
}

// verdict decides pass, fail or inconclusive (judge.go) and rewrites
// summary.json.
func (r *run) verdict(s *Summary) error {
	r.judge(s)
	return writeJSON(filepath.Join(r.o.Out, "summary.json"), s)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("engine: %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

func vegetaTarget(method, url string, body []byte, h http.Header) vegeta.Target {
	return vegeta.Target{Method: method, URL: url, Body: body, Header: h}
}

// Bucket counts in threshold.Outcomes order: ok, deferred, rejected,
// overload, error, timeout, transport.
func good(b threshold.Bucket) int64   { return b.Counts[0] }
func failed(b threshold.Bucket) int64 { return b.Counts[3] + b.Counts[4] + b.Counts[5] + b.Counts[6] }
