package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
)

// Timeouts of the coordinator.
const (
	// workerLead is how far ahead of the agreed start the coordinator
	// writes the shards: the started workers poll for them (200 ms) and
	// set up their classes.
	workerLead = 2 * time.Second
	// workerShardWait is how long a started worker waits for its shard
	// (the coordinator onboards nothing after starting them).
	workerShardWait = 2 * time.Minute
	// workerStopGrace is how long workers may take to finish after the
	// end of their load (its drain included) or after a stop request.
	workerStopGrace = 30 * time.Second
	// workerStartedLate is how far past the agreed start a worker may get
	// ready before it is named as late.
	workerStartedLate = 500 * time.Millisecond
	workerKillTimeout = 20 * time.Second
)

// WorkerName is the name of worker i (from 0): worker-1, worker-2, ...
func WorkerName(i int) string { return "worker-" + strconv.Itoa(i+1) }

// fleet is the coordinator's view of its load workers.
type fleet struct {
	r                  *run
	ws                 []*fleetWorker
	hostDir, workerDir string
	portalURLs         []string
	start              time.Time
	end                time.Time // when the workers' load ends (before drain)
}

type fleetWorker struct {
	name  string
	index int
	dir   string             // as the coordinator sees it
	proc  testbed.WorkerProc // nil: started elsewhere (Kubernetes)

	hb       heartbeat
	seen     time.Time // coordinator's time of the last new heartbeat
	offset   time.Duration
	done     *workerDone
	lost     *time.Time
	reason   string
	lateNote bool
}

func (w *fleetWorker) over() bool { return w.done != nil || w.lost != nil }

// launchWorkers starts the workers on the testbed (or leaves them to
// Kubernetes when o.WorkersDir is set) before anything is agreed: a
// container may take many seconds to start on a busy machine, and each
// waits for its shard.json (writeShards), which fixes the start.
func (r *run) launchWorkers(ctx context.Context) (*fleet, error) {
	n := r.o.Workers
	f := &fleet{r: r, hostDir: r.o.WorkersDir, workerDir: r.o.WorkersDir, portalURLs: testbed.PortalURLs(r.tb)}
	var host testbed.WorkerHost
	if r.o.WorkersDir == "" {
		h, ok := r.tb.(testbed.WorkerHost)
		if !ok {
			return nil, fmt.Errorf("engine: %s cannot start workers: use --target docker or local, or --workers-dir for workers started elsewhere (golive k8s render)", r.tb.Kind())
		}
		host = h
		f.hostDir, f.workerDir, f.portalURLs = h.WorkerSpace()
	}
	for i := range n {
		w := &fleetWorker{name: WorkerName(i), index: i, dir: filepath.Join(f.hostDir, WorkerName(i))}
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return nil, fmt.Errorf("engine: worker directory: %w", err)
		}
		for _, name := range []string{shardFile, heartbeatFile, doneFile, stopFile, finalsFile, rundir.ResultsFile, rundir.MetaFile} {
			_ = os.Remove(filepath.Join(w.dir, name)) // a reused --workers-dir holds an older run's
		}
		f.ws = append(f.ws, w)
	}
	if host == nil {
		return f, nil
	}
	r.say("starting %d load workers on the %s testbed", n, r.tb.Kind())
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, w := range f.ws {
		wg.Go(func() {
			var cpus string
			if len(r.o.WorkerCPUSets) > 0 {
				cpus = r.o.WorkerCPUSets[i%len(r.o.WorkerCPUSets)]
			}
			w.proc, errs[i] = host.StartWorker(ctx, testbed.WorkerSpec{Name: w.name, CPUSet: cpus,
				Args: []string{"worker", "--dir", f.workerDir + "/" + w.name, "--wait", workerShardWait.String()}})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.killAll()
		return nil, fmt.Errorf("engine: starting workers: %w", err)
	}
	return f, nil
}

// writeShards writes every worker's shard.json: the run's clock (its
// WallStart is the agreed start) and the worker's share.
func (f *fleet) writeShards(setups []*classSetup, dur time.Duration) error {
	r := f.r
	f.start, f.end = r.clock.WallStart, r.clock.WallStart.Add(dur)
	for _, w := range f.ws {
		sp := r.shardFor(setups, w.index, len(f.ws), f.portalURLs, dur)
		sp.Name = w.name
		if err := writeJSONAtomic(filepath.Join(w.dir, shardFile), sp); err != nil {
			return fmt.Errorf("engine: writing %s's shard: %w", w.name, err)
		}
	}
	if r.o.WorkersDir != "" {
		r.say("shards for %d workers written to %s (golive worker --shards %s --index I)", len(f.ws), f.hostDir, f.workerDir)
	}
	if r.o.workersStarted != nil {
		procs := make([]testbed.WorkerProc, len(f.ws))
		for i, w := range f.ws {
			procs[i] = w.proc
		}
		r.o.workersStarted(procs, f.start)
	}
	return nil
}

// shardFor is worker i of n's shard: every class's pharmacies i, i+n, ...
// (a class with fewer pharmacies than workers lends pharmacy i mod len).
func (r *run) shardFor(setups []*classSetup, i, n int, portalURLs []string, dur time.Duration) shardSpec {
	sp := shardSpec{Version: shardVersion, Index: i, Count: n, ScenarioSource: r.sc.Source, ScenarioYAML: r.sc.Raw,
		Profile: r.profile, Timescale: r.timescale, DemandScale: r.demandScale, Seed: r.seed, RunKey: r.runKey,
		PortalURL: portalURLs[0], PortalURLs: portalURLs, SimStart: r.clock.SimStart, WallStart: r.clock.WallStart, Duration: dur}
	sp.CA = string(r.caPEM())
	r.mu.Lock()
	sp.Sample = r.sample
	r.mu.Unlock()
	for _, cs := range setups {
		sc := shardClass{Name: cs.spec.Name}
		if cs.accounts != nil {
			cs.accounts.mu.Lock()
			list := cs.accounts.list
			var mine []int
			for j := i; j < len(list); j += n {
				mine = append(mine, j)
			}
			if len(mine) == 0 && len(list) > 0 {
				mine = []int{i % len(list)}
			}
			for _, j := range mine {
				p := list[j]
				sc.Accounts = append(sc.Accounts, shardAccount{ID: p.ID, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
					Token: p.Token, Refresh: p.Refresh, TokenExpires: p.TokenExpires})
			}
			cs.accounts.mu.Unlock()
		}
		sp.Classes = append(sp.Classes, sc)
	}
	return sp
}

// wait follows the workers until every one has finished or is lost,
// feeding their progress to the live thresholds, asking them to stop when
// ctx ends; then merges their results into the run directory and replays
// what their users saw.
func (f *fleet) wait(ctx context.Context, classes []loadgen.Class) (loadgen.Totals, error) {
	r := f.r
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	deadline := f.end.Add(loadgen.Window(classes) + workerStopGrace)
	ctxDone := ctx.Done()
	for {
		now := time.Now()
		f.poll(now, deadline)
		if f.allOver() {
			break
		}
		if now.After(f.start) {
			r.onProgress(f.progress(now))
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			f.stopAll()
			deadline = time.Now().Add(workerStopGrace)
		case <-tick.C:
		}
	}
	return f.merge(classes)
}

// poll reads every running worker's files and decides who is finished or lost.
func (f *fleet) poll(now, deadline time.Time) {
	for _, w := range f.ws {
		if w.over() {
			continue
		}
		hbPath := filepath.Join(w.dir, heartbeatFile)
		if b, err := os.ReadFile(hbPath); err == nil {
			var hb heartbeat
			if json.Unmarshal(b, &hb) == nil && hb.At.After(w.hb.At) {
				w.hb, w.seen = hb, now
				if st, err := os.Stat(hbPath); err == nil {
					// The file's time is the coordinator host's clock
					// (a shared volume: its server's) when it was written.
					w.offset = hb.At.Sub(st.ModTime())
				}
				if !hb.Ready.IsZero() && hb.Ready.Sub(f.start) > workerStartedLate && !w.lateNote {
					w.lateNote = true
					f.r.say("%s started late: ready at %s, %s after the agreed start", w.name,
						hb.Ready.Format("15:04:05.000"), hb.Ready.Sub(f.start).Round(time.Millisecond))
				}
			}
		}
		if b, err := os.ReadFile(filepath.Join(w.dir, doneFile)); err == nil {
			var d workerDone
			if json.Unmarshal(b, &d) == nil {
				w.done = &d
				if d.Error != "" {
					f.r.log.Warn("worker ended with an error", "worker", w.name, "err", d.Error)
				}
				continue
			}
		}
		switch {
		case w.proc != nil && exited(w.proc):
			f.lose(w, w.proc.Exited(), fmt.Sprintf("exited before finishing (%v)", w.proc.Exit()))
		case !w.seen.IsZero() && now.Sub(w.seen) > workerSilence:
			f.lose(w, w.seen, fmt.Sprintf("no heartbeat for %s", now.Sub(w.seen).Round(time.Second)))
		case w.seen.IsZero() && now.Sub(f.start) > workerSilence:
			f.lose(w, f.start, fmt.Sprintf("never started (no heartbeat %s after the agreed start)", now.Sub(f.start).Round(time.Second)))
		case now.After(deadline):
			f.lose(w, now, "did not finish by itself")
		}
	}
}

func exited(p testbed.WorkerProc) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// lose marks w lost at (and ends it: a hung worker must not send on).
func (f *fleet) lose(w *fleetWorker, at time.Time, why string) {
	w.lost, w.reason = &at, why
	sim := f.r.clock.Sim(at)
	f.r.say("lost %s at %s (simulated %s): %s", w.name, at.Format("15:04:05"), sim.Format("15:04:05"), why)
	if w.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), workerKillTimeout)
		if err := w.proc.Kill(ctx); err != nil {
			f.r.log.Warn("killing a lost worker", "worker", w.name, "err", err)
		}
		cancel()
	}
}

func (f *fleet) allOver() bool {
	for _, w := range f.ws {
		if !w.over() {
			return false
		}
	}
	return true
}

// stopAll asks every worker to stop (they finish their files and exit).
func (f *fleet) stopAll() {
	for _, w := range f.ws {
		if !w.over() {
			_ = os.WriteFile(filepath.Join(w.dir, stopFile), nil, 0o600)
		}
	}
}

func (f *fleet) killAll() {
	ctx, cancel := context.WithTimeout(context.Background(), workerKillTimeout)
	defer cancel()
	for _, w := range f.ws {
		if w.proc != nil {
			_ = w.proc.Kill(ctx)
		}
	}
}

// progress sums the workers' last second (their p99: the worst worker's;
// the verdict is judged on the merged files, not on this).
func (f *fleet) progress(now time.Time) loadgen.Progress {
	p := loadgen.Progress{Elapsed: now.Sub(f.start), Sim: f.r.clock.Sim(now)}
	for _, w := range f.ws {
		if w.over() || now.Sub(w.seen) > 2*heartbeatEvery {
			continue
		}
		q := w.hb.Progress
		p.Offered += q.Offered
		p.Achieved += q.Achieved
		p.P99 = max(p.P99, q.P99)
		p.Errors += q.Errors
		p.Actions += q.Actions
		p.Delivered += q.Delivered
		p.Accepted += q.Accepted
		p.InFlight += q.InFlight
		p.Late += q.Late
	}
	return p
}

// merge writes the run's results from the workers' and replays their
// users' final outcomes into the run (acknowledgements, tickets, time to
// certificate), as a single process's observer would have seen them.
func (f *fleet) merge(classes []loadgen.Class) (loadgen.Totals, error) {
	r := f.r
	srcs := make([]loadgen.MergeSource, len(f.ws))
	for i, w := range f.ws {
		srcs[i] = loadgen.MergeSource{Dir: w.dir, Partial: w.lost != nil}
	}
	r.say("merging the results of %d workers", len(f.ws))
	totals, per, err := loadgen.MergeFiles(r.o.Out, srcs, loadgen.AggregatorConfig{Clock: r.clock, Window: loadgen.Window(classes)})
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("engine: merging workers' results: %w", err))
	}
	for i, w := range f.ws {
		h := rundir.WorkerHealth{Name: w.name, Shard: w.index, State: rundir.WorkerFinished,
			CPUSeconds: w.hb.CPUSeconds, ClockOffsetMS: ms(w.offset)}
		if !w.hb.Ready.IsZero() && w.hb.Ready.After(f.start) {
			h.StartedLateMS = ms(w.hb.Ready.Sub(f.start))
		}
		if i < len(per) {
			h.Requests = int64(per[i].Requests)
		}
		h.LateSends = int64(w.hb.Late)
		if d := w.done; d != nil {
			h.Requests, h.Actions, h.LateSends, h.CPUSeconds = int64(d.Requests), int64(d.Actions), int64(d.Late), d.CPUSeconds
			totals.PastTimeout += d.PastTimeout
			totals.Failovers += d.Failovers
			if i < len(per) && per[i].Requests != d.Requests {
				errs = append(errs, fmt.Errorf("engine: %s counted %d requests, its files hold %d", w.name, d.Requests, per[i].Requests))
			}
		}
		if w.lost != nil {
			h.State, h.Lost, h.Reason = rundir.WorkerLost, w.lost, w.reason
			if i < len(per) && per[i].Damaged != "" {
				h.Reason += "; its results end early (" + per[i].Damaged + ")"
			}
		}
		r.workerHealth = append(r.workerHealth, h)
		n, ferr := replayFinals(filepath.Join(w.dir, finalsFile), r.observe)
		if ferr != nil && w.lost == nil {
			errs = append(errs, fmt.Errorf("engine: %s's finals: %w", w.name, ferr))
		}
		if w.done != nil && n != w.done.Finals && ferr == nil {
			errs = append(errs, fmt.Errorf("engine: %s wrote %d finals, %d read", w.name, w.done.Finals, n))
		}
	}
	return totals, errors.Join(errs...)
}

// replayFinals calls observe for every Final in a worker's finals.jsonl.
// A lost worker's last line may be cut short: reading stops there.
func replayFinals(path string, observe func(loadgen.Final)) (uint64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var n uint64
	for sc.Scan() {
		var fin loadgen.Final
		if err := json.Unmarshal(sc.Bytes(), &fin); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		observe(fin)
		n++
	}
	return n, sc.Err()
}
