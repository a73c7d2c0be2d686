package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// Check is one line of a report's verdict table: a threshold or named
// check from summary.json, a built-in check on consistency, security or
// capacity, or the scenario's own verdict.
type Check struct {
	Kind string // "threshold" or "check"
	Name string
	// OK: passed and judged. An inconclusive line is not OK.
	OK bool
	// Inconclusive: the run had too few events to judge it (Message
	// says what it needed and at which scales it can be judged).
	Inconclusive bool
	Value        string
	Scope        string
	Message      string // why it failed or could not be judged; empty when OK
	// whole marks the line of the scenario's own verdict, which sums up
	// the others rather than adding one.
	whole bool
}

// Result is the line's outcome: verdict.Pass, Fail or Inconclusive.
func (c Check) Result() string {
	switch {
	case c.Inconclusive:
		return verdict.Inconclusive
	case c.OK:
		return verdict.Pass
	}
	return verdict.Fail
}

// Checks lists every threshold and check of the run, in a stable order:
// thresholds first, as summary.json lists them, then the named checks,
// then the scenario's verdict. A run directory from before summary.json
// carried verdict_text gets the built-in zero checks on consistency and
// fraud instead of the named checks. A reproduction gets neither those nor
// the capacity check: it asserts the old failures, and only its own
// thresholds and checks say whether they showed.
func (r *Run) Checks() []Check {
	s := r.Summary
	var out []Check
	short := func(kind, name string) (bool, string) {
		var why []string
		for _, e := range s.Evidence {
			if e.Kind == kind && e.Name == name && e.Verdict == verdict.Inconclusive {
				why = append(why, e.Reason())
			}
		}
		return len(why) > 0, strings.Join(why, "; ")
	}
	for _, t := range s.Thresholds {
		c := Check{Kind: "threshold", Name: t.Expr, OK: t.OK, Value: t.Value, Scope: t.Scope}
		if inc, why := short("threshold", t.Expr); inc {
			c.OK, c.Inconclusive, c.Message = false, true, why
		} else if !t.OK {
			c.Message = fmt.Sprintf("threshold %s not met: measured %s", t.Expr, orDash(t.Value))
		}
		out = append(out, c)
	}
	judged := s.VerdictText != ""
	for _, n := range s.Checks {
		c := Check{Kind: "check", Name: n.Name, OK: n.OK, Value: orDash(n.Detail), Scope: "run"}
		if inc, why := short("check", n.Name); inc {
			c.OK, c.Inconclusive, c.Message = false, true, why
		} else if !n.OK {
			c.Message = fmt.Sprintf("check %s failed: %s", n.Name, orDash(n.Detail))
		}
		out = append(out, c)
	}
	if !judged && s.Reproduces == "" {
		zero := func(name string, v int64, why string) {
			c := Check{Kind: "check", Name: name + " == 0", OK: v == 0, Value: strconv.FormatInt(v, 10), Scope: "run"}
			if v != 0 {
				c.Message = fmt.Sprintf("%d %s", v, why)
			}
			out = append(out, c)
		}
		zero("consistency.lost", s.Consistency.Lost, "acknowledged certificate(s) missing from the store afterwards")
		zero("consistency.duplicates", s.Consistency.Duplicates, "request(s) issued more than once")
		if s.Kind != rundir.KindCapacity { // a capacity search sends no forged traffic
			zero("security.fraud_escaped", s.Security.FraudEscaped, "certificate(s) issued on forged credentials and never revoked")
		}
	}
	if ratio, ok := r.Capacity.HeadroomRatio(); ok && s.Reproduces == "" {
		c := Check{Kind: "check", Name: "capacity >= forecast peak", OK: ratio >= 1,
			Value: fmt.Sprintf("%.2fx", ratio), Scope: "capacity"}
		if !c.OK {
			c.Message = fmt.Sprintf("capacity %.0f rps is below the forecast peak of %.0f rps", r.Capacity.CapacityRPS, r.Capacity.ForecastPeakRPS)
		}
		out = append(out, c)
	}
	// The scenario engine may fail a run for reasons not listed above
	// (aborted, interrupted); the report must not contradict it. For a
	// reproduction the line is the reproduction itself.
	c := Check{Kind: "check", Name: "scenario verdict", OK: s.Verdict == verdict.Pass,
		Inconclusive: s.Verdict == verdict.Inconclusive, Value: orDash(s.Verdict), Scope: "run", whole: true}
	if s.Reproduces != "" {
		c.Name = "reproduces " + s.Reproduces
		c.Value = strings.TrimPrefix(verdict.Text(s.Verdict, s.Reproduces), c.Name+": ")
	}
	switch {
	case c.Inconclusive:
		c.Message = fmt.Sprintf("nothing judged failed; %d threshold(s) or check(s) had too few events to be judged", max(len(s.Inconclusive), 1))
	case !c.OK && len(s.Reasons) > 0:
		c.Message = strings.Join(s.Reasons, "; ")
	case !c.OK:
		c.Message = fmt.Sprintf("summary.json verdict is %q", s.Verdict)
	}
	out = append(out, c)
	return out
}

// Outcome is the run's verdict from its lines: fail when any line failed,
// else inconclusive when any could not be judged, else pass.
func (r *Run) Outcome() string {
	var rs []string
	for _, c := range r.Checks() {
		rs = append(rs, c.Result())
	}
	return verdict.Combine(rs...)
}

// Passed is true when every check passes.
func (r *Run) Passed() bool { return r.Outcome() == verdict.Pass }

// Verdict is "PASS", "FAIL" or "INCONCLUSIVE", or for a reproduction
// "reproduces 2021: yes", "no" or "inconclusive": never a bare PASS for a
// run whose passing means the old failure showed.
func (r *Run) Verdict() string { return verdict.Label(r.Outcome(), r.Summary.Reproduces) }

// Overall is the verdict of what the report covers: the comparison's
// (every profile's, combined: what golive run exits with) when comparing,
// else the run's own.
func (r *Run) Overall() string {
	if len(r.Profiles) == 0 {
		return r.Outcome()
	}
	var vs []string
	for _, p := range r.Profiles {
		vs = append(vs, p.Outcome())
	}
	return verdict.Combine(vs...)
}

// OverallLabel is Overall as a banner says it: a single run's Verdict, or
// the comparison's PASS, FAIL or INCONCLUSIVE.
func (r *Run) OverallLabel() string {
	if len(r.Profiles) == 0 {
		return r.Verdict()
	}
	return verdict.Label(r.Overall(), "")
}

// ProfileLine lists each compared profile's verdict: "naive-2021:
// reproduces 2021: yes · hardened: PASS" (empty for a single run).
func (r *Run) ProfileLine() string {
	var parts []string
	for _, p := range r.Profiles {
		parts = append(parts, p.Name+": "+p.Verdict())
	}
	return strings.Join(parts, " · ")
}

// Headline is one of the numbers shown first in every report.
type Headline struct {
	Label, Value, Detail string
	Bad                  bool // shown in the failure colour
}

// Headlines are the numbers a reader wants before any chart.
func (r *Run) Headlines() []Headline {
	s := r.Summary
	var out []Headline
	if ratio, ok := r.Capacity.HeadroomRatio(); ok {
		out = append(out, Headline{
			Label:  "Capacity headroom",
			Value:  fmt.Sprintf("%+.0f%%", (ratio-1)*100),
			Detail: fmt.Sprintf("%.0f rps capacity vs %.0f rps forecast peak", r.Capacity.CapacityRPS, r.Capacity.ForecastPeakRPS),
			Bad:    ratio < 1,
		})
	} else {
		out = append(out, Headline{Label: "Capacity headroom", Value: "not measured", Detail: "no capacity.json in the run"})
	}
	if c := r.Capacity; c != nil && c.Binding.Resource != "" {
		out = append(out, Headline{Label: "Capacity", Value: fmt.Sprintf("%.0f/s", c.CapacityRPS), Detail: "binding: " + c.Binding.String()})
	}
	out = append(out,
		Headline{Label: "Requests", Value: count(s.Requests.Total),
			Detail: fmt.Sprintf("%s issued, %s deferred, %s failed", count(s.Requests.OK), count(s.Requests.Deferred),
				count(s.Requests.Overload+s.Requests.Error+s.Requests.Timeout+s.Requests.Transport))},
		r.goodputHeadline(),
		r.timeToCertHeadline(),
		Headline{Label: map[bool]string{false: "Latency p99", true: "Latency p99 at capacity"}[s.Kind == rundir.KindCapacity], Value: ms(s.Latency.P99),
			Detail: fmt.Sprintf("p50 %s, p90 %s, max %s", ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.Max))},
		Headline{Label: "Lost", Value: count(s.Consistency.Lost), Bad: s.Consistency.Lost != 0,
			Detail: fmt.Sprintf("of %s acknowledged, %s verified", count(s.Consistency.Acknowledged), count(s.Consistency.Verified))},
		Headline{Label: "Duplicates", Value: count(s.Consistency.Duplicates), Bad: s.Consistency.Duplicates != 0,
			Detail: fmt.Sprintf("%s tickets still pending", count(s.Consistency.TicketsPending))},
	)
	if s.Kind == rundir.KindCapacity {
		// A capacity search sends no forged traffic and paces each step
		// itself: its steps say what was sent.
		return out
	}
	out = append(out,
		Headline{Label: "Fraud escaped", Value: count(s.Security.FraudEscaped), Bad: s.Security.FraudEscaped != 0,
			Detail: fmt.Sprintf("%s attempts, %s issued, %s revoked", count(s.Security.FraudAttempts), count(s.Security.FraudIssued), count(s.Security.FraudRevoked))},
		Headline{Label: "Late / dropped sends", Value: count(s.LateSends) + " / " + count(s.DroppedSends),
			Detail: fmt.Sprintf("retry amplification %.2fx", s.Requests.RetryAmplification),
			// Dropped sends mean the load generator fell behind, so the run
			// measured less than the scenario asked for.
			Bad: s.DroppedSends != 0},
	)
	return out
}

// goodputHeadline shows goodput against the offered load, both per wall
// second as summary.json holds them and the thresholds judge them.
func (r *Run) goodputHeadline() Headline {
	s := r.Summary
	h := Headline{Label: "Goodput", Value: rundir.FormatRate(s.Goodput.Mean),
		Detail: fmt.Sprintf("certificates delivered %s, against %s offered; peaks %s and %s",
			rundir.RateUnit, rundir.FormatRate(s.OfferedRate.Mean), rundir.FormatRate(s.Goodput.Peak), rundir.FormatRate(s.OfferedRate.Peak))}
	if s.OfferedRate.Count > 0 {
		h.Detail += fmt.Sprintf("; %s certificates for %s customer actions", count(s.Goodput.Count), count(s.OfferedRate.Count))
	}
	return h
}

// timeToCertHeadline says how long customers waited for their certificate
// and how many went home without one (docs/run-format.md).
func (r *Run) timeToCertHeadline() Headline {
	t := r.Summary.TimeToCert
	if t == nil || t.Actions == 0 {
		return Headline{Label: "Time to certificate", Value: "not measured", Detail: "no customer issuance in the run"}
	}
	return Headline{Label: "Time to certificate", Value: "p99 " + TimeToCertText(t.P99),
		Detail: fmt.Sprintf("p50 %s, p90 %s; %s of %s customers left without one (%.1f%%)",
			TimeToCertText(t.P50), TimeToCertText(t.P90), count(t.WithoutCert), count(t.Actions), 100*t.LeftShare),
		Bad: t.P99 == nil}
}

// TimeToCertText prints a time-to-certificate percentile given in ms (nil:
// beyond the run, where more customers left without one than it leaves out).
func TimeToCertText(v *float64) string {
	if v == nil {
		return "beyond the run"
	}
	d := time.Duration(*v * float64(time.Millisecond))
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return ms(*v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// count formats an integer with thin thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// ms formats a latency in milliseconds readably.
func ms(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v):
		return "-"
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// MillisText is a percentile in ms as a report says it, "none" when there
// was nothing to measure (no journey got that far).
func MillisText(v *float64) string {
	if v == nil {
		return "none"
	}
	return TimeToCertText(v)
}
