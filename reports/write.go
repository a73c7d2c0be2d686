package reports

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// Output file names.
const (
	HTMLFile     = "report.html"
	MarkdownFile = "summary.md"
	JUnitFile    = "junit.xml"
	ChartsDir    = "charts"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// Write renders run into outDir: report.html (self-contained), summary.md,
// junit.xml and every chart as charts/NAME.png and charts/NAME.svg.
// Charts whose input is missing are left out with a note in the report.
func Write(ctx context.Context, run *Run, outDir string) error {
	_, err := WriteCharts(ctx, run, outDir)
	return err
}

// WriteCharts is Write returning the charts, drawn and omitted, so a
// caller can say what the report lacks.
func WriteCharts(ctx context.Context, run *Run, outDir string) ([]Chart, error) {
	if run == nil || run.Summary == nil {
		return nil, fmt.Errorf("write report: no run loaded")
	}
	if err := os.MkdirAll(filepath.Join(outDir, ChartsDir), 0o755); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	charts, err := buildCharts(run, ctx.Err)
	if err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	for _, c := range charts {
		if c.Omitted != "" {
			continue
		}
		if err := rundir.WriteFileAtomic(filepath.Join(outDir, ChartsDir, c.File+".png"), c.PNG); err != nil {
			return nil, err
		}
		if err := rundir.WriteFileAtomic(filepath.Join(outDir, ChartsDir, c.File+".svg"), c.SVG); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	var buf bytes.Buffer
	pg := newPage(run, charts)
	pg.Browsers = browserViews(run, outDir)
	pg.Traffic = trafficRows(run)
	pg.Bookings = bookingRows(run)
	pg.Vendors = vendorViews(run)
	if err := htmlTemplate.Execute(&buf, pg); err != nil {
		return nil, fmt.Errorf("render %s: %w", HTMLFile, err)
	}
	if err := rundir.WriteFileAtomic(filepath.Join(outDir, HTMLFile), buf.Bytes()); err != nil {
		return nil, err
	}
	if err := rundir.WriteFileAtomic(filepath.Join(outDir, MarkdownFile), []byte(Markdown(run))); err != nil {
		return nil, err
	}
	junit, err := JUnit(run)
	if err != nil {
		return nil, err
	}
	if err := rundir.WriteFileAtomic(filepath.Join(outDir, JUnitFile), junit); err != nil {
		return nil, err
	}
	return charts, nil
}

type kv struct {
	K, V string
	Bad  bool
}

type chartView struct {
	Chart
	// Src is the whole src attribute: as a URL value html/template would
	// entity-escape every '+' of the base64 and bloat the page.
	Src           template.HTMLAttr
	Width, Height int
}

type phaseRow struct {
	Name, Span                                                      string
	Offered, Sent, OK, Deferred, Rejected, Failed, Dropped, Goodput string
	P99, WorstP99, Max                                              string
	// TTC is the customers' time to certificate p99 and the share left
	// without one ("" when the phase had no customer).
	TTC       string
	FailedBad bool
}

type classRow struct {
	Name                                                                   string
	Responses, OK, Deferred, Rejected, Overload, Error, Timeout, Transport string
	Retries, P50, P90, P99, P999, Max                                      string
}

type cellRow struct {
	Phase, Name                                       string
	Offered, OK, Deferred, Rejected, Failed, P99, Max string
}

type faultRow struct {
	Kind, Target, Start, End, Duration, Params, Error string
}

type profileRow struct {
	Name, Verdict                                                        string
	Pass, Primary, Inconclusive                                          bool
	Requests, GoodMean, GoodPeak, Offered, P99, Failed, Lost, Dup, Fraud string
}

type page struct {
	Title, Verdict, VerdictLine, Dir, Generated string
	// Result is pass, fail or inconclusive: the banner's colour.
	Result string
	// ProfileLine lists each compared profile's verdict (empty: one run);
	// Primary names the profile the tables below describe.
	ProfileLine, Primary           string
	RateUnit                       string
	Pass                           bool
	Meta                           []kv
	Headlines                      []Headline
	Checks                         []Check
	Consistency, Security          []kv
	Cost                           *costView
	Profiles                       []profileRow
	Charts                         []chartView
	Phases                         []phaseRow
	Classes                        []classRow
	Traffic                        []trafficRow
	Cells                          []cellRow
	Faults                         []faultRow
	PhasesNote, ClassLatencySource string
	Notes                          []string
	Capacity                       *capacityView
	// Browsers are the browser journeys of each run (none without).
	Browsers []browserView
	// Bookings are the booking classes of each run (none without).
	Bookings []bookingRow
	// Vendors are the vendor classes' per-vendor tables (none without).
	Vendors []vendorView
}

// VerdictLine explains the verdict in one sentence.
func (r *Run) VerdictLine() string {
	var failed, unjudged []string
	checks := r.Checks()
	for _, c := range checks {
		switch c.Result() {
		case verdict.Fail:
			failed = append(failed, c.Name)
		case verdict.Inconclusive:
			if !c.whole {
				unjudged = append(unjudged, c.Name)
			}
		}
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d thresholds and checks failed: %s", len(failed), len(checks), strings.Join(failed, "; ")))
	}
	if len(unjudged) > 0 {
		parts = append(parts, fmt.Sprintf("%d had too few events to be judged: %s", len(unjudged), strings.Join(unjudged, "; ")))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("all %d thresholds and checks passed", len(checks)))
	}
	line := strings.Join(parts, "; ")
	if rep := r.Summary.Reproduces; rep != "" {
		// A reproduction's thresholds assert the old failure.
		line = fmt.Sprintf("%s (the thresholds assert that the %s failure shows)", line, rep)
	}
	return line
}

func title(r *Run) string {
	s := r.Summary
	t := "golive report"
	if s.Scenario != "" {
		t += ": " + s.Scenario
	}
	switch {
	case len(r.Profiles) > 0:
		// The title goes with the comparison's verdict, not one profile's.
		var names []string
		for _, p := range r.Profiles {
			names = append(names, p.Name)
		}
		t += " (" + strings.Join(names, " vs ") + ")"
	case r.Name != "":
		t += " (" + r.Name + ")"
	}
	return t
}

func newPage(r *Run, charts []Chart) page {
	s := r.Summary
	pg := page{
		Title:       title(r),
		Verdict:     r.OverallLabel(),
		Result:      r.Overall(),
		ProfileLine: r.ProfileLine(),
		Pass:        r.Overall() == verdict.Pass,
		RateUnit:    rundir.RateUnit,
		VerdictLine: r.VerdictLine(),
		Dir:         r.Dir,
		Generated:   time.Now().UTC().Format(time.RFC3339),
		Headlines:   r.Headlines(),
		Checks:      r.Checks(),
		Notes:       r.Notes,
		Capacity:    viewCapacity(r.Capacity),
		Cost:        viewCost(s.Cost),
	}
	if len(r.Profiles) > 0 {
		pg.Primary = r.Name
	}
	add := func(k, v string) {
		if v != "" {
			pg.Meta = append(pg.Meta, kv{K: k, V: v})
		}
	}
	add("scenario", s.Scenario)
	add("profile", s.Profile)
	add("target", s.Target)
	add("seed", fmt.Sprint(s.Seed))
	if s.Timescale > 0 {
		add("timescale", fmt.Sprintf("%gx", s.Timescale))
	}
	if !s.Sim.Start.IsZero() {
		add("simulated", s.Sim.Start.Format("2006-01-02 15:04")+" to "+s.Sim.End.Format("15:04 -07:00"))
	}
	if s.WallSeconds > 0 {
		add("wall time", (time.Duration(s.WallSeconds * float64(time.Second))).Round(time.Second).String())
	}
	if !s.Started.IsZero() {
		add("started", s.Started.UTC().Format(time.RFC3339))
	}

	c := s.Consistency
	pg.Consistency = []kv{
		{K: "acknowledged", V: count(c.Acknowledged)},
		{K: "verified in store", V: count(c.Verified)},
		{K: "lost", V: count(c.Lost), Bad: c.Lost != 0},
		{K: "duplicates", V: count(c.Duplicates), Bad: c.Duplicates != 0},
		{K: "tickets pending", V: count(c.TicketsPending)},
	}
	sec := s.Security
	pg.Security = []kv{
		{K: "fraud attempts", V: count(sec.FraudAttempts)},
		{K: "fraudulent certificates issued", V: count(sec.FraudIssued), Bad: sec.FraudIssued > sec.FraudRevoked},
		{K: "revoked", V: count(sec.FraudRevoked)},
		{K: "escaped (issued, not revoked)", V: count(sec.FraudEscaped), Bad: sec.FraudEscaped != 0},
		{K: "accounts suspended", V: count(sec.AccountsSuspended)},
	}

	for _, p := range r.Profiles {
		ps := p.Summary
		pg.Profiles = append(pg.Profiles, profileRow{
			Name: p.Name, Verdict: p.Verdict(), Pass: p.Passed(), Primary: p == r, Inconclusive: p.Outcome() == verdict.Inconclusive,
			Requests: count(ps.Requests.Total),
			GoodMean: rundir.FormatRate(ps.Goodput.Mean), GoodPeak: rundir.FormatRate(ps.Goodput.Peak),
			Offered: rundir.FormatRate(ps.OfferedRate.Mean),
			P99:     ms(ps.Latency.P99),
			Failed:  count(ps.Requests.Overload + ps.Requests.Error + ps.Requests.Timeout + ps.Requests.Transport),
			Lost:    count(ps.Consistency.Lost), Dup: count(ps.Consistency.Duplicates), Fraud: count(ps.Security.FraudEscaped),
		})
	}

	for _, ch := range charts {
		v := chartView{Chart: ch}
		if ch.Omitted == "" {
			v.Src = template.HTMLAttr(`src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(ch.PNG) + `"`)
			if cfg, err := png.DecodeConfig(bytes.NewReader(ch.PNG)); err == nil {
				v.Width, v.Height = cfg.Width, cfg.Height
			}
		}
		pg.Charts = append(pg.Charts, v)
	}

	pg.PhasesNote = "timeseries.csv is missing"
	if ts := r.Series; ts != nil && ts.Rows > 0 {
		phaseP99 := map[string]float64{}
		phaseTTC := map[string]*rundir.TimeToCert{}
		for _, ph := range s.Phases {
			phaseP99[ph.Name] = ph.Latency.P99
			phaseTTC[ph.Name] = ph.TimeToCert
		}
		for _, ph := range ts.PhaseList {
			t := ts.ByPhase[ph.Name]
			if t == nil {
				continue
			}
			row := phaseRow{
				Name: ph.Name, Span: phaseSpan(ph, t),
				Offered: count(t.Offered), Sent: count(t.Sent), OK: count(t.OK), Deferred: count(t.Deferred),
				Rejected: count(t.Rejected), Failed: count(t.Failures()), Dropped: count(t.Dropped),
				FailedBad: t.Failures() > 0,
				WorstP99:  ms(t.WorstP99()), Max: ms(t.Latency().Max),
			}
			if secs := t.Seconds(); secs > 0 {
				row.Goodput = rundir.FormatRate(float64(t.Customer.Delivered) / rundir.WallSeconds(float64(secs), r.Timescale()))
			}
			if tc := phaseTTC[ph.Name]; tc != nil && tc.Actions > 0 {
				row.TTC = fmt.Sprintf("%s (%.0f%% left)", TimeToCertText(tc.P99), 100*tc.LeftShare)
			}
			if v, ok := phaseP99[ph.Name]; ok && v > 0 {
				row.P99 = ms(v)
			} else {
				row.P99 = "≈ " + ms(t.Latency().P99)
			}
			pg.Phases = append(pg.Phases, row)
			for _, cls := range ts.Classes {
				ct := ts.Cell[ph.Name][cls]
				if ct == nil {
					continue
				}
				pg.Cells = append(pg.Cells, cellRow{
					Phase: ph.Name, Name: cls, Offered: count(ct.Offered), OK: count(ct.OK), Deferred: count(ct.Deferred),
					Rejected: count(ct.Rejected), Failed: count(ct.Failures()), P99: ms(ct.Latency().P99), Max: ms(ct.Latency().Max),
				})
			}
		}
		pg.ClassLatencySource = "response-weighted means of per-second percentiles from timeseries.csv (histogram.hdr missing)"
		if r.Hist != nil {
			pg.ClassLatencySource = "exact, from histogram.hdr"
		} else if len(s.Classes) > 0 {
			pg.ClassLatencySource = "from summary.json where it lists them, else response-weighted means from timeseries.csv"
		}
		for _, cls := range ts.Classes {
			t := ts.ByClass[cls]
			row := classRow{
				Name: cls, Responses: count(t.Responses()), OK: count(t.OK), Deferred: count(t.Deferred),
				Rejected: count(t.Rejected), Overload: count(t.Overload), Error: count(t.Error), Timeout: count(t.Timeout),
				Transport: count(t.Transport), Retries: count(t.Retries),
			}
			lat, p999 := classLatency(r, cls, t)
			row.P50, row.P90, row.P99, row.P999, row.Max = ms(lat.P50), ms(lat.P90), ms(lat.P99), ms(p999), ms(lat.Max)
			pg.Classes = append(pg.Classes, row)
		}
	}

	if r.Events != nil {
		end := runEnd(r)
		for _, f := range r.Events.Faults {
			e := f.End
			endText := clock(e)
			if e.IsZero() {
				e = end
				endText = "never undone"
			}
			params := ""
			if len(f.Params) > 0 {
				b, _ := json.Marshal(f.Params)
				params = string(b)
			}
			pg.Faults = append(pg.Faults, faultRow{
				Kind: f.Kind, Target: f.Target, Start: clock(f.Start), End: endText,
				Duration: e.Sub(f.Start).Round(time.Second).String(), Params: params, Error: f.Error,
			})
		}
	}
	sort.SliceStable(pg.Faults, func(i, j int) bool { return pg.Faults[i].Start < pg.Faults[j].Start })
	return pg
}

// classLatency picks the best latency source for a class: the histogram,
// then summary.json, then the timeseries approximation.
func classLatency(r *Run, cls string, t *Tally) (rundir.LatencyMS, float64) {
	if r.Hist != nil && r.Hist.ByClass[cls] != nil {
		h := r.Hist
		return rundir.LatencyMS{P50: h.PercentileMS(cls, 50), P90: h.PercentileMS(cls, 90), P99: h.PercentileMS(cls, 99), Max: h.MaxMS(cls)},
			h.PercentileMS(cls, 99.9)
	}
	if cs, ok := r.Summary.Classes[cls]; ok && cs.Latency.P99 > 0 {
		l := cs.Latency
		if l.Max == 0 {
			l.Max = t.Latency().Max
		}
		return l, 0
	}
	return t.Latency(), 0
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05")
}

func phaseSpan(ph rundir.Phase, t *Tally) string {
	if !ph.Start.IsZero() {
		end := "end"
		if !ph.End.IsZero() {
			end = ph.End.Format("15:04")
		}
		return ph.Start.Format("15:04") + "–" + end
	}
	if t.Seconds() > 0 {
		return fmt.Sprintf("%d s", t.Seconds())
	}
	return "-"
}
