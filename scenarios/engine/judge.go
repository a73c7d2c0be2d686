package engine

import (
	"errors"
	"fmt"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/evidence"
	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// settled is what a run's options come to before anything starts.
type settled struct {
	profile                string
	timescale, demandScale float64
	exprs                  []*threshold.Expr
	// needs are the minimum event counts the thresholds and checks declare.
	needs []evidence.Need
}

// settle resolves the profile, scales and thresholds of o, and what each
// threshold and check needs to be judged: all from the scenario alone.
func settle(o Options) (settled, error) {
	sc := o.Scenario
	var set settled
	var err error
	if set.profile, err = sc.ProfileFor(o.Profile); err != nil {
		return set, err
	}
	set.timescale = sc.Clock.Timescale
	if o.Timescale > 0 {
		set.timescale = o.Timescale
	}
	set.demandScale = sc.DemandScale
	if o.DemandScale > 0 {
		set.demandScale = o.DemandScale
	}
	if set.demandScale <= 0 {
		set.demandScale = 1
	}
	for _, t := range sc.ThresholdsFor(set.profile) {
		e, err := threshold.Parse(t.Expr)
		if err != nil {
			return set, fmt.Errorf("%s: threshold %q: %w", sc.Source, t.Expr, err)
		}
		set.exprs = append(set.exprs, e)
	}
	for _, t := range o.Thresholds {
		e, err := threshold.Parse(t)
		if err == nil {
			err = e.Check(sc.ThresholdNames())
		}
		if err != nil {
			return set, fmt.Errorf("--threshold: %w", err)
		}
		set.exprs = append(set.exprs, e)
	}
	set.needs, err = evidence.For(sc, set.profile, set.exprs)
	return set, err
}

// Preflight assesses, without running anything, whether a run with o can
// judge its thresholds and checks: each record says what one needs and
// what the demand gives at o's timescale and demand scale (Enough false:
// the run would call it inconclusive), with the largest timescale and
// smallest demand scale that give enough. scenarios validate and run print
// the short ones.
func Preflight(o Options) ([]verdict.Evidence, error) {
	if o.Scenario == nil {
		return nil, errors.New("engine: no scenario")
	}
	set, err := settle(o)
	if err != nil {
		return nil, err
	}
	return evidence.Assess(set.needs, set.timescale, set.demandScale, nil), nil
}

// warnShort says, before any load, which thresholds and checks the
// scenario's demand will not give enough events at this timescale and
// demand scale: the run goes ahead, and they come out inconclusive.
func (r *run) warnShort() {
	for _, e := range evidence.Assess(r.needs, r.timescale, r.demandScale, nil) {
		if !e.Enough {
			r.say("too few events to judge: %s", e.Reason())
		}
	}
}

// evidence assesses every declared minimum against the run's buckets (nil
// when timeseries.csv could not be read: the demand's promise stands in).
func (r *run) evidence(bs []threshold.Bucket) []verdict.Evidence {
	return evidence.Assess(r.needs, r.timescale, r.demandScale, bs)
}

// judge decides the verdict. A threshold or check that failed counts
// against the run, unless it had too few events to be judged and the
// shortage forced that very result: then it is inconclusive, as is a pass
// that too few events forced. Any real failure makes the run fail; else any
// inconclusive item makes it inconclusive. An aborted or interrupted run
// fails as before.
func (r *run) judge(s *Summary) {
	s.Reasons, s.Inconclusive = nil, nil
	// hardFailed: a failure no busy machine excuses (see starved);
	// timingHeld: a threshold or check on a timing figure held.
	hardFailed, timingHeld := false, false
	add := func(kind, name string, ok bool, why string) {
		v, reasons := verdict.Decide(kind, name, ok, s.Evidence)
		hard := integrity(kind, name)
		if ok && !hard {
			timingHeld = true
		}
		switch v {
		case verdict.Fail:
			s.Reasons = append(s.Reasons, why)
			hardFailed = hardFailed || hard
		case verdict.Inconclusive:
			s.Inconclusive = append(s.Inconclusive, reasons...)
		}
	}
	for _, t := range s.Thresholds {
		add("threshold", t.Expr, t.OK, fmt.Sprintf("threshold %s: %s", t.Expr, t.Value))
	}
	for _, c := range s.Checks {
		add("check", c.Name, c.OK, fmt.Sprintf("check %s: %s", c.Name, c.Detail))
	}
	// A lost worker's share is missing: no threshold may pass on the rest.
	for _, w := range s.WorkerHealth {
		if w.State == rundir.WorkerLost && w.Lost != nil {
			s.Reasons = append(s.Reasons, fmt.Sprintf("worker %s lost at %s: %s; the results lack its share of the load",
				w.Name, w.Lost.UTC().Format("15:04:05 UTC"), w.Reason))
			hardFailed = true
		}
	}
	if s.Aborted != "" {
		s.Reasons = append(s.Reasons, "aborted: "+s.Aborted)
		hardFailed = true
	}
	if s.FaultError != "" {
		s.Reasons = append(s.Reasons, "the faults did not run as the scenario says: "+s.FaultError)
		hardFailed = true
	}
	if s.Interrupted {
		s.Reasons = append(s.Reasons, "interrupted")
		hardFailed = true
	}
	s.Reproduces = r.sc.ReproducesFor(r.profile)
	if !hardFailed {
		starved(s, timingHeld)
	}
	switch {
	case len(s.Reasons) > 0:
		s.Verdict = verdict.Fail
	case len(s.Inconclusive) > 0:
		s.Verdict = verdict.Inconclusive
	default:
		s.Verdict = verdict.Pass
	}
	s.VerdictText = verdict.Text(s.Verdict, s.Reproduces)
}

// starved turns what a CPU-starved machine makes a run show into
// inconclusive items: the thresholds and checks that failed (the design
// may be fine; the scheduler was not) and a reproduction's failure when it
// rests on a figure the machine alone may have caused (timingHeld: a
// latency, an error rate held rather than only fraud or loss figures). A
// pass stands: the design coped even so. judge does not call it when a
// failure is hard: an aborted or interrupted run, a lost load worker, a
// fault schedule that did not run, a lost or duplicated certificate or
// fraud let through.
func starved(s *Summary, timingHeld bool) {
	m := s.Machine
	if m == nil || !m.Starved {
		return
	}
	why := m.Reason()
	switch {
	case len(s.Reasons) > 0:
		for _, reason := range s.Reasons {
			s.Inconclusive = append(s.Inconclusive, why+": would fail: "+reason)
		}
		s.Reasons = nil
	case s.Reproduces != "" && timingHeld:
		s.Inconclusive = append(s.Inconclusive, why+": the failure a reproduction shows may be the machine's")
	}
}

// integrity: the check or threshold judges correctness, which no busy
// machine excuses.
func integrity(kind, name string) bool {
	if kind == "check" {
		return name == "consistency" || name == "fraud_contained"
	}
	e, err := threshold.Parse(name)
	return err == nil && e.Integrity()
}
