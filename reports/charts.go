package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/golive-dev/golive/reports/rundir"
)

// Chart is one rendered chart of the report, or the reason it is missing.
type Chart struct {
	ID      string // HTML element id, e.g. "chart-offered"
	File    string // base name under charts/, e.g. "offered"
	Title   string
	Caption string
	Alt     string
	PNG     []byte
	SVG     []byte
	Omitted string // why the chart is absent; empty when drawn
}

// The chart ids, in report order.
const (
	ChartOffered  = "chart-offered"
	ChartLatency  = "chart-latency"
	ChartStatus   = "chart-status"
	ChartHDR      = "chart-hdr"
	ChartBacklog  = "chart-backlog"
	ChartCapacity = "chart-capacity"
	ChartCompare  = "chart-compare"
)

// ChartIDs lists every chart id in report order.
var ChartIDs = []string{ChartOffered, ChartLatency, ChartStatus, ChartHDR, ChartBacklog, ChartCapacity, ChartCompare}

// plotPoints caps the points per line: enough for a 1000-pixel-wide chart,
// few enough that SVGs stay small.
const plotPoints = 720

const (
	chartW = 10 * vg.Inch
	chartH = 4 * vg.Inch
	// Two stacked panels.
	chartH2 = 6 * vg.Inch
)

type chartSpec struct {
	id, file, title, caption, alt string
	build                         func(r *Run) (*figure, string)
}

var chartSpecs = []chartSpec{
	{ChartOffered, "offered", "Offered load, goodput, deferrals and failures",
		"Per wall second (the real-world rate the demand curves are written in), over simulated time. Offered: customer actions due; goodput: certificates delivered (a 201, or a deferred ticket when the user's poll found it done), counted when they reached the user; deferred: actions handed a ticket (202), not yet a certificate. Offered, goodput and deferred count the goodput classes, as summary.json does; failures (overload 429/503, 5xx, timeouts and transport errors, all classes) are per attempt. Shaded: fault windows; dashed: phase starts.",
		"Line chart over simulated time of offered load, goodput (certificates delivered), deferrals and failures per wall second, with fault windows shaded.",
		offeredChart},
	{ChartLatency, "latency", "Latency over time",
		"p50, p90 and p99 per bucket (response-weighted means of the per-second class percentiles) and the exact maximum, on a log axis. Shaded: fault windows.",
		"Line chart of latency p50, p90, p99 and max over simulated time on a logarithmic axis, with fault windows shaded.",
		latencyChart},
	{ChartStatus, "status", "Responses by status class",
		"Attempts answered per wall second over simulated time, all classes, stacked by outcome: 201 issued (and tickets found done), 202 deferred (and polls that found a ticket pending), 4xx rejected, 429/503 overload, 5xx, timeouts and transport errors.",
		"Stacked area chart of responses per second by status class over simulated time.",
		statusChart},
	{ChartHDR, "hdr", "Latency distribution",
		"Whole-run latency at each percentile from histogram.hdr, per traffic class and all together; the x axis stretches the tail (1/(1-p)).",
		"HDR percentile plot: latency against percentile from 0% to 99.99% per traffic class.",
		hdrChart},
	{ChartBacklog, "backlog", "Deferred backlog and signer availability",
		"From the portal's /metrics scrapes: queued (deferred) issuance requests and requests in flight above, signers available below. Shaded: fault windows.",
		"Two stacked line charts over simulated time: deferred backlog and in-flight requests, and the number of available signers.",
		backlogChart},
	{ChartCapacity, "capacity", "Capacity curve",
		"Step search: goodput (certificates issued per wall second) and p99 at each offered rate held steady; the knee is where goodput stops following the offered rate. Red points broke the SLO.",
		"Two stacked charts against offered rate: goodput with the ideal diagonal, and p99 latency with the SLO line; knee and forecast peak marked.",
		capacityChart},
	{ChartCompare, "compare", "Profiles side by side",
		"Goodput (certificates delivered per wall second) and p99 of each profile over the same simulated day. Shaded: the primary profile's fault windows.",
		"Two stacked line charts comparing the goodput and p99 latency of each profile over simulated time.",
		compareChart},
}

// buildCharts renders every chart of the run, in report order.
func buildCharts(r *Run, check func() error) ([]Chart, error) {
	out := make([]Chart, 0, len(chartSpecs))
	for _, sp := range chartSpecs {
		if err := check(); err != nil {
			return nil, err
		}
		c := Chart{ID: sp.id, File: sp.file, Title: sp.title, Caption: sp.caption, Alt: sp.alt}
		fig, omitted := sp.build(r)
		if fig != nil {
			// The PNG and SVG files are also looked at on their own.
			fig.panels[0].Title.Text = sp.title
		}
		if fig == nil {
			c.Omitted = omitted
			out = append(out, c)
			continue
		}
		png, svg, err := fig.render()
		if err != nil {
			c.Omitted = err.Error()
		}
		c.PNG, c.SVG = png, svg
		out = append(out, c)
	}
	return out, nil
}

// timeAxis makes p's x axis simulated clock time.
func timeAxis(p *plot.Plot, loc *time.Location) {
	p.X.Tick.Marker = simTimeTicks{loc: loc}
	if p.X.Label.Text == "" {
		// Parsed RFC 3339 offsets make unnamed zones: show the offset.
		p.X.Label.Text = "simulated time (UTC" + time.Now().In(loc).Format("-07:00") + ")"
	}
}

func runEnd(r *Run) time.Time {
	end := r.Summary.Sim.End
	if r.Series != nil && r.Series.Rows > 0 && r.Series.End().After(end) {
		end = r.Series.End()
	}
	return end
}

// faultWindows are r's faults as x-axis windows in unix seconds.
func faultWindows(r *Run) []window {
	if r.Events == nil {
		return nil
	}
	end := runEnd(r)
	var ws []window
	for _, f := range r.Events.Faults {
		e := f.End
		if e.IsZero() {
			e = end
		}
		label := f.Label()
		if f.Error != "" {
			label += " (failed)"
		}
		ws = append(ws, window{start: unixF(f.Start), end: unixF(e), label: label})
	}
	return ws
}

func addFaults(p *plot.Plot, ws []window) {
	if len(ws) > 0 {
		p.Add(shading{windows: ws, fill: faultFill, text: faultText})
	}
}

func addPhases(p *plot.Plot, r *Run) {
	if r.Events == nil {
		return
	}
	for _, ph := range r.Events.Phases {
		p.Add(refLine{vertical: true, at: unixF(ph.Start), label: ph.Name, labelBottom: true, style: dashed(phaseColor)})
	}
}

func unixF(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func newLine(xys plotter.XYs, col color.Color, width float64) *plotter.Line {
	l := &plotter.Line{XYs: xys}
	l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(width)}
	return l
}

// fixXRange pins the x axis to the series' span so shading outside the data
// does not stretch it.
func fixXRange(p *plot.Plot, s *Series) {
	p.X.Min = float64(s.Origin)
	p.X.Max = float64(s.Origin + int64(len(s.Buckets))*s.Width)
}

func seriesMissing(r *Run) string {
	if r.Series == nil {
		return "timeseries.csv is missing"
	}
	return "timeseries.csv has no rows"
}

// rateAxis is the y axis label of every rate chart: one unit everywhere.
const rateAxis = "per wall second (= real-world rate)"

// wallWidth is a series bucket's length in wall seconds, what its counts
// are divided by to give rates per wall second.
func wallWidth(r *Run, s *Series) float64 {
	return rundir.WallSeconds(float64(s.Width), r.Timescale())
}

func offeredChart(r *Run) (*figure, string) {
	if r.Series == nil || r.Series.Rows == 0 {
		return nil, seriesMissing(r)
	}
	s := r.Series.Downsample(plotPoints)
	w := wallWidth(r, s)
	var offered, good, deferred, fail, dropped plotter.XYs
	anyDropped := false
	for i, b := range s.Buckets {
		x := float64(s.Origin + int64(i)*s.Width)
		offered = append(offered, plotter.XY{X: x, Y: float64(b.Customer.Offered) / w})
		good = append(good, plotter.XY{X: x, Y: float64(b.Customer.Delivered) / w})
		deferred = append(deferred, plotter.XY{X: x, Y: float64(b.Customer.Deferrals) / w})
		fail = append(fail, plotter.XY{X: x, Y: float64(b.Failures()) / w})
		dropped = append(dropped, plotter.XY{X: x, Y: float64(b.Dropped) / w})
		anyDropped = anyDropped || b.Dropped > 0
	}
	p := newPlot("", "", rateAxis)
	addFaults(p, faultWindows(r))
	addPhases(p, r)
	lo, lg, ld, lf := newLine(offered, colGrey, 1.2), newLine(good, colGreen, 1.5), newLine(deferred, colSky, 1.2), newLine(fail, colRed, 1.2)
	lo.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
	ld.Dashes = []vg.Length{vg.Points(1), vg.Points(1.5)}
	p.Add(lo, ld, lg, lf)
	p.Legend.Add("offered (customer actions)", lo)
	p.Legend.Add("goodput (certificates delivered)", lg)
	p.Legend.Add("deferred (tickets handed out)", ld)
	p.Legend.Add("failures", lf)
	if anyDropped {
		ld := newLine(dropped, colPurple, 1)
		p.Add(ld)
		p.Legend.Add("dropped sends", ld)
	}
	timeAxis(p, s.Loc)
	fixXRange(p, s)
	p.Y.Min = 0
	legendRoom(p)
	return &figure{panels: []*plot.Plot{p}, w: chartW, h: chartH}, ""
}

// logRange sets a log y axis that fits lo..hi (positive), with room.
func logRange(p *plot.Plot, lo, hi float64) {
	if !(lo > 0) || math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	if hi <= lo {
		hi = lo * 10
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logMSTicks{}
	p.Y.Min = lo / 1.5
	// Room above the data for the legend.
	p.Y.Max = hi * 3
}

func latencyChart(r *Run) (*figure, string) {
	if r.Series == nil || r.Series.Rows == 0 {
		return nil, seriesMissing(r)
	}
	s := r.Series.Downsample(plotPoints)
	lines := make([]plotter.XYs, 4)
	lo, hi := math.Inf(1), 0.0
	for i, b := range s.Buckets {
		x := float64(s.Origin + int64(i)*s.Width)
		l := b.Latency()
		// A log axis cannot show zero: buckets without responses leave a
		// gap in the data rather than a fake value.
		for k, v := range []float64{l.P50, l.P90, l.P99, l.Max} {
			if v > 0 {
				lines[k] = append(lines[k], plotter.XY{X: x, Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return nil, "no bucket in timeseries.csv has a latency above zero"
	}
	p := newPlot("", "", "latency (log scale)")
	addFaults(p, faultWindows(r))
	names := []string{"p50", "p90", "p99", "max"}
	cols := []color.Color{colBlue, colSky, colOrange, colRed}
	for k, xy := range lines {
		if len(xy) == 0 {
			continue
		}
		l := newLine(xy, cols[k], 1.2)
		if k == 3 {
			l.Width = vg.Points(0.8)
		}
		p.Add(l)
		p.Legend.Add(names[k], l)
	}
	timeAxis(p, s.Loc)
	fixXRange(p, s)
	logRange(p, lo, hi)
	return &figure{panels: []*plot.Plot{p}, w: chartW, h: chartH}, ""
}

func statusChart(r *Run) (*figure, string) {
	if r.Series == nil || r.Series.Rows == 0 {
		return nil, seriesMissing(r)
	}
	s := r.Series.Downsample(plotPoints)
	w := wallWidth(r, s)
	layers := []struct {
		name string
		col  color.Color
		get  func(Counts) int64
	}{
		{"201 issued", colGreen, func(c Counts) int64 { return c.OK }},
		{"202 deferred", colSky, func(c Counts) int64 { return c.Deferred }},
		{"4xx rejected", colYellow, func(c Counts) int64 { return c.Rejected }},
		{"429/503 overload", colOrange, func(c Counts) int64 { return c.Overload }},
		{"5xx error", colRed, func(c Counts) int64 { return c.Error }},
		{"timeout", colPurple, func(c Counts) int64 { return c.Timeout }},
		{"transport", colBlack, func(c Counts) int64 { return c.Transport }},
	}
	p := newPlot("", "", rateAxis+" (stacked)")
	below := make([]float64, len(s.Buckets))
	top := 0.0
	var polys []*plotter.Polygon
	for _, layer := range layers {
		var total int64
		upper := make([]float64, len(s.Buckets))
		for i, b := range s.Buckets {
			v := layer.get(b.Counts)
			total += v
			upper[i] = below[i] + float64(v)/w
		}
		if total == 0 {
			continue
		}
		ring := make(plotter.XYs, 0, 2*len(s.Buckets))
		for i := range s.Buckets {
			ring = append(ring, plotter.XY{X: float64(s.Origin + int64(i)*s.Width), Y: upper[i]})
		}
		for i := len(s.Buckets) - 1; i >= 0; i-- {
			ring = append(ring, plotter.XY{X: float64(s.Origin + int64(i)*s.Width), Y: below[i]})
			top = math.Max(top, upper[i])
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, fmt.Sprintf("status chart: %v", err)
		}
		poly.Color = layer.col
		poly.LineStyle.Width = 0
		polys = append(polys, poly)
		p.Legend.Add(layer.name, poly)
		below = upper
	}
	if len(polys) == 0 {
		return nil, "timeseries.csv has no responses"
	}
	for _, poly := range polys {
		p.Add(poly)
	}
	// Faults tint the areas from above: a fill below would be hidden.
	addFaults(p, faultWindows(r))
	timeAxis(p, s.Loc)
	fixXRange(p, s)
	p.Y.Min, p.Y.Max = 0, top
	legendRoom(p)
	return &figure{panels: []*plot.Plot{p}, w: chartW, h: chartH}, ""
}

func hdrChart(r *Run) (*figure, string) {
	if r.Hist == nil {
		return nil, "histogram.hdr is missing"
	}
	total := r.Hist.All.TotalCount()
	if total == 0 {
		return nil, "histogram.hdr has no recorded values"
	}
	// Stretch the x axis as far as the data resolves: with n values the
	// percentile 1-1/n is the last one that is not simply the maximum.
	xmax := math.Min(1e6, math.Max(100, float64(total)))
	p := newPlot("", "percentile", "latency (log scale)")
	cols := []color.Color{colBlue, colOrange, colGreen, colPurple, colSky, colRed, colYellow}
	lo, hi := math.Inf(1), 0.0
	curve := func(name string, get func(pct float64) float64, col color.Color, width float64) {
		var xy plotter.XYs
		const steps = 160
		for k := 0; k <= steps; k++ {
			x := math.Pow(xmax, float64(k)/steps)
			pct := 100 * (1 - 1/x)
			v := get(pct)
			if v <= 0 {
				continue
			}
			xy = append(xy, plotter.XY{X: x, Y: v})
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if len(xy) == 0 {
			return
		}
		l := newLine(xy, col, width)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	classes := append([]string(nil), r.Hist.Classes...)
	for i, c := range classes {
		c := c
		curve(c, func(pct float64) float64 { return r.Hist.PercentileMS(c, pct) }, cols[i%len(cols)], 1.2)
	}
	if len(classes) > 1 {
		curve("all classes", func(pct float64) float64 { return r.Hist.PercentileMS("", pct) }, colBlack, 1.8)
	}
	if hi == 0 {
		return nil, "histogram.hdr holds only zero latencies"
	}
	if c := r.Capacity; c != nil && c.SLO.P99MS > 0 {
		p.Add(refLine{at: c.SLO.P99MS, label: fmt.Sprintf("SLO p99 %s", ms(c.SLO.P99MS)), style: dashed(colRed)})
		hi = math.Max(hi, c.SLO.P99MS)
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.X.Min, p.X.Max = 1, xmax
	logRange(p, lo, hi)
	return &figure{panels: []*plot.Plot{p}, w: chartW, h: chartH}, ""
}

func backlogChart(r *Run) (*figure, string) {
	if len(r.Metrics) == 0 {
		if r.Metrics == nil {
			return nil, "metrics.csv is missing"
		}
		return nil, "metrics.csv has no scrapes"
	}
	var backlog, inflight, signers plotter.XYs
	for _, m := range r.Metrics {
		x := unixF(m.Sim)
		if !math.IsNaN(m.DeferredBacklog) {
			backlog = append(backlog, plotter.XY{X: x, Y: m.DeferredBacklog})
		}
		if !math.IsNaN(m.InFlight) {
			inflight = append(inflight, plotter.XY{X: x, Y: m.InFlight})
		}
		if !math.IsNaN(m.SignersAvailable) {
			signers = append(signers, plotter.XY{X: x, Y: m.SignersAvailable})
		}
	}
	loc := r.Metrics[0].Sim.Location()
	if r.Series != nil {
		loc = r.Series.Loc
	}
	xmin, xmax := unixF(r.Metrics[0].Sim), unixF(r.Metrics[len(r.Metrics)-1].Sim)
	if xmax <= xmin {
		xmax = xmin + 60
	}
	ws := faultWindows(r)

	top := newPlot("", " ", "requests")
	addFaults(top, ws)
	lb, li := newLine(backlog, colBlue, 1.5), newLine(inflight, colOrange, 1)
	top.Add(lb, li)
	top.Legend.Add("deferred backlog", lb)
	top.Legend.Add("in flight", li)
	timeAxis(top, loc)
	top.X.Min, top.X.Max = xmin, xmax
	top.Y.Min = 0
	legendRoom(top)

	bottom := newPlot("", "", "signers available")
	addFaults(bottom, ws)
	ls := newLine(signers, colGreen, 1.5)
	ls.StepStyle = plotter.PostStep
	bottom.Add(ls)
	bottom.Legend.Add("signers available", ls)
	timeAxis(bottom, loc)
	bottom.X.Min, bottom.X.Max = xmin, xmax
	bottom.Y.Min = 0
	bottom.Y.Max = math.Max(bottom.Y.Max, 1)
	legendRoom(bottom)
	return &figure{panels: []*plot.Plot{top, bottom}, w: chartW, h: chartH2}, ""
}

func capacityChart(r *Run) (*figure, string) {
	c := r.Capacity
	if c == nil {
		return nil, "capacity.json is missing: capacity not measured"
	}
	if len(c.Steps) == 0 {
		return nil, "capacity.json has no steps"
	}
	steps := append([]rundir.CapacityStep(nil), c.Steps...)
	sort.Slice(steps, func(i, j int) bool { return steps[i].Rate < steps[j].Rate })
	var good, p99, bad, badP99 plotter.XYs
	lo, hi := math.Inf(1), 0.0
	maxRate := 0.0
	for _, s := range steps {
		good = append(good, plotter.XY{X: s.Rate, Y: s.Goodput})
		if s.P99MS > 0 {
			p99 = append(p99, plotter.XY{X: s.Rate, Y: s.P99MS})
			lo, hi = math.Min(lo, s.P99MS), math.Max(hi, s.P99MS)
		}
		if !s.OK {
			bad = append(bad, plotter.XY{X: s.Rate, Y: s.Goodput})
			if s.P99MS > 0 {
				badP99 = append(badP99, plotter.XY{X: s.Rate, Y: s.P99MS})
			}
		}
		maxRate = math.Max(maxRate, math.Max(s.Rate, s.Goodput))
	}
	maxRate = math.Max(maxRate, c.ForecastPeakRPS)
	marks := func(p *plot.Plot) {
		if c.KneeRPS > 0 {
			p.Add(refLine{vertical: true, at: c.KneeRPS, label: fmt.Sprintf("knee %.0f rps", c.KneeRPS), style: dashed(colRed)})
		}
		if c.ForecastPeakRPS > 0 {
			p.Add(refLine{vertical: true, at: c.ForecastPeakRPS, label: fmt.Sprintf("forecast peak %.0f rps", c.ForecastPeakRPS), labelBottom: true, style: dashed(colBlue)})
		}
	}
	points := func(p *plot.Plot, xy plotter.XYs, col color.Color, name string) {
		if len(xy) == 0 {
			return
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		if name != "" {
			p.Legend.Add(name, sc)
		}
	}

	top := newPlot("", " ", "goodput, "+rateAxis)
	ideal := newLine(plotter.XYs{{X: 0, Y: 0}, {X: maxRate, Y: maxRate}}, colGrey, 0.8)
	ideal.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	lg := newLine(good, colGreen, 1.5)
	top.Add(ideal, lg)
	top.Legend.Add("goodput", lg)
	top.Legend.Add("goodput = offered", ideal)
	points(top, good, colGreen, "")
	points(top, bad, colRed, "SLO broken")
	marks(top)
	top.X.Min, top.X.Max = 0, maxRate*1.05
	top.Y.Min = 0
	legendRoom(top)

	bottom := newPlot("", "offered rate, "+rateAxis, "p99 (log scale)")
	if len(p99) > 0 {
		lp := newLine(p99, colOrange, 1.5)
		bottom.Add(lp)
		bottom.Legend.Add("p99", lp)
		points(bottom, p99, colOrange, "")
		points(bottom, badP99, colRed, "")
	}
	if c.SLO.P99MS > 0 {
		bottom.Add(refLine{at: c.SLO.P99MS, label: "SLO p99 " + ms(c.SLO.P99MS), style: dashed(colRed)})
		lo, hi = math.Min(lo, c.SLO.P99MS), math.Max(hi, c.SLO.P99MS)
	}
	marks(bottom)
	bottom.X.Min, bottom.X.Max = 0, maxRate*1.05
	logRange(bottom, lo, hi)
	return &figure{panels: []*plot.Plot{top, bottom}, w: chartW, h: chartH2}, ""
}

func compareChart(r *Run) (*figure, string) {
	if len(r.Profiles) < 2 {
		return nil, "only one profile ran; no comparison"
	}
	top := newPlot("", " ", "goodput, "+rateAxis)
	bottom := newPlot("", "", "p99 (log scale)")
	ws := faultWindows(r)
	addFaults(top, ws)
	addFaults(bottom, ws)
	cols := []color.Color{colBlue, colOrange, colPurple, colSky, colYellow}
	var origin int64
	if r.Series != nil {
		origin = r.Series.Origin
	}
	lo, hi := math.Inf(1), 0.0
	xmin, xmax := math.Inf(1), math.Inf(-1)
	drawn := 0
	var loc *time.Location
	for i, prof := range r.Profiles {
		if prof.Series == nil || prof.Series.Rows == 0 {
			continue
		}
		s := prof.Series.Downsample(plotPoints)
		if loc == nil {
			loc = s.Loc
		}
		// Profiles of one scenario share the simulated day; align their
		// starts anyway so runs with shifted clocks still line up.
		shift := int64(0)
		if origin != 0 {
			shift = origin - s.Origin
		}
		w := wallWidth(prof, s)
		var good, p99 plotter.XYs
		for k, b := range s.Buckets {
			x := float64(s.Origin + shift + int64(k)*s.Width)
			good = append(good, plotter.XY{X: x, Y: float64(b.Customer.Delivered) / w})
			if v := b.Latency().P99; v > 0 {
				p99 = append(p99, plotter.XY{X: x, Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x+float64(s.Width))
		}
		col := cols[i%len(cols)]
		switch {
		case prof == r:
			col = colGreen
		case prof.Name == "naive-2021":
			col = colRed
		}
		lg := newLine(good, col, 1.4)
		top.Add(lg)
		top.Legend.Add(prof.Name, lg)
		if len(p99) > 0 {
			lp := newLine(p99, col, 1.2)
			bottom.Add(lp)
			bottom.Legend.Add(prof.Name, lp)
		}
		drawn++
	}
	if drawn < 2 {
		return nil, "fewer than two profiles have a timeseries.csv"
	}
	for _, p := range []*plot.Plot{top, bottom} {
		timeAxis(p, loc)
		p.X.Min, p.X.Max = xmin, xmax
	}
	top.Y.Min = 0
	legendRoom(top)
	logRange(bottom, lo, hi)
	return &figure{panels: []*plot.Plot{top, bottom}, w: chartW, h: chartH2}, ""
}

// legendRoom raises a linear y axis so the legend in the top-left corner
// sits above the data instead of on it.
func legendRoom(p *plot.Plot) {
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	p.Y.Max = p.Y.Min + (p.Y.Max-p.Y.Min)*1.3
}
