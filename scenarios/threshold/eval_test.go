package threshold

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/reports/rundir"
)

var t0 = time.Date(2021, 6, 14, 11, 0, 0, 0, time.UTC)

// syntheticBuckets is three minutes of two classes: issue at 100/s (p99
// 200 ms, every ok a certificate delivered) and verify at 50/s (200s that
// deliver no certificate). In the surge minute (11:01) issue has 5 server
// errors a second from 11:01:10 to 11:01:29, p99 800 ms from 11:01:10 to
// 11:01:19, and 50 overloads a second from 11:01:40 to 11:01:49.
func syntheticBuckets() []Bucket {
	var bs []Bucket
	for s := 0; s < 180; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		is := Bucket{Start: at, Class: "issue", Counts: rundir.Counts{Offered: 100, Sent: 100, OK: 100}, P50: 50, P90: 120, P99: 200, Max: 250}
		if s >= 70 && s < 90 {
			is.OK, is.Error = 95, 5
		}
		if s >= 70 && s < 80 {
			is.P99, is.Max = 800, 900
		}
		if s >= 100 && s < 110 {
			is.OK, is.Overload = 50, 50
		}
		is.Delivered = is.OK
		vf := Bucket{Start: at, Class: "verify", Counts: rundir.Counts{Offered: 50, Sent: 50, OK: 50}, P50: 5, P90: 8, P99: 10, Max: 12}
		bs = append(bs, is, vf)
	}
	return bs
}

func writeRun(t *testing.T, summary map[string]any, bs []Bucket, withPhases bool) string {
	t.Helper()
	dir := t.TempDir()
	if summary != nil {
		b, err := json.Marshal(summary)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if bs != nil {
		if err := rundir.WriteTimeseriesFile(dir, bs); err != nil {
			t.Fatal(err)
		}
	}
	if withPhases {
		ph := func(name string, from, to int) map[string]any {
			return map[string]any{"name": name, "start": t0.Add(time.Duration(from) * time.Minute), "end": t0.Add(time.Duration(to) * time.Minute)}
		}
		b, _ := json.Marshal(map[string]any{"phases": []any{ph("opening", 0, 1), ph("surge", 1, 2), ph("closing", 2, 3)}})
		if err := os.WriteFile(filepath.Join(dir, "events.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func baseSummary() map[string]any {
	return map[string]any{
		"schema":          "golive.summary/v1",
		"goodput_classes": []string{"issue"},
		"latency_ms":      map[string]any{"p50": 40, "p90": 110, "p99": 310, "max": 900},
		"classes":         map[string]any{"issue": map[string]any{"latency_ms": map[string]any{"p50": 50, "p99": 320}}},
		"consistency":     map[string]any{"acknowledged": 17000, "lost": 2, "duplicates": 0},
		"security":        map[string]any{"fraud_issued": 3, "fraud_revoked": 3},
	}
}

func eval(t *testing.T, src Source, expr string) Result {
	t.Helper()
	r, err := Evaluate(src, MustParse(expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return r
}

func TestEvaluateWholeRun(t *testing.T) {
	rd, err := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr, value string
		ok          bool
		detail      string
	}{
		{"p99(issue) < 500ms", "320ms", true, "summary.json"},
		{"p99 < 300ms", "310ms", false, "summary.json"},
		// p95 is not in the summary: the bucket bound (max of per-bucket p99).
		{"p95(verify) < 20ms", "10ms", true, "upper bound"},
		// 100 server errors and 500 overloads (429 or 503, so counted
		// whole: an upper bound) among 27000 requests.
		{"rate(status>=500) < 1%", "2.22%", false, "overload (429/503) counted whole"},
		{"rate(status>=400) < 3%", "2.22%", true, "limit < 3%"},
		{"rate(outcome==error) < 0.3%", "0.37%", false, ""},
		{"rate(outcome==error) < 0.4%", "0.37%", true, ""},
		{"rate(class=issue, outcome==overload) <= 3%", "2.78%", true, ""},
		{"count(outcome==error) == 100", "100", true, ""},
		{"count(status>=400) > 600", "600", false, ""},
		// goodput (certificates delivered to the goodput class issue)
		// 17400/180 s against issue's offered 18000/180 s; verify's 200s
		// are no certificates and its actions no offered load here.
		{"goodput >= 0.95*offered", "96.7/s", true, "0.95*offered = 95/s; rates per wall second"},
		{"goodput >= 0.99*offered", "96.7/s", false, ""},
		{"goodput(verify) > 0", "0/s", false, ""},
		{"sent >= 150", "150/s", true, ""},
		{"lost == 0", "2", false, ""},
		{"duplicates == 0", "0", true, ""},
		{"fraud_issued == fraud_revoked", "", false, ""}, // placeholder, parse error tested below
	} {
		if strings.Contains(tc.expr, "== fraud_revoked") {
			if _, err := Parse(tc.expr); err == nil {
				t.Errorf("%s parsed: a bare metric on the right needs a factor", tc.expr)
			}
			continue
		}
		r := eval(t, rd, tc.expr)
		if r.OK != tc.ok || r.Value != tc.value || r.Scope != "run" || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("%s: ok=%v value=%q scope=%q detail=%q; want ok=%v value=%q detail containing %q",
				tc.expr, r.OK, r.Value, r.Scope, r.Detail, tc.ok, tc.value, tc.detail)
		}
	}
	// A figure the summary lacks fails with a reason rather than passing.
	rs := EvaluateAll(rd, []*Expr{MustParse("fraud_escaped == 0")})
	if rs[0].OK || !strings.Contains(rs[0].Detail, "not in the run's summary") {
		t.Errorf("missing fraud_escaped: %+v", rs[0])
	}
	if _, err := Evaluate(rd, MustParse("mean < 100ms")); err == nil {
		t.Error("mean without histogram.hdr evaluated")
	}
}

func TestEvaluateHistogramIsExactAndPreferred(t *testing.T) {
	dir := writeRun(t, baseSummary(), syntheticBuckets(), false)
	h := hdrhistogram.New(1, int64(time.Minute/rundir.HistogramUnit), 3)
	for i := 1; i <= 1000; i++ { // 1..1000 ms
		if err := h.RecordValue(int64(time.Duration(i) * time.Millisecond / rundir.HistogramUnit)); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "histogram.hdr"), []byte("issue,"+string(enc)+"\n"+
		"bulk,"+base64.StdEncoding.EncodeToString(enc)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rd, _ := OpenRunDir(dir)
	r := eval(t, rd, "p99(issue) < 500ms")
	if r.OK || r.Raw < 989 || r.Raw > 991 || !strings.Contains(r.Detail, "histogram.hdr") {
		t.Errorf("p99 from histogram: %+v", r)
	}
	if r := eval(t, rd, "mean(issue) < 600ms"); !r.OK || r.Raw < 499 || r.Raw > 502 {
		t.Errorf("mean from histogram: %+v", r)
	}
	// A line base64-encoded once more (an earlier misreading of the format) still reads.
	if r := eval(t, rd, "p50(bulk) < 600ms"); !r.OK || r.Raw < 499 || r.Raw > 502 {
		t.Errorf("p50 from a double-encoded line: %+v", r)
	}
	// The verify class has no histogram: the summary/bucket route answers.
	if r := eval(t, rd, "p99(verify) < 500ms"); !r.OK || strings.Contains(r.Detail, "histogram") {
		t.Errorf("verify p99: %+v", r)
	}
}

// TestEvaluateSubMillisecond: a limit in microseconds is judged against
// the histogram's microseconds, not a rounded millisecond.
func TestEvaluateSubMillisecond(t *testing.T) {
	dir := writeRun(t, baseSummary(), syntheticBuckets(), false)
	h := hdrhistogram.New(1, int64(time.Minute/rundir.HistogramUnit), 3)
	for i := 1; i <= 1000; i++ { // 1..1000 us
		if err := h.RecordValue(int64(time.Duration(i) * time.Microsecond / rundir.HistogramUnit)); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "histogram.hdr"), []byte("issue,"+string(enc)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rd, _ := OpenRunDir(dir)
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"p99(issue) < 500us", false}, // p99 is 990 us
		{"p50(issue) < 500us", false}, // p50 is 500 us, not below
		{"p50(issue) <= 500us", true},
		{"p99(issue) < 995\u00b5s", true},
		{"p99(issue) < 985\u03bcs", false},
		{"p99(issue) < 1ms", true},
		{"p99(issue) < 989000ns", false},
	} {
		r := eval(t, rd, tc.expr)
		if r.OK != tc.ok || !strings.Contains(r.Detail, "histogram.hdr") {
			t.Errorf("%s: ok=%v value=%q detail=%q, want ok=%v from histogram.hdr", tc.expr, r.OK, r.Value, r.Detail, tc.ok)
		}
	}
	if r := eval(t, rd, "p99(issue) < 500us"); r.Value != "990\u00b5s" {
		t.Errorf("p99 shown as %q, want 990\u00b5s", r.Value)
	}
}

func TestEvaluatePerPhase(t *testing.T) {
	rd, _ := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), true))
	r := eval(t, rd, "rate(status>=500) < 1% per phase")
	// Surge: 100 errors + 500 overloads (counted whole) of 9000.
	if r.OK || r.Scope != "phase:surge" || r.Value != "6.67%" || !strings.Contains(r.Detail, "1 failed") {
		t.Errorf("per phase: %+v", r)
	}
	r = eval(t, rd, "p99(issue) < 500ms per phase")
	if r.OK || r.Scope != "phase:surge" || r.Value != "800ms" || !strings.Contains(r.Detail, "upper bound") {
		t.Errorf("p99 per phase: %+v", r)
	}
	if r := eval(t, rd, "p99(verify) < 500ms per phase"); !r.OK || r.Value != "10ms" {
		t.Errorf("verify p99 per phase: %+v", r)
	}
	// Without events.json there are no phases to judge.
	noPh, _ := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), false))
	if _, err := Evaluate(noPh, MustParse("p99 < 1s per phase")); err == nil {
		t.Error("per phase without phases evaluated")
	}
}

func TestEvaluateSlidingWindow(t *testing.T) {
	rd, _ := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), true))
	// The whole run passes, a minute that holds all 20 error seconds does
	// not: the first such window starts at 11:00:30.
	r := eval(t, rd, "rate(outcome==error) < 1% over 1m")
	if r.OK || r.Scope != "window:1m@11:00:30" || r.Value != "1.11%" || !strings.Contains(r.Detail, "worst of 121 windows") {
		t.Errorf("over 1m: %+v", r)
	}
	r = eval(t, rd, "rate(outcome==error) < 1% over 20s")
	if r.OK || r.Scope != "window:20s@11:01:10" || r.Value != "3.33%" {
		t.Errorf("over 20s: %+v", r)
	}
	// Goodput dips below 95% of offered in the minute that holds the
	// errors and the overloads: (6000-100-500)/60 s.
	r = eval(t, rd, "goodput >= 0.95*offered over 1m")
	if r.OK || r.Value != "90/s" || r.Scope != "window:1m@11:00:50" || !strings.Contains(r.Detail, "95/s") {
		t.Errorf("goodput over 1m: %+v", r)
	}
	if r := eval(t, rd, "goodput >= 0.95*offered"); !r.OK {
		t.Errorf("goodput over the run: %+v", r)
	}
	if r := eval(t, rd, "p99(verify) < 11ms over 1m"); !r.OK || r.Value != "10ms" {
		t.Errorf("verify over 1m: %+v", r)
	}
	// A window longer than the run judges the run as one window.
	if r := eval(t, rd, "rate(outcome==error) < 1% over 10m"); !r.OK || r.Value != "0.37%" {
		t.Errorf("over 10m: %+v", r)
	}
}

func TestLiveMatchesBatchAndAborts(t *testing.T) {
	exprs := []*Expr{
		MustParse("rate(outcome==error) < 1.05% over 1m abortOnFail"),
		MustParse("p99(issue) < 500ms over 30s"),
		MustParse("lost == 0"), // not judgeable mid-run
	}
	live := NewLive(exprs)
	bs := syntheticBuckets()
	abortAt := time.Time{}
	for _, b := range bs {
		live.Add(b)
		rs := live.Check()
		if len(rs) != 2 {
			t.Fatalf("Check returned %d results, want the 2 windowed thresholds", len(rs))
		}
		if _, ok := ShouldAbort(rs); ok && abortAt.IsZero() {
			abortAt = b.Start
		}
		for _, w := range live.wins {
			// One window of buckets (two classes) plus the arriving second.
			if len(w.buf) > 2*(int(w.e.Window/time.Second)+2) {
				t.Fatalf("live buffer holds %d buckets for %s", len(w.buf), w.e.Src)
			}
		}
	}
	// The first minute with 19 error seconds (95/9000 = 1.06%) starts at
	// 11:00:29 and is complete once the bucket at 11:01:29 arrives: judging
	// a partial window would abort earlier.
	if want := t0.Add(89 * time.Second); !abortAt.Equal(want) {
		t.Errorf("abort signalled at %v, want %v", abortAt, want)
	}
	final := live.Final()
	rd, _ := OpenRunDir(writeRun(t, nil, bs, false))
	for i, r := range final {
		batch := eval(t, rd, exprs[i].Src)
		if r.OK != batch.OK || r.Value != batch.Value || r.Scope != batch.Scope || r.Detail != batch.Detail {
			t.Errorf("live %+v\nbatch %+v", r, batch)
		}
	}
}

// Goodput is certificates delivered per wall second: a 202 is not
// goodput until its ticket is found done, and on a compressed clock (60
// simulated seconds per wall second) a rate is the simulated count over
// the wall time, the unit summary.json uses.
func TestGoodputIsDeliveredCertificatesPerWallSecond(t *testing.T) {
	var bs []Bucket
	for s := range 120 {
		b := Bucket{Start: t0.Add(time.Duration(s) * time.Second), Class: "issue", Counts: rundir.Counts{Offered: 2, Sent: 2}}
		if s < 60 {
			// The signer is cut off: every action is deferred; polls find nothing.
			b.Deferred, b.Deferrals, b.Accepted = 2, 2, 2
		} else {
			// Back: each second delivers its own two and two of the backlog.
			b.OK, b.Delivered, b.Accepted = 4, 4, 2
			b.Sent = 4
		}
		bs = append(bs, b)
	}
	sum := map[string]any{"schema": rundir.Schema, "timescale": 60, "goodput_classes": []string{"issue"}}
	rd, err := OpenRunDir(writeRun(t, sum, bs, false))
	if err != nil {
		t.Fatal(err)
	}
	// 240 offered and 240 delivered over 120 simulated s = 2 wall s.
	if r := eval(t, rd, "goodput >= 0.95*offered"); !r.OK || r.Value != "120/s" || !strings.Contains(r.Detail, "114/s") {
		t.Errorf("whole run: %+v", r)
	}
	// During the cut-off nothing is delivered, however many tickets.
	r := eval(t, rd, "goodput >= 0.95*offered over 30s")
	if r.OK || r.Value != "0/s" || r.Scope != "window:30s@11:00" {
		t.Errorf("cut-off window: %+v", r)
	}
	// The work was taken on all along: a ticket is accepted, not delivered.
	if r := eval(t, rd, "accepted >= 0.95*offered over 30s"); !r.OK || r.Value != "120/s" {
		t.Errorf("accepted during the cut-off: %+v", r)
	}
	if r := eval(t, rd, "offered < 121"); !r.OK || r.Value != "120/s" {
		t.Errorf("offered: %+v", r)
	}
	// With the scenario's day in the summary (four simulated minutes, the
	// buckets being its first two), whole-run rates divide by the day.
	sum["sim"] = map[string]any{"start": t0, "end": t0.Add(4 * time.Minute)}
	day, _ := OpenRunDir(writeRun(t, sum, bs, false))
	if r := eval(t, day, "offered < 61"); !r.OK || r.Value != "60/s" {
		t.Errorf("offered over the day: %+v", r)
	}
}

// A summary.json of a newer major schema is refused with one line saying so.
func TestRunDirRefusesNewerSchema(t *testing.T) {
	rd, err := OpenRunDir(writeRun(t, map[string]any{"schema": "golive.summary/v2", "goodput": map[string]any{"mean": "fast"}}, syntheticBuckets(), false))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(rd, MustParse("goodput >= 0.95*offered"))
	if err == nil || !errors.Is(err, rundir.ErrSchema) || !strings.Contains(err.Error(), "schema golive.summary/v2 is newer than this golive understands (v1); upgrade golive") {
		t.Errorf("v2 summary: %v", err)
	}
}

func TestOpenRunDirErrors(t *testing.T) {
	if _, err := OpenRunDir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing dir opened")
	}
	if _, err := OpenRunDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("empty dir: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "timeseries.csv"), []byte(rundir.TimeseriesHeader+"\nyesterday,issue,3,3,0,0,3,0,0,0,0,0,0,1,1,1,1,0,3,0,3\n"), 0o644)
	rd, err := OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Buckets(); err == nil || !strings.Contains(err.Error(), "timeseries.csv:2: sim_time") {
		t.Errorf("bad sim_time: %v", err)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		k    Kind
		v    float64
		want string
	}{{Latency, 123.4, "123ms"}, {Latency, 12.34, "12.3ms"}, {Latency, 12345, "12.3s"},
		{Latency, 0.48, "480\u00b5s"}, {Latency, 0.9996, "1ms"}, {Latency, 1, "1ms"}, {Latency, 0, "0ms"}, {Fraction, 0.004, "0.4%"},
		{Count, 3, "3"}, {PerSecond, 1234.56, "1235/s"}, {Ratio, 1.05, "1.05"}} {
		if got := format(tc.k, tc.v); got != tc.want {
			t.Errorf("format(%v, %v) = %q, want %q", tc.k, tc.v, got, tc.want)
		}
	}
	if s := fmt.Sprint(fmtDuration(90*time.Second), fmtDuration(time.Hour), fmtDuration(30*time.Second)); s != "1m30s1h30s" {
		t.Errorf("durations: %s", s)
	}
}

// BenchmarkWindowsLongRun judges "over 1m" on a 13-hour run of two
// classes (93 600 buckets, 46 741 windows): the cost must stay linear in
// the run length.
func BenchmarkWindowsLongRun(b *testing.B) {
	var bs []Bucket
	for s := 0; s < 13*3600; s++ {
		for _, c := range []string{"issue", "verify"} {
			bk := Bucket{Start: t0.Add(time.Duration(s) * time.Second), Class: c, Counts: rundir.Counts{Offered: 10, Sent: 10, OK: 10},
				P50: 5, P90: 9, P99: 20, Max: 30}
			bs = append(bs, bk)
		}
	}
	src := staticSource(bs)
	e := MustParse("rate(status>=500) < 1% over 1m")
	b.ResetTimer()
	for range b.N {
		if r, err := Evaluate(src, e); err != nil || !r.OK {
			b.Fatal(r, err)
		}
	}
}

// staticSource is a Source of buckets alone.
type staticSource []Bucket

func (s staticSource) Buckets() ([]Bucket, error) { return s, nil }
func (s staticSource) Phases() ([]Phase, error)   { return nil, nil }
func (s staticSource) Latency(string, float64) (float64, string, bool, error) {
	return 0, "", false, nil
}
func (s staticSource) Figure(string) (float64, bool, error) { return 0, false, nil }
