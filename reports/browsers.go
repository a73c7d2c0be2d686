package reports

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/golive-dev/golive/reports/rundir"
)

// The report's browser section: summary.json's browsers (golive run
// --browsers) per run of the report, with a few screenshots shown next to
// the charts and the rest linked. Screenshots stay files of the run
// directory (DIR/browsers/), linked relative to the report.

// shownStates are the screenshot states the report shows inline, in this
// order, one each: what a cut-off looks like first (the banner and its
// ticket, the form that hangs, the busy page), then a certificate.
var shownStates = []string{"ticket", "hang", "busy", "timeout", "failed", "error", "certificate"}

type browserView struct {
	// Name is the profile in a comparison ("" for one run).
	Name      string
	Instances int
	Timeout   string
	Error     string
	Rows      []browserRow
	Shown     []shotView
	More      []shotView
}

type browserRow struct {
	Phase                                                string
	Journeys, PDF, Ticket, Busy, Failed, Timeout, Banner string
	SessionsLost, FormsLost                              string
	PDFP50, PDFP99, AnswerP50, AnswerP99, AnswerMax      string
	FormsLostBad, TimeoutBad                             bool
}

type shotView struct {
	Src, Caption string
}

func browserRowOf(name string, c rundir.BrowserCounts) browserRow {
	return browserRow{Phase: name, Journeys: count(c.Journeys), PDF: count(c.PDF), Ticket: count(c.Ticket),
		Busy: count(c.Busy), Failed: count(c.Failed), Timeout: count(c.Timeout), Banner: count(c.Banner),
		SessionsLost: count(c.SessionsLost), FormsLost: count(c.FormsLost),
		PDFP50: MillisText(c.TimeToPDF.P50), PDFP99: MillisText(c.TimeToPDF.P99),
		AnswerP50: MillisText(c.TimeToAnswer.P50), AnswerP99: MillisText(c.TimeToAnswer.P99), AnswerMax: MillisText(c.TimeToAnswer.Max),
		FormsLostBad: c.FormsLost > 0, TimeoutBad: c.Timeout > 0}
}

// browserViews is one view per run of the report that had browsers.
func browserViews(run *Run, outDir string) []browserView {
	runs := run.Profiles
	if len(runs) == 0 {
		runs = []*Run{run}
	}
	var out []browserView
	for _, r := range runs {
		b := r.Summary.Browsers
		if b == nil {
			continue
		}
		v := browserView{Instances: b.Instances, Timeout: ms(b.AnswerTimeoutMS), Error: b.Error}
		if len(run.Profiles) > 0 {
			v.Name = r.Name
		}
		v.Rows = append(v.Rows, browserRowOf("whole run", b.BrowserCounts))
		for _, p := range b.Phases {
			v.Rows = append(v.Rows, browserRowOf(p.Name, p.BrowserCounts))
		}
		rel, err := filepath.Rel(outDir, r.Dir)
		if err != nil {
			rel = r.Dir
		}
		// Each state is shown from the phase where it was most common (a
		// ticket from the cut-off, not the one a busy morning made),
		// earlier phases first among equals.
		order, counts := map[string]int{}, map[string]rundir.BrowserCounts{}
		for i, p := range b.Phases {
			order[p.Name], counts[p.Name] = i, p.BrowserCounts
		}
		shots := slices.Clone(b.Screenshots)
		slices.SortStableFunc(shots, func(x, y rundir.BrowserShot) int {
			if sx, sy := stateCount(counts[x.Phase], x.State), stateCount(counts[y.Phase], y.State); sx != sy {
				return int(sy - sx)
			}
			return order[x.Phase] - order[y.Phase]
		})
		shown := map[int]bool{}
		for _, st := range shownStates {
			for i, s := range shots {
				if s.State == st && !shown[i] {
					shown[i] = true
					v.Shown = append(v.Shown, shotOf(rel, s))
					break
				}
			}
		}
		for i, s := range shots {
			if !shown[i] {
				v.More = append(v.More, shotOf(rel, s))
			}
		}
		out = append(out, v)
	}
	return out
}

// stateCount is how many journeys of a phase a screenshot state stands
// for (hang: the slow answers, busy, timed out or taken for later).
func stateCount(c rundir.BrowserCounts, state string) int64 {
	switch state {
	case "ticket":
		return c.Ticket
	case "busy":
		return c.Busy
	case "timeout":
		return c.Timeout
	case "hang":
		return c.Busy + c.Timeout + c.Ticket
	case "certificate":
		return c.PDF
	}
	return c.Failed
}

func shotOf(rel string, s rundir.BrowserShot) shotView {
	what := s.State
	switch s.State {
	case "hang":
		what = "the form with no answer yet"
	case "ticket":
		what = "the ticket page"
	case "busy":
		what = "the busy page"
	case "certificate":
		what = "the certificate"
	}
	banner := ""
	if s.Banner {
		banner = ", with the cut-off banner"
	}
	phase := s.Phase
	if phase == "" {
		phase = "outside the phases"
	}
	return shotView{Src: filepath.ToSlash(filepath.Join(rel, filepath.FromSlash(s.File))),
		Caption: fmt.Sprintf("%s: %s%s, %s after pressing issue", phase, what, banner, ms(s.AfterMS))}
}
