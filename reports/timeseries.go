package reports

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Counts are request attempts by what happened to them. Field names follow
// the timeseries.csv columns.
type Counts struct {
	Offered, Sent, Late, Dropped                                int64
	OK, Deferred, Rejected, Overload, Error, Timeout, Transport int64
	Retries                                                     int64
}

// Responses is every sent request with an outcome.
func (c Counts) Responses() int64 {
	return c.OK + c.Deferred + c.Rejected + c.Overload + c.Error + c.Timeout + c.Transport
}

// Goodput is the accepted work: issued at once (201) or queued for later
// (202). Both are what a pharmacy needs to move on to the next customer.
func (c Counts) Goodput() int64 { return c.OK + c.Deferred }

// Failures are responses that left the customer without a certificate for
// reasons of the service, not the request: overload, 5xx, timeouts and
// transport errors. 4xx rejections are the service working as intended.
func (c Counts) Failures() int64 { return c.Overload + c.Error + c.Timeout + c.Transport }

func (c *Counts) add(o Counts) {
	c.Offered += o.Offered
	c.Sent += o.Sent
	c.Late += o.Late
	c.Dropped += o.Dropped
	c.OK += o.OK
	c.Deferred += o.Deferred
	c.Rejected += o.Rejected
	c.Overload += o.Overload
	c.Error += o.Error
	c.Timeout += o.Timeout
	c.Transport += o.Transport
	c.Retries += o.Retries
}

// latencyAcc approximates latency over several timeseries rows: percentiles
// cannot be merged, so the p50/p90/p99 of a span are the response-weighted
// means of the rows' percentiles, and the worst row's p99 is kept beside
// them; max is exact.
type latencyAcc struct {
	w             float64
	p50, p90, p99 float64 // weighted sums
	worstP99, max float64
}

func (l *latencyAcc) addRow(n int64, p50, p90, p99, mx float64) {
	if n > 0 {
		f := float64(n)
		l.w += f
		l.p50 += f * p50
		l.p90 += f * p90
		l.p99 += f * p99
	}
	l.worstP99 = math.Max(l.worstP99, p99)
	l.max = math.Max(l.max, mx)
}

func (l *latencyAcc) merge(o latencyAcc) {
	l.w += o.w
	l.p50 += o.p50
	l.p90 += o.p90
	l.p99 += o.p99
	l.worstP99 = math.Max(l.worstP99, o.worstP99)
	l.max = math.Max(l.max, o.max)
}

// Percentiles returns the weighted means (zero without responses).
func (l latencyAcc) Percentiles() Percentiles {
	if l.w == 0 {
		return Percentiles{Max: l.max}
	}
	return Percentiles{P50: l.p50 / l.w, P90: l.p90 / l.w, P99: l.p99 / l.w, Max: l.max}
}

// Bucket is a span of simulated time, all classes together.
type Bucket struct {
	Counts
	lat latencyAcc
}

// Latency is the bucket's approximate latency (see latencyAcc).
func (b Bucket) Latency() Percentiles { return b.lat.Percentiles() }

// Tally is the totals of one phase, class or phase-and-class cell.
type Tally struct {
	Counts
	lat         latencyAcc
	first, last int64 // unix seconds of the first and last row seen
}

// Latency is the weighted latency of the tally; WorstP99 the highest p99 of
// any one second in it.
func (t Tally) Latency() Percentiles { return t.lat.Percentiles() }

// WorstP99 is the highest per-second p99 in the tally, in ms.
func (t Tally) WorstP99() float64 { return t.lat.worstP99 }

// Seconds is the simulated time the tally covers.
func (t Tally) Seconds() int64 {
	if t.last < t.first {
		return 0
	}
	return t.last - t.first + 1
}

// Series is timeseries.csv condensed to bounded memory: buckets of Width
// seconds from Origin; when the run is longer than maxBuckets seconds the
// width doubles and neighbours merge, so memory never grows with run length.
type Series struct {
	Origin  int64 // unix seconds of bucket 0
	Width   int64 // seconds per bucket
	Buckets []Bucket
	Loc     *time.Location // zone of the simulated clock

	Classes   []string                     // in order of first appearance
	ByClass   map[string]*Tally            // whole run per class
	ByPhase   map[string]*Tally            // per phase name, all classes
	Cell      map[string]map[string]*Tally // phase -> class
	Total     Tally
	PhaseList []Phase // the phases tallies were keyed by, plus outsidePhase when used
	Rows      int64
}

// outsidePhase collects rows that fall in no phase of events.json.
const outsidePhase = "(outside phases)"

const maxBuckets = 1 << 16

// Time returns the start of bucket i.
func (s *Series) Time(i int) time.Time {
	return time.Unix(s.Origin+int64(i)*s.Width, 0).In(s.Loc)
}

// End is the end of the last bucket.
func (s *Series) End() time.Time { return s.Time(len(s.Buckets)) }

func (s *Series) bucket(t int64) *Bucket {
	if t < s.Origin {
		// Rows before the origin are rare (a clock skewed a little before
		// the announced sim start): grow the slice at the front.
		shift := (s.Origin - t + s.Width - 1) / s.Width
		nb := make([]Bucket, int(shift)+len(s.Buckets))
		copy(nb[shift:], s.Buckets)
		s.Buckets = nb
		s.Origin -= shift * s.Width
	}
	i := (t - s.Origin) / s.Width
	for i >= maxBuckets {
		s.coarsen()
		i = (t - s.Origin) / s.Width
	}
	for int64(len(s.Buckets)) <= i {
		s.Buckets = append(s.Buckets, Bucket{})
	}
	for len(s.Buckets) > maxBuckets {
		s.coarsen()
		i = (t - s.Origin) / s.Width
	}
	return &s.Buckets[i]
}

// coarsen doubles the bucket width by merging neighbours.
func (s *Series) coarsen() {
	n := (len(s.Buckets) + 1) / 2
	for i := range n {
		b := s.Buckets[2*i]
		if 2*i+1 < len(s.Buckets) {
			o := s.Buckets[2*i+1]
			b.add(o.Counts)
			b.lat.merge(o.lat)
		}
		s.Buckets[i] = b
	}
	clear(s.Buckets[n:])
	s.Buckets = s.Buckets[:n]
	s.Width *= 2
}

// Downsample merges buckets so at most n remain, for plotting.
func (s *Series) Downsample(n int) *Series {
	if n <= 0 || len(s.Buckets) <= n {
		return s
	}
	f := (len(s.Buckets) + n - 1) / n
	out := &Series{Origin: s.Origin, Width: s.Width * int64(f), Loc: s.Loc}
	for i := 0; i < len(s.Buckets); i += f {
		var b Bucket
		for j := i; j < i+f && j < len(s.Buckets); j++ {
			b.add(s.Buckets[j].Counts)
			b.lat.merge(s.Buckets[j].lat)
		}
		out.Buckets = append(out.Buckets, b)
	}
	return out
}

var timeseriesColumns = []string{
	"sim_time", "class", "offered", "sent", "late", "dropped", "ok", "deferred",
	"rejected", "overload", "error", "timeout", "transport",
	"p50_ms", "p90_ms", "p99_ms", "max_ms", "retries",
}

// readTimeseries streams timeseries.csv into a Series and the phase and
// class tallies; it keeps no row after it is counted.
func readTimeseries(r io.Reader, path string, simStart time.Time, phases []Phase) (*Series, error) {
	cr, col, err := openCSV(bufio.NewReaderSize(r, 256<<10), path, timeseriesColumns)
	if err != nil {
		return nil, err
	}
	s := &Series{
		Width:   1,
		ByClass: map[string]*Tally{},
		ByPhase: map[string]*Tally{},
		Cell:    map[string]map[string]*Tally{},
		Loc:     time.UTC,
		Total:   *newTally(),
	}
	if !simStart.IsZero() {
		s.Origin = simStart.Unix()
		s.Loc = simStart.Location()
	}
	originSet := !simStart.IsZero()
	var (
		lastTimeStr string
		lastTime    time.Time
		phaseIdx    = -1
		usedOutside bool
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		// Every class of one second shares the timestamp: parse it once.
		if rec[col[0]] != lastTimeStr {
			t, err := time.Parse(time.RFC3339, rec[col[0]])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: sim_time %q is not RFC 3339", path, line, rec[col[0]])
			}
			lastTimeStr = rec[col[0]]
			lastTime = t
			phaseIdx = phaseOf(phases, t, phaseIdx)
		}
		if !originSet {
			s.Origin = lastTime.Unix()
			s.Loc = lastTime.Location()
			originSet = true
		}
		class := rec[col[1]]
		if class == "" {
			return nil, fmt.Errorf("%s:%d: empty class", path, line)
		}
		var c Counts
		ints := []*int64{&c.Offered, &c.Sent, &c.Late, &c.Dropped, &c.OK, &c.Deferred,
			&c.Rejected, &c.Overload, &c.Error, &c.Timeout, &c.Transport}
		for k, dst := range ints {
			v, err := strconv.ParseInt(rec[col[2+k]], 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%s:%d: %s %q is not a non-negative integer", path, line, timeseriesColumns[2+k], rec[col[2+k]])
			}
			*dst = v
		}
		var lat [4]float64
		for k := range lat {
			name := timeseriesColumns[13+k]
			v, err := strconv.ParseFloat(rec[col[13+k]], 64)
			if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: %s %q is not a non-negative number", path, line, name, rec[col[13+k]])
			}
			lat[k] = v
		}
		if c.Retries, err = strconv.ParseInt(rec[col[17]], 10, 64); err != nil || c.Retries < 0 {
			return nil, fmt.Errorf("%s:%d: retries %q is not a non-negative integer", path, line, rec[col[17]])
		}
		n := c.Responses()
		ts := lastTime.Unix()

		b := s.bucket(ts)
		b.add(c)
		b.lat.addRow(n, lat[0], lat[1], lat[2], lat[3])

		phase := outsidePhase
		if phaseIdx >= 0 {
			phase = phases[phaseIdx].Name
		} else {
			usedOutside = true
		}
		cls := s.ByClass[class]
		if cls == nil {
			cls = newTally()
			s.ByClass[class] = cls
			s.Classes = append(s.Classes, class)
		}
		ph := s.ByPhase[phase]
		if ph == nil {
			ph = newTally()
			s.ByPhase[phase] = ph
			s.Cell[phase] = map[string]*Tally{}
		}
		cell := s.Cell[phase][class]
		if cell == nil {
			cell = newTally()
			s.Cell[phase][class] = cell
		}
		for _, t := range []*Tally{&s.Total, cls, ph, cell} {
			t.add(c)
			t.lat.addRow(n, lat[0], lat[1], lat[2], lat[3])
			t.first = min(t.first, ts)
			t.last = max(t.last, ts)
		}
		s.Rows++
	}
	if s.Rows == 0 {
		return s, nil
	}
	s.PhaseList = append(s.PhaseList, phases...)
	if usedOutside {
		s.PhaseList = append(s.PhaseList, Phase{Name: outsidePhase})
	}
	return s, nil
}

func newTally() *Tally { return &Tally{first: math.MaxInt64, last: math.MinInt64} }

// phaseOf finds the phase containing t, trying the previous answer first
// because rows arrive in time order.
func phaseOf(phases []Phase, t time.Time, hint int) int {
	in := func(p Phase) bool {
		return !t.Before(p.Start) && (p.End.IsZero() || t.Before(p.End))
	}
	if hint >= 0 && hint < len(phases) && in(phases[hint]) {
		return hint
	}
	for i, p := range phases {
		if in(p) {
			return i
		}
	}
	return -1
}

// columnIndex maps wanted column names to their positions in header.
// openCSV reads a CSV file's header and finds the wanted columns in it:
// the reader is positioned at the first record.
func openCSV(r io.Reader, path string, want []string) (*csv.Reader, []int, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s: empty file, want the header %v", path, want)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	col, err := columnIndex(path, header, want)
	if err != nil {
		return nil, nil, err
	}
	return cr, col, nil
}

func columnIndex(path string, header, want []string) ([]int, error) {
	pos := map[string]int{}
	for i, h := range header {
		pos[h] = i
	}
	idx := make([]int, len(want))
	var missing []string
	for i, w := range want {
		p, ok := pos[w]
		if !ok {
			missing = append(missing, w)
			continue
		}
		idx[i] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s:1: header lacks column(s) %v (have %v)", path, missing, header)
	}
	return idx, nil
}
