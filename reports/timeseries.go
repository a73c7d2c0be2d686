package reports

import (
	"errors"
	"io"
	"math"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// Counts are timeseries.csv's counters (rundir.Counts).
type Counts = rundir.Counts

// CustomerCounts are the counters offered load and goodput are made of,
// over the goodput classes only (rundir.Rates): customer actions due,
// certificates delivered, actions deferred to a ticket.
type CustomerCounts struct {
	Offered, Delivered, Deferrals int64
}

func (c *CustomerCounts) add(o CustomerCounts) {
	c.Offered += o.Offered
	c.Delivered += o.Delivered
	c.Deferrals += o.Deferrals
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
func (l latencyAcc) Percentiles() rundir.LatencyMS {
	if l.w == 0 {
		return rundir.LatencyMS{Max: l.max}
	}
	return rundir.LatencyMS{P50: l.p50 / l.w, P90: l.p90 / l.w, P99: l.p99 / l.w, Max: l.max}
}

// Bucket is a span of simulated time, all classes together; Customer
// holds the goodput classes' offered load and goodput.
type Bucket struct {
	Counts
	Customer CustomerCounts
	lat      latencyAcc
}

// Latency is the bucket's approximate latency (see latencyAcc).
func (b Bucket) Latency() rundir.LatencyMS { return b.lat.Percentiles() }

// Tally is the totals of one phase, class or phase-and-class cell.
type Tally struct {
	Counts
	Customer    CustomerCounts
	lat         latencyAcc
	first, last int64 // unix seconds of the first and last row seen
}

// Latency is the weighted latency of the tally; WorstP99 the highest p99 of
// any one second in it.
func (t Tally) Latency() rundir.LatencyMS { return t.lat.Percentiles() }

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
	PhaseList []rundir.Phase // the phases tallies were keyed by, plus outsidePhase when used
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
			b.Add(o.Counts)
			b.Customer.add(o.Customer)
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
			b.Add(s.Buckets[j].Counts)
			b.Customer.add(s.Buckets[j].Customer)
			b.lat.merge(s.Buckets[j].lat)
		}
		out.Buckets = append(out.Buckets, b)
	}
	return out
}

// readTimeseries streams timeseries.csv into a Series and the phase and
// class tallies; it keeps no row after it is counted. goodputClasses
// (nil: every class) are the classes whose offered load and goodput the
// Customer counters hold.
func readTimeseries(r io.Reader, path string, simStart time.Time, phases []rundir.Phase, goodputClasses []string) (*Series, error) {
	tr, err := rundir.NewTimeseriesReader(r, path)
	if err != nil {
		return nil, err
	}
	customer := rundir.ClassFilter(goodputClasses)
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
		lastTime    time.Time
		phaseIdx    = -1
		usedOutside bool
	)
	for {
		row, err := tr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !row.Start.Equal(lastTime) {
			lastTime = row.Start
			phaseIdx = phaseOf(phases, lastTime, phaseIdx)
		}
		if !originSet {
			s.Origin = lastTime.Unix()
			s.Loc = lastTime.Location()
			originSet = true
		}
		c := row.Counts
		var cc CustomerCounts
		if customer(row.Class) {
			cc = CustomerCounts{Offered: c.Offered, Delivered: c.Delivered, Deferrals: c.Deferrals}
		}
		n := c.Responses()
		ts := lastTime.Unix()

		b := s.bucket(ts)
		b.Add(c)
		b.Customer.add(cc)
		b.lat.addRow(n, row.P50, row.P90, row.P99, row.Max)

		phase := outsidePhase
		if phaseIdx >= 0 {
			phase = phases[phaseIdx].Name
		} else {
			usedOutside = true
		}
		cls := s.ByClass[row.Class]
		if cls == nil {
			cls = newTally()
			s.ByClass[row.Class] = cls
			s.Classes = append(s.Classes, row.Class)
		}
		ph := s.ByPhase[phase]
		if ph == nil {
			ph = newTally()
			s.ByPhase[phase] = ph
			s.Cell[phase] = map[string]*Tally{}
		}
		cell := s.Cell[phase][row.Class]
		if cell == nil {
			cell = newTally()
			s.Cell[phase][row.Class] = cell
		}
		for _, t := range []*Tally{&s.Total, cls, ph, cell} {
			t.Add(c)
			t.Customer.add(cc)
			t.lat.addRow(n, row.P50, row.P90, row.P99, row.Max)
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
		s.PhaseList = append(s.PhaseList, rundir.Phase{Name: outsidePhase})
	}
	return s, nil
}

func newTally() *Tally { return &Tally{first: math.MaxInt64, last: math.MinInt64} }

// phaseOf finds the phase containing t, trying the previous answer first
// because rows arrive in time order.
func phaseOf(phases []rundir.Phase, t time.Time, hint int) int {
	if hint >= 0 && hint < len(phases) && phases[hint].Contains(t) {
		return hint
	}
	for i, p := range phases {
		if p.Contains(t) {
			return i
		}
	}
	return -1
}
