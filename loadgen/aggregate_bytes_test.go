package loadgen

import (
	"testing"
	"time"
)

// TestAggregatorCountsBytesAndNotModified: response bytes add up over
// every attempt and 304s are counted per class and in the run's totals;
// a dropped send adds neither.
func TestAggregatorCountsBytesAndNotModified(t *testing.T) {
	agg, err := NewAggregator(AggregatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 6, 16, 7, 0, 0, 0, time.UTC)
	add := func(class string, seq uint64, attempt, code int, bytes uint64) {
		r := Record{Class: class, Seq: seq, Attempt: attempt, Intended: at, Sent: at, Latency: time.Millisecond,
			Code: code, Outcome: ClassifyStatus(code), BytesIn: bytes}
		if attempt == 0 {
			r.Outcome, r.Code = OutcomeTransport, 0
		}
		agg.Add(&r)
	}
	add("lists", 0, 1, 200, 5000)
	add("lists", 1, 1, 304, 0)
	add("lists", 2, 1, 503, 120)
	add("lists", 2, 2, 304, 0)
	add("lists", 3, 0, 0, 0)
	add("finder", 0, 1, 304, 0)
	add("finder", 1, 1, 200, 700)
	if err := agg.Close(); err != nil {
		t.Fatal(err)
	}
	tot := agg.Totals()
	if l := tot.Classes["lists"]; l.BytesIn != 5120 || l.NotModified != 2 || l.Requests != 4 {
		t.Errorf("lists: bytes %d, 304s %d, requests %d; want 5120, 2, 4", l.BytesIn, l.NotModified, l.Requests)
	}
	if f := tot.Classes["finder"]; f.BytesIn != 700 || f.NotModified != 1 {
		t.Errorf("finder: bytes %d, 304s %d; want 700, 1", f.BytesIn, f.NotModified)
	}
	if tot.BytesIn != 5820 || tot.NotModified != 3 {
		t.Errorf("run: bytes %d, 304s %d; want 5820, 3", tot.BytesIn, tot.NotModified)
	}
}
