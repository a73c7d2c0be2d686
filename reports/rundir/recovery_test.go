package rundir

import (
	"math"
	"testing"
	"time"
)

// TestRecoveryOf: steady goodput, nothing delivered between the kill and
// the first commit after the promotion, then a slower recovery; the
// figures follow from the rows alone.
func TestRecoveryOf(t *testing.T) {
	t0 := time.Date(2021, 6, 14, 10, 0, 0, 0, time.UTC)
	var rows []Row
	for s := range 600 { // 10 simulated minutes, 1 s buckets
		at := t0.Add(time.Duration(s) * time.Second)
		var d int64
		switch {
		case s < 300:
			d = 10 // before the kill at 300 s
		case s < 330:
			d = 0 // no primary
		default:
			d = 9 // after: 90% of before
		}
		rows = append(rows, Row{Start: at, Class: "issue", Counts: Counts{Delivered: d}},
			Row{Start: at, Class: "attacker", Counts: Counts{Delivered: 100}})
	}
	kill, promoted := t0.Add(300*time.Second), t0.Add(325*time.Second)
	rec := RecoveryOf(rows, []string{"issue"}, 30, time.Time{}, kill, promoted)
	if !rec.Recovered || !rec.FirstCommit.Equal(t0.Add(330*time.Second)) {
		t.Fatalf("recovery %+v, want the first commit at 330 s", rec)
	}
	// 30 simulated seconds at x30 is one wall second.
	if rec.TimeToRecoverMS != 1000 {
		t.Errorf("time to recover %v ms, want 1000", rec.TimeToRecoverMS)
	}
	// Windows of 270 s (what is left after the first commit) on both sides.
	if rec.WindowSeconds != 270 || math.Abs(rec.GoodputRatio-0.9) > 1e-9 {
		t.Errorf("window %v s ratio %v, want 270 s and 0.9", rec.WindowSeconds, rec.GoodputRatio)
	}
	if want := 10.0 * 30; math.Abs(rec.GoodputBefore-want) > 1e-9 {
		t.Errorf("goodput before %v per wall second, want %v", rec.GoodputBefore, want)
	}

	// Never a commit after the promotion: not recovered, no ratio.
	var dead []Row
	for _, r := range rows {
		if r.Start.Before(kill) || r.Class != "issue" {
			dead = append(dead, r)
		}
	}
	if rec := RecoveryOf(dead, []string{"issue"}, 30, time.Time{}, kill, promoted); rec.Recovered || rec.GoodputRatio != 0 {
		t.Errorf("no commit after the kill judged recovered: %+v", rec)
	}
}
