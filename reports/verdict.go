package reports

import (
	"fmt"
	"math"
	"strconv"
)

// Check is one pass/fail line of a report: a threshold from summary.json or
// a built-in check on consistency, security or capacity.
type Check struct {
	Kind    string // "threshold" or "check"
	Name    string
	OK      bool
	Value   string
	Scope   string
	Message string // why it failed; empty when OK
}

// Checks lists every threshold and built-in check of the run, in a stable
// order: thresholds first, as summary.json lists them.
func (r *Run) Checks() []Check {
	s := r.Summary
	var out []Check
	for _, t := range s.Thresholds {
		c := Check{Kind: "threshold", Name: t.Expr, OK: t.OK, Value: t.Value, Scope: t.Scope}
		if !t.OK {
			c.Message = fmt.Sprintf("threshold %s not met: measured %s", t.Expr, orDash(t.Value))
		}
		out = append(out, c)
	}
	zero := func(name string, v int64, why string) {
		c := Check{Kind: "check", Name: name + " == 0", OK: v == 0, Value: strconv.FormatInt(v, 10), Scope: "run"}
		if v != 0 {
			c.Message = fmt.Sprintf("%d %s", v, why)
		}
		out = append(out, c)
	}
	zero("consistency.lost", s.Consistency.Lost, "acknowledged certificate(s) missing from the store afterwards")
	zero("consistency.duplicates", s.Consistency.Duplicates, "request(s) issued more than once")
	zero("security.fraud_escaped", s.Security.FraudEscaped, "certificate(s) issued on forged credentials and never revoked")
	if ratio, ok := r.Capacity.HeadroomRatio(); ok {
		c := Check{Kind: "check", Name: "capacity >= forecast peak", OK: ratio >= 1,
			Value: fmt.Sprintf("%.2fx", ratio), Scope: "capacity"}
		if !c.OK {
			c.Message = fmt.Sprintf("capacity %.0f rps is below the forecast peak of %.0f rps", r.Capacity.CapacityRPS, r.Capacity.ForecastPeakRPS)
		}
		out = append(out, c)
	}
	// The scenario engine may fail a run for reasons not listed above; the
	// report must not contradict it.
	c := Check{Kind: "check", Name: "scenario verdict", OK: s.Verdict == "pass", Value: orDash(s.Verdict), Scope: "run"}
	if !c.OK {
		c.Message = fmt.Sprintf("summary.json verdict is %q", s.Verdict)
	}
	out = append(out, c)
	return out
}

// Passed is true when every check passes.
func (r *Run) Passed() bool {
	for _, c := range r.Checks() {
		if !c.OK {
			return false
		}
	}
	return true
}

// Verdict is "PASS" or "FAIL".
func (r *Run) Verdict() string {
	if r.Passed() {
		return "PASS"
	}
	return "FAIL"
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
	out = append(out,
		Headline{Label: "Requests", Value: count(s.Requests.Total),
			Detail: fmt.Sprintf("%s issued, %s deferred, %s failed", count(s.Requests.OK), count(s.Requests.Deferred),
				count(s.Requests.Overload+s.Requests.Error+s.Requests.Timeout+s.Requests.Transport))},
		Headline{Label: "Goodput", Value: fmt.Sprintf("%.1f/s", s.Goodput.Mean),
			Detail: fmt.Sprintf("peak %.1f/s; offered mean %.1f/s, peak %.1f/s", s.Goodput.Peak, s.OfferedRate.Mean, s.OfferedRate.Peak)},
		Headline{Label: "Latency p99", Value: ms(s.LatencyMS.P99),
			Detail: fmt.Sprintf("p50 %s, p90 %s, max %s", ms(s.LatencyMS.P50), ms(s.LatencyMS.P90), ms(s.LatencyMS.Max))},
		Headline{Label: "Lost", Value: count(s.Consistency.Lost), Bad: s.Consistency.Lost != 0,
			Detail: fmt.Sprintf("of %s acknowledged, %s verified", count(s.Consistency.Acknowledged), count(s.Consistency.Verified))},
		Headline{Label: "Duplicates", Value: count(s.Consistency.Duplicates), Bad: s.Consistency.Duplicates != 0,
			Detail: fmt.Sprintf("%s tickets still pending", count(s.Consistency.TicketsPending))},
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
