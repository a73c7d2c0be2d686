package reports

import (
	"fmt"
	"strings"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// Markdown is summary.md: the verdict, headline numbers and the threshold
// table, short enough for a CI comment, linking to report.html.
func Markdown(r *Run) string {
	var b strings.Builder
	// The heading is what golive run exits with: a comparison's combined
	// verdict, not the primary profile's alone.
	label, sep := r.OverallLabel(), ": "
	if strings.Contains(label, ":") { // "reproduces 2021: yes"
		sep = " — "
	}
	fmt.Fprintf(&b, "## %s %s%s%s\n\n", icon(r.Overall()), label, sep, mdEscape(title(r)))
	if line := r.ProfileLine(); line != "" {
		fmt.Fprintf(&b, "%s\n\n", mdEscape(line))
		fmt.Fprintf(&b, "%s: %s.\n\n", mdEscape(r.Name), mdEscape(r.VerdictLine()))
	} else {
		fmt.Fprintf(&b, "%s.\n\n", mdEscape(r.VerdictLine()))
	}

	b.WriteString("| | |\n| --- | --- |\n")
	for _, h := range r.Headlines() {
		v := h.Value
		if h.Bad {
			v = "**" + v + "**"
		}
		fmt.Fprintf(&b, "| %s | %s (%s) |\n", mdEscape(h.Label), mdEscape(v), mdEscape(h.Detail))
	}

	if v := viewCapacity(r.Capacity); v != nil {
		b.WriteString("\n### Capacity search\n\n")
		for _, l := range v.Lines {
			fmt.Fprintf(&b, "- %s\n", mdEscape(l))
		}
		b.WriteString("\n| rate | duration | requests | ok | deferred | rejected | overload | error | timeout | goodput | p50 | p99 | CPU/request | result | why |\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, w := range v.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w.Rate, w.Duration, w.Requests,
				w.OK, w.Deferred, w.Rejected, w.Overload, w.Error, w.Timeout, w.Goodput, w.P50, w.P99, w.CPU, w.Result, mdEscape(orDash(w.Why)))
		}
	}

	if v := viewCost(r.Summary.Cost); v != nil {
		fmt.Fprintf(&b, "\n### CPU per request\n\nFrom %s.\n\n| component | CPU | per request | per delivered certificate |\n| --- | --- | --- | --- |\n", mdEscape(v.Source))
		for _, w := range v.Rows {
			name := mdEscape(w.Component)
			if w.Sum {
				name = "**" + name + "**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, w.CPU, w.PerRequest, w.PerCert)
		}
		for _, n := range v.Notes {
			fmt.Fprintf(&b, "\n> %s\n", mdEscape(n))
		}
	}

	heading := "Thresholds and checks"
	if len(r.Profiles) > 0 {
		heading += " (" + r.Name + ")"
	}
	fmt.Fprintf(&b, "\n### %s\n\n| result | threshold or check | measured (rates %s) | scope |\n| --- | --- | --- | --- |\n", mdEscape(heading), rundir.RateUnit)
	var unjudged []string
	for _, c := range r.Checks() {
		res := "✅ pass"
		switch c.Result() {
		case verdict.Fail:
			res = "❌ **fail**"
		case verdict.Inconclusive:
			res = "⚠️ inconclusive"
			if !c.whole {
				unjudged = append(unjudged, c.Message)
			}
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", res, strings.ReplaceAll(c.Name, "`", "'"), mdEscape(orDash(c.Value)), mdEscape(orDash(c.Scope)))
	}
	if len(unjudged) > 0 {
		b.WriteString("\nNot judged, too few events:\n\n")
		for _, u := range unjudged {
			fmt.Fprintf(&b, "- %s\n", mdEscape(u))
		}
	}

	if len(r.Profiles) > 0 {
		b.WriteString("\n### Profiles\n\n| profile | verdict | requests | goodput mean (" + rundir.RateUnit + ") | offered mean | p99 | lost | duplicates | fraud escaped |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, p := range r.Profiles {
			s := p.Summary
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(p.Name), mdEscape(p.Verdict()), count(s.Requests.Total),
				rundir.FormatRate(s.Goodput.Mean), rundir.FormatRate(s.OfferedRate.Mean), ms(s.Latency.P99),
				count(s.Consistency.Lost), count(s.Consistency.Duplicates), count(s.Security.FraudEscaped))
		}
	}
	if rows := trafficRows(r); len(rows) > 0 {
		b.WriteString("\n### Requests, bytes and caches per class\n\n| profile | class | kind | requests | bytes | 304 | cache hit rate | dead listings | signature failures |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, w := range rows {
			dead := w.Dead
			if w.DeadBad {
				dead = "**" + dead + "**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(w.Profile), mdEscape(w.Class), mdEscape(w.Kind),
				w.Requests, w.Bytes, w.NotModified, w.CacheHit, dead, w.SigFail)
		}
	}
	if rows := bookingRows(r); len(rows) > 0 {
		b.WriteString("\n### Booked customers\n\n| profile | class | visits | certificate | ticket | came in vain | warned | gave up | backlog max |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, w := range rows {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d |\n", mdEscape(w.Profile), mdEscape(w.Class), w.Visits, w.Issued,
				w.Tickets, w.CameInVain, w.Warned, w.GaveUp, w.BacklogMax)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "> %s\n", mdEscape(n))
		}
	}
	fmt.Fprintf(&b, "\nCharts and per-phase details: [%s](%s) · [%s](%s)\n", HTMLFile, HTMLFile, JUnitFile, JUnitFile)
	return b.String()
}

// icon marks a verdict in headings.
func icon(v string) string {
	switch v {
	case verdict.Pass:
		return "✅"
	case verdict.Inconclusive:
		return "⚠️"
	}
	return "❌"
}

// mdEscape keeps table cells intact.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
