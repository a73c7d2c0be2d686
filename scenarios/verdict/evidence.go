package verdict

import (
	"fmt"
	"math"
	"strconv"
)

// Forced says which result too few events would force on a threshold or
// check, and so which result the run cannot trust when it is short.
type Forced string

const (
	// ForcesFail: with too few events it cannot pass ("fraud_escaped > 10"
	// with 3 attacker requests; fraud_contained before the detector can
	// trip): a failure is no judgement, a pass still is.
	ForcesFail Forced = "fail"
	// ForcesPass: with too few events it cannot fail ("fraud_escaped <=
	// 10" with 3 attacker requests): a pass is no judgement.
	ForcesPass Forced = "pass"
	// ForcesEither: with too few events either result is noise (a p99 of
	// 20 requests, a 1% rate of 30).
	ForcesEither Forced = "either"
)

// Evidence is one minimum number of events a threshold or check needs,
// what the scenario's demand promised at the run's timescale and demand
// scale, what the run counted, and the scales that would give enough.
// summary.json lists them under "evidence".
type Evidence struct {
	// Kind is "threshold" or "check"; Name the threshold's expression or
	// the check's name, as in summary.json's "thresholds" and "checks".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Needs says what is counted, in words: "issuances by class insider
	// outside opening hours 08:00-20:00 (Europe/Berlin) within 24h, per account".
	Needs string `json:"needs"`
	// Min is how many of them the item needs.
	Min int `json:"min"`
	// Expected is how many the demand curves send at this timescale and
	// demand scale (known before the run); Actual how many the run
	// counted in timeseries.csv (absent when it could not count).
	Expected float64  `json:"expected"`
	Actual   *float64 `json:"actual,omitempty"`
	// Enough is whether the run had Min (Actual when counted, else
	// Expected).
	Enough bool `json:"enough"`
	// Forces is the result too few events force (see Forced).
	Forces Forced `json:"forces"`
	// MaxTimescale is the largest timescale that gives Min at this demand
	// scale (0: none at or above 1, the real-world clock); MinDemandScale
	// the smallest demand scale that gives Min at this timescale (0: no
	// demand to scale).
	MaxTimescale   float64 `json:"max_timescale,omitempty"`
	MinDemandScale float64 `json:"min_demand_scale,omitempty"`
	// Verdict is "inconclusive" when this shortage made its threshold or
	// check inconclusive (set by Decide's caller).
	Verdict string `json:"verdict,omitempty"`
}

// Count is the count the decision rests on: Actual when counted.
func (e Evidence) Count() float64 {
	if e.Actual != nil {
		return *e.Actual
	}
	return e.Expected
}

// Reason says why the item cannot be judged and how to make it judgeable:
// "check fraud_contained needs 11 issuances by class insider outside
// opening hours ..., the run had 3; judge it at --timescale 245 or less,
// or --demand-scale 3.67 or more".
func (e Evidence) Reason() string {
	had := "the demand sends " + Num(e.Expected)
	if e.Actual != nil {
		had = "the run had " + Num(*e.Actual)
		if math.Abs(*e.Actual-e.Expected) >= 0.5 {
			had += fmt.Sprintf(" (the demand sends %s)", Num(e.Expected))
		}
	}
	return fmt.Sprintf("%s %s needs %d %s, %s; %s", e.Kind, e.Name, e.Min, e.Needs, had, e.Remedy())
}

// Remedy names the scales that would give enough events.
func (e Evidence) Remedy() string {
	var ts, ds string
	if e.MaxTimescale >= 1 {
		ts = fmt.Sprintf("--timescale %s or less", Num(e.MaxTimescale))
	}
	if e.MinDemandScale > 0 {
		ds = fmt.Sprintf("--demand-scale %s or more", Num(e.MinDemandScale))
	}
	switch {
	case ts != "" && ds != "":
		return "judge it at " + ts + ", or " + ds
	case ts != "":
		return "judge it at " + ts
	case ds != "":
		return "no timescale of 1 or more gives enough; judge it at " + ds
	}
	return "the scenario's demand has none of them: no timescale or demand scale can judge it"
}

// Decide is the result of one threshold or check: its own ok, unless one
// of its evidence records (those with its kind and name) is short and
// forces that very result, which makes it inconclusive; those records get
// Verdict "inconclusive". The returned reasons explain an inconclusive
// result.
func Decide(kind, name string, ok bool, evidence []Evidence) (string, []string) {
	var reasons []string
	for i := range evidence {
		e := &evidence[i]
		if e.Kind != kind || e.Name != name || e.Enough {
			continue
		}
		if e.Forces == ForcesEither || (e.Forces == ForcesFail && !ok) || (e.Forces == ForcesPass && ok) {
			e.Verdict = Inconclusive
			reasons = append(reasons, e.Reason())
		}
	}
	switch {
	case len(reasons) > 0:
		return Inconclusive, reasons
	case ok:
		return Pass, nil
	}
	return Fail, nil
}

// Num formats a count or a scale briefly: 3, 27.5, 245, 3.67.
func Num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
