// Package synthrun writes synthetic but self-consistent run directories
// (docs/run-format.md) for testing and benchmarking report generation
// without running a load test: a launch day with a demand curve, phases,
// a signer outage, /metrics scrapes, latency histograms and a capacity
// search, shaped by the profile ("hardened" degrades gracefully by
// deferring work; "naive-2021" times out and loses requests, as in 2021).
package synthrun

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/golive-dev/golive/reports/rundir"
)

// Profiles the generator knows.
const (
	Hardened  = "hardened"
	Naive2021 = "naive-2021"
)

// Config shapes a synthetic run. Zero fields take the defaults noted.
type Config struct {
	Profile  string        // Hardened (default) or Naive2021
	Scenario string        // default "launch-day"
	Start    time.Time     // simulated start; default 2021-06-14 07:00 +02:00
	Duration time.Duration // simulated length; default 13 h
	Requests int64         // offered requests over the run; default 1,000,000
	Seed     uint64        // noise seed; default 1
	// Timescale is simulated seconds per wall second; default 180. Rates
	// in the run are per wall second, so they scale with it.
	Timescale float64
	// FailThreshold adds a threshold that fails even for a healthy run.
	FailThreshold bool
	// Omit lists files not to write (e.g. "metrics.csv").
	Omit []string
}

// Class is a traffic class with its share of the demand.
type Class struct {
	Name  string
	Share float64
}

// Classes are the traffic classes every synthetic run has.
var Classes = []Class{{"issue", 0.85}, {"ticket", 0.14}, {"fraud", 0.01}}

// GoodputClasses are the classes whose certificates are goodput: not the
// ticket lookups, not the fraud.
var GoodputClasses = []string{"issue"}

// Totals are what the generator wrote, for tests to check reports against.
type Totals struct {
	Rows    int64
	ByClass map[string]*Counts
	All     Counts
	Faults  int
	Phases  []string
	Verdict string
	Failing []string // thresholds that failed
}

// Counts are the timeseries.csv counters.
type Counts = rundir.Counts

func (c *Config) defaults() {
	if c.Profile == "" {
		c.Profile = Hardened
	}
	if c.Scenario == "" {
		c.Scenario = "launch-day"
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2021, 6, 14, 7, 0, 0, 0, time.FixedZone("", 2*3600))
	}
	if c.Duration <= 0 {
		c.Duration = 13 * time.Hour
	}
	if c.Requests <= 0 {
		c.Requests = 1_000_000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Timescale <= 0 {
		c.Timescale = 180
	}
}

// at maps an hour of the real 07:00-20:00 launch day onto the run, so the
// 2021 timeline keeps its shape at any length.
func (c *Config) at(hour float64) time.Time {
	f := (hour - 7) / 13
	return c.Start.Add(time.Duration(f * float64(c.Duration))).Truncate(time.Second)
}

// demand is the relative offered rate at a point of the day (hour 7..20):
// a trickle before opening at 07:45, the morning rush, a slow decline and
// the evening after pharmacies close.
func demand(hour float64) float64 {
	switch {
	case hour < 7.75:
		return 0.05
	case hour < 9:
		return 0.05 + 0.95*(hour-7.75)/1.25
	case hour < 11:
		return 1
	case hour < 17:
		return 1 - 0.4*(hour-11)/6
	case hour < 18:
		return 0.6
	default:
		return 0.2
	}
}

// Write creates dir and writes one run into it.
func Write(dir string, cfg Config) (*Totals, error) {
	cfg.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synthrun: %w", err)
	}
	omit := map[string]bool{}
	for _, f := range cfg.Omit {
		omit[f] = true
	}
	g := &gen{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 7)), naive: cfg.Profile == Naive2021}
	g.build()
	tot := &Totals{ByClass: map[string]*Counts{}}
	for _, cl := range Classes {
		tot.ByClass[cl.Name] = &Counts{}
	}
	steps := []struct {
		file string
		fn   func(string, *Totals) error
	}{
		{rundir.EventsFile, g.writeEvents},
		{rundir.TimeseriesFile, g.writeTimeseries},
		{rundir.MetricsFile, g.writeMetrics},
		{rundir.HistogramFile, g.writeHistograms},
		{rundir.CapacityFile, g.writeCapacity},
		{rundir.SummaryFile, g.writeSummary},
	}
	for _, st := range steps {
		path := filepath.Join(dir, st.file)
		if omit[st.file] {
			path = "" // computed for the summary, not written
		}
		if err := st.fn(path, tot); err != nil {
			return nil, fmt.Errorf("synthrun: %s: %w", st.file, err)
		}
	}
	return tot, nil
}

// WriteCompare writes dir/naive-2021 and dir/hardened from one config.
func WriteCompare(dir string, cfg Config) (map[string]*Totals, error) {
	out := map[string]*Totals{}
	for _, p := range []string{Naive2021, Hardened} {
		c := cfg
		c.Profile = p
		t, err := Write(filepath.Join(dir, p), c)
		if err != nil {
			return nil, err
		}
		out[p] = t
	}
	return out, nil
}

type gen struct {
	cfg    Config
	rng    *rand.Rand
	naive  bool
	phases []rundir.Phase
	faults []rundir.Fault
	secs   int
	// outage[i] is true when the signer is down at second i.
	outage    []bool
	fraudLeft int // forged certificates the naive portal still lets through
	// capacity is the offered rate the profile serves within its SLO.
	peakRate, capacity float64

	// backlog is the deferred issuance the hardened portal has yet to sign.
	backlog int64

	// Filled while writing the timeseries, used by later files.
	perSecond   []Counts     // all classes
	goodRows    []rundir.Row // the goodput classes' rows, for the rates
	phaseCounts map[string]*Counts
	phaseP99    map[string]float64
	latSlow     map[string]int64 // responses in the slow mode per class
	latFast     map[string]int64
	latTimeout  map[string]int64
}

func (g *gen) build() {
	c := &g.cfg
	g.secs = int(c.Duration / time.Second)
	g.phases = []rundir.Phase{
		{Name: "before-opening", Start: c.at(7), End: c.at(7.75)},
		{Name: "morning-rush", Start: c.at(7.75), End: c.at(11)},
		{Name: "midday", Start: c.at(11), End: c.at(17)},
		{Name: "evening", Start: c.at(17), End: c.at(20)},
	}
	g.faults = []rundir.Fault{
		{Kind: "latency", Target: "store", Start: c.at(9), End: c.at(9.33), Params: map[string]float64{"latency_ms": 250, "jitter_ms": 50}},
		{Kind: "pause", Target: "signer", Start: c.at(11.5), End: c.at(11.75)},
		{Kind: "pause", Target: "signer", Start: c.at(11.983), End: c.at(17.033)},
	}
	wall := func(t time.Time) time.Time {
		return g.wall0().Add(time.Duration(float64(t.Sub(c.Start)) / c.Timescale))
	}
	for i := range g.phases {
		g.phases[i].WallStart, g.phases[i].WallEnd = wall(g.phases[i].Start), wall(g.phases[i].End)
	}
	for i := range g.faults {
		g.faults[i].WallStart, g.faults[i].WallEnd = wall(g.faults[i].Start), wall(g.faults[i].End)
	}
	g.outage = make([]bool, g.secs)
	for _, f := range g.faults {
		if f.Target != "signer" {
			continue
		}
		for s := int(f.Start.Sub(c.Start) / time.Second); s < int(f.End.Sub(c.Start)/time.Second) && s < g.secs; s++ {
			if s >= 0 {
				g.outage[s] = true
			}
		}
	}
	// Scale the curve so the offered total is c.Requests.
	var sum float64
	for s := range g.secs {
		sum += demand(g.hour(s))
	}
	g.peakRate = float64(c.Requests) / sum
	g.capacity = 1.3 * g.peakRate
	if g.naive {
		g.capacity = 0.75 * g.peakRate
	}
	g.fraudLeft = 2
	g.phaseCounts = map[string]*Counts{}
	g.phaseP99 = map[string]float64{}
	g.latSlow, g.latFast, g.latTimeout = map[string]int64{}, map[string]int64{}, map[string]int64{}
}

func (g *gen) hour(s int) float64 { return 7 + 13*float64(s)/float64(g.secs) }

// wall0 is when the synthetic run started on the wall clock.
func (g *gen) wall0() time.Time { return time.Unix(1795000000, 0).UTC() }

func (g *gen) phaseAt(t time.Time) string {
	for _, p := range g.phases {
		if !t.Before(p.Start) && t.Before(p.End) {
			return p.Name
		}
	}
	return ""
}

func (g *gen) writeEvents(path string, _ *Totals) error {
	if path == "" {
		return nil
	}
	probes := []rundir.Probe{{When: "before", At: g.wall0(), OK: true}}
	return rundir.WriteEvents(filepath.Dir(path), &rundir.Events{Phases: g.phases, Faults: g.faults, Probes: probes})
}

// split divides n by the shares, rounding so the parts sum to n.
func split(n int64, shares []float64) []int64 {
	out := make([]int64, len(shares))
	left := n
	for i, s := range shares {
		if i == len(shares)-1 {
			out[i] = left
			break
		}
		v := int64(math.Round(float64(n) * s))
		v = min(v, left)
		out[i] = v
		left -= v
	}
	return out
}

func (g *gen) writeTimeseries(path string, tot *Totals) (err error) {
	var w *rundir.TimeseriesWriter
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		if w, err = rundir.NewTimeseriesWriter(f); err != nil {
			return err
		}
	}
	good := rundir.ClassFilter(GoodputClasses)
	g.perSecond = make([]Counts, g.secs)
	carry := make([]float64, len(Classes))
	phaseWeighted := map[string][2]float64{}
	for s := range g.secs {
		t := g.cfg.Start.Add(time.Duration(s) * time.Second)
		rate := g.peakRate * demand(g.hour(s))
		ph := g.phaseAt(t)
		for ci, cl := range Classes {
			// Carry fractions so low-rate classes still get their share.
			want := rate*cl.Share + carry[ci]
			offered := int64(want)
			carry[ci] = want - float64(offered)
			c, lat := g.second(s, cl.Name, offered, rate)
			row := rundir.Row{Start: t, Class: cl.Name, Counts: c, P50: lat[0], P90: lat[1], P99: lat[2], Max: lat[3]}
			if w != nil {
				if err := w.Write(&row); err != nil {
					return err
				}
			}
			if good(cl.Name) {
				g.goodRows = append(g.goodRows, row)
			}
			tot.Rows++
			tot.ByClass[cl.Name].Add(c)
			tot.All.Add(c)
			g.perSecond[s].Add(c)
			if ph != "" {
				pc := g.phaseCounts[ph]
				if pc == nil {
					pc = &Counts{}
					g.phaseCounts[ph] = pc
				}
				pc.Add(c)
				n := float64(c.Responses())
				pw := phaseWeighted[ph]
				phaseWeighted[ph] = [2]float64{pw[0] + n*lat[2], pw[1] + n}
			}
		}
	}
	for ph, pw := range phaseWeighted {
		if pw[1] > 0 {
			g.phaseP99[ph] = math.Round(pw[0]/pw[1]*10) / 10
		}
	}
	tot.Faults = len(g.faults)
	for _, p := range g.phases {
		tot.Phases = append(tot.Phases, p.Name)
	}
	if w != nil {
		return w.Flush()
	}
	return nil
}

// second decides what happened to one class's requests in one second.
func (g *gen) second(s int, class string, offered int64, rate float64) (Counts, [4]float64) {
	c := Counts{Offered: offered}
	if g.naive && rate > g.capacity {
		// The 2021 client gave up on some sends when the portal hung.
		c.Dropped = int64(float64(offered) * 0.002)
	}
	c.Sent = offered - c.Dropped
	c.Late = int64(float64(c.Sent) * 0.001)
	n := c.Sent
	jit := 1 + 0.1*(g.rng.Float64()-0.5)
	p50, p99 := 35.0*jit, 160.0*jit
	down := g.outage[s]
	switch {
	case class == "fraud":
		// Forged registrations: the hardened portal rejects them all; the
		// 2021 portal let a few through.
		if g.naive && g.fraudLeft > 0 && n > 0 && s >= g.secs/3*(3-g.fraudLeft) {
			c.OK = 1
			g.fraudLeft--
		}
		c.Rejected = n - c.OK
	case down && !g.naive:
		// Signer down: accept the work, queue it, answer 202 at once.
		parts := split(n, []float64{0, 0.97, 0.01, 0.02, 0})
		c.Deferred, c.Rejected, c.Overload = parts[1], parts[2], parts[3]+parts[4]
		c.Deferrals = c.Deferred
		if class == "issue" {
			g.backlog += c.Deferred
		}
		p50, p99 = 12*jit, 45*jit
	case down && g.naive:
		// Signer down, no queue: hangs until the 4 s client timeout, 5xx.
		parts := split(n, []float64{0, 0.55, 0.45})
		c.Error, c.Timeout = parts[1], parts[2]
		p50, p99 = 3900, 4000
	case g.naive && rate > g.capacity:
		over := (rate - g.capacity) / rate
		parts := split(n, []float64{1 - over - 0.01, 0.01, over * 0.6, over * 0.4})
		c.OK, c.Rejected, c.Error, c.Timeout = parts[0], parts[1], parts[2], parts[3]
		p50, p99 = 900*jit, 4000
	default:
		parts := split(n, []float64{0.985, 0.005, 0.01})
		c.OK, c.Deferred, c.Rejected = parts[0], parts[1], parts[2]
		// The few deferred at the edge of capacity are signed within the second.
		c.Deferrals = c.Deferred
		c.Delivered = c.Deferred
	}
	c.Accepted = c.OK + c.Deferred // first answers: a certificate or a ticket
	switch {
	case class == "issue":
		// Certificates: every 201, and once the signer is back the backlog
		// at the spare signing capacity (a ticket counts when it is done).
		c.Delivered += c.OK
		if !down && g.backlog > 0 {
			drained := min(g.backlog, int64(math.Max(0, g.capacity-rate)))
			c.Delivered += drained
			g.backlog -= drained
		}
	case class == "fraud":
		c.Delivered = c.OK // certificates to forgers: not goodput
	default:
		c.Delivered = 0 // ticket lookups deliver no new certificate
	}
	if g.naive {
		c.Retries = (c.Error + c.Timeout) / 2
	}
	slow := c.Timeout + c.Error
	g.latTimeout[class] += c.Timeout
	g.latSlow[class] += c.Error
	g.latFast[class] += c.Responses() - slow
	lat := [4]float64{p50, p50 * 2.2, p99, p99 * 1.6}
	if lat[1] > lat[2] {
		lat[1] = lat[2]
	}
	if n == 0 {
		lat = [4]float64{}
	}
	return c, lat
}

func (g *gen) writeMetrics(path string, _ *Totals) error {
	if path == "" {
		return nil
	}
	var list []rundir.Scrape
	var backlog, fraud float64
	const every = 30
	for s := 0; s < g.secs; s += every {
		var deferred, sent int64
		for k := s; k < s+every && k < g.secs; k++ {
			deferred += g.perSecond[k].Deferred
			sent += g.perSecond[k].Sent
		}
		signers := 10.0
		if g.outage[s] {
			signers = 0
		}
		backlog += float64(deferred)
		if !g.outage[s] {
			// Drain at spare signing capacity.
			backlog = math.Max(0, backlog-math.Max(0, g.capacity-float64(sent)/every)*every-float64(deferred))
		}
		inflight := float64(sent) / every * 0.05
		if g.naive && g.outage[s] {
			inflight = float64(sent) / every * 4
		}
		fraud += float64(g.rng.IntN(2))
		list = append(list, rundir.Scrape{Sim: g.cfg.Start.Add(time.Duration(s) * time.Second),
			Wall:            g.wall0().Add(time.Duration(float64(s) / g.cfg.Timescale * float64(time.Second))).Truncate(time.Millisecond),
			DeferredBacklog: math.Round(backlog), SignersAvailable: signers, InFlight: math.Round(inflight*10) / 10,
			FraudEvents: fraud, Up: true})
	}
	return rundir.WriteMetricsFile(filepath.Dir(path), list)
}

// histograms builds one latency histogram per class in microseconds: a
// log-normal body for fast responses, a slower mode for errors and a
// spike at the 4 s client timeout.
func (g *gen) histograms() (map[string]*hdrhistogram.Histogram, error) {
	out := map[string]*hdrhistogram.Histogram{}
	for _, cl := range Classes {
		h := hdrhistogram.New(1, 60_000_000, 3)
		// Ticket polls are cheap reads; forged registrations wait on
		// document checks.
		median := map[string]float64{"issue": 35_000, "ticket": 8_000, "fraud": 60_000}[cl.Name]
		if median == 0 {
			median = 35_000
		}
		if g.naive {
			median *= 3.5
		}
		if err := recordLogNormal(h, g.latFast[cl.Name], median, 0.6); err != nil {
			return nil, err
		}
		if err := recordLogNormal(h, g.latSlow[cl.Name], 1_500_000, 0.5); err != nil {
			return nil, err
		}
		if n := g.latTimeout[cl.Name]; n > 0 {
			if err := h.RecordValues(4_000_000, n); err != nil {
				return nil, err
			}
		}
		out[cl.Name] = h
	}
	return out, nil
}

// recordLogNormal spreads n values over 1000 quantiles of a log-normal.
func recordLogNormal(h *hdrhistogram.Histogram, n int64, median, sigma float64) error {
	const k = 1000
	left := n
	for i := range k {
		cnt := n / k
		if int64(i) < n%k {
			cnt++
		}
		if cnt == 0 || left == 0 {
			continue
		}
		q := (float64(i) + 0.5) / k
		z := math.Sqrt2 * math.Erfinv(2*q-1)
		v := int64(median * math.Exp(sigma*z))
		v = max(1, min(v, 59_000_000))
		if err := h.RecordValues(v, cnt); err != nil {
			return err
		}
		left -= cnt
	}
	return nil
}

func (g *gen) writeHistograms(path string, _ *Totals) error {
	if path == "" {
		return nil
	}
	hs, err := g.histograms()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for _, cl := range Classes {
		if err := rundir.WriteHistogram(w, cl.Name, hs[cl.Name]); err != nil {
			return err
		}
	}
	return w.Flush()
}

// capacityDoc is the capacity search as if run on the synthetic system:
// rates per wall second, like every rate of the run.
func (g *gen) capacityDoc() *rundir.Capacity {
	ts := g.cfg.Timescale
	forecast := math.Round(g.peakRate*ts*10) / 10
	capacity := g.capacity * ts
	c := &rundir.Capacity{ForecastPeakRPS: forecast}
	c.SLO.P99MS, c.SLO.MinSuccess = 500, 0.99
	knee := 0.0
	for i := 1; i <= 16; i++ {
		rate := math.Round(forecast*float64(i)) / 10
		good := rate
		if rate > capacity {
			good = capacity * math.Max(0.6, 1-0.5*(rate-capacity)/capacity)
		}
		p99 := 120 + 60*math.Pow(rate/capacity, 6)
		if rate > capacity {
			p99 = math.Min(4000, 500*math.Pow(rate/capacity, 8))
		}
		success := good / rate
		ok := p99 <= 500 && success >= 0.99
		if ok {
			knee = rate
		}
		c.Steps = append(c.Steps, rundir.CapacityStep{Rate: rate, Goodput: math.Round(good*10) / 10, P99MS: math.Round(p99),
			Success: math.Round(success*1000) / 1000, OK: ok})
	}
	c.CapacityRPS, c.KneeRPS, c.Bounded = knee, knee, true
	c.Headroom = math.Round(knee/forecast*100) / 100
	return c
}

func (g *gen) writeCapacity(path string, _ *Totals) error {
	if path == "" {
		return nil
	}
	return rundir.WriteCapacity(filepath.Dir(path), g.capacityDoc())
}

func (g *gen) writeSummary(path string, tot *Totals) error {
	hs, err := g.histograms()
	if err != nil {
		return err
	}
	all := hdrhistogram.New(1, 60_000_000, 3)
	for _, h := range hs {
		all.Merge(h)
	}
	msAt := func(h *hdrhistogram.Histogram, p float64) float64 {
		return math.Round(float64(h.ValueAtPercentile(p))/100) / 10
	}
	a := tot.All
	issueP99 := msAt(hs["issue"], 99)
	errRate := float64(tot.ByClass["issue"].Error+tot.ByClass["issue"].Timeout) / float64(max(1, tot.ByClass["issue"].Sent))
	thresholds := []rundir.Threshold{
		{Expr: "p99(issue) < 500ms", OK: issueP99 < 500, Value: fmt.Sprintf("%.0fms", issueP99), Scope: "run"},
		{Expr: "error_rate(issue) < 1%", OK: errRate < 0.01, Value: fmt.Sprintf("%.2f%%", errRate*100), Scope: "run"},
		{Expr: "dropped_sends == 0", OK: a.Dropped == 0, Value: fmt.Sprint(a.Dropped), Scope: "run"},
	}
	if g.cfg.FailThreshold {
		thresholds = append(thresholds, rundir.Threshold{Expr: "p50(issue) < 1ms", OK: false, Value: fmt.Sprintf("%.0fms", msAt(hs["issue"], 50)), Scope: "run"})
	}
	s := &rundir.Summary{Scenario: g.cfg.Scenario, Target: "synthetic", Profile: g.cfg.Profile, Seed: g.cfg.Seed,
		Timescale: g.cfg.Timescale, DemandScale: 1, Started: g.wall0(),
		WallSeconds: math.Round(float64(g.secs)/g.cfg.Timescale*10) / 10,
		Sim:         rundir.SimSpan{Start: g.cfg.Start, End: g.cfg.Start.Add(g.cfg.Duration)},
		Thresholds:  thresholds, GoodputClasses: GoodputClasses,
		LateSends: a.Late, DroppedSends: a.Dropped,
		Latency: rundir.LatencyMS{P50: msAt(all, 50), P90: msAt(all, 90), P99: msAt(all, 99), Max: float64(all.Max()) / 1000},
	}
	s.OfferedRate, s.Goodput = rundir.Rates(g.goodRows, g.cfg.Timescale, GoodputClasses, g.cfg.Duration.Seconds())
	amp := 1.0
	if a.Sent-a.Retries > 0 {
		amp = float64(a.Sent) / float64(a.Sent-a.Retries)
	}
	s.Requests = rundir.Requests{Total: a.Sent, Actions: a.Sent - a.Retries, OK: a.OK, Deferred: a.Deferred, Rejected: a.Rejected,
		Overload: a.Overload, Error: a.Error, Timeout: a.Timeout, Transport: a.Transport, Retries: a.Retries,
		RetryAmplification: math.Round(amp*1000) / 1000}
	s.Consistency = rundir.Consistency{Acknowledged: a.OK + a.Deferred, Verified: a.OK + a.Deferred}
	s.Security = rundir.Security{FraudAttempts: tot.ByClass["fraud"].Sent, AccountsSuspended: 3}
	if g.naive {
		escaped := tot.ByClass["fraud"].OK
		s.Consistency.Lost, s.Consistency.Duplicates = 17, 4
		s.Consistency.Verified -= 17
		s.Security.FraudIssued, s.Security.FraudEscaped, s.Security.AccountsSuspended = escaped, escaped, 0
	}
	s.Verdict = "pass"
	for _, t := range thresholds {
		if !t.OK {
			s.Verdict = "fail"
			tot.Failing = append(tot.Failing, t.Expr)
		}
	}
	if s.Consistency.Lost != 0 || s.Consistency.Duplicates != 0 || s.Security.FraudEscaped != 0 {
		s.Verdict = "fail"
	}
	tot.Verdict = s.Verdict
	s.Classes = map[string]rundir.ClassSummary{}
	for _, cl := range Classes {
		h, c := hs[cl.Name], tot.ByClass[cl.Name]
		s.Classes[cl.Name] = rundir.ClassSummary{Requests: c.Sent, OK: c.OK, Deferred: c.Deferred, Delivered: c.Delivered,
			Latency: rundir.LatencyMS{P50: msAt(h, 50), P99: msAt(h, 99)}}
	}
	for _, p := range g.phases {
		pc := g.phaseCounts[p.Name]
		if pc == nil {
			pc = &Counts{}
		}
		s.Phases = append(s.Phases, rundir.PhaseSummary{Name: p.Name, Requests: pc.Sent, Good: pc.OK, Delivered: pc.Delivered,
			Latency: rundir.PhaseLatency{P99: g.phaseP99[p.Name]}})
	}
	if path == "" {
		return nil
	}
	return rundir.WriteSummary(filepath.Dir(path), s)
}
