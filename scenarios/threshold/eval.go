package threshold

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// Bucket is one row of timeseries.csv: one class in one bucket of
// simulated time. Its outcome counters, in the order of Outcomes, are
// Counts.Outcomes().
type Bucket = rundir.Row

// Phase is a named span of simulated time from events.json.
type Phase = rundir.Phase

// rateClock is how rates are judged: counts over the buckets' simulated
// seconds become rates per wall second (rundir.RateUnit), and goodput and
// offered count the goodput classes only, as summary.json does.
type rateClock struct {
	timescale float64
	customer  func(class string) bool
	// runSeconds is the whole run's simulated length (the scenario's day);
	// 0: the span of the buckets.
	runSeconds float64
}

var realTime = rateClock{timescale: 1, customer: rundir.ClassFilter(nil)}

// rateClockOf asks src for the run's timescale and goodput classes, which
// a RunDir reads from summary.json; other sources judge in real time over
// every class.
func rateClockOf(src Source) (rateClock, error) {
	rc := realTime
	if t, ok := src.(interface{ Timescale() (float64, error) }); ok {
		ts, err := t.Timescale()
		if err != nil {
			return rc, err
		}
		if ts > 0 {
			rc.timescale = ts
		}
	}
	if d, ok := src.(interface{ RunSeconds() (float64, error) }); ok {
		secs, err := d.RunSeconds()
		if err != nil {
			return rc, err
		}
		rc.runSeconds = secs
	}
	if g, ok := src.(interface{ GoodputClasses() ([]string, error) }); ok {
		cls, err := g.GoodputClasses()
		if err != nil {
			return rc, err
		}
		rc.customer = rundir.ClassFilter(cls)
	}
	return rc, nil
}

// Source is what thresholds are judged against. RunDir reads a run
// directory; tests and the engine can supply their own.
type Source interface {
	// Buckets are the timeseries rows, in any order; nil when unknown.
	Buckets() ([]Bucket, error)
	// Phases are the scenario's phases; nil when unknown.
	Phases() ([]Phase, error)
	// Latency is a whole-run latency in ms for class ("" = all): the
	// quantile q in (0,1), 1 for the maximum, 0 for the mean. how names
	// the source ("histogram.hdr", "summary.json"); ok is false when the
	// source does not know it.
	Latency(class string, q float64) (ms float64, how string, ok bool, err error)
	// Figure is a whole-run figure by metric name ("lost", "goodput",
	// "retry_amplification", ...); ok is false when unknown.
	Figure(name string) (v float64, ok bool, err error)
}

// Result is the verdict on one threshold.
type Result struct {
	Expr   string `json:"expr"`
	OK     bool   `json:"ok"`
	Value  string `json:"value"`            // the measured value, formatted ("123ms", "0.4%")
	Scope  string `json:"scope"`            // "run", "phase:NAME", "window:1m@11:59"
	Detail string `json:"detail,omitempty"` // limit, approximations used
	Abort  bool   `json:"abort,omitempty"`
	// Raw is the measured value in base units (ms, fraction, count, 1/s).
	Raw float64 `json:"-"`
	// limit is what Raw was compared with (it varies per span when the
	// right-hand side is a metric).
	limit float64
}

// ErrNoData means the source has nothing to judge the threshold on.
var ErrNoData = errors.New("no data")

// Evaluate judges one threshold against src.
func Evaluate(src Source, e *Expr) (Result, error) {
	res := Result{Expr: e.Src, Abort: e.Abort}
	rc, err := rateClockOf(src)
	if err != nil {
		return Result{}, fmt.Errorf("threshold %q: %w", e.Src, err)
	}
	switch e.Scope {
	case WholeRun:
		err = evalWholeRun(src, e, &res, rc)
	case PerPhase:
		err = evalPhases(src, e, &res, rc)
	case Window:
		err = evalWindows(src, e, &res, rc)
	}
	if err != nil {
		return Result{}, fmt.Errorf("threshold %q: %w", e.Src, err)
	}
	return res, nil
}

// EvaluateAll judges every threshold; a threshold that cannot be judged
// fails with the reason in Detail rather than passing silently.
func EvaluateAll(src Source, exprs []*Expr) []Result {
	out := make([]Result, 0, len(exprs))
	for _, e := range exprs {
		r, err := Evaluate(src, e)
		if err != nil {
			r = Result{Expr: e.Src, Scope: scopeName(e), Value: "n/a", Detail: err.Error(), Abort: e.Abort}
		}
		out = append(out, r)
	}
	return out
}

func scopeName(e *Expr) string {
	switch e.Scope {
	case PerPhase:
		return "phase"
	case Window:
		return "window:" + fmtDuration(e.Window)
	}
	return "run"
}

// measure is one side of a comparison in one span, with a note on how it
// was obtained.
type measure struct {
	v    float64
	note string
}

func evalWholeRun(src Source, e *Expr, res *Result, rc rateClock) error {
	res.Scope = "run"
	var bs []Bucket
	loadBuckets := func() ([]Bucket, error) {
		if bs == nil {
			var err error
			if bs, err = src.Buckets(); err != nil {
				return nil, err
			}
		}
		return bs, nil
	}
	side := func(m *Metric) (measure, error) {
		if name, ok := classFigureName(m); ok {
			v, ok, err := src.Figure(name)
			if err != nil {
				return measure{}, err
			}
			if !ok {
				return measure{}, fmt.Errorf("%s is not in the run's summary (not a finder or verifier-lists class, or a run before it): %w", name, ErrNoData)
			}
			return measure{v, "summary.json classes"}, nil
		}
		switch {
		case m.Filter.Component != "":
			name := m.Name + "(" + m.Filter.Component + ")"
			v, ok, err := src.Figure(name)
			if err != nil {
				return measure{}, err
			}
			if !ok {
				return measure{}, fmt.Errorf("%s is not in the run's summary (no cost, or no such component): %w", name, ErrNoData)
			}
			return measure{v, "summary.json cost"}, nil
		case m.Kind == Latency && m.Filter.Class == TimeToCertClass:
			return timeToCertSide(src, m, "")
		case m.Kind == Latency:
			v, how, ok, err := src.Latency(m.Filter.Class, m.Quantile)
			if err != nil {
				return measure{}, err
			}
			if ok {
				return measure{v, how}, nil
			}
			if m.Quantile == 0 {
				return measure{}, fmt.Errorf("mean latency needs histogram.hdr: %w", ErrNoData)
			}
		case m.WholeRunOnly:
			v, ok, err := src.Figure(m.Name)
			if err != nil {
				return measure{}, err
			}
			if !ok {
				return measure{}, fmt.Errorf("%s is not in the run's summary: %w", m.Name, ErrNoData)
			}
			return measure{v, ""}, nil
		}
		// Rates and counts come from the buckets when there are any, so
		// both sides of "goodput >= 0.95*offered" share one clock; the
		// summary answers only for unfiltered figures.
		b, err := loadBuckets()
		if err != nil {
			return measure{}, err
		}
		if len(b) == 0 {
			if m.Filter == (Filter{}) {
				if v, ok, err := src.Figure(m.Name); err != nil {
					return measure{}, err
				} else if ok {
					return measure{v, "summary.json"}, nil
				}
			}
			return measure{}, fmt.Errorf("%s needs timeseries.csv: %w", m.Name, ErrNoData)
		}
		span := rc.runSeconds
		if span <= 0 {
			span = rundir.SpanSeconds(b)
		}
		return fromBuckets(m, b, span, rc)
	}
	return judge(e, res, side)
}

// judge computes both sides in one span and fills res.
func judge(e *Expr, res *Result, side func(*Metric) (measure, error)) error {
	l, err := side(&e.Metric)
	if err != nil {
		return err
	}
	limit, note := e.Value, ""
	if e.Factor != nil {
		r, err := side(e.Factor)
		if err != nil {
			return err
		}
		limit = e.Value * r.v
		note = fmt.Sprintf("%s = %s", trimFloat(e.Value)+"*"+e.Factor.Name, format(e.Metric.Kind, limit))
	}
	res.OK = e.Op.holds(l.v, limit)
	res.Raw, res.limit = l.v, limit
	res.Value = format(e.Metric.Kind, l.v)
	res.Detail = joinNotes("limit "+string(e.Op)+" "+format(e.Metric.Kind, limit), note, l.note)
	if e.Metric.Kind == PerSecond {
		res.Detail = joinNotes(res.Detail, "rates "+rundir.RateUnit)
	}
	return nil
}

func joinNotes(parts ...string) string {
	s := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if s != "" {
			s += "; "
		}
		s += p
	}
	return s
}

// fromBuckets computes a metric over the given buckets, which span seconds
// of simulated time.
func fromBuckets(m *Metric, bs []Bucket, seconds float64, rc rateClock) (measure, error) {
	keep := func(class string) bool { return m.Filter.Class == "" || class == m.Filter.Class }
	if m.Filter.Class == "" && (m.Name == "goodput" || m.Name == "offered" || m.Name == "accepted") {
		keep = rc.customer
	}
	// Pointers into bs, not copies: a long run judges many windows.
	sel := make([]*Bucket, 0, len(bs))
	for i := range bs {
		if keep(bs[i].Class) {
			sel = append(sel, &bs[i])
		}
	}
	switch m.Kind {
	case Latency:
		return latencyBound(m.Quantile, sel)
	case Fraction, Count:
		if m.Name == "late_sends" || m.Name == "dropped_sends" {
			var n int64
			for _, b := range sel {
				if m.Name == "late_sends" {
					n += b.Late
				} else {
					n += b.Dropped
				}
			}
			return measure{float64(n), ""}, nil
		}
		match, ambiguous := matcher(m.Filter)
		var hit, total int64
		for _, b := range sel {
			for i, c := range b.Outcomes() {
				total += c
				if match[i] {
					hit += c
				}
			}
		}
		note := ""
		if ambiguous != "" {
			note = ambiguous
		}
		if m.Kind == Count {
			return measure{float64(hit), note}, nil
		}
		if total == 0 {
			return measure{0, joinNotes("no requests", note)}, nil
		}
		return measure{float64(hit) / float64(total), note}, nil
	case PerSecond:
		var n int64
		for _, b := range sel {
			switch m.Name {
			case "goodput":
				n += b.Delivered // certificates delivered (rundir.Rates)
			case "accepted":
				n += b.Accepted // certificates or tickets handed out
			case "offered":
				n += b.Offered
			case "sent":
				n += b.Sent
			}
		}
		if seconds <= 0 {
			return measure{}, fmt.Errorf("%s: the span has no length: %w", m.Name, ErrNoData)
		}
		return measure{float64(n) / rundir.WallSeconds(seconds, rc.timescale), ""}, nil
	case Ratio: // retry_amplification: attempts per first attempt
		var sent, retries int64
		for _, b := range sel {
			sent += b.Sent
			retries += b.Retries
		}
		if sent-retries <= 0 {
			return measure{1, "no requests"}, nil
		}
		return measure{float64(sent) / float64(sent-retries), ""}, nil
	}
	return measure{}, fmt.Errorf("%s cannot be computed from timeseries.csv: %w", m.Name, ErrNoData)
}

// matcher says which outcomes a filter selects. A status condition that
// splits an outcome (status>=500 against overload = 429 or 503) counts the
// whole outcome, so the rate is an upper bound, and says so.
func matcher(f Filter) (match [7]bool, note string) {
	if f.Status == nil {
		return matchOutcomes(f)
	}
	// Filters are compared by their pointers, which a parsed Expr keeps,
	// so each threshold's status scan runs once, not once per window.
	if m, ok := matchCache.Load(f); ok {
		c := m.(cachedMatch)
		return c.match, c.note
	}
	match, note = matchOutcomes(f)
	matchCache.Store(f, cachedMatch{match, note})
	return match, note
}

type cachedMatch struct {
	match [7]bool
	note  string
}

var matchCache sync.Map // Filter -> cachedMatch

func matchOutcomes(f Filter) (match [7]bool, note string) {
	for i, o := range Outcomes {
		ok := true
		if f.Outcome != nil {
			eq := o.Name == f.Outcome.Name
			ok = eq == (f.Outcome.Op == Equal)
		}
		if ok && f.Status != nil {
			all, any := true, false
			for code := 0; code < 600; code++ {
				if !o.Statuses(code) {
					continue
				}
				if code != 0 && f.Status.Op.holds(float64(code), float64(f.Status.Code)) {
					any = true
				} else {
					all = false
				}
			}
			ok = any
			if any && !all {
				note = joinNotes(note, fmt.Sprintf("%s (%s) counted whole: an upper bound", o.Name, o.Codes))
			}
		}
		match[i] = ok
	}
	return match, note
}

// latencyBound is the approximation for a latency over several buckets.
// A quantile of merged buckets cannot be recovered from per-bucket
// quantiles, but it never exceeds the largest of them (each bucket has at
// most 1-q of its requests above its own q-quantile), so the maximum of the
// bucket quantiles is an upper bound. Quantiles without their own column
// use the next higher one (p95 -> p99, p99.9 -> max), still a bound.
func latencyBound(q float64, bs []*Bucket) (measure, error) {
	col, name := func(b *Bucket) float64 { return b.Max }, "max"
	switch {
	case q == 0:
		return measure{}, fmt.Errorf("mean latency needs histogram.hdr and the whole run: %w", ErrNoData)
	case q <= 0.5:
		col, name = func(b *Bucket) float64 { return b.P50 }, "p50"
	case q <= 0.9:
		col, name = func(b *Bucket) float64 { return b.P90 }, "p90"
	case q <= 0.99:
		col, name = func(b *Bucket) float64 { return b.P99 }, "p99"
	}
	v, n := 0.0, 0
	for _, b := range bs {
		if b.Responses() == 0 {
			continue
		}
		n++
		v = math.Max(v, col(b))
	}
	if n == 0 {
		return measure{0, "no requests"}, nil
	}
	note := ""
	if n > 1 || name != fmt.Sprintf("p%g", q*100) && name != "max" {
		note = "upper bound: max of per-bucket " + name
	}
	return measure{v, note}, nil
}

func inSpan(bs []Bucket, from, to time.Time) []Bucket {
	var out []Bucket
	for _, b := range bs {
		if !b.Start.Before(from) && b.Start.Before(to) {
			out = append(out, b)
		}
	}
	return out
}

// worse reports whether a is a worse value than b for the operator: higher
// for upper limits, lower for lower limits, further from the limit for ==/!=.
func worse(op Op, a, b Result) bool {
	limitA, limitB := a.limit, b.limit
	if a.OK != b.OK {
		return !a.OK
	}
	switch op {
	case Less, LessEq:
		return a.Raw-limitA > b.Raw-limitB
	case Greater, GreaterEq:
		return a.Raw-limitA < b.Raw-limitB
	}
	return math.Abs(a.Raw-limitA) > math.Abs(b.Raw-limitB)
}

func bucketSide(bs []Bucket, seconds float64, rc rateClock) func(*Metric) (measure, error) {
	return func(m *Metric) (measure, error) { return fromBuckets(m, bs, seconds, rc) }
}

func evalPhases(src Source, e *Expr, res *Result, rc rateClock) error {
	phases, err := src.Phases()
	if err != nil {
		return err
	}
	if len(phases) == 0 {
		return fmt.Errorf("per phase needs phases in events.json: %w", ErrNoData)
	}
	ttc := e.Metric.Kind == Latency && e.Metric.Filter.Class == TimeToCertClass
	bs, err := src.Buckets()
	if err != nil {
		return err
	}
	if len(bs) == 0 && !ttc {
		return fmt.Errorf("per phase needs timeseries.csv: %w", ErrNoData)
	}
	var best *Result
	failed := 0
	for _, ph := range phases {
		r := Result{Expr: e.Src, Abort: e.Abort, Scope: "phase:" + ph.Name}
		side := bucketSide(inSpan(bs, ph.Start, ph.End), ph.End.Sub(ph.Start).Seconds(), rc)
		if ttc {
			name := ph.Name
			side = func(m *Metric) (measure, error) { return timeToCertSide(src, m, name) }
		}
		if err := judge(e, &r, side); err != nil {
			return fmt.Errorf("phase %s: %w", ph.Name, err)
		}
		if !r.OK {
			failed++
		}
		if best == nil || worse(e.Op, r, *best) {
			best = &r
		}
	}
	*res = *best
	res.Detail = joinNotes(res.Detail, fmt.Sprintf("worst of %d phases, %d failed", len(phases), failed))
	return nil
}

func evalWindows(src Source, e *Expr, res *Result, rc rateClock) error {
	bs, err := src.Buckets()
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		return fmt.Errorf("over %s needs timeseries.csv: %w", fmtDuration(e.Window), ErrNoData)
	}
	w := newWindows(e, rc)
	for _, b := range bs {
		w.add(b)
	}
	if err := w.flush(true); err != nil {
		return err
	}
	*res = w.result()
	return nil
}

// windows evaluates one expression over sliding windows of buckets that
// arrive in time order; it keeps only the buckets the open windows need,
// so a live run's memory stays bounded.
type windows struct {
	e       *Expr
	rc      rateClock
	buf     []Bucket // sorted by start
	next    time.Time
	started bool
	width   time.Duration
	worst   *Result
	n, bad  int
}

func newWindows(e *Expr, rc rateClock) *windows { return &windows{e: e, rc: rc} }

func (w *windows) add(b Bucket) {
	i := sort.Search(len(w.buf), func(i int) bool { return w.buf[i].Start.After(b.Start) })
	w.buf = append(w.buf, Bucket{})
	copy(w.buf[i+1:], w.buf[i:])
	w.buf[i] = b
	if w.n == 0 && (!w.started || b.Start.Before(w.next)) {
		w.next, w.started = b.Start, true
	}
	// The bucket width is the smallest gap between starts.
	for _, j := range []int{i - 1, i + 1} {
		if j < 0 || j >= len(w.buf) {
			continue
		}
		g := w.buf[j].Start.Sub(b.Start)
		if g < 0 {
			g = -g
		}
		if g > 0 && (w.width == 0 || g < w.width) {
			w.width = g
		}
	}
}

// flush judges every window that is complete: one whose end the buckets
// have passed. At the end of a run (final), a run shorter than the window
// is judged as one window, so short runs are not silently passed.
func (w *windows) flush(final bool) error {
	if !w.started {
		return nil
	}
	width := w.width
	if width == 0 {
		width = time.Second
	}
	last := w.buf[len(w.buf)-1].Start
	end := last.Add(width) // the data reach up to here when final
	for {
		wEnd := w.next.Add(w.e.Window)
		complete := !wEnd.After(last) || (final && !wEnd.After(end))
		if !complete {
			break
		}
		if err := w.judge(w.next, wEnd); err != nil {
			return err
		}
		// Slide to the next bucket start after w.next.
		nxt := time.Time{}
		for _, b := range w.buf {
			if b.Start.After(w.next) {
				nxt = b.Start
				break
			}
		}
		if nxt.IsZero() {
			w.next = w.next.Add(width)
			break
		}
		w.next = nxt
		// Drop buckets no later window needs.
		k := 0
		for k < len(w.buf) && w.buf[k].Start.Before(w.next) {
			k++
		}
		w.buf = w.buf[k:]
	}
	if final && w.n == 0 && len(w.buf) > 0 {
		// The run was shorter than one window: judge what there is.
		if err := w.judge(w.buf[0].Start, end); err != nil {
			return err
		}
	}
	return nil
}

func (w *windows) judge(from, to time.Time) error {
	r := Result{Expr: w.e.Src, Abort: w.e.Abort,
		Scope: "window:" + fmtDuration(w.e.Window) + "@" + fmtClock(from)}
	// buf is sorted and holds nothing before the window: the window is a
	// prefix, found by binary search (a long run has many windows).
	lo := sort.Search(len(w.buf), func(i int) bool { return !w.buf[i].Start.Before(from) })
	hi := sort.Search(len(w.buf), func(i int) bool { return !w.buf[i].Start.Before(to) })
	if err := judge(w.e, &r, bucketSide(w.buf[lo:hi], to.Sub(from).Seconds(), w.rc)); err != nil {
		return fmt.Errorf("window at %s: %w", fmtClock(from), err)
	}
	w.n++
	if !r.OK {
		w.bad++
	}
	if w.worst == nil || worse(w.e.Op, r, *w.worst) {
		w.worst = &r
	}
	return nil
}

func (w *windows) result() Result {
	if w.worst == nil {
		return Result{Expr: w.e.Src, OK: true, Abort: w.e.Abort, Value: "n/a",
			Scope: "window:" + fmtDuration(w.e.Window), Detail: "no complete window yet"}
	}
	r := *w.worst
	r.Detail = joinNotes(r.Detail, fmt.Sprintf("worst of %d windows, %d failed", w.n, w.bad))
	return r
}

// ---- formatting ----

func format(k Kind, v float64) string {
	switch k {
	case Latency:
		switch {
		case math.IsInf(v, 1):
			return "beyond the run"
		case v >= 60000: // a time to certificate: minutes and hours
			return (time.Duration(v) * time.Millisecond).Round(time.Second).String()
		case v >= 10000:
			return trimFloat(math.Round(v/100)/10) + "s"
		}
		if v >= 100 {
			return trimFloat(math.Round(v)) + "ms"
		}
		if v > 0 && v < 0.9995 {
			// Below a millisecond one decimal of ms would hide the
			// difference a "< 500us" threshold is about.
			return trimFloat(math.Round(v*1000)) + "µs"
		}
		return trimFloat(math.Round(v*10)/10) + "ms"
	case Fraction:
		return trimFloat(rundir.RoundSig(v*100, 3)) + "%"
	case Count:
		return trimFloat(v)
	case PerSecond:
		return rundir.FormatRate(v)
	}
	return trimFloat(rundir.RoundSig(v, 4))
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fmtDuration(d time.Duration) string {
	s := d.String()
	// "1m0s" -> "1m", "1h0m0s" -> "1h"
	for _, suf := range []string{"0s", "0m"} {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf && s[len(s)-len(suf)-1] >= 'a' {
			s = s[:len(s)-len(suf)]
		}
	}
	return s
}

func fmtClock(t time.Time) string {
	if t.Second() == 0 {
		return t.Format("15:04")
	}
	return t.Format("15:04:05")
}
