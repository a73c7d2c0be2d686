// Package loadgen drives open-model HTTP load with vegeta: one Attacker per
// traffic class, paced by a Pacer that follows a demand curve on the
// simulated clock, with client behaviour (timeouts, retries honouring
// Retry-After, impatient duplicates, ticket polling) in a RoundTripper that
// records every attempt. It reports late and dropped sends beside the
// latencies (measured from the intended send time, so coordinated omission
// cannot hide queueing), streams results in vegeta's gob format and
// aggregates them into bounded-memory per-second histograms.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen/balance"
	"github.com/golive-dev/golive/reports/rundir"
)

// Class is one kind of traffic with its own demand and users.
type Class struct {
	Name string
	// Demand is the real-world request rate; nil sends as fast as
	// MaxWorkers allow (a closed loop: for capacity benchmarks only).
	Demand  Demand
	Request RequestFunc
	Refresh Refresher // optional
	Client  ClientConfig
	// Workers and MaxWorkers are vegeta's: initial and maximum concurrent
	// user actions. Defaults 10 and 10,000. With a demand, a hit that
	// finds every worker busy waits and is recorded late, never hidden.
	Workers, MaxWorkers uint64
}

// Plan is one load run.
type Plan struct {
	// Clock maps wall time to simulated time; the zero Clock is real time
	// from the start of the run.
	Clock simclock.Clock
	// DemandScale multiplies every class's demand (default 1: real
	// national rates even though the day is time-compressed).
	DemandScale float64
	// Duration is the wall time the load runs for (required).
	Duration time.Duration
	Classes  []Class
	// Dir receives results.gob, results.meta.csv, timeseries.csv and
	// histogram.hdr; "" writes nothing.
	Dir string
	// Transport carries the requests; nil: an http.Transport like
	// vegeta's (no proxy, keep-alive, 10,000 idle connections per host)
	// with at most MaxConnsPerHost connections per host (0: no limit).
	Transport       http.RoundTripper
	MaxConnsPerHost int
	// TLS is that default transport's client TLS: the CAs an https
	// portal is verified against (a testbed's own; nil: the system's).
	TLS *tls.Config
	// Portals are the base URLs of the portal replicas. With more than
	// one, every request goes to them in turn, whatever host its URL
	// names, and fails over to the next with the same Idempotency-Key
	// within its own timeout (package balance).
	Portals []string
	// Drain is how long in-flight actions (retries and polls included) may
	// go on after the end; default the longest class timeout. Cancelling
	// the context stops them at once.
	Drain    time.Duration
	Observer Observer
	// Slow are attackers that hold connections by sending slowly, beside
	// the classes, for at most Duration (see SlowAttack).
	Slow []SlowAttack
	// Progress, if set, is called about every second from one goroutine.
	Progress func(Progress)
	Logger   *slog.Logger
	// Shard makes this run one of several workers sharing the plan's load
	// (the zero Shard is all of it).
	Shard Shard
	// Start is the agreed wall instant the load begins, which workers on
	// several processes or machines share; zero: when Run is called. Run
	// waits for it; a run called after it sends the hits already due at
	// once, recorded late.
	Start time.Time
}

// Shard is worker Index (from 0) of Count. Every class's pacer follows the
// whole demand and the worker releases the hits whose sequence number is
// Index modulo Count: each worker offers 1/Count of the rate, the workers'
// hits together are exactly one process's (the same sequence numbers,
// intended times, payloads and idempotency keys), and no two workers
// share a sequence number, so merged results count as one run's.
type Shard struct {
	Index, Count int
}

func (s Shard) count() uint64 { return uint64(max(s.Count, 1)) }

// global is the class-wide sequence number of the worker's local hit n.
func (s Shard) global(n uint64) uint64 { return n*s.count() + uint64(s.Index) }

// Progress is a once-a-second view of the running load.
type Progress struct {
	Elapsed  time.Duration
	Sim      time.Time
	Offered  float64       // requests/s all demands ask for now
	Achieved float64       // attempts completed in the last second
	P99      time.Duration // of those, from the intended send time
	Errors   uint64        // of those, neither ok, deferred nor ticket_done
	// Actions, Delivered and Accepted are the user actions due, the
	// certificates delivered (goodput) and the actions given a certificate
	// or a ticket (rundir.Counts) in the last second.
	Actions, Delivered, Accepted uint64
	InFlight                     int64  // user actions in progress
	Late                         uint64 // late sends so far
}

// Run sends the plan's load until Duration has passed (or every class's
// demand is exhausted) and in-flight actions have finished, or until ctx
// is cancelled. Either way it records the sends that were due but never
// made as dropped, flushes every file and returns the totals; on
// cancellation the error is ctx's.
func Run(ctx context.Context, p Plan) (Totals, error) {
	if err := p.check(); err != nil {
		return Totals{}, err
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	if p.DemandScale == 0 {
		p.DemandScale = 1
	}
	maxTimeout := time.Duration(0)
	for i := range p.Classes {
		cfg, _ := p.Classes[i].Client.withDefaults() // checked above
		p.Classes[i].Client = cfg
		maxTimeout = max(maxTimeout, cfg.Timeout)
	}
	window := Window(p.Classes)
	if p.Drain <= 0 {
		p.Drain = maxTimeout
	}

	start := p.Start
	if start.IsZero() {
		start = time.Now()
	} else if !sleep(ctx, time.Until(start)) && ctx.Err() != nil {
		return Totals{}, fmt.Errorf("loadgen: run stopped before its start: %w", ctx.Err())
	}
	out, err := openRunFiles(p.Dir)
	if err != nil {
		return Totals{}, err
	}
	clock := p.Clock
	if clock.Scale == 0 {
		clock = simclock.Clock{SimStart: start, WallStart: start, Scale: 1}
	}
	acfg := AggregatorConfig{Clock: clock, Window: window}
	if out.timeseries != nil {
		acfg.Timeseries = out.timeseries
	}
	agg, err := NewAggregator(acfg)
	if err != nil {
		out.close()
		return Totals{}, err
	}
	lv := newLive()
	var writeErr error
	// One goroutine encodes and aggregates, so the load's workers only hand
	// a record over: no lock held through gob encoding, which on a busy
	// machine turns into a convoy when its holder is preempted.
	recCh := make(chan Record, 16<<10)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		for r := range recCh {
			if out.results != nil && writeErr == nil {
				writeErr = out.results.Write(&r)
			}
			delivered, accepted := agg.Add(&r)
			if p.Progress != nil {
				lv.add(&r, delivered, accepted)
			}
		}
	}()
	record := func(r *Record) { recCh <- *r }

	rt := p.Transport
	if rt == nil {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: vegeta.DefaultConnections,
			MaxConnsPerHost:     p.MaxConnsPerHost,
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     p.TLS,
			// TLS handshakes wait like dials: a saturated portal is slow
			// to handshake, and the class timeouts judge the wait.
			TLSHandshakeTimeout: 30 * time.Second,
		}
		defer tr.CloseIdleConnections()
		rt = tr
	}
	var spread *balance.Transport
	if len(p.Portals) > 1 {
		if spread, err = balance.New(p.Portals, rt); err != nil {
			close(recCh)
			out.close()
			return Totals{}, fmt.Errorf("loadgen: %w", err)
		}
		rt = spread
	}
	var pastTimeout atomic.Int64
	// In-flight work outlives ctx by Drain at a normal end, not after a cancel.
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()

	var inFlight atomic.Int64
	runs := make([]*classRun, len(p.Classes))
	pacers := make([]*Pacer, len(p.Classes))
	attackers := make([]*vegeta.Attacker, len(p.Classes))
	for i, c := range p.Classes {
		pacer, err := NewPacer(c.Demand, clock, p.DemandScale, start, p.Duration)
		if err != nil {
			close(recCh)
			out.close()
			return Totals{}, fmt.Errorf("loadgen: class %s: %w", c.Name, err)
		}
		pacer.shard = p.Shard
		pacers[i] = pacer
		runs[i] = &classRun{shard: p.Shard, name: c.Name, cfg: c.Client, request: c.Request, refresh: c.Refresh, pacer: pacer,
			rt: rt, reqCtx: reqCtx, record: record, observer: p.Observer, inFlight: &inFlight, pastTimeout: &pastTimeout}
		workers, maxWorkers := c.Workers, c.MaxWorkers
		if workers == 0 {
			workers = vegeta.DefaultWorkers
		}
		if maxWorkers == 0 {
			maxWorkers = 10_000
		}
		attackers[i] = vegeta.NewAttacker(
			vegeta.Client(&http.Client{Transport: runs[i]}),
			vegeta.Redirects(vegeta.NoFollow),
			vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers))
	}

	// Slow attackers hold their connections beside the load, for at most
	// the plan's duration.
	slowCtx, stopSlow := context.WithTimeout(ctx, p.Duration)
	defer stopSlow()
	slowStats := make([]SlowStats, len(p.Slow))
	var slowWG sync.WaitGroup
	for i, a := range p.Slow {
		slowWG.Go(func() { slowStats[i] = runSlow(slowCtx, a, clock, p.DemandScale) })
	}

	var wg sync.WaitGroup
	for i, c := range p.Classes {
		stub := vegeta.Target{Method: http.MethodGet, URL: "http://loadgen.invalid/" + c.Name}
		results := attackers[i].Attack(func(t *vegeta.Target) error { *t = stub; return nil }, pacers[i], 0, c.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range results { // the user-visible outcomes; attempts are recorded already
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	stopAll := func() {
		for i := range pacers {
			pacers[i].Stop()
			attackers[i].Stop()
		}
	}
	endTimer := time.NewTimer(time.Until(start.Add(p.Duration)))
	defer endTimer.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ctxDone := ctx.Done()
	stopAt := start.Add(p.Duration)
	var drainTimer *time.Timer
	defer func() {
		if drainTimer != nil {
			drainTimer.Stop()
		}
	}()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctxDone:
			ctxDone = nil
			stopAt = time.Now()
			log.Info("load stopped early", "reason", context.Cause(ctx), "elapsed", time.Since(start).Round(time.Millisecond))
			stopAll()
			cancelReq()
		case <-endTimer.C:
			// The pacers stop by themselves after the last hit due by the
			// end, which a busy generator may still be releasing; the
			// drain is the backstop for them and for requests in flight.
			drainTimer = time.AfterFunc(p.Drain, func() { stopAll(); cancelReq() })
		case now := <-tick.C:
			// What a killed process leaves is at most a second old
			// (a load worker's merge reads a lost worker's files).
			if out.results != nil {
				_ = out.results.Flush()
			}
			if p.Progress != nil {
				pr := lv.snapshot()
				pr.Elapsed = now.Sub(start)
				pr.Sim = clock.Sim(now)
				for _, pc := range pacers {
					pr.Offered += pc.RateAt(now) / float64(p.Shard.count())
				}
				pr.InFlight = inFlight.Load()
				p.Progress(pr)
			}
		}
	}
	cancelReq()
	stopSlow()
	slowWG.Wait()
	// Hits due before the stop that vegeta never released are dropped.
	for i, r := range runs {
		due := pacers[i].Expected(stopAt)
		for n := r.ticks.Load(); p.Shard.global(n) < due; n++ {
			seq := p.Shard.global(n)
			at, _ := pacers[i].Intended(seq)
			r.dropped(seq, at, "dropped: not sent before the run ended")
		}
	}
	close(recCh)
	<-recDone
	errs := []error{agg.Close(), writeErr}
	errs = append(errs, out.finish(agg))
	totals := agg.Totals()
	totals.Slow = slowStats
	totals.PastTimeout = pastTimeout.Load()
	if spread != nil {
		totals.Failovers = spread.Failovers()
	}
	if err := errors.Join(errs...); err != nil {
		return totals, err
	}
	if ctx.Err() != nil {
		return totals, fmt.Errorf("loadgen: run stopped: %w", ctx.Err())
	}
	return totals, nil
}

// Window is the aggregation window Run uses for classes (the longest
// attempt timeout plus 5 s); a merge of workers' results uses the same.
func Window(classes []Class) time.Duration {
	longest := time.Duration(0)
	for _, c := range classes {
		cfg, _ := c.Client.withDefaults()
		longest = max(longest, cfg.Timeout)
	}
	return longest + 5*time.Second
}

func (p *Plan) check() error {
	if p.Duration <= 0 {
		return fmt.Errorf("loadgen: plan duration %v must be > 0", p.Duration)
	}
	if p.DemandScale < 0 {
		return fmt.Errorf("loadgen: demand scale %v must be > 0", p.DemandScale)
	}
	if len(p.Classes) == 0 {
		return errors.New("loadgen: a plan needs at least one class")
	}
	if p.Drain < 0 || p.MaxConnsPerHost < 0 {
		return errors.New("loadgen: drain and MaxConnsPerHost must not be negative")
	}
	if p.Shard.Count < 0 || p.Shard.Index < 0 || (p.Shard.Count > 0 && p.Shard.Index >= p.Shard.Count) || (p.Shard.Count == 0 && p.Shard.Index != 0) {
		return fmt.Errorf("loadgen: shard %d of %d: want 0 <= index < count", p.Shard.Index, p.Shard.Count)
	}
	seen := map[string]bool{}
	for i, c := range p.Classes {
		if c.Name == "" || strings.ContainsAny(c.Name, ",\"\r\n") {
			return fmt.Errorf("loadgen: class %d: name %q must be non-empty without commas, quotes or newlines", i, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("loadgen: class %s appears twice", c.Name)
		}
		seen[c.Name] = true
		if c.Request == nil {
			return fmt.Errorf("loadgen: class %s has no Request function", c.Name)
		}
		if c.Demand == nil && c.MaxWorkers == 0 {
			return fmt.Errorf("loadgen: class %s has no demand (unlimited rate) and needs MaxWorkers", c.Name)
		}
		if c.Workers > 0 && c.MaxWorkers > 0 && c.Workers > c.MaxWorkers {
			return fmt.Errorf("loadgen: class %s: Workers %d exceed MaxWorkers %d", c.Name, c.Workers, c.MaxWorkers)
		}
		if _, err := c.Client.withDefaults(); err != nil {
			return fmt.Errorf("loadgen: class %s: %w", c.Name, err)
		}
	}
	for i := range p.Slow {
		if err := p.Slow[i].check(); err != nil {
			return err
		}
		if seen[p.Slow[i].Name] {
			return fmt.Errorf("loadgen: class %s appears twice", p.Slow[i].Name)
		}
		seen[p.Slow[i].Name] = true
	}
	return nil
}

// runFiles are the run directory's files loadgen writes.
type runFiles struct {
	dir        string
	results    *Writer
	timeseries *os.File
}

func openRunFiles(dir string) (*runFiles, error) {
	f := &runFiles{dir: dir}
	if dir == "" {
		return f, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	w, err := CreateWriter(dir)
	if err != nil {
		return nil, err
	}
	ts, err := os.Create(filepath.Join(dir, rundir.TimeseriesFile))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	f.results, f.timeseries = w, ts
	return f, nil
}

func (f *runFiles) close() {
	if f.results != nil {
		f.results.Close()
		f.timeseries.Close()
	}
}

// finish writes histogram.hdr and closes everything.
func (f *runFiles) finish(agg *Aggregator) error {
	if f.dir == "" {
		return nil
	}
	err := errors.Join(f.results.Close(), f.timeseries.Close())
	hf, herr := os.Create(filepath.Join(f.dir, rundir.HistogramFile))
	if herr != nil {
		return errors.Join(err, fmt.Errorf("loadgen: %w", herr))
	}
	return errors.Join(err, agg.WriteHistograms(hf), hf.Close())
}

// live keeps the last second's numbers for Progress.
type live struct {
	mu      sync.Mutex
	n       uint64
	errs    uint64
	late    uint64
	actions uint64
	good    uint64
	taken   uint64
	h       *hdr.Histogram
	period  time.Time
}

func newLive() *live {
	return &live{h: hdr.New(histLowest, histHighest, histCellFigs), period: time.Now()}
}

func (l *live) add(r *Record, delivered, accepted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Attempt <= 1 {
		l.actions++ // first attempts and dropped actions: the offered load
	}
	if delivered {
		l.good++
	}
	if accepted {
		l.taken++
	}
	if r.Dropped() {
		return
	}
	l.n++
	if !r.Outcome.Good() {
		l.errs++
	}
	if r.Late() {
		l.late++
	}
	_ = l.h.RecordValue(micros(r.ResponseTime()))
}

func (l *live) snapshot() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	secs := now.Sub(l.period).Seconds()
	pr := Progress{Errors: l.errs, Late: l.late, P99: time.Duration(l.h.ValueAtQuantile(99)) * time.Microsecond,
		Actions: l.actions, Delivered: l.good, Accepted: l.taken}
	if secs > 0 {
		pr.Achieved = float64(l.n) / secs
	}
	l.n, l.errs, l.actions, l.good, l.taken, l.period = 0, 0, 0, 0, 0, now
	l.h.Reset()
	return pr
}
