package reports

import (
	"fmt"
	"strings"

	"github.com/golive-dev/golive/reports/rundir"
)

// capacityRow is one step of the capacity table (summary.md, report.html).
type capacityRow struct {
	Rate, Duration, Requests, OK, Deferred, Rejected, Overload, Error, Timeout, Goodput, P50, P99, CPU, Result string
	Pass                                                                                                       bool
	Why                                                                                                        string
}

// capacityView is the capacity search's section of a report.
type capacityView struct {
	Lines []string // capacity, held out, analytic bounds, binding, advice
	Rows  []capacityRow
}

// view renders the search for a report; nil when there is nothing beyond
// the headroom to show.
func viewCapacity(c *rundir.Capacity) *capacityView {
	if c == nil || len(c.Steps) == 0 {
		return nil
	}
	v := &capacityView{}
	line := fmt.Sprintf("Capacity %.1f/s at p99 <= %.0f ms", c.CapacityRPS, c.SLO.P99MS)
	if c.Signers > 0 {
		line += fmt.Sprintf("; system: %s, signers %d x %d HSM slots of %.0f ms", orDash(c.SystemFrom), c.Signers, c.HSMSlots, c.HSMLatencyMS)
	}
	v.Lines = append(v.Lines, line)
	if len(c.ControlsHeldOut) > 0 {
		v.Lines = append(v.Lines, "Held out of the measurement: "+strings.Join(c.ControlsHeldOut, "; "))
	}
	if len(c.Bounds) > 0 {
		parts := make([]string, 0, len(c.Bounds))
		for _, b := range c.Bounds {
			parts = append(parts, fmt.Sprintf("%s %.0f/s (%s)", b.Resource, b.RPS, b.Basis))
		}
		v.Lines = append(v.Lines, "Analytic bounds: "+strings.Join(parts, " · "))
	}
	if c.Binding.Resource != "" {
		v.Lines = append(v.Lines, "Binding: "+c.Binding.String()+". "+c.Binding.Why)
	}
	if c.Advice != "" {
		a := "Advice: " + c.Advice
		if c.Apply != "" {
			a += "; apply with " + c.Apply
		}
		v.Lines = append(v.Lines, a)
	}
	f := func(format string, x float64) string { return fmt.Sprintf(format, x) }
	for _, s := range c.Steps {
		row := capacityRow{Rate: f("%.1f/s", s.Rate), Duration: f("%.1f s", s.DurationS), Requests: count(s.Requests),
			OK: count(s.Outcomes.OK), Deferred: count(s.Outcomes.Deferred), Rejected: count(s.Outcomes.Rejected),
			Overload: count(s.Outcomes.Overload), Error: count(s.Outcomes.Error), Timeout: count(s.Outcomes.Timeout + s.Outcomes.Transport),
			Goodput: f("%.1f/s", s.Goodput), P50: ms(s.P50MS), P99: ms(s.P99MS), CPU: "-", Pass: s.OK, Result: "pass"}
		if s.CPUMSPerRequest > 0 {
			row.CPU = f("%.2f ms", s.CPUMSPerRequest)
		}
		if !s.OK {
			row.Result = "FAIL"
			if s.Cause != "" {
				row.Result += " (" + s.Cause + ")"
			}
			row.Why = strings.Join(s.Reasons, "; ")
		}
		if len(s.Notes) > 0 {
			row.Why = strings.TrimPrefix(row.Why+"; "+strings.Join(s.Notes, "; "), "; ")
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}
