// Package evidence works out how many events of which traffic class each
// threshold and check of a scenario needs before a run can judge it, how
// many the scenario's demand sends at a timescale and demand scale, how
// many a finished run counted, and the largest timescale (or smallest
// demand scale) that gives enough.
//
// Why a compressed run runs short: the load generator sends the demand
// curve's rate per wall second (spec: time compression shortens the day, it
// does not multiply the rate), so a run at timescale T sends the real-world
// count / T. insider-abuse's 2,700 night-time insider requests become 27 at
// x100 and 3 at x900, and the portal's night-burst detector tolerates 10
// before it suspends: at x900 it never gets the chance, and
// fraud_contained "fails" without judging anything. The counts here follow
// the pacer exactly (hit n goes out when the demand's integral x demand
// scale / timescale reaches n+1), so the named timescale does give the
// events it promises.
//
// What needs how many:
//
//   - fraud_contained, for a stolen-credentials class (and a
//     forged-onboarding class when the profile does not check the
//     register) under a profile with anomaly detection: off_hours_limit + 1
//     issuances per account outside opening hours within off_hours_window,
//     or volume_floor + 1 within volume_window, whichever the demand reaches
//     first (the detector trips on either);
//   - consistency: one issuance;
//   - a count threshold on summary figures (fraud_escaped > 10, lost == 0):
//     enough attacker (fraud_*) or issuing (lost, duplicates, acknowledged,
//     tickets_pending) actions for both results to be possible;
//   - pNN(class): ceil(1/(1-q)) answered requests in the scope (100 for
//     p99), in every phase with demand for "per phase";
//   - rate(...) < L: ceil(1/min(L, 1-L)) answered requests in the scope.
//
// Thresholds over sliding windows ("over 1m"), rates per second and the
// generator's own counts (late_sends, count(...)) declare nothing.
package evidence

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// Need is one minimum of one threshold or check: met when any of its ways
// (the detector's two rules, say) gets enough events.
type Need struct {
	Kind, Name string
	Forces     verdict.Forced
	ways       []way
}

// way is one count that can satisfy a need.
type way struct {
	needs    string // what is counted, in words
	min      int
	classes  []spec.Class
	spans    []span        // simulated intervals where events count
	window   time.Duration // 0: the spans together; else the best sliding window of this length
	accounts int           // the events spread over this many accounts; the need is per account
	// responses counts answered attempts (latency, rates); else user
	// actions (what the demand offers).
	responses bool
	start     time.Time // the run's simulated start: the pacer's integral starts here
}

type span struct{ from, to time.Time }

// For lists what the thresholds exprs (the scenario's for profile and any
// added on the command line) and the profile's checks need.
func For(sc *spec.Scenario, profile string, exprs []*threshold.Expr) ([]Need, error) {
	if sc.Capacity != nil {
		return nil, nil // a capacity search's steps are sized by the search
	}
	run := []span{{sc.Clock.Start, sc.Clock.End}}
	var out []Need
	for _, c := range sc.ChecksFor(profile) {
		n, err := checkNeed(sc, profile, c, run)
		if err != nil {
			return nil, err
		}
		if len(n.ways) > 0 {
			out = append(out, n)
		}
	}
	for _, e := range exprs {
		out = append(out, thresholdNeeds(sc, e, run)...)
	}
	return out, nil
}

func (s *Need) add(w way) { s.ways = append(s.ways, w) }

func classesWhere(sc *spec.Scenario, keep func(spec.Class) bool) []spec.Class {
	var out []spec.Class
	for _, c := range sc.Traffic {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func names(cs []spec.Class) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	if len(n) == 1 {
		return "class " + n[0]
	}
	return "classes " + strings.Join(n, ", ")
}

func checkNeed(sc *spec.Scenario, profile, check string, run []span) (Need, error) {
	n := Need{Kind: "check", Name: check, Forces: verdict.ForcesFail}
	switch check {
	case "consistency":
		// Nothing acknowledged, nothing lost: a pass that judged nothing.
		n.Forces = verdict.ForcesPass
		if cs := classesWhere(sc, func(c spec.Class) bool { return c.Kind.Issues() }); len(cs) > 0 {
			n.add(way{needs: "issuance(s) by " + names(cs), min: 1, classes: cs, spans: run, accounts: 1, start: sc.Clock.Start})
		}
	case "fraud_contained":
		cfg, err := sc.PortalConfig(profile)
		if err != nil {
			return n, err
		}
		if !cfg.Anomaly.Enabled {
			return n, nil // containment rests on onboarding checks, not on counts
		}
		fc, err := fraud.FromAnomaly(cfg.Anomaly)
		if err != nil {
			return n, fmt.Errorf("scenario %s, profile %s: anomaly: %w", sc.Name, profile, err)
		}
		det, err := fraud.New(fc)
		if err != nil {
			return n, fmt.Errorf("scenario %s, profile %s: anomaly: %w", sc.Name, profile, err)
		}
		off := offHours(det, fc, sc.Clock.Start, sc.Clock.End)
		hours := fmt.Sprintf("%s-%s", clock(fc.OpenFrom), clock(fc.OpenUntil))
		for _, c := range sc.Traffic {
			detected := c.Kind == spec.KindStolenCredentials ||
				(c.Kind == spec.KindForgedOnboarding && !cfg.OnboardingVerifyRegister)
			if !detected {
				continue
			}
			per := ""
			if c.Pharmacies > 1 {
				per = ", per account"
			}
			cs := []spec.Class{c}
			n.add(way{needs: fmt.Sprintf("issuances by class %s outside opening hours %s (%s) within %s%s, for the night-burst detector to trip",
				c.Name, hours, fc.Location, fmtDur(fc.OffHoursWindow), per),
				min: fc.OffHoursLimit + 1, classes: cs, spans: off, window: fc.OffHoursWindow,
				accounts: max(c.Pharmacies, 1), start: sc.Clock.Start})
			n.add(way{needs: fmt.Sprintf("issuances by class %s within %s%s, for the volume detector to trip",
				c.Name, fmtDur(fc.VolumeWindow), per),
				min: fc.VolumeFloor + 1, classes: cs, spans: run, window: fc.VolumeWindow,
				accounts: max(c.Pharmacies, 1), start: sc.Clock.Start})
		}
	}
	return n, nil
}

// summaryClasses are the classes whose actions a whole-run summary figure
// counts.
func summaryClasses(sc *spec.Scenario, metric string) []spec.Class {
	switch metric {
	case "fraud_issued", "fraud_escaped", "fraud_revoked":
		return classesWhere(sc, func(c spec.Class) bool { return c.Kind.Attacker() && c.Kind.Issues() })
	case "lost", "duplicates", "acknowledged", "tickets_pending":
		return classesWhere(sc, func(c spec.Class) bool { return c.Kind.Issues() })
	case "past_timeout":
		return classesWhere(sc, func(spec.Class) bool { return true })
	}
	return nil
}

func thresholdNeeds(sc *spec.Scenario, e *threshold.Expr, run []span) []Need {
	m := e.Metric
	n := Need{Kind: "threshold", Name: e.Src}
	filtered := func() []spec.Class {
		return classesWhere(sc, func(c spec.Class) bool { return !c.Kind.Slow() && (m.Filter.Class == "" || c.Name == m.Filter.Class) })
	}
	scopes := func(cs []spec.Class) []scope {
		switch e.Scope {
		case threshold.WholeRun:
			return []scope{{"in the run", run}}
		case threshold.PerPhase:
			var out []scope
			for _, p := range sc.Phases {
				if total(cs, p.Start, p.End) > 0 { // a phase without demand is not judged
					out = append(out, scope{"in phase " + p.Name, []span{{p.Start, p.End}}})
				}
			}
			return out
		}
		return nil // sliding windows: not declared
	}
	switch {
	case e.Factor != nil:
		return nil
	case m.WholeRunOnly && m.Kind == threshold.Count:
		cs := summaryClasses(sc, m.Name)
		min, forces, ok := countMin(e.Op, e.Value)
		if !ok || len(cs) == 0 {
			return nil
		}
		n.Forces = forces
		n.add(way{needs: "actions by " + names(cs), min: min, classes: cs, spans: run, accounts: 1, start: sc.Clock.Start})
	case m.Kind == threshold.Latency && m.Quantile > 0:
		min := 1
		if m.Quantile < 1 {
			// p99: 100 requests, so the top 1% is at least one request.
			min = int(math.Ceil(1/(1-m.Quantile) - 1e-9))
		}
		n.Forces = verdict.ForcesEither
		switch e.Op {
		case threshold.Less, threshold.LessEq:
			// Few samples make the estimate the maximum, an upper bound:
			// staying under an upper limit is still a judgement.
			n.Forces = verdict.ForcesFail
		case threshold.Greater, threshold.GreaterEq:
			n.Forces = verdict.ForcesPass
		}
		return perScope(n, filtered(), min, "answered requests", scopes, sc.Clock.Start)
	case m.Kind == threshold.Fraction && m.Name == "rate":
		l := e.Value
		min := 1
		if l > 0 && l < 1 {
			// One request must move the rate by no more than the limit.
			min = int(math.Ceil(1/math.Min(l, 1-l) - 1e-9))
		}
		n.Forces = verdict.ForcesEither
		return perScope(n, filtered(), min, "answered requests", scopes, sc.Clock.Start)
	}
	if len(n.ways) == 0 {
		return nil
	}
	return []Need{n}
}

// scope is where a threshold is judged: the run, or one phase.
type scope struct {
	what  string
	spans []span
}

// perScope is one need per scope (each phase must have enough).
func perScope(n Need, cs []spec.Class, min int, what string, scopes func([]spec.Class) []scope, start time.Time) []Need {
	if len(cs) == 0 {
		return nil
	}
	var out []Need
	for _, s := range scopes(cs) {
		m := n
		m.ways = []way{{needs: what + " of " + names(cs) + " " + s.what, min: min, classes: cs, spans: s.spans,
			accounts: 1, responses: true, start: start}}
		out = append(out, m)
	}
	return out
}

// countMin is the fewest actions with which a count threshold "count op v"
// can both hold and fail (the count lies in [0, actions]), and the result
// fewer actions force. ok is false when no count changes the result.
func countMin(op threshold.Op, v float64) (int, verdict.Forced, bool) {
	holds := func(c int) bool {
		x := float64(c)
		switch op {
		case threshold.Less:
			return x < v
		case threshold.LessEq:
			return x <= v
		case threshold.Greater:
			return x > v
		case threshold.GreaterEq:
			return x >= v
		case threshold.Equal:
			return x == v
		case threshold.NotEqual:
			return x != v
		}
		return false
	}
	if v < 0 || v > 1e6 {
		return 0, "", false
	}
	first := holds(0)
	for e := 1; e <= int(v)+2; e++ {
		if holds(e) != first {
			if first {
				return e, verdict.ForcesPass, true
			}
			return e, verdict.ForcesFail, true
		}
	}
	return 0, "", false
}

// total is the real-world demand of cs in [from, to).
func total(cs []spec.Class, from, to time.Time) float64 {
	n := 0.0
	for _, c := range cs {
		n += c.Demand.Total(from, to)
	}
	return n
}

// offHours lists the parts of [from, to) the detector counts as outside
// opening hours, asking the detector itself at every stretch between
// openings and closings.
func offHours(det *fraud.Detector, fc fraud.Config, from, to time.Time) []span {
	cuts := []time.Time{from, to}
	for d := from.In(fc.Location).AddDate(0, 0, -1); d.Before(to.AddDate(0, 0, 1)); d = d.AddDate(0, 0, 1) {
		y, m, day := d.Date()
		mid := time.Date(y, m, day, 0, 0, 0, 0, fc.Location)
		for _, off := range []time.Duration{fc.OpenFrom, fc.OpenUntil} {
			if t := mid.Add(off); t.After(from) && t.Before(to) {
				cuts = append(cuts, t)
			}
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].Before(cuts[j]) })
	var out []span
	for i := 1; i < len(cuts); i++ {
		a, b := cuts[i-1], cuts[i]
		if !b.After(a) || !det.OffHours(a.Add(b.Sub(a)/2)) {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].to.Equal(a) {
			out[k].to = b
			continue
		}
		out = append(out, span{a, b})
	}
	return out
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

func fmtDur(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	return s
}
