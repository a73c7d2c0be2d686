package reports

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

const tsHeader = "sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries\n"

// A run longer than maxBuckets seconds must merge buckets instead of
// growing without bound, and lose no request on the way.
func TestSeriesCoarsensLongRunsWithoutLosingCounts(t *testing.T) {
	start := time.Date(2021, 6, 14, 7, 0, 0, 0, time.UTC)
	const secs = 3 * maxBuckets / 2
	var b strings.Builder
	b.WriteString(tsHeader)
	for s := range secs {
		fmt.Fprintf(&b, "%s,issue,%d,%d,0,0,%d,0,0,0,0,0,0,10,20,30,40,0\n", start.Add(time.Duration(s)*time.Second).Format(time.RFC3339), s%7, s%7, s%7)
	}
	// A row from before the announced start is kept, not dropped.
	fmt.Fprintf(&b, "%s,issue,5,5,0,0,5,0,0,0,0,0,0,10,20,30,400,0\n", start.Add(-90*time.Second).Format(time.RFC3339))
	s, err := readTimeseries(strings.NewReader(b.String()), "ts.csv", start, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Buckets) > maxBuckets {
		t.Fatalf("%d buckets, bound is %d", len(s.Buckets), maxBuckets)
	}
	if s.Width < 2 {
		t.Fatalf("width %d: buckets were not merged", s.Width)
	}
	var want, got int64
	for i := range secs {
		want += int64(i % 7)
	}
	want += 5
	for _, bk := range s.Buckets {
		got += bk.Offered
	}
	if got != want || s.Total.Offered != want {
		t.Fatalf("offered: buckets %d, total %d, want %d", got, s.Total.Offered, want)
	}
	if s.Origin > start.Add(-90*time.Second).Unix() {
		t.Errorf("origin %d is after the early row", s.Origin)
	}
	if s.Total.Latency().Max != 400 {
		t.Errorf("max latency %v, want the early row's 400", s.Total.Latency().Max)
	}
	// Plotting downsamples further and keeps the totals too.
	d := s.Downsample(500)
	got = 0
	for _, bk := range d.Buckets {
		got += bk.Offered
	}
	if len(d.Buckets) > 500 || got != want {
		t.Errorf("downsampled to %d buckets with %d offered", len(d.Buckets), got)
	}
}

// A degenerate run (one second, no latency, a fault never undone) still
// gets a report; what cannot be drawn is explained.
func TestTinyRunStillGetsAReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(rundir.SummaryFile, `{"schema":"golive.summary/v1","verdict":"pass","profile":"hardened","sim":{"start":"2021-06-14T07:00:00+02:00","end":"2021-06-14T07:00:01+02:00"}}`)
	write(rundir.TimeseriesFile, tsHeader+"2021-06-14T07:00:00+02:00,issue,3,0,0,3,0,0,0,0,0,0,0,0,0,0,0,0\n")
	write(rundir.EventsFile, `{"phases":[],"faults":[{"kind":"kill","target":"signer","start":"2021-06-14T07:00:00+02:00","end":"0001-01-01T00:00:00Z","params":{},"error":""}]}`)
	run, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	charts, err := WriteCharts(context.Background(), run, dir)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Chart{}
	for _, c := range charts {
		byID[c.ID] = c
	}
	if byID[ChartOffered].Omitted != "" || len(byID[ChartOffered].PNG) == 0 {
		t.Errorf("offered chart not drawn: %q", byID[ChartOffered].Omitted)
	}
	if !strings.Contains(byID[ChartLatency].Omitted, "latency above zero") {
		t.Errorf("latency chart: omitted %q, want a zero-latency note", byID[ChartLatency].Omitted)
	}
	html, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "never undone") {
		t.Error("the open-ended fault is not reported as never undone")
	}
	if !strings.Contains(string(html), "(outside phases)") {
		t.Error("rows outside any phase are not tallied")
	}
}

func TestTimeTicksFallOnRoundClockTimes(t *testing.T) {
	loc := time.FixedZone("", 2*3600)
	start := time.Date(2021, 6, 14, 7, 3, 0, 0, loc)
	ticks := simTimeTicks{loc: loc}.Ticks(float64(start.Unix()), float64(start.Add(13*time.Hour).Unix()))
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if len(labels) < 4 || len(labels) > 11 {
		t.Fatalf("%d labels: %v", len(labels), labels)
	}
	for _, l := range labels {
		if !strings.HasSuffix(l, ":00") {
			t.Errorf("label %q is not on the hour (local clock)", l)
		}
	}
	if labels[0] != "08:00" {
		t.Errorf("first label %q, want 08:00 in the simulated zone", labels[0])
	}
}

func TestLogTicksLabelMillisecondsAndSeconds(t *testing.T) {
	ticks := logMSTicks{}.Ticks(3, 4000)
	var labels []string
	for _, tk := range ticks {
		labels = append(labels, tk.Label)
	}
	got := strings.Join(labels, " ")
	if got != "5 ms 10 ms 20 ms 50 ms 100 ms 200 ms 500 ms 1 s 2 s" {
		t.Errorf("ticks %q", got)
	}
}
