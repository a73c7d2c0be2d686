package rundir

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Goodput and offered load have one definition, here, for summary.json,
// the reports, the thresholds and the gate:
//
//   - offered is customer actions due: first attempts sent plus actions
//     that were due but never sent. Retries, impatient duplicates and
//     ticket polls are not offered load.
//   - goodput is certificates delivered: a 201, or a deferred ticket the
//     user's poll found done, counted once per action when the answer
//     reached the user. A 202 counts when its ticket completes, never
//     before; a ticket poll is not goodput.
//
// Both are counted over the goodput classes (legitimate customers) and
// divided by the run's span in wall seconds (RateUnit): the scenario's
// simulated day over the timescale. Certificates delivered after the day
// (tickets found done while the load drained) still count; the polls that
// found them do not stretch the day.

// ClassFilter selects the rows of classes (nil or empty: every class).
func ClassFilter(classes []string) func(string) bool {
	if len(classes) == 0 {
		return func(string) bool { return true }
	}
	return func(c string) bool { return slices.Contains(classes, c) }
}

// WallSeconds converts simulated seconds to wall seconds at a timescale
// (simulated seconds per wall second; 0 means 1).
func WallSeconds(simSeconds, timescale float64) float64 {
	if timescale <= 0 {
		timescale = 1
	}
	return simSeconds / timescale
}

// Rates computes offered load and goodput per wall second over the rows
// of classes (nil: every class) and simSeconds of simulated time (the
// scenario's day, Summary.SimSeconds; 0: the span of every class's rows,
// so a filtered rate and an unfiltered one share a clock).
func Rates(rows []Row, timescale float64, classes []string, simSeconds float64) (offered, goodput Rate) {
	offered.Unit, goodput.Unit = RateUnit, RateUnit
	if timescale <= 0 {
		timescale = 1
	}
	keep := ClassFilter(classes)
	span := simSeconds
	if span <= 0 {
		span = SpanSeconds(rows)
	}
	if span <= 0 || len(rows) == 0 {
		return offered, goodput
	}
	origin := rows[0].Start
	for _, r := range rows {
		if r.Start.Before(origin) {
			origin = r.Start
		}
	}
	// The peak is the busiest wall second: windows of timescale simulated
	// seconds (at least one bucket when the clock runs slower than real time).
	window := math.Max(timescale, BucketWidth(rows).Seconds())
	type win struct{ o, g int64 }
	wins := map[int64]*win{}
	for _, r := range rows {
		if !keep(r.Class) {
			continue
		}
		offered.Count += r.Offered
		goodput.Count += r.Delivered
		k := int64(math.Floor(r.Start.Sub(origin).Seconds() / window))
		w := wins[k]
		if w == nil {
			w = &win{}
			wins[k] = w
		}
		w.o += r.Offered
		w.g += r.Delivered
	}
	wall := WallSeconds(span, timescale)
	offered.Mean = float64(offered.Count) / wall
	goodput.Mean = float64(goodput.Count) / wall
	wallWindow := WallSeconds(window, timescale)
	for _, w := range wins {
		offered.Peak = math.Max(offered.Peak, float64(w.o)/wallWindow)
		goodput.Peak = math.Max(goodput.Peak, float64(w.g)/wallWindow)
	}
	return offered, goodput
}

// SpanSeconds is the simulated time rows cover: first start to last start
// plus one bucket width.
func SpanSeconds(rows []Row) float64 {
	if len(rows) == 0 {
		return 0
	}
	first, last := rows[0].Start, rows[0].Start
	for _, r := range rows {
		if r.Start.Before(first) {
			first = r.Start
		}
		if r.Start.After(last) {
			last = r.Start
		}
	}
	return last.Sub(first).Seconds() + BucketWidth(rows).Seconds()
}

// BucketWidth is the smallest gap between distinct row starts (1 s when
// there is only one start).
func BucketWidth(rows []Row) time.Duration {
	starts := make([]int64, 0, len(rows))
	for _, r := range rows {
		starts = append(starts, r.Start.UnixNano())
	}
	slices.Sort(starts)
	w := time.Duration(0)
	for i := 1; i < len(starts); i++ {
		if d := time.Duration(starts[i] - starts[i-1]); d > 0 && (w == 0 || d < w) {
			w = d
		}
	}
	if w == 0 {
		w = time.Second
	}
	return w
}

// FormatRate prints a rate per wall second the one way golive prints
// rates: three significant digits (whole numbers from 100 up) and "/s".
func FormatRate(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64) + "/s"
	}
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(RoundSig(v, 3), 'f', -1, 64) + "/s"
}

// RoundSig rounds v to digits significant digits.
func RoundSig(v float64, digits int) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
