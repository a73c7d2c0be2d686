package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/reports/rundir"
)

// Histogram ranges: values are microseconds from 1 µs to 60 s. Whole-run
// histograms keep 3 significant figures (0.1 %, 136 KB each). A bucket of
// the timeseries keeps its first smallExact values exactly (4 bytes each)
// and only then switches to a 2-figure histogram (1 %, 20 KB). Many buckets
// are open at once (Window x timescale simulated seconds, 2,400 at 40 s and
// 60x), each with rate/timescale values: exact values cost 4 bytes per
// record in the window whatever the timescale, where a histogram per
// bucket would cost 20 KB (3 figures: 136 KB) per bucket: gigabytes.
const (
	histLowest     = 1
	histHighest    = 60_000_000
	histRunFigures = 3
	histCellFigs   = 2
	smallExact     = 1024
)

// LatencySummary holds the percentiles of one latency distribution.
type LatencySummary struct {
	P50, P90, P99, Max time.Duration
}

// Counts are the totals of one class or of the whole run: what
// summary.json's requests block reports, per attempt with ticket_done kept
// apart from ok and the whole-run latencies, where a timeseries row
// (rundir.Counts) folds ticket_done into ok and keeps per-bucket counters.
type Counts struct {
	Offered  uint64 // user actions due (sent or dropped)
	Actions  uint64 // user actions sent (first attempts)
	Requests uint64 // attempts sent: first sends, retries, duplicates, ticket polls

	OK, Deferred, TicketDone, Rejected, Overload, Error, Timeout, Transport uint64

	// Delivered is goodput: actions whose certificate reached the user (a
	// 201 or a ticket found done), once per action; Deferrals are actions
	// answered 202, Accepted actions answered 201 or 202, once per action
	// (rundir.Counts).
	Delivered, Deferrals, Accepted uint64

	Retries uint64 // attempts after the first of a user action
	// RetryAmplification is Requests / Actions: the load the client's
	// behaviour (retries, impatient duplicates, polls) adds per user action.
	RetryAmplification float64
	Late               uint64 // sends more than LateAfter behind their intended time
	Dropped            uint64 // due but never sent
	// BytesIn is the response bodies' bytes (as read, up to
	// ClientConfig.MaxBody each); NotModified the attempts answered 304,
	// a client's cache confirmed (finder and verifier-list classes).
	BytesIn, NotModified uint64

	// Latency is measured from the intended send time (what the user
	// waited, client-side queueing included); Service from the actual send.
	Latency LatencySummary
	Service LatencySummary
}

// Totals summarise a run.
type Totals struct {
	Counts
	Classes map[string]Counts
	// Stragglers are records that arrived after their timeseries bucket was
	// written (later than AggregatorConfig.Window): their counts go into
	// extra rows at the end of the timeseries.
	Stragglers uint64
	// Slow is what each of the plan's slow attackers did.
	Slow []SlowStats
	// PastTimeout counts the attempts that ended more than OutlivedGrace
	// after their timeout: a client that hung past its own deadline.
	PastTimeout int64
	// Failovers counts the tries sent to another portal replica after a
	// failed one (Plan.Portals).
	Failovers int64
}

// AggregatorConfig tunes an Aggregator.
type AggregatorConfig struct {
	// Clock maps wall times to the simulated seconds of the timeseries;
	// the zero Clock is the identity (buckets are wall seconds, in UTC).
	Clock simclock.Clock
	// Timeseries receives timeseries.csv (rundir's format) as buckets
	// close; nil skips it.
	Timeseries io.Writer
	// Window is how long (wall) after a bucket ends its records may still
	// arrive: at least the longest attempt timeout. Default 60 s. Memory
	// grows with Window x timescale open buckets.
	Window time.Duration
}

// Aggregator folds records into per-(simulated second, class) rows and
// whole-run per-class histograms. Memory is bounded by the buckets open
// within Window, not by the number of records. Safe for concurrent use.
type Aggregator struct {
	mu       sync.Mutex
	cfg      AggregatorConfig
	ts       *rundir.TimeseriesWriter
	err      error
	classIdx map[string]int
	classes  []*classAgg
	open     map[int64][]*cell
	keys     []int64 // open bucket seconds, sorted
	closed   int64   // buckets before this second are written
	// late holds what arrived after its bucket was written (a send far
	// behind its time, an action dropped at the end of the run): written
	// as extra rows at Close, so the timeseries loses no offered action.
	late       map[int64][]*cell
	lateKeys   []int64
	haveMark   bool
	watermark  time.Time
	stragglers uint64
	pool       []*hdr.Histogram
}

type classAgg struct {
	name                                    string
	offered, actions, requests, late, drops uint64
	retries, delivered, deferrals, accepted uint64
	bytesIn, notModified                    uint64
	out                                     [len(outcomes)]uint64
	lat, svc                                *hdr.Histogram
	// The actions that got their certificate, those handed a ticket, and
	// those that got either: each counts once however many attempts (an
	// impatient duplicate, a retry answered with the replayed 201) told
	// the user so.
	gotCert, gotTicket, gotAnswer seqSet
}

type cell struct {
	offered, sent, late, dropped, retries uint64
	delivered, deferrals, accepted        uint64
	out                                   [len(outcomes)]uint64
	maxNs                                 int64
	exact                                 []int32
	h                                     *hdr.Histogram
}

// seqSet is a set of action sequence numbers: one bit each, so a run of
// a million actions costs 125 KB.
type seqSet struct{ words []uint64 }

// add inserts seq and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	i, bit := seq/64, uint64(1)<<(seq%64)
	if i >= uint64(len(s.words)) {
		s.words = append(s.words, make([]uint64, i+1-uint64(len(s.words)))...)
	}
	if s.words[i]&bit != 0 {
		return false
	}
	s.words[i] |= bit
	return true
}

// deliversCertificate reports whether an attempt brought its user the
// certificate: a 201 (also the replay of an earlier one), or a ticket poll
// that found it signed. A 202 is a promise, not a certificate.
func (r *Record) deliversCertificate() bool {
	return !r.Dropped() && (r.Code == 201 || r.Outcome == OutcomeTicketDone)
}

// NewAggregator returns an aggregator; it writes the timeseries header at once.
func NewAggregator(cfg AggregatorConfig) (*Aggregator, error) {
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Clock.Scale == 0 {
		cfg.Clock = simclock.Clock{Scale: 1}
	} else if cfg.Clock.Scale < 0 {
		return nil, fmt.Errorf("loadgen: aggregator clock scale %v must be > 0", cfg.Clock.Scale)
	}
	a := &Aggregator{cfg: cfg, classIdx: map[string]int{}, open: map[int64][]*cell{}}
	if cfg.Timeseries != nil {
		ts, err := rundir.NewTimeseriesWriter(cfg.Timeseries)
		if err != nil {
			return nil, fmt.Errorf("loadgen: %w", err)
		}
		a.ts = ts
	}
	return a, nil
}

func (a *Aggregator) simSecond(w time.Time) int64 {
	c := a.cfg.Clock
	if c.SimStart.IsZero() && c.WallStart.IsZero() {
		return w.Unix()
	}
	return c.Sim(w).Unix()
}

func (a *Aggregator) simLocation() *time.Location {
	if a.cfg.Clock.SimStart.IsZero() {
		return time.UTC
	}
	return a.cfg.Clock.SimStart.Location()
}

func micros(d time.Duration) int64 {
	return min(max(d.Microseconds(), histLowest), histHighest)
}

// Add folds one record in. It reports whether the record delivered an
// action's certificate for the first time (goodput), and whether it was
// the action's first certificate or ticket (accepted).
func (a *Aggregator) Add(r *Record) (delivered, accepted bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	oi, ok := outcomeIndex(r.Outcome)
	if !ok {
		oi, _ = outcomeIndex(OutcomeTransport)
	}
	ci, ok := a.classIdx[r.Class]
	if !ok {
		ci = len(a.classes)
		a.classIdx[r.Class] = ci
		a.classes = append(a.classes, &classAgg{name: r.Class,
			lat: hdr.New(histLowest, histHighest, histRunFigures), svc: hdr.New(histLowest, histHighest, histRunFigures)})
	}
	ca := a.classes[ci]
	rt := r.ResponseTime()
	switch {
	case r.Dropped():
		ca.offered++
		ca.drops++
	default:
		if r.Attempt == 1 {
			ca.offered++
			ca.actions++
		} else {
			ca.retries++
		}
		ca.requests++
		ca.out[oi]++
		ca.bytesIn += r.BytesIn
		if r.Code == http.StatusNotModified {
			ca.notModified++
		}
		if r.Late() {
			ca.late++
		}
		_ = ca.lat.RecordValue(micros(rt))
		_ = ca.svc.RecordValue(micros(r.Latency))
	}

	// Goodput, deferrals and acceptance count when the answer reached the user.
	delivered = r.deliversCertificate() && ca.gotCert.add(r.Seq)
	deferral := !r.Dropped() && r.Code == 202 && ca.gotTicket.add(r.Seq)
	accepted = (r.deliversCertificate() || !r.Dropped() && r.Code == 202) && ca.gotAnswer.add(r.Seq)
	if delivered {
		ca.delivered++
	}
	if deferral {
		ca.deferrals++
	}
	if accepted {
		ca.accepted++
	}
	straggler := false
	at := func(key int64) *cell {
		if a.haveMark && key < a.closed {
			straggler = true
			return a.lateCell(key, ci)
		}
		return a.cell(key, ci)
	}
	if delivered || deferral || accepted {
		c := at(a.simSecond(r.End()))
		if delivered {
			c.delivered++
		}
		if deferral {
			c.deferrals++
		}
		if accepted {
			c.accepted++
		}
	}

	{
		c := at(a.simSecond(r.Intended))
		switch {
		case r.Dropped():
			c.offered++
			c.dropped++
		default:
			if r.Attempt == 1 {
				c.offered++
			} else {
				c.retries++
			}
			c.sent++
			c.out[oi]++
			if r.Late() {
				c.late++
			}
			c.maxNs = max(c.maxNs, int64(rt))
			a.record(c, micros(rt))
		}
	}
	if straggler {
		a.stragglers++
	}
	if end := r.End(); !a.haveMark || end.After(a.watermark) {
		a.haveMark = true
		a.watermark = end
		if thr := a.simSecond(end.Add(-a.cfg.Window)); thr > a.closed {
			a.closed = thr
			a.flushBefore(thr)
		}
	}
	return delivered, accepted
}

func (a *Aggregator) cell(key int64, ci int) *cell { return cellIn(a.open, &a.keys, key, ci) }

func (a *Aggregator) lateCell(key int64, ci int) *cell {
	if a.late == nil {
		a.late = map[int64][]*cell{}
	}
	return cellIn(a.late, &a.lateKeys, key, ci)
}

// cellIn finds or makes class ci's cell of second key in m, keeping keys sorted.
func cellIn(m map[int64][]*cell, keys *[]int64, key int64, ci int) *cell {
	row, ok := m[key]
	if !ok {
		// Keys mostly arrive in order: the insertion point is the end.
		i := sort.Search(len(*keys), func(i int) bool { return (*keys)[i] >= key })
		*keys = slices.Insert(*keys, i, key)
	}
	for len(row) <= ci {
		row = append(row, nil)
	}
	if row[ci] == nil {
		row[ci] = &cell{}
	}
	m[key] = row
	return row[ci]
}

func (a *Aggregator) record(c *cell, us int64) {
	if c.h == nil && len(c.exact) < smallExact {
		c.exact = append(c.exact, int32(us)) // us <= histHighest fits
		return
	}
	if c.h == nil {
		if n := len(a.pool); n > 0 {
			c.h, a.pool = a.pool[n-1], a.pool[:n-1]
		} else {
			c.h = hdr.New(histLowest, histHighest, histCellFigs)
		}
		for _, v := range c.exact {
			_ = c.h.RecordValue(int64(v))
		}
		c.exact = nil
	}
	_ = c.h.RecordValue(us)
}

func (c *cell) quantile(q float64) int64 {
	if c.h != nil {
		return c.h.ValueAtQuantile(q * 100)
	}
	if len(c.exact) == 0 {
		return 0
	}
	// Nearest rank, as HdrHistogram does.
	n := len(c.exact)
	i := int(q*float64(n)+0.999999) - 1
	return int64(c.exact[min(max(i, 0), n-1)])
}

// flushBefore writes and frees every open bucket before second thr.
func (a *Aggregator) flushBefore(thr int64) {
	n := 0
	for n < len(a.keys) && a.keys[n] < thr {
		a.writeRow(a.open, a.keys[n])
		n++
	}
	a.keys = a.keys[:copy(a.keys, a.keys[n:])]
}

func (a *Aggregator) writeRow(m map[int64][]*cell, key int64) {
	row := m[key]
	delete(m, key)
	sim := time.Unix(key, 0).In(a.simLocation())
	for ci, c := range row {
		if c == nil {
			continue
		}
		if a.ts != nil && a.err == nil {
			slices.Sort(c.exact)
			i64 := func(v uint64) int64 { return int64(v) }
			r := rundir.Row{Start: sim, Class: a.classes[ci].name, Counts: rundir.Counts{
				Offered: i64(c.offered), Sent: i64(c.sent), Late: i64(c.late), Dropped: i64(c.dropped),
				OK: i64(c.out[0] + c.out[2]), Deferred: i64(c.out[1]), Rejected: i64(c.out[3]), Overload: i64(c.out[4]),
				Error: i64(c.out[5]), Timeout: i64(c.out[6]), Transport: i64(c.out[7]),
				Retries: i64(c.retries), Delivered: i64(c.delivered), Deferrals: i64(c.deferrals), Accepted: i64(c.accepted)},
				P50: float64(c.quantile(0.5)) / 1000, P90: float64(c.quantile(0.9)) / 1000, P99: float64(c.quantile(0.99)) / 1000,
				Max: float64(c.maxNs) / 1e6}
			if err := a.ts.Write(&r); err != nil {
				a.err = fmt.Errorf("loadgen: writing the timeseries: %w", err)
			}
		}
		if c.h != nil {
			c.h.Reset()
			a.pool = append(a.pool, c.h)
		}
	}
}

// Close writes the buckets still open, then the late arrivals' rows, and
// flushes the timeseries.
func (a *Aggregator) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushBefore(1<<62 - 1)
	for _, k := range a.lateKeys {
		a.writeRow(a.late, k)
	}
	a.lateKeys = nil
	if a.ts != nil && a.err == nil {
		if err := a.ts.Flush(); err != nil {
			a.err = fmt.Errorf("loadgen: %w", err)
		}
	}
	return a.err
}

// WriteHistograms writes histogram.hdr (rundir's format): per class, in
// order of first appearance, the response times from the intended send.
func (a *Aggregator) WriteHistograms(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, ca := range a.classes {
		if err := rundir.WriteHistogram(bw, ca.name, ca.lat); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("loadgen: writing histograms: %w", err)
	}
	return nil
}

func summarize(h *hdr.Histogram) LatencySummary {
	if h.TotalCount() == 0 {
		return LatencySummary{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return LatencySummary{P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)),
		P99: us(h.ValueAtQuantile(99)), Max: us(h.Max())}
}

func (ca *classAgg) counts() Counts {
	c := Counts{Offered: ca.offered, Actions: ca.actions, Requests: ca.requests,
		OK: ca.out[0], Deferred: ca.out[1], TicketDone: ca.out[2], Rejected: ca.out[3], Overload: ca.out[4],
		Error: ca.out[5], Timeout: ca.out[6], Transport: ca.out[7],
		Retries: ca.retries, Late: ca.late, Dropped: ca.drops, Delivered: ca.delivered, Deferrals: ca.deferrals, Accepted: ca.accepted,
		BytesIn: ca.bytesIn, NotModified: ca.notModified,
		Latency: summarize(ca.lat), Service: summarize(ca.svc)}
	if c.Actions > 0 {
		c.RetryAmplification = float64(c.Requests) / float64(c.Actions)
	}
	return c
}

// Totals returns the run's totals so far.
func (a *Aggregator) Totals() Totals {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := Totals{Classes: map[string]Counts{}, Stragglers: a.stragglers}
	lat := hdr.New(histLowest, histHighest, histRunFigures)
	svc := hdr.New(histLowest, histHighest, histRunFigures)
	all := &classAgg{lat: lat, svc: svc}
	for _, ca := range a.classes {
		t.Classes[ca.name] = ca.counts()
		all.offered += ca.offered
		all.actions += ca.actions
		all.requests += ca.requests
		all.late += ca.late
		all.drops += ca.drops
		all.retries += ca.retries
		all.delivered += ca.delivered
		all.deferrals += ca.deferrals
		all.accepted += ca.accepted
		all.bytesIn += ca.bytesIn
		all.notModified += ca.notModified
		for i := range all.out {
			all.out[i] += ca.out[i]
		}
		lat.Merge(ca.lat)
		svc.Merge(ca.svc)
	}
	t.Counts = all.counts()
	return t
}

// AggregateFiles reads results.gob and results.meta.csv from src and
// writes timeseries.csv and histogram.hdr into dst (which may be src):
// what `golive report` uses to rebuild a run's aggregates.
func AggregateFiles(src, dst string, cfg AggregatorConfig) (t Totals, err error) {
	rf, err := os.Open(filepath.Join(src, rundir.ResultsFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	defer rf.Close()
	mf, err := os.Open(filepath.Join(src, rundir.MetaFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	defer mf.Close()
	tf, err := os.Create(filepath.Join(dst, rundir.TimeseriesFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	defer func() { err = errors.Join(err, tf.Close()) }()
	cfg.Timeseries = tf
	agg, err := NewAggregator(cfg)
	if err != nil {
		return Totals{}, err
	}
	if err := ReadRecords(rf, mf, func(r *Record) error { agg.Add(r); return nil }); err != nil {
		return Totals{}, err
	}
	if err := agg.Close(); err != nil {
		return Totals{}, err
	}
	hf, err := os.Create(filepath.Join(dst, rundir.HistogramFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	if err := errors.Join(agg.WriteHistograms(hf), hf.Close()); err != nil {
		return Totals{}, err
	}
	return agg.Totals(), nil
}
