package threshold

import (
	"sync"

	"github.com/golive-dev/golive/reports/rundir"
)

// Live judges thresholds while a run is going: the engine feeds it each
// timeseries bucket as the aggregator closes it and calls Check to learn
// whether to abort. Only thresholds with an "over" window can be judged
// mid-run (a whole-run or per-phase value is not known until the end);
// Live ignores the others. Memory is bounded by one window of buckets per
// threshold.
type Live struct {
	mu   sync.Mutex
	wins []*windows
}

// NewLive returns a Live for the judgeable thresholds among exprs.
func NewLive(exprs []*Expr) *Live {
	l := &Live{}
	for _, e := range exprs {
		if Judgeable(e) {
			l.wins = append(l.wins, newWindows(e, realTime))
		}
	}
	return l
}

// WithRates sets the run's timescale (simulated seconds per wall second)
// and goodput classes (nil: every class), so live rates are per wall
// second like the final verdict's. Call it before the first Add.
func (l *Live) WithRates(timescale float64, goodputClasses []string) *Live {
	rc := rateClock{timescale: max(timescale, 0), customer: rundir.ClassFilter(goodputClasses)}
	if rc.timescale == 0 {
		rc.timescale = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.wins {
		w.rc = rc
	}
	return l
}

// Judgeable reports whether a threshold can be judged mid-run: it has an
// "over" window and needs nothing but timeseries buckets.
func Judgeable(e *Expr) bool {
	if e.Scope != Window {
		return false
	}
	for _, m := range []*Metric{&e.Metric, e.Factor} {
		if m != nil && (m.WholeRunOnly || m.Kind == Latency && m.Quantile == 0) {
			return false
		}
	}
	return true
}

// Add feeds one bucket. Buckets should arrive in time order (several
// classes may share a start); a window is judged once a bucket at or after
// its end has arrived.
func (l *Live) Add(b Bucket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.wins {
		w.add(b)
	}
}

// Check judges the windows completed since the last call and returns, per
// judgeable threshold, the worst window so far. A result with !OK && Abort
// asks the engine to stop.
func (l *Live) Check() []Result {
	return l.check(false)
}

// Final judges the remaining complete windows at the end of the run (a run
// shorter than a window is judged as one window).
func (l *Live) Final() []Result {
	return l.check(true)
}

func (l *Live) check(final bool) []Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Result, 0, len(l.wins))
	for _, w := range l.wins {
		if err := w.flush(final); err != nil {
			out = append(out, Result{Expr: w.e.Src, Abort: w.e.Abort, Value: "n/a",
				Scope: "window:" + fmtDuration(w.e.Window), Detail: err.Error()})
			continue
		}
		out = append(out, w.result())
	}
	return out
}

// ShouldAbort returns the first failed result that asks for an abort.
func ShouldAbort(rs []Result) (Result, bool) {
	for _, r := range rs {
		if !r.OK && r.Abort {
			return r, true
		}
	}
	return Result{}, false
}
