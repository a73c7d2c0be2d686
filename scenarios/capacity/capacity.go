// Package capacity finds the highest request rate a target sustains within
// an SLO, by search rather than a fixed ramp: grow the rate geometrically
// until a step fails, then bisect between the last passing and the first
// failing rate. Each step is a bounded, open-model load at a constant rate.
//
// A step only measures capacity when it starts from the same state as every
// other step and lasts long enough to mean something, so the search asks
// its Runner to reset the target before each step (drain the backlog,
// forget per-account history) and gives each step at least MinDuration and
// enough time for MinRequests. Each judged step says why it failed (which
// SLO, by how much, and what the answers were), and what caused it: the
// target's capacity, a control refusing requests (quota, fraud
// suspension), the load generator, or too little evidence.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
)

// Cause says what made a step fail.
type Cause string

const (
	// CauseNone: the step passed.
	CauseNone Cause = ""
	// CauseSLO: the target missed the SLO (latency, overload, errors,
	// timeouts): its capacity.
	CauseSLO Cause = "slo"
	// CauseControls: a control (a per-account quota, a fraud suspension)
	// refused most of the failed requests: a policy limit, not capacity.
	CauseControls Cause = "controls"
	// CauseGenerator: the load did not happen as planned (the step ended
	// early, or far fewer requests went out than planned).
	CauseGenerator Cause = "generator"
	// CauseEvidence: too few requests to judge a p99.
	CauseEvidence Cause = "too_few_requests"
)

// Step is what one constant-rate probe measured.
type Step struct {
	Offered float64       `json:"offered_rps"` // the rate asked for
	Goodput float64       `json:"goodput_rps"` // successful answers per second
	P99     time.Duration `json:"p99"`
	Success float64       `json:"success"` // fraction of requests that succeeded, 0..1
	Pass    bool          `json:"pass"`

	// Duration is the wall time the load lasted; Planned the requests the
	// rate and the planned duration asked for (0: unknown); Requests the
	// answers (and failures) counted.
	Duration time.Duration `json:"duration"`
	Planned  int64         `json:"planned"`
	Requests int64         `json:"requests"`
	P50      time.Duration `json:"p50"`
	P90      time.Duration `json:"p90"`
	Outcomes Outcomes      `json:"outcomes"`
	// Problems counts refusals by status and problem code (ProblemKey:
	// "503 overloaded", "403 pharmacy_suspended"); Controls is how many of
	// them a control refused (ControlCodes).
	Problems map[string]int64 `json:"problems,omitempty"`
	Controls int64            `json:"controls"`
	// Err is why the load stopped before its planned end ("" when it ran
	// to the end).
	Err string `json:"error,omitempty"`

	// What the Runner adds: the CPU the run's processes used during the
	// step (nil: not measured), how often a held-out control (anomaly
	// detection without suspension) fired, and remarks about the step's
	// start (a backlog that did not drain, say).
	CPU           *CPU     `json:"cpu,omitempty"`
	ControlEvents int64    `json:"control_events,omitempty"`
	Notes         []string `json:"notes,omitempty"`

	// Reasons say why the step failed, one per missed condition, with the
	// measured value, the limit and the gap; Cause sums them up.
	Reasons []string `json:"reasons,omitempty"`
	Cause   Cause    `json:"cause,omitempty"`
}

// Outcomes counts a step's answers (ok, deferred, rejected, overload,
// error, timeout, transport); capacity.json's format owns it.
type Outcomes = rundir.CapacityOutcomes

// addOutcome counts one attempt.
func addOutcome(o *Outcomes, out loadgen.Outcome) {
	switch out {
	case loadgen.OutcomeOK, loadgen.OutcomeTicketDone:
		o.OK++
	case loadgen.OutcomeDeferred:
		o.Deferred++
	case loadgen.OutcomeRejected:
		o.Rejected++
	case loadgen.OutcomeOverload:
		o.Overload++
	case loadgen.OutcomeError:
		o.Error++
	case loadgen.OutcomeTimeout:
		o.Timeout++
	default:
		o.Transport++
	}
}

// ControlCodes are the problem codes with which a control, rather than
// the lack of capacity, refuses a request, and what each control is.
var ControlCodes = map[string]string{
	"pharmacy_suspended": "fraud anomaly suspension",
	"rate_limited":       "per-pharmacy quota",
}

// SLO is what a step must meet to pass.
type SLO struct {
	P99        time.Duration // p99 latency at most this
	MinSuccess float64       // success ratio at least this (default 0.99)
	// MinGoodput is the fraction of the offered rate that must succeed
	// (default 0.95): a target that answers fast by dropping work fails.
	MinGoodput float64
	// MinRequests is the least a step must have measured to be judged at
	// all (0: no minimum): a p99 of a handful of requests proves nothing.
	MinRequests int64
}

func (s SLO) withDefaults() SLO {
	if s.MinSuccess == 0 {
		s.MinSuccess = 0.99
	}
	if s.MinGoodput == 0 {
		s.MinGoodput = 0.95
	}
	return s
}

// minSentShare is the least share of the planned requests a step must have
// sent: below it the generator, not the target, set the rate.
const minSentShare = 0.9

// Judge marks a step as passing or not, and says why not.
func (s SLO) Judge(st Step) Step {
	s = s.withDefaults()
	var reasons []string
	cause := CauseNone
	set := func(c Cause) {
		if cause == CauseNone {
			cause = c
		}
	}
	if st.Err != "" {
		reasons = append(reasons, fmt.Sprintf("the load stopped after %s of the step: %s", round(st.Duration), st.Err))
		set(CauseGenerator)
	}
	if st.Planned > 0 && float64(st.Requests) < minSentShare*float64(st.Planned) && st.Err == "" {
		reasons = append(reasons, fmt.Sprintf("only %d of %d planned requests went out (%.0f%%): the load generator fell behind",
			st.Requests, st.Planned, 100*float64(st.Requests)/float64(st.Planned)))
		set(CauseGenerator)
	}
	if s.MinRequests > 0 && st.Requests < s.MinRequests {
		reasons = append(reasons, fmt.Sprintf("%d requests measured, fewer than the %d a step needs", st.Requests, s.MinRequests))
		set(CauseEvidence)
	}
	sloMissed := false
	if st.P99 > s.P99 {
		reasons = append(reasons, fmt.Sprintf("p99 %s > %s (+%.0f%%)", ms(st.P99), ms(s.P99), 100*(float64(st.P99)/float64(s.P99)-1)))
		sloMissed = true
	}
	if st.Success < s.MinSuccess {
		r := fmt.Sprintf("success %s < %s", pct(st.Success), pct(s.MinSuccess))
		if mix := st.failureMix(); mix != "" {
			r += " (" + mix + ")"
		}
		reasons = append(reasons, r)
		sloMissed = true
	}
	if st.Goodput < s.MinGoodput*st.Offered {
		share := 0.0
		if st.Offered > 0 {
			share = st.Goodput / st.Offered
		}
		reasons = append(reasons, fmt.Sprintf("goodput %.1f/s is %s of the offered %.1f/s (< %s)", st.Goodput, pct(share), st.Offered, pct(s.MinGoodput)))
		sloMissed = true
	}
	if sloMissed {
		if st.controlsDominate() {
			set(CauseControls)
		} else {
			set(CauseSLO)
		}
	}
	st.Reasons, st.Cause, st.Pass = reasons, cause, len(reasons) == 0
	return st
}

// controlsDominate: controls refused at least half of what did not succeed.
func (st Step) controlsDominate() bool {
	failed := st.Requests - st.Outcomes.OK
	return st.Controls > 0 && 2*st.Controls >= failed
}

// failureMix describes what did not succeed, largest first: "rejected
// 30.1% [pharmacy_suspended 30.1%], overload 2.0%".
func (st Step) failureMix() string {
	if st.Requests <= 0 {
		return ""
	}
	n := float64(st.Requests)
	type part struct {
		name string
		v    int64
	}
	o := st.Outcomes
	parts := []part{{"deferred", o.Deferred}, {"rejected", o.Rejected}, {"overload", o.Overload},
		{"error", o.Error}, {"timeout", o.Timeout}, {"transport", o.Transport}}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].v > parts[j].v })
	var out []string
	for _, p := range parts {
		if p.v == 0 {
			continue
		}
		s := fmt.Sprintf("%s %s", p.name, pct(float64(p.v)/n))
		if codes := st.codesFor(p.name); codes != "" {
			s += " [" + codes + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// codesFor lists the problems counted under an outcome, largest first.
func (st Step) codesFor(outcome string) string {
	keys := make([]string, 0, len(st.Problems))
	for k := range st.Problems {
		if status, _ := splitProblem(k); outcomeOf(status) == outcome {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if st.Problems[keys[i]] != st.Problems[keys[j]] {
			return st.Problems[keys[i]] > st.Problems[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		_, code := splitProblem(k)
		out = append(out, fmt.Sprintf("%s %s", code, pct(float64(st.Problems[k])/float64(st.Requests))))
	}
	return strings.Join(out, ", ")
}

// ProblemKey is how Problems counts a refusal: "403 pharmacy_suspended".
func ProblemKey(status int, code string) string {
	if code == "" {
		code = "no_problem_body"
	}
	return fmt.Sprintf("%d %s", status, code)
}

func splitProblem(key string) (status int, code string) {
	s, code, _ := strings.Cut(key, " ")
	fmt.Sscanf(s, "%d", &status)
	return status, code
}

// IsControl reports whether a Problems key is a control's refusal.
func IsControl(key string) bool {
	_, code := splitProblem(key)
	_, ok := ControlCodes[code]
	return ok
}

// outcomeOf names the outcome of an HTTP status as Outcomes counts it.
func outcomeOf(status int) string { return string(loadgen.ClassifyStatus(status)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

// pct is a share as a percentage with at most one decimal ("99%",
// "30.1%").
func pct(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*f), ".0") + "%"
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// Plan is one step to run: a rate held for a duration.
type Plan struct {
	Rate     float64
	Duration time.Duration
}

// Runner runs the steps of a search against a target.
type Runner interface {
	// Reset brings the target back to the state every step starts from
	// (backlog drained, per-account history forgotten). An error ends the
	// search: steps from different states do not compare.
	Reset(ctx context.Context) error
	// Run holds p.Rate for p.Duration and reports what it measured. It
	// must bound itself in time.
	Run(ctx context.Context, p Plan) (Step, error)
}

// Probe runs a constant-rate load of rate requests per second and reports
// what it measured; it chooses its own duration and needs no reset. It is
// the simplest Runner.
type Probe func(ctx context.Context, rate float64) (Step, error)

// Reset does nothing: a Probe's target keeps no state between steps.
func (p Probe) Reset(context.Context) error { return nil }

// Run runs the probe at p.Rate (its duration is the probe's own).
func (p Probe) Run(ctx context.Context, pl Plan) (Step, error) { return p(ctx, pl.Rate) }

// Options bound the search.
type Options struct {
	Start float64 // first rate tried (default 50/s)
	Max   float64 // never probe above this (default 100 000/s)
	// Min is the lowest rate tried when the first rate fails and the
	// search steps down (default 1/s).
	Min      float64
	Growth   float64 // factor between rates while all pass (default 2)
	Rel      float64 // stop bisecting when the interval is within this fraction (default 0.05)
	MaxSteps int     // total probes allowed (default 16)
	// Step is the planned duration of a step (default 10 s); a step lasts
	// at least MinDuration, and long enough for SLO.MinRequests at its
	// rate.
	Step        time.Duration
	MinDuration time.Duration
	// Progress, when set, is told about each step.
	Progress func(Step)
}

// Duration is how long a step at rate lasts: the planned step, at least
// MinDuration, and long enough for minRequests.
func (o Options) Duration(rate float64, minRequests int64) time.Duration {
	d := max(o.Step, o.MinDuration)
	if d <= 0 {
		d = 10 * time.Second
	}
	if minRequests > 0 && rate > 0 {
		need := time.Duration(math.Ceil(float64(minRequests)/rate*1000)) * time.Millisecond
		d = max(d, need)
	}
	return d
}

// Result is the search's outcome: the capacity (highest passing rate) and
// every step, sorted by offered rate (the capacity curve).
type Result struct {
	Capacity float64 `json:"capacity_rps"`
	Steps    []Step  `json:"steps"`
	// Bounded is false when even Max passed or Start already failed: the
	// capacity lies outside what was probed.
	Bounded bool `json:"bounded"`
}

// ErrStartFails means every rate tried, down to Options.Min, broke the SLO.
var ErrStartFails = errors.New("capacity: the first rate already fails the SLO")

// Search finds the capacity of a target under slo.
func Search(ctx context.Context, r Runner, slo SLO, o Options) (Result, error) {
	if o.Start <= 0 {
		o.Start = 50
	}
	if o.Max <= 0 {
		o.Max = 100000
	}
	if o.Min <= 0 {
		o.Min = 1
	}
	if o.Growth <= 1 {
		o.Growth = 2
	}
	if o.Rel <= 0 {
		o.Rel = 0.05
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = 16
	}
	var res Result
	run := func(rate float64) (Step, error) {
		if err := r.Reset(ctx); err != nil {
			return Step{}, fmt.Errorf("capacity: resetting the target before %.0f/s: %w", rate, err)
		}
		plan := Plan{Rate: rate, Duration: o.Duration(rate, slo.MinRequests)}
		st, err := r.Run(ctx, plan)
		if err != nil {
			return st, fmt.Errorf("capacity: probing %.0f/s: %w", rate, err)
		}
		st.Offered = rate
		st = slo.Judge(st)
		res.Steps = append(res.Steps, st)
		if o.Progress != nil {
			o.Progress(st)
		}
		return st, nil
	}
	finish := func() Result {
		sort.SliceStable(res.Steps, func(i, j int) bool { return res.Steps[i].Offered < res.Steps[j].Offered })
		return res
	}

	// Grow until a step fails.
	good, bad := 0.0, math.Inf(1)
	for rate := o.Start; len(res.Steps) < o.MaxSteps; rate = math.Min(rate*o.Growth, o.Max) {
		st, err := run(rate)
		if err != nil {
			return finish(), err
		}
		if !st.Pass {
			bad = rate
			break
		}
		good = rate
		if rate >= o.Max {
			res.Capacity = good
			return finish(), nil // unbounded above
		}
	}
	if good == 0 {
		// The first rate failed: step down until a rate passes, so a
		// capacity below the start (or a start that failed by bad luck on
		// a busy machine) is still bracketed and bisected.
		for rate := o.Start / o.Growth; len(res.Steps) < o.MaxSteps && rate >= o.Min; rate /= o.Growth {
			st, err := run(rate)
			if err != nil {
				return finish(), err
			}
			if st.Pass {
				good = rate
				break
			}
			bad = rate
		}
		if good == 0 {
			return finish(), ErrStartFails
		}
	}
	// Bisect (geometrically: rates span orders of magnitude).
	for len(res.Steps) < o.MaxSteps && !math.IsInf(bad, 1) && (bad-good)/good > o.Rel {
		rate := math.Sqrt(good * bad)
		st, err := run(rate)
		if err != nil {
			return finish(), err
		}
		if st.Pass {
			good = rate
		} else {
			bad = rate
		}
	}
	res.Capacity = good
	res.Bounded = !math.IsInf(bad, 1)
	return finish(), nil
}

// Knee is the step where goodput stops following the offered rate: the
// last passing step (the capacity), or the first when none passed.
func (r Result) Knee() (Step, bool) {
	var knee Step
	found := false
	for _, s := range r.Steps {
		if s.Pass && (!found || s.Offered > knee.Offered) {
			knee, found = s, true
		}
	}
	return knee, found
}

// Limit is the lowest failing step above the capacity: the step whose
// failure, and its cause, set the capacity. ok is false when no step
// failed.
func (r Result) Limit() (Step, bool) {
	for _, s := range r.Steps {
		if !s.Pass && s.Offered > r.Capacity {
			return s, true
		}
	}
	return Step{}, false
}
