// Package synthrun writes synthetic but self-consistent run directories
// (docs/run-format.md) for testing and benchmarking report generation
// without running a load test: a launch day with a demand curve, phases,
// a signer outage, /metrics scrapes, latency histograms and a capacity
// search, shaped by the profile ("hardened" degrades gracefully by
// deferring work; "naive-2021" times out and loses requests, as in 2021).
package synthrun

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
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

// Counts mirror the timeseries.csv columns.
type Counts struct {
	Offered, Sent, Late, Dropped                                int64
	OK, Deferred, Rejected, Overload, Error, Timeout, Transport int64
	Retries                                                     int64
}

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

func (c Counts) responses() int64 {
	return c.OK + c.Deferred + c.Rejected + c.Overload + c.Error + c.Timeout + c.Transport
}

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

type phase struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	WallStart string    `json:"wall_start"`
	WallEnd   string    `json:"wall_end"`
}

type fault struct {
	Kind      string         `json:"kind"`
	Target    string         `json:"target"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
	Params    map[string]any `json:"params"`
	Error     string         `json:"error"`
	WallStart string         `json:"wall_start"`
	WallEnd   string         `json:"wall_end"`
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
		{"events.json", g.writeEvents},
		{"timeseries.csv", g.writeTimeseries},
		{"metrics.csv", g.writeMetrics},
		{"histogram.hdr", g.writeHistograms},
		{"capacity.json", g.writeCapacity},
		{"summary.json", g.writeSummary},
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
	phases []phase
	faults []fault
	secs   int
	// outage[i] is true when the signer is down at second i.
	outage    []bool
	fraudLeft int // forged certificates the naive portal still lets through
	// capacity is the offered rate the profile serves within its SLO.
	peakRate, capacity float64

	// Filled while writing the timeseries, used by later files.
	perSecond   []Counts // all classes
	phaseCounts map[string]*Counts
	phaseP99    map[string]float64
	latSlow     map[string]int64 // responses in the slow mode per class
	latFast     map[string]int64
	latTimeout  map[string]int64
}

func (g *gen) build() {
	c := &g.cfg
	g.secs = int(c.Duration / time.Second)
	g.phases = []phase{
		{Name: "before-opening", Start: c.at(7), End: c.at(7.75)},
		{Name: "morning-rush", Start: c.at(7.75), End: c.at(11)},
		{Name: "midday", Start: c.at(11), End: c.at(17)},
		{Name: "evening", Start: c.at(17), End: c.at(20)},
	}
	g.faults = []fault{
		{Kind: "latency", Target: "store", Start: c.at(9), End: c.at(9.33), Params: map[string]any{"latency_ms": 250, "jitter_ms": 50}},
		{Kind: "pause", Target: "signer", Start: c.at(11.5), End: c.at(11.75)},
		{Kind: "pause", Target: "signer", Start: c.at(11.983), End: c.at(17.033)},
	}
	wall := func(t time.Time) string {
		return time.Unix(1795000000, 0).UTC().Add(t.Sub(c.Start) / 180).Format(time.RFC3339)
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
	probes := []map[string]any{{"name": "steady-state", "at": g.cfg.Start.Format(time.RFC3339), "ok": true}}
	return writeJSON(path, map[string]any{"phases": g.phases, "faults": g.faults, "probes": probes})
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

func (g *gen) writeTimeseries(path string, tot *Totals) error {
	var w *bufio.Writer
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = bufio.NewWriterSize(f, 256<<10)
		w.WriteString("sim_time,class,offered,sent,late,dropped,ok,deferred,rejected,overload,error,timeout,transport,p50_ms,p90_ms,p99_ms,max_ms,retries\n")
	}
	g.perSecond = make([]Counts, g.secs)
	carry := make([]float64, len(Classes))
	phaseWeighted := map[string][2]float64{}
	buf := make([]byte, 0, 256)
	for s := range g.secs {
		t := g.cfg.Start.Add(time.Duration(s) * time.Second)
		ts := t.Format(time.RFC3339)
		rate := g.peakRate * demand(g.hour(s))
		ph := g.phaseAt(t)
		for ci, cl := range Classes {
			// Carry fractions so low-rate classes still get their share.
			want := rate*cl.Share + carry[ci]
			offered := int64(want)
			carry[ci] = want - float64(offered)
			c, lat := g.second(s, cl.Name, offered, rate)
			if w != nil {
				buf = buf[:0]
				buf = append(buf, ts...)
				buf = append(buf, ',')
				buf = append(buf, cl.Name...)
				for _, v := range []int64{c.Offered, c.Sent, c.Late, c.Dropped, c.OK, c.Deferred, c.Rejected, c.Overload, c.Error, c.Timeout, c.Transport} {
					buf = append(buf, ',')
					buf = strconv.AppendInt(buf, v, 10)
				}
				for _, v := range lat {
					buf = append(buf, ',')
					buf = strconv.AppendFloat(buf, v, 'f', 1, 64)
				}
				buf = append(buf, ',')
				buf = strconv.AppendInt(buf, c.Retries, 10)
				buf = append(buf, '\n')
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			tot.Rows++
			tot.ByClass[cl.Name].add(c)
			tot.All.add(c)
			g.perSecond[s].add(c)
			if ph != "" {
				pc := g.phaseCounts[ph]
				if pc == nil {
					pc = &Counts{}
					g.phaseCounts[ph] = pc
				}
				pc.add(c)
				n := float64(c.responses())
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
	}
	if g.naive {
		c.Retries = (c.Error + c.Timeout) / 2
	}
	slow := c.Timeout + c.Error
	g.latTimeout[class] += c.Timeout
	g.latSlow[class] += c.Error
	g.latFast[class] += c.responses() - slow
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
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	w.WriteString("sim_time,wall_unix_ms,deferred_backlog,signers_available,in_flight,fraud_events\n")
	var backlog, fraud float64
	const every = 30
	wall0 := int64(1795000000000)
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
		t := g.cfg.Start.Add(time.Duration(s) * time.Second)
		fmt.Fprintf(w, "%s,%d,%.0f,%.0f,%.1f,%.0f\n", t.Format(time.RFC3339), wall0+int64(s)*1000/180, backlog, signers, inflight, fraud)
	}
	return w.Flush()
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
		enc, err := hs[cl.Name].Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s,%s\n", cl.Name, enc)
	}
	return w.Flush()
}

func (g *gen) capacityDoc() map[string]any {
	forecast := math.Round(g.peakRate*10) / 10
	var steps []map[string]any
	knee := 0.0
	for i := 1; i <= 16; i++ {
		rate := math.Round(forecast*float64(i)) / 10
		good := rate
		if rate > g.capacity {
			good = g.capacity * math.Max(0.6, 1-0.5*(rate-g.capacity)/g.capacity)
		}
		p99 := 120 + 60*math.Pow(rate/g.capacity, 6)
		if rate > g.capacity {
			p99 = math.Min(4000, 500*math.Pow(rate/g.capacity, 8))
		}
		success := good / rate
		ok := p99 <= 500 && success >= 0.99
		if ok {
			knee = rate
		}
		steps = append(steps, map[string]any{"rate": rate, "goodput": math.Round(good*10) / 10, "p99_ms": math.Round(p99), "success": math.Round(success*1000) / 1000, "ok": ok})
	}
	return map[string]any{
		"slo":               map[string]any{"p99_ms": 500, "min_success": 0.99},
		"forecast_peak_rps": forecast,
		"capacity_rps":      knee,
		"headroom":          math.Round(knee/forecast*100) / 100,
		"steps":             steps,
		"knee_rps":          knee,
	}
}

func (g *gen) writeCapacity(path string, _ *Totals) error {
	if path == "" {
		return nil
	}
	return writeJSON(path, g.capacityDoc())
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
	var peakOffered, peakGood int64
	for _, c := range g.perSecond {
		peakOffered = max(peakOffered, c.Offered)
		peakGood = max(peakGood, c.OK+c.Deferred)
	}
	secs := float64(g.secs)
	issueP99 := msAt(hs["issue"], 99)
	errRate := float64(tot.ByClass["issue"].Error+tot.ByClass["issue"].Timeout) / float64(max(1, tot.ByClass["issue"].Sent))
	thresholds := []map[string]any{
		{"expr": "p99(issue) < 500ms", "ok": issueP99 < 500, "value": fmt.Sprintf("%.0fms", issueP99), "scope": "run"},
		{"expr": "error_rate(issue) < 1%", "ok": errRate < 0.01, "value": fmt.Sprintf("%.2f%%", errRate*100), "scope": "run"},
		{"expr": "dropped_sends == 0", "ok": a.Dropped == 0, "value": strconv.FormatInt(a.Dropped, 10), "scope": "run"},
	}
	if g.cfg.FailThreshold {
		thresholds = append(thresholds, map[string]any{"expr": "p50(issue) < 1ms", "ok": false, "value": fmt.Sprintf("%.0fms", msAt(hs["issue"], 50)), "scope": "run"})
	}
	cons := map[string]any{"acknowledged": a.OK + a.Deferred, "verified": a.OK + a.Deferred, "lost": 0, "duplicates": 0, "tickets_pending": 0}
	sec := map[string]any{"fraud_attempts": tot.ByClass["fraud"].Sent, "fraud_issued": 0, "fraud_revoked": 0, "fraud_escaped": 0, "accounts_suspended": 3}
	lost, dup, escaped := int64(0), int64(0), tot.ByClass["fraud"].OK
	if g.naive {
		lost, dup = 17, 4
		cons["lost"], cons["duplicates"], cons["verified"] = lost, dup, a.OK+a.Deferred-lost
		sec["fraud_issued"], sec["fraud_escaped"], sec["accounts_suspended"] = escaped, escaped, 0
	}
	verdict := "pass"
	for _, t := range thresholds {
		if !t["ok"].(bool) {
			verdict = "fail"
			tot.Failing = append(tot.Failing, t["expr"].(string))
		}
	}
	if lost != 0 || dup != 0 || escaped != 0 {
		verdict = "fail"
	}
	tot.Verdict = verdict
	classes := map[string]any{}
	for _, cl := range Classes {
		h := hs[cl.Name]
		classes[cl.Name] = map[string]any{"requests": tot.ByClass[cl.Name].Sent, "latency_ms": map[string]float64{"p50": msAt(h, 50), "p99": msAt(h, 99)}}
	}
	var phases []map[string]any
	for _, p := range g.phases {
		pc := g.phaseCounts[p.Name]
		if pc == nil {
			pc = &Counts{}
		}
		phases = append(phases, map[string]any{"name": p.Name, "requests": pc.Sent, "latency_ms": map[string]float64{"p99": g.phaseP99[p.Name]}})
	}
	attempts := a.Sent
	amp := 1.0
	if attempts-a.Retries > 0 {
		amp = float64(attempts) / float64(attempts-a.Retries)
	}
	doc := map[string]any{
		"schema": "golive.summary/v1", "verdict": verdict, "scenario": g.cfg.Scenario, "target": "synthetic",
		"profile": g.cfg.Profile, "seed": g.cfg.Seed, "timescale": 180, "started": "2026-11-22T10:00:00Z",
		"wall_seconds": math.Round(secs/180*10) / 10,
		"sim":          map[string]any{"start": g.cfg.Start, "end": g.cfg.Start.Add(g.cfg.Duration)},
		"requests": map[string]any{"total": attempts, "ok": a.OK, "deferred": a.Deferred, "rejected": a.Rejected, "overload": a.Overload,
			"error": a.Error, "timeout": a.Timeout, "transport": a.Transport, "retries": a.Retries, "retry_amplification": math.Round(amp*1000) / 1000},
		"offered_rate":  map[string]any{"mean": math.Round(float64(a.Offered)/secs*10) / 10, "peak": peakOffered},
		"goodput":       map[string]any{"mean": math.Round(float64(a.OK+a.Deferred)/secs*10) / 10, "peak": peakGood},
		"latency_ms":    map[string]any{"p50": msAt(all, 50), "p90": msAt(all, 90), "p99": msAt(all, 99), "max": float64(all.Max()) / 1000},
		"late_sends":    a.Late,
		"dropped_sends": a.Dropped,
		"consistency":   cons,
		"security":      sec,
		"thresholds":    thresholds,
		"classes":       classes,
		"phases":        phases,
	}
	if path == "" {
		return nil
	}
	return writeJSON(path, doc)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
