package rundir

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

var t0 = time.Date(2021, 6, 14, 7, 0, 0, 0, time.FixedZone("", 2*3600))

func TestSchemaVersions(t *testing.T) {
	for _, ok := range []string{"", "golive.summary/v1", "golive.summary/v1.1", "golive.summary/v1.7", Schema} {
		if err := CheckSchema("summary.json", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	err := CheckSchema("summary.json", "golive.summary/v2")
	want := "summary.json: schema golive.summary/v2 is newer than this golive understands (v1); upgrade golive"
	if err == nil || err.Error() != want || !errors.Is(err, ErrSchema) {
		t.Errorf("v2: %v, want %q", err, want)
	}
	for _, bad := range []string{"golive.summary/v0", "k6.summary/v1", "golive.summary/vX", "golive.summary"} {
		if err := CheckSchema("summary.json", bad); !errors.Is(err, ErrSchema) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// The schema is checked before the rest, so a v2 file whose keys changed
	// type fails for its version, not for a type error.
	_, err = DecodeSummary("s.json", []byte(`{"schema":"golive.summary/v3","goodput":"lots"}`))
	if err == nil || !strings.Contains(err.Error(), "golive.summary/v3 is newer") {
		t.Errorf("v3 with other keys: %v", err)
	}
}

func TestSummaryRoundTripKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	s := &Summary{Verdict: "pass", Scenario: "launch-day", Seed: 1 << 63, Timescale: 180, Started: t0.UTC(),
		OfferedRate: Rate{Mean: 12.5, Peak: 20, Count: 100, Unit: RateUnit}, GoodputClasses: []string{"issue"},
		System: &System{Registry: "postgres", Signers: 3, Portals: 2}, Requests: Requests{PastTimeout: 3, Failovers: 7},
		Browsers: &Browsers{Instances: 3, Phases: []BrowserPhase{{Name: "cut-off", BrowserCounts: BrowserCounts{Journeys: 2, Ticket: 2,
			TimeToPDF: Percentiles(nil), TimeToAnswer: Percentiles([]time.Duration{300 * time.Millisecond, 900 * time.Millisecond})}}}}}
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	// Every key of docs/run-format.md's example is written, old and new.
	for _, k := range []string{`"schema": "golive.summary/v1.2"`, `"offered_rate"`, `"goodput"`, `"latency_ms"`, `"service_ms"`,
		`"late_sends"`, `"dropped_sends"`, `"consistency"`, `"security"`, `"checks"`, `"thresholds"`, `"classes"`,
		`"phases"`, `"probes"`, `"sim"`, `"requests"`, `"ticket_done"`, `"retry_amplification"`, `"unit": "per wall second"`, `"goodput_classes"`,
		`"system"`, `"portals": 2`, `"registry": "postgres"`, `"past_timeout": 3`, `"failovers": 7`,
		`"browsers"`, `"time_to_pdf_ms"`, `"time_to_answer_ms"`, `"forms_lost"`, `"sessions_lost"`} {
		if !bytes.Contains(raw, []byte(k)) {
			t.Errorf("summary.json lacks %s", k)
		}
	}
	got, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != s.Seed || !got.Started.Equal(s.Started) || got.OfferedRate != s.OfferedRate || got.GoodputClasses[0] != "issue" ||
		got.System == nil || *got.System != *s.System || got.Requests.PastTimeout != 3 || got.Requests.Failovers != 7 {
		t.Errorf("read back %+v", got)
	}
	if b := got.Browsers; b == nil || len(b.Phases) != 1 || b.Phases[0].TimeToAnswer.P99 == nil || *b.Phases[0].TimeToAnswer.P99 != 900 ||
		b.Phases[0].TimeToPDF.P50 != nil || b.Phases[0].TimeToPDF.Count != 0 {
		t.Errorf("browsers read back %+v", got.Browsers)
	}
	if _, err := ReadSummary(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing summary: %v", err)
	}
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte("{\n\"seed\": \"one\"\n}"), 0o644)
	if _, err := ReadSummary(dir); err == nil || !strings.Contains(err.Error(), "summary.json:2:") {
		t.Errorf("bad seed: %v", err)
	}
}

func TestTimeseriesRoundTripAndLegacy(t *testing.T) {
	rows := []Row{
		{Start: t0, Class: "issue", Counts: Counts{Offered: 3, Sent: 4, Late: 1, OK: 2, Deferred: 2, Retries: 1, Delivered: 2, Deferrals: 1, Accepted: 3}, P50: 1.5, P90: 2, P99: 3.25, Max: 4},
		{Start: t0, Class: "verify", Counts: Counts{Offered: 1, Sent: 1, OK: 1}},
		{Start: t0.Add(time.Second), Class: "issue", Counts: Counts{Dropped: 1, Offered: 1, Transport: 1}},
	}
	var b bytes.Buffer
	w, err := NewTimeseriesWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), TimeseriesHeader+"\n2021-06-14T07:00:00+02:00,issue,3,4,1,0,2,2,0,0,0,0,0,1.500,2.000,3.250,4.000,1,2,1,3\n") {
		t.Errorf("written:\n%s", b.String())
	}
	got, err := ReadTimeseries(&b, "ts.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != rows[0] || got[2].Counts != rows[2].Counts || !got[2].Start.Equal(rows[2].Start) {
		t.Errorf("read back %+v", got)
	}
	if err := w.Write(&Row{Start: t0, Class: "a,b"}); err == nil {
		t.Error("a class with a comma was written")
	}
	// A file from before delivered and deferrals: the closest old columns stand in.
	old := "sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries,extra\n" +
		"2021-06-14T07:00:00Z,issue,5,5,0,0,4,1,0,0,0,0,0,1,1,1,1,0,x\n"
	tr, err := NewTimeseriesReader(strings.NewReader(old), "old.csv")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Read()
	if err != nil || !tr.Legacy || r.Delivered != 4 || r.Deferrals != 1 || r.Accepted != 5 {
		t.Errorf("legacy row %+v legacy=%v err=%v", r, tr.Legacy, err)
	}
	for _, c := range []struct{ body, want string }{
		{"sim_time,class\n", "ts.csv:1: header lacks column(s)"},
		{TimeseriesHeader + "\nnoon,issue,1,1,0,0,1,0,0,0,0,0,0,1,1,1,1,0,1,0,1\n", "ts.csv:2: sim_time"},
		{TimeseriesHeader + "\n2021-06-14T07:00:00Z,issue,1,1,0,0,-1,0,0,0,0,0,0,1,1,1,1,0,1,0,1\n", "ts.csv:2: ok"},
		{TimeseriesHeader + "\n2021-06-14T07:00:00Z,issue,1,1,0,0,1,0,0,0,0,0,0,NaN,1,1,1,0,1,0,1\n", "ts.csv:2: p50_ms"},
	} {
		if _, err := ReadTimeseries(strings.NewReader(c.body), "ts.csv"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

// Rates are per wall second: 60 simulated seconds per wall second turn 2
// actions a simulated second into 120 a wall second. Goodput counts the
// goodput classes' certificates, offered their actions.
func TestRatesPerWallSecond(t *testing.T) {
	var rows []Row
	for s := range 120 {
		at := t0.Add(time.Duration(s) * time.Second)
		is := Row{Start: at, Class: "issue", Counts: Counts{Offered: 2, Sent: 2}}
		if s >= 60 {
			is.Delivered = 3 // the cut-off's backlog arrives in the second minute
		}
		rows = append(rows, is, Row{Start: at, Class: "verify", Counts: Counts{Offered: 5, Sent: 5, OK: 5}})
	}
	off, good := Rates(rows, 60, []string{"issue"}, 0)
	if off.Count != 240 || good.Count != 180 || off.Mean != 120 || good.Mean != 90 || off.Unit != RateUnit {
		t.Errorf("offered %+v goodput %+v; want 240 and 180 over 2 wall s", off, good)
	}
	// The busiest wall second (60 simulated seconds): 180 delivered.
	if off.Peak != 120 || good.Peak != 180 {
		t.Errorf("peaks %v %v, want 120 and 180", off.Peak, good.Peak)
	}
	all, _ := Rates(rows, 60, nil, 0)
	if all.Count != 840 {
		t.Errorf("every class offered %d, want 840", all.Count)
	}
	// Over the scenario's day (an hour here, the rows being its first two
	// minutes), not over the span of the rows.
	if o, _ := Rates(rows, 60, []string{"issue"}, 3600); o.Mean != 4 {
		t.Errorf("offered over the day %v, want 240 over 60 wall s", o.Mean)
	}
	if o, g := Rates(nil, 60, nil, 0); o.Mean != 0 || g.Mean != 0 {
		t.Error("no rows, yet a rate")
	}
	for v, want := range map[float64]string{12.56: "12.6/s", 0.07234: "0.0723/s", 1234.5: "1235/s", 0: "0/s", 95: "95/s"} {
		if got := FormatRate(v); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestMetricsEventsCapacityHistogram(t *testing.T) {
	dir := t.TempDir()
	list := []Scrape{{Sim: t0, Wall: time.UnixMilli(1795000000123), DeferredBacklog: 3, SignersAvailable: 1, InFlight: 2, FraudEvents: math.NaN(), Up: true},
		{Sim: t0.Add(time.Second), Wall: time.UnixMilli(1795000001123), Up: false}}
	if err := WriteMetricsFile(dir, list); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, MetricsFile))
	var got []Scrape
	if err := ReadMetrics(f, "m.csv", func(s Scrape) error { got = append(got, s); return nil }); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if len(got) != 2 || got[0].DeferredBacklog != 3 || !math.IsNaN(got[0].FraudEvents) || !got[0].Up || got[1].Up ||
		!got[0].Wall.Equal(list[0].Wall) || !got[1].Sim.Equal(list[1].Sim) {
		t.Errorf("metrics read back %+v", got)
	}

	ev := &Events{Phases: []Phase{{Name: "a", Start: t0, End: t0.Add(time.Hour)}},
		Faults: []Fault{{Kind: "pause", Target: "signer", Start: t0, Params: map[string]float64{"latency_ms": 250}}}}
	if err := WriteEvents(dir, ev); err != nil {
		t.Fatal(err)
	}
	back, err := ReadEvents(dir)
	if err != nil || back.Faults[0].Params["latency_ms"] != 250 || !back.Faults[0].End.IsZero() || !back.Phases[0].Contains(t0) {
		t.Errorf("events read back %+v %v", back, err)
	}
	os.WriteFile(filepath.Join(dir, EventsFile), []byte(`{"phases":[{"name":"x","start":"2021-06-14T08:00:00Z","end":"2021-06-14T07:00:00Z"}]}`), 0o644)
	if _, err := ReadEvents(dir); err == nil || !strings.Contains(err.Error(), `phase "x" ends`) {
		t.Errorf("backwards phase: %v", err)
	}

	c := &Capacity{ForecastPeakRPS: 20, CapacityRPS: 25, Steps: []CapacityStep{{Rate: 10, Goodput: 10, OK: true}}}
	if err := WriteCapacity(dir, c); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadCapacity(filepath.Join(dir, CapacityFile)); err != nil || back.Steps[0].Goodput != 10 {
		t.Errorf("capacity %+v %v", back, err)
	} else if r, ok := back.HeadroomRatio(); !ok || r != 1.25 {
		t.Errorf("headroom %v %v", r, ok)
	}

	h := hdr.New(1, 60_000_000, 3)
	for v := int64(1); v <= 100; v++ {
		_ = h.RecordValue(v * 1000)
	}
	var hb bytes.Buffer
	if err := WriteHistogram(&hb, "issue", h); err != nil {
		t.Fatal(err)
	}
	hb.WriteString("# a comment\n")
	if err := WriteHistogram(&hb, "issue", h); err != nil {
		t.Fatal(err)
	}
	hs, err := ReadHistograms(&hb)
	if err != nil || hs["issue"].TotalCount() != 200 {
		t.Errorf("histograms %v %v", hs, err)
	}
	var le *HistogramLineError
	if _, err := ReadHistograms(strings.NewReader("issue,AAAA\n")); !errors.As(err, &le) || le.Line != 1 {
		t.Errorf("corrupt line: %v", err)
	}
}

func TestPercentilesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := Percentiles(ds)
	if p.Count != 100 || *p.P50 != 50 || *p.P99 != 99 || *p.Max != 100 {
		t.Errorf("1..100 ms: count %d p50 %v p99 %v max %v", p.Count, *p.P50, *p.P99, *p.Max)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentiles sorted its argument")
	}
	one := Percentiles([]time.Duration{1500 * time.Microsecond})
	if *one.P50 != 1.5 || *one.P99 != 1.5 {
		t.Errorf("one value: %+v", one)
	}
	if e := Percentiles(nil); e.Count != 0 || e.P50 != nil || e.P99 != nil || e.Max != nil {
		t.Errorf("none: %+v", e)
	}
}

// TestCostRoundTrip: summary.json's cost is written and read back with
// its per-request figures, and a summary without one reads as nil.
func TestCostRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := &Summary{Verdict: "pass"}
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSummary(dir); err != nil || got.Cost != nil {
		t.Fatalf("without cost: %+v, %v", got.Cost, err)
	}
	c := &Cost{Source: CostSourceProc, WallSeconds: 10, Requests: 500, Delivered: 0}
	c.Fill(map[string]float64{"portal": 1, "signer-1": 0.5}, nil, -1)
	s.Cost = c
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	for _, key := range []string{`"cost"`, `"cpu_ms_per_request": 2`, `"cpu_ms_per_delivered": null`, `"source": "proc"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("summary.json lacks %s:\n%s", key, raw)
		}
	}
	got, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := got.Cost.Component("portal")
	if !ok || p.CPUMsPerRequest != 2 || p.CPUMsPerDelivered != nil {
		t.Errorf("portal %+v %v", p, ok)
	}
	if sys, _ := got.Cost.Component("system"); sys.CPUSeconds != 1.5 || sys.CPUMsPerRequest != 3 {
		t.Errorf("system %+v", sys)
	}
	if _, ok := got.Cost.Component("generator"); ok {
		t.Error("a generator the meter could not read is reported")
	}
	if sg, ok := got.Cost.Component("signers"); !ok || sg.CPUSeconds != 0.5 {
		t.Errorf("signers %+v %v", sg, ok)
	}
}
