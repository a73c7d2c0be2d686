package evidence

import (
	"math"
	"sort"
	"time"

	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// sendEpsilon is loadgen's cumEpsilon: the pacer counts a hit due exactly
// when its integral reaches a whole number.
const sendEpsilon = 1e-6

// Assess judges every need at timescale and demandScale: expected counts
// from the demand, and actual ones from bs when the run wrote its buckets
// (nil before a run).
func Assess(needs []Need, timescale, demandScale float64, bs []threshold.Bucket) []verdict.Evidence {
	out := make([]verdict.Evidence, 0, len(needs))
	for _, n := range needs {
		out = append(out, n.Assess(timescale, demandScale, bs))
	}
	return out
}

// Assess judges one need: its best way at these scales (the one whose
// count goes furthest towards its minimum), and the largest timescale and
// smallest demand scale any of its ways can judge it at.
func (n Need) Assess(timescale, demandScale float64, bs []threshold.Bucket) verdict.Evidence {
	ev := verdict.Evidence{Kind: n.Kind, Name: n.Name, Forces: n.Forces}
	best := -1.0
	for _, w := range n.ways {
		exp := w.expected(timescale, demandScale)
		count := exp
		var act *float64
		if bs != nil {
			a := w.actual(bs)
			act, count = &a, a
		}
		if score := count / float64(w.min); score > best {
			best = score
			ev.Needs, ev.Min, ev.Expected, ev.Actual = w.needs, w.min, round2(exp), act
			ev.Enough = count >= float64(w.min)
		}
		ev.MaxTimescale = math.Max(ev.MaxTimescale, w.maxTimescale(demandScale))
		if ds := w.minDemandScale(timescale); ds > 0 && (ev.MinDemandScale == 0 || ds < ev.MinDemandScale) {
			ev.MinDemandScale = ds
		}
	}
	return ev
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// expected is the count the pacer gives the way at these scales.
func (w way) expected(timescale, demandScale float64) float64 {
	k := demandScale / timescale
	in := func(from, to time.Time) float64 {
		n := 0.0
		for _, c := range w.classes {
			a := k * c.Demand.Total(w.start, from)
			b := k * c.Demand.Total(w.start, to)
			n += math.Floor(b+sendEpsilon) - math.Floor(a+sendEpsilon)
		}
		return n
	}
	return w.best(in) / float64(w.accounts)
}

// integral is the count without the pacer's whole hits, at scale factor k.
func (w way) integral(k float64) float64 {
	return w.best(func(from, to time.Time) float64 { return k * total(w.classes, from, to) }) / float64(w.accounts)
}

// best is in over the way's spans, or its best sliding window.
func (w way) best(in func(from, to time.Time) float64) float64 {
	sum := func(from, to time.Time) float64 {
		n := 0.0
		for _, s := range w.spans {
			a, b := later(s.from, from), earlier(s.to, to)
			if b.After(a) {
				n += in(a, b)
			}
		}
		return n
	}
	if len(w.spans) == 0 {
		return 0
	}
	first, last := w.spans[0].from, w.spans[len(w.spans)-1].to
	if w.window <= 0 || last.Sub(first) <= w.window {
		return sum(first, last)
	}
	// Window starts on a grid plus where a span begins (a window is most
	// full when it starts with one); the grid makes this a close lower
	// bound where demand ramps inside a span.
	starts := []time.Time{}
	step := max(w.window/60, time.Second)
	for t := first; !t.After(last.Add(-w.window)); t = t.Add(step) {
		starts = append(starts, t)
	}
	for _, s := range w.spans {
		starts = append(starts, s.from)
	}
	m := 0.0
	for _, t := range starts {
		m = math.Max(m, sum(t, t.Add(w.window)))
	}
	return m
}

// maxTimescale is the largest timescale (rounded down to three
// significant digits) whose count still reaches min at demandScale; 0 when
// even the real-world clock (timescale 1) does not.
func (w way) maxTimescale(demandScale float64) float64 {
	i := w.integral(demandScale) // the count at timescale 1
	if i < float64(w.min) {
		return 0
	}
	ts := roundDown3(i / float64(w.min))
	for range 2000 {
		if ts < 1 {
			return 0
		}
		if w.expected(ts, demandScale) >= float64(w.min) {
			return ts
		}
		ts = roundDown3(ts * 0.995)
	}
	return 0
}

// minDemandScale is the smallest demand scale (rounded up to three
// significant digits) whose count reaches min at timescale; 0 when the
// way has no demand.
func (w way) minDemandScale(timescale float64) float64 {
	i := w.integral(1 / timescale) // the count at demand scale 1
	if i <= 0 {
		return 0
	}
	ds := roundUp3(float64(w.min) / i)
	for range 2000 {
		if w.expected(timescale, ds) >= float64(w.min) {
			return ds
		}
		ds = roundUp3(ds * 1.005)
	}
	return 0
}

// actual is the way's count in a finished run's buckets: user actions the
// demand offered, or answered attempts, of its classes in its spans (or
// their best sliding window), per account.
func (w way) actual(bs []threshold.Bucket) float64 {
	in := map[string]bool{}
	for _, c := range w.classes {
		in[c.Name] = true
	}
	type ev struct {
		at time.Time
		n  float64
	}
	var evs []ev
	for _, b := range bs {
		if !in[b.Class] || !w.covers(b.Start) {
			continue
		}
		n := float64(b.Offered)
		if w.responses {
			n = float64(b.Responses())
		}
		if n > 0 {
			evs = append(evs, ev{b.Start, n})
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	best, sum, lo := 0.0, 0.0, 0
	for _, e := range evs {
		sum += e.n
		for w.window > 0 && !e.at.Before(evs[lo].at.Add(w.window)) {
			sum -= evs[lo].n
			lo++
		}
		best = math.Max(best, sum)
	}
	return best / float64(w.accounts)
}

func (w way) covers(t time.Time) bool {
	for _, s := range w.spans {
		if !t.Before(s.from) && t.Before(s.to) {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sig3(v float64) float64 {
	if v <= 0 {
		return 1
	}
	return math.Pow(10, math.Floor(math.Log10(v))-2)
}

// roundDown3 and roundUp3 round to three significant digits; dividing
// by the inverse of a fractional step keeps 3.67 from printing as
// 3.6700000000000004.
func roundDown3(v float64) float64 {
	if p := sig3(v); p < 1 {
		q := math.Round(1 / p)
		return math.Floor(v*q+1e-9) / q
	} else {
		return math.Floor(v/p+1e-9) * p
	}
}

func roundUp3(v float64) float64 {
	if p := sig3(v); p < 1 {
		q := math.Round(1 / p)
		return math.Ceil(v*q-1e-9) / q
	} else {
		return math.Ceil(v/p-1e-9) * p
	}
}
