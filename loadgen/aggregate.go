package loadgen

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/issuer/simclock"
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

// TimeseriesHeader is the first line of timeseries.csv.
const TimeseriesHeader = "sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries"

// LatencySummary holds the percentiles of one latency distribution.
type LatencySummary struct {
	P50, P90, P99, Max time.Duration
}

// Counts are the totals of one class or of the whole run.
type Counts struct {
	Offered  uint64 // user actions due (sent or dropped)
	Actions  uint64 // user actions sent (first attempts)
	Requests uint64 // attempts sent: first sends, retries, duplicates, ticket polls

	OK, Deferred, TicketDone, Rejected, Overload, Error, Timeout, Transport uint64

	Retries uint64 // attempts after the first of a user action
	// RetryAmplification is Requests / Actions: the load the client's
	// behaviour (retries, impatient duplicates, polls) adds per user action.
	RetryAmplification float64
	Late               uint64 // sends more than LateAfter behind their intended time
	Dropped            uint64 // due but never sent

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
	// written (later than AggregatorConfig.Window): they count in the totals only.
	Stragglers uint64
}

// AggregatorConfig tunes an Aggregator.
type AggregatorConfig struct {
	// Clock maps wall times to the simulated seconds of the timeseries;
	// the zero Clock is the identity (buckets are wall seconds, in UTC).
	Clock simclock.Clock
	// Timeseries receives timeseries.csv as buckets close; nil skips it.
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
	mu         sync.Mutex
	cfg        AggregatorConfig
	ts         *bufio.Writer
	row        []byte
	err        error
	classIdx   map[string]int
	classes    []*classAgg
	open       map[int64][]*cell
	keys       []int64 // open bucket seconds, sorted
	closed     int64   // buckets before this second are written
	haveMark   bool
	watermark  time.Time
	stragglers uint64
	pool       []*hdr.Histogram
}

type classAgg struct {
	name                                    string
	offered, actions, requests, late, drops uint64
	retries                                 uint64
	out                                     [len(outcomes)]uint64
	lat, svc                                *hdr.Histogram
}

type cell struct {
	offered, sent, late, dropped, retries uint64
	out                                   [len(outcomes)]uint64
	maxNs                                 int64
	exact                                 []int32
	h                                     *hdr.Histogram
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
		a.ts = bufio.NewWriterSize(cfg.Timeseries, 64<<10)
		if _, err := a.ts.WriteString(TimeseriesHeader + "\n"); err != nil {
			return nil, fmt.Errorf("loadgen: writing the timeseries header: %w", err)
		}
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

// Add folds one record in.
func (a *Aggregator) Add(r *Record) {
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
		if r.Late() {
			ca.late++
		}
		_ = ca.lat.RecordValue(micros(rt))
		_ = ca.svc.RecordValue(micros(r.Latency))
	}

	key := a.simSecond(r.Intended)
	if a.haveMark && key < a.closed {
		a.stragglers++
	} else {
		c := a.cell(key, ci)
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
	if end := r.End(); !a.haveMark || end.After(a.watermark) {
		a.haveMark = true
		a.watermark = end
		if thr := a.simSecond(end.Add(-a.cfg.Window)); thr > a.closed {
			a.closed = thr
			a.flushBefore(thr)
		}
	}
}

func (a *Aggregator) cell(key int64, ci int) *cell {
	row, ok := a.open[key]
	if !ok {
		// Keys mostly arrive in order: the insertion point is the end.
		i := sort.Search(len(a.keys), func(i int) bool { return a.keys[i] >= key })
		a.keys = slices.Insert(a.keys, i, key)
	}
	for len(row) <= ci {
		row = append(row, nil)
	}
	if row[ci] == nil {
		row[ci] = &cell{}
	}
	a.open[key] = row
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
		a.writeRow(a.keys[n])
		n++
	}
	a.keys = a.keys[:copy(a.keys, a.keys[n:])]
}

func (a *Aggregator) writeRow(key int64) {
	row := a.open[key]
	delete(a.open, key)
	sim := time.Unix(key, 0).In(a.simLocation()).Format(time.RFC3339)
	for ci, c := range row {
		if c == nil {
			continue
		}
		if a.ts != nil && a.err == nil {
			slices.Sort(c.exact)
			b := a.row[:0]
			b = append(b, sim...)
			b = append(b, ',')
			b = append(b, a.classes[ci].name...)
			for _, v := range []uint64{c.offered, c.sent, c.late, c.dropped,
				c.out[0] + c.out[2], c.out[1], c.out[3], c.out[4], c.out[5], c.out[6], c.out[7]} {
				b = append(b, ',')
				b = strconv.AppendUint(b, v, 10)
			}
			for _, q := range []float64{0.5, 0.9, 0.99} {
				b = append(b, ',')
				b = strconv.AppendFloat(b, float64(c.quantile(q))/1000, 'f', 3, 64)
			}
			b = append(b, ',')
			b = strconv.AppendFloat(b, float64(c.maxNs)/1e6, 'f', 3, 64)
			b = append(b, ',')
			b = strconv.AppendUint(b, c.retries, 10)
			b = append(b, '\n')
			a.row = b
			if _, err := a.ts.Write(b); err != nil {
				a.err = fmt.Errorf("loadgen: writing the timeseries: %w", err)
			}
		}
		if c.h != nil {
			c.h.Reset()
			a.pool = append(a.pool, c.h)
		}
	}
}

// Close writes the buckets still open and flushes the timeseries.
func (a *Aggregator) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushBefore(1<<62 - 1)
	if a.ts != nil && a.err == nil {
		if err := a.ts.Flush(); err != nil {
			a.err = fmt.Errorf("loadgen: flushing the timeseries: %w", err)
		}
	}
	return a.err
}

// WriteHistograms writes histogram.hdr: per class, in order of first
// appearance, "class,base64" of the HdrHistogram V2 encoding of the
// response times from the intended send, in microseconds.
func (a *Aggregator) WriteHistograms(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, ca := range a.classes {
		enc, err := ca.lat.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("loadgen: encoding the %s histogram: %w", ca.name, err)
		}
		// Encode already yields the base64 text of a V2 log line.
		fmt.Fprintf(bw, "%s,%s\n", ca.name, enc)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("loadgen: writing histograms: %w", err)
	}
	return nil
}

// ReadHistograms parses histogram.hdr into one histogram per class
// (microseconds); lines of the same class are merged.
func ReadHistograms(r io.Reader) (map[string]*hdr.Histogram, error) {
	out := map[string]*hdr.Histogram{}
	err := ReadHistogramLines(r, func(class string, h *hdr.Histogram) error {
		if prev, ok := out[class]; ok {
			prev.Merge(h)
		} else {
			out[class] = h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HistogramLineError is a malformed line of histogram.hdr.
type HistogramLineError struct {
	Line int
	Err  error
}

func (e *HistogramLineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *HistogramLineError) Unwrap() error { return e.Err }

// ReadHistogramLines calls fn for every "class,base64" line of
// histogram.hdr in file order (blank lines and # comments skipped), so a
// reader can keep the classes' order; a malformed line stops it with a
// *HistogramLineError.
func ReadHistogramLines(r io.Reader, fn func(class string, h *hdr.Histogram) error) error {
	sc := bufio.NewScanner(r)
	// A histogram with a wide range is tens of kilobytes of base64.
	sc.Buffer(make([]byte, 0, 64<<10), 32<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		class, enc, ok := strings.Cut(line, ",")
		if !ok || class == "" || enc == "" {
			return &HistogramLineError{Line: n, Err: errors.New("want class,base64")}
		}
		h, err := DecodeHistogram(enc)
		if err != nil {
			return &HistogramLineError{Line: n, Err: fmt.Errorf("class %s: %w", class, err)}
		}
		if err := fn(class, h); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &HistogramLineError{Line: n + 1, Err: err}
	}
	return nil
}

// DecodeHistogram reads one histogram of a histogram.hdr line: the V2
// encoding hdrhistogram-go's Encode returns (already base64). It turns
// the library's panics on short or corrupt input into errors, and still
// reads a line base64-encoded once more.
func DecodeHistogram(enc string) (h *hdr.Histogram, err error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("only %d bytes, too short for an HdrHistogram V2 encoding", len(raw))
	}
	if _, err := base64.StdEncoding.DecodeString(string(raw)); err == nil {
		enc = string(raw) // base64 inside base64: the inner text is Decode's input
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("corrupt HdrHistogram encoding: %v", p)
		}
	}()
	h, err = hdr.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("decode HdrHistogram: %w", err)
	}
	return h, nil
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
		Retries: ca.retries, Late: ca.late, Dropped: ca.drops,
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
	rf, err := os.Open(filepath.Join(src, ResultsFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	defer rf.Close()
	mf, err := os.Open(filepath.Join(src, MetaFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	defer mf.Close()
	tf, err := os.Create(filepath.Join(dst, TimeseriesFile))
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
	hf, err := os.Create(filepath.Join(dst, HistogramFile))
	if err != nil {
		return Totals{}, fmt.Errorf("loadgen: %w", err)
	}
	if err := errors.Join(agg.WriteHistograms(hf), hf.Close()); err != nil {
		return Totals{}, err
	}
	return agg.Totals(), nil
}
