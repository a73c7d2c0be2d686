package reports_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/reports/synthrun"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// For one run, summary.json, the threshold table, summary.md and
// report.html give the same goodput and offered rate, per wall second, and
// that rate is the certificates the generator delivered over the run's wall
// time: not per simulated second, and not counting tickets as goodput.
func TestGoodputAndOfferedAgreeEverywhere(t *testing.T) {
	dir := t.TempDir()
	const timescale = 90
	tot, err := synthrun.Write(dir, synthrun.Config{Duration: 2 * time.Hour, Requests: 40_000, Timescale: timescale})
	if err != nil {
		t.Fatal(err)
	}
	// The engine's step: judge the thresholds on the directory, record them.
	rd, err := threshold.OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	exprs := []*threshold.Expr{threshold.MustParse("goodput >= 0.95*offered"), threshold.MustParse("offered > 0")}
	res := threshold.EvaluateAll(rd, exprs)
	sum, err := rundir.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		sum.Thresholds = append(sum.Thresholds, rundir.Threshold{Expr: r.Expr, OK: r.OK, Value: r.Value, Scope: r.Scope, Detail: r.Detail})
	}
	if err := rundir.WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	if err := reports.Write(context.Background(), run, out); err != nil {
		t.Fatal(err)
	}

	// The figure itself: the issue class's certificates (the synthetic
	// deferrals count only once drained) over 7200 simulated s / 90.
	issue := tot.ByClass["issue"]
	wall := 2 * 3600.0 / timescale
	wantGood, wantOffered := float64(issue.Delivered)/wall, float64(issue.Offered)/wall
	if math.Abs(sum.Goodput.Mean-wantGood) > 1e-9 || math.Abs(sum.OfferedRate.Mean-wantOffered) > 1e-9 {
		t.Fatalf("summary.json goodput %v offered %v, want %v and %v per wall second", sum.Goodput.Mean, sum.OfferedRate.Mean, wantGood, wantOffered)
	}
	if issue.Delivered >= issue.OK+issue.Deferred || issue.Deferrals == 0 {
		t.Fatalf("the fixture should defer work it cannot deliver in time: %+v", issue)
	}
	if sum.Goodput.Unit != rundir.RateUnit || sum.OfferedRate.Unit != rundir.RateUnit || sum.Goodput.Count != issue.Delivered {
		t.Errorf("summary.json rates %+v %+v", sum.Goodput, sum.OfferedRate)
	}
	good, offered := rundir.FormatRate(sum.Goodput.Mean), rundir.FormatRate(sum.OfferedRate.Mean)

	// The threshold table: goodput's value, the offered rate in its limit
	// and as its own value.
	if res[0].Value != good || !strings.Contains(res[0].Detail, "0.95*offered = "+rundir.FormatRate(0.95*sum.OfferedRate.Mean)) ||
		!strings.Contains(res[0].Detail, rundir.RateUnit) || res[0].OK != (sum.Goodput.Mean >= 0.95*sum.OfferedRate.Mean) {
		t.Errorf("goodput threshold %+v; summary.json says goodput %s, offered %s", res[0], good, offered)
	}
	if res[1].Value != offered {
		t.Errorf("offered threshold %+v; summary.json says %s", res[1], offered)
	}

	md := read(t, filepath.Join(out, reports.MarkdownFile))
	html := read(t, filepath.Join(out, reports.HTMLFile))
	headline := "| Goodput | " + good + " (certificates delivered " + rundir.RateUnit + ", against " + offered + " offered;"
	if !strings.Contains(md, headline) {
		t.Errorf("summary.md lacks the headline %q:\n%s", headline, md)
	}
	for _, row := range []string{"| `goodput >= 0.95*offered` | " + good + " |", "| `offered > 0` | " + offered + " |", "measured (rates " + rundir.RateUnit + ")"} {
		if !strings.Contains(md, row) {
			t.Errorf("summary.md lacks %q", row)
		}
	}
	hl := regexp.MustCompile(`<div class="label">Goodput</div><div class="value">([^<]*)</div><div class="detail">([^<]*)</div>`).FindStringSubmatch(html)
	if hl == nil || hl[1] != good || !strings.Contains(hl[2], "against "+offered+" offered") || !strings.Contains(hl[2], rundir.RateUnit) {
		t.Errorf("report.html goodput headline %q, want %s against %s offered %s", hl, good, offered, rundir.RateUnit)
	}
	for _, cell := range []string{"<td><code>goodput &gt;= 0.95*offered</code></td><td>" + good + "</td>", "<td><code>offered &gt; 0</code></td><td>" + offered + "</td>"} {
		if !strings.Contains(html, cell) {
			t.Errorf("report.html threshold table lacks %q", cell)
		}
	}
	if n := strings.Count(html, rundir.RateUnit); n < 3 {
		t.Errorf("report.html names the rate unit %d times", n)
	}
}

// The offered chart's goodput is certificates delivered: while the signer
// is cut off the hardened profile hands out tickets (a separate line) and
// delivers none, and the backlog's certificates arrive after it.
func TestChartSeparatesDeferredFromDelivered(t *testing.T) {
	f := compareFixture(t)
	var hardened *reports.Run
	for _, p := range f.run.Profiles {
		if p.Name == synthrun.Hardened {
			hardened = p
		}
	}
	s := hardened.Series
	var cut, back reports.CustomerCounts
	var cutFault rundir.Fault
	for _, fl := range hardened.Events.Faults {
		if fl.Target == "signer" && fl.End.Sub(fl.Start) > time.Hour/10 {
			cutFault = fl // the long cut-off
		}
	}
	for i, b := range s.Buckets {
		at := s.Time(i)
		switch {
		case !at.Before(cutFault.Start) && at.Add(time.Duration(s.Width)*time.Second).Before(cutFault.End):
			cut.Offered += b.Customer.Offered
			cut.Delivered += b.Customer.Delivered
			cut.Deferrals += b.Customer.Deferrals
		case !at.Before(cutFault.End):
			back.Delivered += b.Customer.Delivered
			back.Offered += b.Customer.Offered
		}
	}
	if cut.Offered == 0 || cut.Delivered != 0 || cut.Deferrals < cut.Offered*9/10 {
		t.Errorf("during the cut-off: %+v; want no certificate and nearly every action deferred", cut)
	}
	if back.Delivered <= back.Offered {
		t.Errorf("after the cut-off %d delivered for %d offered: the backlog never arrived", back.Delivered, back.Offered)
	}
	svg := read(t, filepath.Join(f.out, reports.ChartsDir, "offered.svg"))
	for _, want := range []string{"goodput (certificates delivered)", "deferred (tickets handed out)", "per wall second"} {
		if !strings.Contains(svg, want) {
			t.Errorf("offered.svg lacks %q", want)
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
