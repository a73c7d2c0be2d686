package reports_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/reports/synthrun"
)

// fixture is one comparison run dir (naive-2021 and hardened) rendered once
// and shared by the tests that only read it.
type fixture struct {
	dir, out string
	totals   map[string]*synthrun.Totals
	run      *reports.Run
	charts   []reports.Chart
	html     string
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func compareFixture(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		base, err := os.MkdirTemp("", "golive-report-*")
		if err != nil {
			fixErr = err
			return
		}
		fix.dir = filepath.Join(base, "run")
		fix.out = filepath.Join(base, "out")
		fix.totals, fixErr = synthrun.WriteCompare(fix.dir, synthrun.Config{Duration: 3 * time.Hour, Requests: 300_000})
		if fixErr != nil {
			return
		}
		fix.run, fixErr = reports.Load(fix.dir)
		if fixErr != nil {
			return
		}
		fix.charts, fixErr = reports.WriteCharts(context.Background(), fix.run, fix.out)
		if fixErr != nil {
			return
		}
		var b []byte
		b, fixErr = os.ReadFile(filepath.Join(fix.out, reports.HTMLFile))
		fix.html = string(b)
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.dir != "" {
		// GOLIVE_KEEP_REPORT=1 keeps the rendered comparison to look at.
		if os.Getenv("GOLIVE_KEEP_REPORT") != "" {
			println("report kept in", fix.out)
		} else {
			os.RemoveAll(filepath.Dir(fix.dir))
		}
	}
	os.Exit(code)
}

func TestLoadComparisonPicksHardenedAsPrimary(t *testing.T) {
	f := compareFixture(t)
	if f.run.Name != synthrun.Hardened {
		t.Fatalf("primary profile %q, want hardened", f.run.Name)
	}
	// The baseline first, the primary (this report's run) last.
	if len(f.run.Profiles) != 2 || f.run.Profiles[0].Name != synthrun.Naive2021 || f.run.Profiles[1] != f.run {
		t.Fatalf("profiles = %v", names(f.run.Profiles))
	}
	// The report's per-class totals are computed from timeseries.csv and
	// must equal what the generator wrote.
	for _, p := range f.run.Profiles {
		want := f.totals[p.Name]
		if p.Series.Rows != want.Rows {
			t.Errorf("%s: %d rows read, %d written", p.Name, p.Series.Rows, want.Rows)
		}
		for cls, wc := range want.ByClass {
			got := p.Series.ByClass[cls]
			if got == nil {
				t.Fatalf("%s: class %s missing", p.Name, cls)
			}
			if got.OK != wc.OK || got.Deferred != wc.Deferred || got.Timeout != wc.Timeout || got.Offered != wc.Offered {
				t.Errorf("%s/%s: ok/deferred/timeout/offered = %d/%d/%d/%d, want %d/%d/%d/%d", p.Name, cls,
					got.OK, got.Deferred, got.Timeout, got.Offered, wc.OK, wc.Deferred, wc.Timeout, wc.Offered)
			}
		}
		var phased int64
		for _, ph := range p.Series.PhaseList {
			phased += p.Series.ByPhase[ph.Name].Offered
		}
		if phased != want.All.Offered {
			t.Errorf("%s: phases add up to %d offered, want %d", p.Name, phased, want.All.Offered)
		}
	}
	if f.run.Capacity == nil || f.run.Hist == nil || f.run.Events == nil || len(f.run.Metrics) == 0 {
		t.Fatalf("optional inputs not loaded: %+v", f.run.Notes)
	}
}

func names(rs []*reports.Run) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestHTMLHasVerdictHeadlineAndEveryChart(t *testing.T) {
	f := compareFixture(t)
	h := f.html
	if !strings.Contains(h, `id="verdict"`) {
		t.Fatal("no verdict element")
	}
	// Verdict and headline come before the first chart.
	if strings.Index(h, `id="verdict"`) > strings.Index(h, `id="chart-`) {
		t.Error("verdict is not before the charts")
	}
	for _, id := range reports.ChartIDs {
		re := regexp.MustCompile(`<figure class="chart" id="` + id + `">\s*<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"`)
		if !re.MatchString(h) {
			t.Errorf("chart %s is not embedded as a PNG data URI", id)
		}
	}
	for _, want := range []string{"Capacity headroom", "Lost", "Duplicates", "Fraud escaped", "p99(issue) &lt; 500ms", "morning-rush", "pause", "signer", "naive-2021"} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Self-contained: nothing is fetched from elsewhere.
	for _, bad := range []string{`src="http`, `href="http`, `<link `, `@import`, `url(http`} {
		if strings.Contains(h, bad) {
			t.Errorf("report references an external resource: %s", bad)
		}
	}
	// The banner is the comparison's verdict, what golive run exits with:
	// hardened passes, but the synthetic naive-2021 is no reproduction and
	// fails, so the comparison fails; the profile line says who did what.
	if !strings.Contains(h, `id="verdict" class="fail"`) {
		t.Error("the comparison's banner is not a fail")
	}
	if !strings.Contains(h, "naive-2021: FAIL · hardened: PASS") {
		t.Error("the banner does not list each profile's verdict")
	}
}

func TestChartsArePNGAndSVGAndNotBlank(t *testing.T) {
	f := compareFixture(t)
	if len(f.charts) != len(reports.ChartIDs) {
		t.Fatalf("%d charts, want %d", len(f.charts), len(reports.ChartIDs))
	}
	for _, c := range f.charts {
		if c.Omitted != "" {
			t.Errorf("%s omitted: %s", c.ID, c.Omitted)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(f.out, reports.ChartsDir, c.File+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s.png: %v", c.File, err)
		}
		colours, ink := inkStats(img)
		// A chart has axes, text and several coloured series: dozens of
		// distinct colours and a few percent of non-white pixels.
		if colours < 20 || ink < 0.02 {
			t.Errorf("%s.png looks blank: %d colours, %.1f%% ink", c.File, colours, ink*100)
		}
		svg, err := os.ReadFile(filepath.Join(f.out, reports.ChartsDir, c.File+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if err := wellFormed(svg); err != nil {
			t.Errorf("%s.svg: %v", c.File, err)
		}
		if n := bytes.Count(svg, []byte("<path")); n < 10 {
			t.Errorf("%s.svg has only %d paths", c.File, n)
		}
	}
}

// inkStats counts distinct colours and the share of non-white pixels.
func inkStats(img image.Image) (colours int, ink float64) {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	nonWhite := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
			seen[c] = true
			if c.R < 240 || c.G < 240 || c.B < 240 {
				nonWhite++
			}
		}
	}
	return len(seen), float64(nonWhite) / float64(b.Dx()*b.Dy())
}

func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
	}
}

type junitDoc struct {
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string `xml:"name,attr"`
	Tests      int    `xml:"tests,attr"`
	Failures   int    `xml:"failures,attr"`
	Skipped    int    `xml:"skipped,attr"`
	Properties []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"properties>property"`
	Cases []struct {
		Name      string `xml:"name,attr"`
		ClassName string `xml:"classname,attr"`
		Failure   *struct {
			Message string `xml:"message,attr"`
		} `xml:"failure"`
		Skipped *struct {
			Message string `xml:"message,attr"`
		} `xml:"skipped"`
	} `xml:"testcase"`
}

func TestJUnitHasOneSuitePerProfileAndFailingCases(t *testing.T) {
	f := compareFixture(t)
	raw, err := os.ReadFile(filepath.Join(f.out, reports.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites, want 2", len(doc.Suites))
	}
	failures := map[string]map[string]string{}
	for _, s := range doc.Suites {
		failures[s.Name] = map[string]string{}
		if s.Tests != len(s.Cases) {
			t.Errorf("%s: tests=%d but %d cases", s.Name, s.Tests, len(s.Cases))
		}
		for _, c := range s.Cases {
			if c.Failure != nil {
				if c.Failure.Message == "" {
					t.Errorf("%s/%s fails without a message", s.Name, c.Name)
				}
				failures[s.Name][c.Name] = c.Failure.Message
			}
		}
	}
	naive := failures["golive.launch-day.naive-2021"]
	for _, want := range []string{"p99(issue) < 500ms", "consistency.lost == 0", "consistency.duplicates == 0", "security.fraud_escaped == 0", "capacity >= forecast peak"} {
		if _, ok := naive[want]; !ok {
			t.Errorf("naive-2021 suite has no failing testcase %q (failing: %v)", want, naive)
		}
	}
	if msg := naive["consistency.lost == 0"]; !strings.Contains(msg, "17") {
		t.Errorf("lost failure message %q does not give the count", msg)
	}
	if h := failures["golive.launch-day.hardened"]; len(h) != 0 {
		t.Errorf("hardened suite has failures: %v", h)
	}
	if doc.Failures != len(naive) {
		t.Errorf("testsuites failures=%d, want %d", doc.Failures, len(naive))
	}
}

func TestSummaryMarkdownHasVerdictTableAndLink(t *testing.T) {
	f := compareFixture(t)
	raw, err := os.ReadFile(filepath.Join(f.out, reports.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	// The heading follows the comparison (naive-2021 fails, not being a
	// reproduction), as golive run's exit code does; hardened's PASS is in
	// the profile line, not in the heading.
	if !strings.HasPrefix(md, "## ❌ FAIL: golive report: launch-day (naive-2021 vs hardened)") {
		t.Errorf("summary.md starts %q", firstLine(md))
	}
	for _, want := range []string{"naive-2021: FAIL · hardened: PASS", "### Thresholds and checks (hardened)", "| result | threshold or check | measured (rates per wall second) | scope |", "`p99(issue) < 500ms`", "`consistency.lost == 0`", "[report.html](report.html)", "| naive-2021 | FAIL |"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestFailingThresholdTurnsVerdictRed(t *testing.T) {
	dir := t.TempDir()
	tot, err := synthrun.Write(dir, synthrun.Config{Duration: time.Hour, Requests: 20_000, FailThreshold: true})
	if err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Passed() {
		t.Fatal("a run with a failing threshold passed")
	}
	out := filepath.Join(dir, "report")
	if err := reports.Write(context.Background(), run, out); err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(filepath.Join(out, reports.HTMLFile))
	if !bytes.Contains(h, []byte(`id="verdict" class="fail"`)) || !bytes.Contains(h, []byte("FAIL")) {
		t.Error("verdict banner is not FAIL")
	}
	raw, _ := os.ReadFile(filepath.Join(out, reports.JUnitFile))
	var doc junitDoc
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, c := range doc.Suites[0].Cases {
		if c.Name == tot.Failing[0] && c.Failure != nil {
			failed = true
		}
	}
	if !failed {
		t.Errorf("threshold %q has no failing testcase", tot.Failing[0])
	}
	md, _ := os.ReadFile(filepath.Join(out, reports.MarkdownFile))
	if !bytes.Contains(md, []byte("❌ **fail** | `"+tot.Failing[0]+"`")) {
		t.Errorf("summary.md does not mark %q failed:\n%s", tot.Failing[0], md)
	}
}

func TestMissingOptionalFilesOmitChartsWithNotes(t *testing.T) {
	dir := t.TempDir()
	_, err := synthrun.Write(dir, synthrun.Config{Duration: time.Hour, Requests: 20_000,
		Omit: []string{"metrics.csv", "histogram.hdr", "capacity.json", "events.json"}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	charts, err := reports.WriteCharts(context.Background(), run, dir)
	if err != nil {
		t.Fatal(err)
	}
	omitted := map[string]string{}
	for _, c := range charts {
		if c.Omitted != "" {
			omitted[c.ID] = c.Omitted
		}
	}
	for _, id := range []string{reports.ChartHDR, reports.ChartBacklog, reports.ChartCapacity, reports.ChartCompare} {
		if omitted[id] == "" {
			t.Errorf("%s drawn without its input", id)
		}
	}
	for _, id := range []string{reports.ChartOffered, reports.ChartLatency, reports.ChartStatus} {
		if omitted[id] != "" {
			t.Errorf("%s omitted: %s", id, omitted[id])
		}
	}
	h, _ := os.ReadFile(filepath.Join(dir, reports.HTMLFile))
	for _, want := range []string{"Capacity headroom", "not measured", `id="chart-hdr-omitted"`, "metrics.csv is missing"} {
		if !bytes.Contains(h, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, reports.ChartsDir, "hdr.png")); err == nil {
		t.Error("hdr.png written without histogram.hdr")
	}
}

func TestMalformedFilesNameFileAndLine(t *testing.T) {
	cases := []struct {
		file, content, want string
	}{
		{"timeseries.csv", "sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries\n" +
			"2021-06-14T07:00:00+02:00,issue,1,1,0,0,1,0,0,0,0,0,0,10,20,30,40,0\n" +
			"2021-06-14T07:00:01+02:00,issue,x,1,0,0,1,0,0,0,0,0,0,10,20,30,40,0\n", "timeseries.csv:3: offered"},
		{"timeseries.csv", "sim_time,class\n", "timeseries.csv:1: header lacks column(s)"},
		{"timeseries.csv", "sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries\n" +
			"yesterday,issue,1,1,0,0,1,0,0,0,0,0,0,10,20,30,40,0\n", "timeseries.csv:2: sim_time"},
		{"summary.json", "{\n  \"verdict\": \"pass\",\n  \"seed\": \"one\"\n}\n", "summary.json:3:"},
		{"events.json", "{\"phases\": [\n  {\"name\": \"a\",\n  \"start\": 5}]}", "events.json:"},
		{"metrics.csv", "sim_time,wall_unix_ms,deferred_backlog,signers_available,in_flight,fraud_events\n2021-06-14T07:00:00Z,1,abc,1,1,0\n", "metrics.csv:2: deferred_backlog"},
		{"histogram.hdr", "issue,AAAA\n", "histogram.hdr:1: class issue"},
		{"histogram.hdr", "issue\n", "histogram.hdr:1: want class,base64"},
		{"capacity.json", "{\"steps\": [{\"rate\": -1}]}", "capacity.json: step 1"},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.want, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := synthrun.Write(dir, synthrun.Config{Duration: 10 * time.Minute, Requests: 1000}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := reports.Load(dir)
			if err == nil {
				t.Fatalf("Load accepted a malformed %s", c.file)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestLoadRejectsDirectoryWithoutRun(t *testing.T) {
	_, err := reports.Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestPerPhaseTableUsesEventsPhases(t *testing.T) {
	f := compareFixture(t)
	// Each phase row lists its offered count as the generator produced it.
	for _, p := range f.run.Profiles {
		if p != f.run {
			continue
		}
		for _, name := range f.totals[p.Name].Phases {
			ph := p.Series.ByPhase[name]
			if ph == nil {
				t.Fatalf("phase %s not tallied", name)
			}
			row := regexp.MustCompile(`<tr><td>` + regexp.QuoteMeta(name) + `</td><td>[^<]*</td><td class="num">([0-9,]+)</td>`).FindStringSubmatch(f.html)
			if row == nil {
				t.Fatalf("no table row for phase %s", name)
			}
			got, _ := strconv.ParseInt(strings.ReplaceAll(row[1], ",", ""), 10, 64)
			if got != ph.Offered {
				t.Errorf("phase %s row says %d offered, tally %d", name, got, ph.Offered)
			}
		}
	}
}

func TestTimeToCertificateInHeadlineAndPhases(t *testing.T) {
	dir := t.TempDir()
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: time.Hour, Requests: 20_000}); err != nil {
		t.Fatal(err)
	}
	s, err := rundir.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	p50, p90 := 512.0, 5*60*60*1000.0
	s.TimeToCert = &rundir.TimeToCert{Actions: 1000, WithCert: 950, WithoutCert: 50, LeftShare: 0.05, P50: &p50, P90: &p90}
	if len(s.Phases) == 0 {
		t.Fatal("the synthetic run has no phases")
	}
	s.Phases[0].TimeToCert = &rundir.TimeToCert{Actions: 10, WithCert: 10, P50: &p50, P90: &p50, P99: &p50, Max: &p50}
	if err := rundir.WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	md := reports.Markdown(run)
	for _, want := range []string{"| Time to certificate | **p99 beyond the run** (p50 512 ms, p90 5h0m0s; 50 of 1,000 customers left without one (5.0%)) |"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	out := filepath.Join(dir, "report")
	if err := reports.Write(context.Background(), run, out); err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(filepath.Join(out, reports.HTMLFile))
	if !bytes.Contains(h, []byte("Time to certificate p99")) || !bytes.Contains(h, []byte("512 ms (0% left)")) {
		t.Error("report.html's phase table has no time to certificate")
	}
}
