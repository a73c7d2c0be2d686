package reports

import (
	"fmt"
	"strings"
)

// Markdown is summary.md: the verdict, headline numbers and the threshold
// table, short enough for a CI comment, linking to report.html.
func Markdown(r *Run) string {
	var b strings.Builder
	icon := "✅"
	if !r.Passed() {
		icon = "❌"
	}
	fmt.Fprintf(&b, "## %s %s: %s\n\n", icon, r.Verdict(), mdEscape(title(r)))
	fmt.Fprintf(&b, "%s.\n\n", mdEscape(r.VerdictLine()))

	b.WriteString("| | |\n| --- | --- |\n")
	for _, h := range r.Headlines() {
		v := h.Value
		if h.Bad {
			v = "**" + v + "**"
		}
		fmt.Fprintf(&b, "| %s | %s (%s) |\n", mdEscape(h.Label), mdEscape(v), mdEscape(h.Detail))
	}

	b.WriteString("\n### Thresholds and checks\n\n| result | threshold or check | measured | scope |\n| --- | --- | --- | --- |\n")
	for _, c := range r.Checks() {
		res := "✅ pass"
		if !c.OK {
			res = "❌ **fail**"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", res, strings.ReplaceAll(c.Name, "`", "'"), mdEscape(orDash(c.Value)), mdEscape(orDash(c.Scope)))
	}

	if len(r.Profiles) > 0 {
		b.WriteString("\n### Profiles\n\n| profile | verdict | requests | goodput mean | p99 | lost | duplicates | fraud escaped |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, p := range r.Profiles {
			s := p.Summary
			fmt.Fprintf(&b, "| %s | %s | %s | %.1f/s | %s | %s | %s | %s |\n", mdEscape(p.Name), p.Verdict(), count(s.Requests.Total),
				s.Goodput.Mean, ms(s.LatencyMS.P99), count(s.Consistency.Lost), count(s.Consistency.Duplicates), count(s.Security.FraudEscaped))
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

// mdEscape keeps table cells intact.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
