package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/reports/rundir"
)

var w0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// compressed: a simulated minute per wall second, starting at t0.
var compressed = simclock.Clock{SimStart: t0, WallStart: w0, Scale: 60}

// at is the wall time of simulated offset d.
func at(d time.Duration) time.Time { return compressed.Wall(t0.Add(d)) }

func syntheticRecords() []Record {
	var rs []Record
	// Simulated second 0, class a: ten first sends of 1..10 ms, the 10th late by 50 ms.
	for i := range 10 {
		in := at(time.Duration(i) * 50 * time.Millisecond)
		r := Record{Class: "a", Seq: uint64(i), Attempt: 1, Intended: in, Sent: in, Latency: time.Duration(i+1) * time.Millisecond, Code: 201, Outcome: OutcomeOK}
		if i == 9 {
			r.Sent = in.Add(50 * time.Millisecond)
		}
		rs = append(rs, r)
	}
	// Simulated second 1: one 503, its retry (ok), a ticket poll done (retries: 2),
	// a dropped send. Second 0's p99 is the late send: 10 ms + 50 ms waiting.
	in := at(1100 * time.Millisecond)
	rs = append(rs,
		Record{Class: "a", Seq: 10, Attempt: 1, Intended: in, Sent: in, Latency: 4 * time.Millisecond, Code: 503, Outcome: OutcomeOverload},
		Record{Class: "a", Seq: 10, Attempt: 2, Intended: at(1500 * time.Millisecond), Sent: at(1500 * time.Millisecond), Latency: 6 * time.Millisecond, Code: 201, Outcome: OutcomeOK},
		Record{Class: "a", Seq: 11, Attempt: 3, Intended: in, Sent: in, Latency: 8 * time.Millisecond, Code: 200, Outcome: OutcomeTicketDone},
		Record{Class: "a", Seq: 12, Attempt: 0, Intended: in, Sent: in, Outcome: OutcomeTransport, Error: "dropped"},
		Record{Class: "b", Seq: 0, Attempt: 1, Intended: in, Sent: in, Latency: 30 * time.Millisecond, Code: 400, Outcome: OutcomeRejected},
	)
	return rs
}

func TestAggregatorTimeseriesAndTotals(t *testing.T) {
	var ts bytes.Buffer
	agg, err := NewAggregator(AggregatorConfig{Clock: compressed, Timeseries: &ts})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range syntheticRecords() {
		agg.Add(&r)
	}
	if err := agg.Close(); err != nil {
		t.Fatal(err)
	}
	// Certificates count (delivered, accepted) in the second they
	// arrived: the late send's reached its user at 07:00:04.
	want := rundir.TimeseriesHeader + `
2021-06-14T07:00:00+02:00,a,10,10,1,0,10,0,0,0,0,0,0,5.000,9.000,60.000,60.000,0,9,0,9
2021-06-14T07:00:01+02:00,a,2,3,0,1,2,0,0,1,0,0,0,6.000,8.000,8.000,8.000,2,2,0,2
2021-06-14T07:00:01+02:00,b,1,1,0,0,0,0,1,0,0,0,0,30.000,30.000,30.000,30.000,0,0,0,0
2021-06-14T07:00:04+02:00,a,0,0,0,0,0,0,0,0,0,0,0,0.000,0.000,0.000,0.000,0,1,0,1
`
	if ts.String() != want {
		t.Fatalf("timeseries:\n%s\nwant:\n%s", ts.String(), want)
	}
	tot := agg.Totals()
	a := tot.Classes["a"]
	if a.Offered != 12 || a.Actions != 11 || a.Requests != 13 || a.Retries != 2 || a.Dropped != 1 || a.Late != 1 ||
		a.OK != 11 || a.TicketDone != 1 || a.Overload != 1 || a.Delivered != 12 || a.Deferrals != 0 || a.Accepted != 12 {
		t.Fatalf("class a: %+v", a)
	}
	if got := a.RetryAmplification; got < 13.0/11-1e-9 || got > 13.0/11+1e-9 {
		t.Errorf("retry amplification %v, want 13/11", got)
	}
	if tot.Requests != 14 || tot.Rejected != 1 || tot.Offered != 13 {
		t.Errorf("run totals %+v", tot.Counts)
	}
	// Latency from the intended time: the late send waited 50 ms more.
	if a.Latency.Max < 60*time.Millisecond || a.Latency.Max > 61*time.Millisecond || a.Service.Max > 11*time.Millisecond {
		t.Errorf("class a latency %+v service %+v", a.Latency, a.Service)
	}

	var hb bytes.Buffer
	if err := agg.WriteHistograms(&hb); err != nil {
		t.Fatal(err)
	}
	hs, err := rundir.ReadHistograms(&hb)
	if err != nil {
		t.Fatal(err)
	}
	if hs["a"].TotalCount() != 13 || hs["b"].TotalCount() != 1 || len(hs) != 2 {
		t.Fatalf("histograms read back: %d classes", len(hs))
	}
}

// Goodput is certificates, once per user action, when the user got them:
// a 202 is not goodput (it is accepted work), its ticket counts when a poll
// finds it done, and an impatient duplicate answered with the replayed 201
// adds nothing.
func TestAggregatorDeliveredOncePerActionWhenTheCertificateArrives(t *testing.T) {
	var ts bytes.Buffer
	agg, err := NewAggregator(AggregatorConfig{Clock: compressed, Timeseries: &ts})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	rec := func(seq uint64, attempt int, simAt time.Duration, code int, o Outcome) Record {
		return Record{Class: "a", Seq: seq, Attempt: attempt, Intended: at(simAt), Sent: at(simAt), Latency: ms, Code: code, Outcome: o}
	}
	recs := []Record{
		// Action 0: 202 at 07:00:00, two polls, the second finds it done at 07:00:30.
		rec(0, 1, 0, 202, OutcomeDeferred),
		rec(0, 2, 10500*ms, 200, OutcomeDeferred),
		rec(0, 3, 30500*ms, 200, OutcomeTicketDone),
		// Action 1: 201, and an impatient duplicate answered with the same 201.
		rec(1, 1, 0, 201, OutcomeOK),
		rec(1, 2, 3500*ms, 201, OutcomeOK),
		// Action 2: a 202 whose ticket the user never saw done.
		rec(2, 1, 0, 202, OutcomeDeferred),
		// Action 3: a 200 that is no certificate (a verification, say).
		rec(3, 1, 0, 200, OutcomeOK),
	}
	var fresh, taken []bool
	for i := range recs {
		d, a := agg.Add(&recs[i])
		fresh, taken = append(fresh, d), append(taken, a)
	}
	if err := agg.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, false, true, true, false, false, false}; fmt.Sprint(fresh) != fmt.Sprint(want) {
		t.Errorf("Add reported new certificates %v, want %v", fresh, want)
	}
	if want := []bool{true, false, false, true, false, true, false}; fmt.Sprint(taken) != fmt.Sprint(want) {
		t.Errorf("Add reported accepted actions %v, want %v", taken, want)
	}
	rows, err := rundir.ReadTimeseries(&ts, "ts")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]rundir.Counts{}
	for _, r := range rows {
		got[int(r.Start.Sub(t0)/time.Second)] = r.Counts
	}
	if c := got[0]; c.Delivered != 1 || c.Deferrals != 2 || c.Accepted != 3 || c.Offered != 4 || c.OK != 2 || c.Deferred != 2 {
		t.Errorf("07:00:00: %+v, want 1 delivered (the 201), 2 deferrals, 3 accepted, 4 offered", c)
	}
	if c := got[3]; c.Delivered != 0 || c.OK != 1 || c.Offered != 0 || c.Retries != 1 {
		t.Errorf("07:00:03 (the duplicate): %+v, want no new certificate", c)
	}
	if c := got[10]; c.Delivered != 0 || c.Deferred != 1 {
		t.Errorf("07:00:10 (the pending poll): %+v, want no certificate", c)
	}
	if c := got[30]; c.Delivered != 1 || c.OK != 1 || c.Accepted != 0 {
		t.Errorf("07:00:30 (the poll that found the ticket done): %+v, want 1 delivered", c)
	}
	tot := agg.Totals()
	if tot.Delivered != 2 || tot.Deferrals != 2 || tot.Accepted != 3 || tot.Offered != 4 {
		t.Errorf("totals: %d delivered, %d deferrals, %d offered; want 2, 2, 4", tot.Delivered, tot.Deferrals, tot.Offered)
	}
}

func TestAggregatorClosesOldBucketsAndCountsStragglers(t *testing.T) {
	var ts bytes.Buffer
	agg, _ := NewAggregator(AggregatorConfig{Clock: compressed, Timeseries: &ts, Window: time.Second})
	r := Record{Class: "a", Attempt: 1, Intended: at(0), Sent: at(0), Latency: time.Millisecond, Outcome: OutcomeOK}
	agg.Add(&r)
	// A record ending 5 wall seconds later closes every bucket before
	// simulated 240 s (4 wall seconds at 60x).
	late := Record{Class: "a", Seq: 1, Attempt: 1, Intended: w0.Add(5 * time.Second), Sent: w0.Add(5 * time.Second), Latency: time.Millisecond, Outcome: OutcomeOK}
	agg.Add(&late)
	if rows := strings.Count(ts.String(), "\n"); rows != 0 {
		// Still buffered: flushed on Close. Count open buckets instead.
		t.Logf("rows so far %d", rows)
	}
	if len(agg.keys) != 1 {
		t.Fatalf("%d buckets open, want 1 (the first closed)", len(agg.keys))
	}
	straggler := r
	straggler.Seq = 2
	agg.Add(&straggler)
	agg.Close()
	tot := agg.Totals()
	if tot.Stragglers != 1 || tot.Requests != 3 {
		t.Fatalf("stragglers %d requests %d", tot.Stragglers, tot.Requests)
	}
	// The straggler is not lost: an extra row of its second at the end.
	rows, err := rundir.ReadTimeseries(&ts, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !rows[2].Start.Equal(rows[0].Start) || rows[2].Offered != 1 || rows[2].Sent != 1 {
		t.Fatalf("rows %+v, want the straggler's own row for second 0 last", rows)
	}
	var offered int64
	for _, r := range rows {
		offered += r.Offered
	}
	if offered != int64(tot.Offered) {
		t.Errorf("timeseries offers %d, totals %d", offered, tot.Offered)
	}
}

// A bucket over smallExact values switches to its histogram and keeps its percentiles.
func TestAggregatorDenseBucket(t *testing.T) {
	var ts bytes.Buffer
	agg, _ := NewAggregator(AggregatorConfig{Timeseries: &ts})
	for i := range 5000 {
		r := Record{Class: "a", Seq: uint64(i), Attempt: 1, Intended: w0, Sent: w0, Latency: time.Duration(i+1) * time.Millisecond, Outcome: OutcomeOK}
		agg.Add(&r)
	}
	agg.Close()
	f := strings.Split(strings.Split(ts.String(), "\n")[1], ",")
	if len(agg.pool) != 1 {
		t.Fatalf("the bucket's histogram was not used and recycled (pool %d)", len(agg.pool))
	}
	// Percentiles within the 2-figure histogram's 1 %.
	for i, want := range map[int]float64{13: 2500, 14: 4500, 15: 4950, 16: 5000} {
		var got float64
		if _, err := fmtSscan(f[i], &got); err != nil || got < want*0.99 || got > want*1.01 {
			t.Errorf("column %d = %s, want ~%v", i, f[i], want)
		}
	}
}

func TestAggregateFilesMatchesOnline(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	var online bytes.Buffer
	agg, _ := NewAggregator(AggregatorConfig{Clock: compressed, Timeseries: &online})
	for _, r := range syntheticRecords() {
		agg.Add(&r)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	agg.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	tot, err := AggregateFiles(dir, out, AggregatorConfig{Clock: compressed})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(out, rundir.TimeseriesFile))
	if string(got) != online.String() {
		t.Fatalf("from files:\n%s\nonline:\n%s", got, online.String())
	}
	if tot.Requests != agg.Totals().Requests || tot.Latency != agg.Totals().Latency {
		t.Fatalf("totals differ: %+v vs %+v", tot.Counts, agg.Totals().Counts)
	}
	if _, err := os.Stat(filepath.Join(out, rundir.HistogramFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := AggregateFiles(t.TempDir(), out, AggregatorConfig{}); err == nil {
		t.Fatal("AggregateFiles of an empty directory succeeded")
	}
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
