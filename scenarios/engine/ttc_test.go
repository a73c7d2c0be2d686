package engine

import (
	"github.com/golive-dev/golive/reports/rundir"

	"testing"
	"time"
)

func TestTimeToCertCountsCustomersWithoutOneAsBeyondTheRun(t *testing.T) {
	start := time.Date(2021, 6, 15, 8, 0, 0, 0, time.UTC)
	c := &certWaits{end: start.Add(10 * time.Hour)}
	for i := range 98 {
		c.direct("issue", start.Add(time.Duration(i)*time.Minute), time.Duration(i+1)*time.Millisecond, true)
	}
	// One deferred certificate signed 5 h later: its time is on the
	// simulated clock; one signed after the clock's end left without one.
	c.deferred("issue", start.Add(3*time.Hour), start.Add(8*time.Hour))
	c.deferred("issue", start.Add(9*time.Hour), start.Add(11*time.Hour))

	got := timeToCert(c.all)
	if got.Actions != 100 || got.WithCert != 99 || got.WithoutCert != 1 || got.LeftShare != 0.01 {
		t.Fatalf("counts %+v", got)
	}
	if got.P50 == nil || *got.P50 != 50 || got.P99 == nil || *got.P99 != float64(5*time.Hour/time.Millisecond) {
		t.Fatalf("p50 %v p99 %v: want 50 ms and the 5 h ticket", deref(got.P50), deref(got.P99))
	}
	if got.Max != nil {
		t.Fatalf("max %v: the customer without a certificate makes it beyond the run", *got.Max)
	}

	// Two customers in a hundred without one: p99 is beyond the run too.
	c.direct("issue", start, 0, false)
	if got := timeToCert(c.all); got.P99 != nil || got.P90 == nil {
		t.Fatalf("with 2 of 101 left: p90 %v p99 %v", deref(got.P90), deref(got.P99))
	}
}

func TestTimeToCertByPhaseAndClass(t *testing.T) {
	start := time.Date(2021, 6, 15, 8, 0, 0, 0, time.UTC)
	c := &certWaits{end: start.Add(4 * time.Hour)}
	c.direct("issue", start.Add(10*time.Minute), 300*time.Millisecond, true)
	c.direct("issue", start.Add(70*time.Minute), 0, false)
	c.direct("stolen", start.Add(80*time.Minute), time.Second, true)
	run, classes, phases := c.summaries([]rundir.Phase{
		{Name: "early", Start: start, End: start.Add(time.Hour)},
		{Name: "late", Start: start.Add(time.Hour), End: start.Add(4 * time.Hour)},
	})
	if run.Actions != 3 || classes["issue"].WithoutCert != 1 || classes["stolen"].WithCert != 1 {
		t.Fatalf("run %+v classes %+v", run, classes)
	}
	if e := phases["early"]; e.Actions != 1 || e.P99 == nil || *e.P99 != 300 {
		t.Fatalf("early phase %+v", e)
	}
	if l := phases["late"]; l.Actions != 2 || l.LeftShare != 0.5 || l.P50 == nil || *l.P50 != 1000 || l.P99 != nil {
		t.Fatalf("late phase %+v", l)
	}
}

func deref(p *float64) any {
	if p == nil {
		return "beyond the run"
	}
	return *p
}
