package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// A load worker (golive worker) runs one shard of a scenario's traffic. The
// coordinator (Run with Options.Workers) writes each worker a directory in
// a space both see (the docker testbed's bind mount, a local directory, a
// Kubernetes volume) holding shard.json; the worker writes beside it:
//
//	heartbeat.json   about every second: alive, progress, CPU, its clock
//	results.gob, results.meta.csv, timeseries.csv, histogram.hdr (loadgen)
//	finals.jsonl     what every user action finally saw (the coordinator's
//	                 consistency check and time to certificate need them)
//	done.json        written last: the worker's totals
//
// and stops by itself at the end of the scenario, or when the coordinator
// writes "stop" there.
const (
	shardFile     = "shard.json"
	heartbeatFile = "heartbeat.json"
	finalsFile    = "finals.jsonl"
	doneFile      = "done.json"
	stopFile      = "stop"
	// shardVersion changes when shard.json changes incompatibly.
	shardVersion = 1
)

// heartbeatEvery is how often a worker says it is alive; workerSilence is
// how long the coordinator waits without a heartbeat (or, before the
// first, past the agreed start) before it calls the worker lost.
const (
	heartbeatEvery = time.Second
	workerSilence  = 6 * time.Second
)

// shardSpec is shard.json: everything a worker needs to send its share.
type shardSpec struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Index   int    `json:"index"`
	Count   int    `json:"count"`
	// ScenarioSource names the scenario in errors; ScenarioYAML is its text.
	ScenarioSource string  `json:"scenario_source"`
	ScenarioYAML   []byte  `json:"scenario_yaml"`
	Profile        string  `json:"profile"`
	Timescale      float64 `json:"timescale"`
	DemandScale    float64 `json:"demand_scale"`
	Seed           uint64  `json:"seed"`
	// RunKey prefixes idempotency keys (the same as a single process's).
	RunKey string `json:"run_key"`
	// PortalURL is the first portal; PortalURLs all of them (several
	// portals: the worker spreads its requests like one process does).
	PortalURL  string   `json:"portal_url"`
	PortalURLs []string `json:"portal_urls,omitempty"`
	// CA is the PEM certificate of the run's CA when the portals serve
	// https (a TLS run; absent for plain HTTP): the worker trusts it alone.
	CA string `json:"ca,omitempty"`
	// SimStart and WallStart are the run's clock; WallStart is the agreed
	// instant the load begins.
	SimStart  time.Time     `json:"sim_start"`
	WallStart time.Time     `json:"wall_start"`
	Duration  time.Duration `json:"duration_ns"`
	// Sample is an HC1 for verify classes until the worker has its own.
	Sample string `json:"sample,omitempty"`
	// Classes follow the scenario's traffic, in order: this worker's
	// pharmacies of each.
	Classes []shardClass `json:"classes"`
}

type shardClass struct {
	Name     string         `json:"name"`
	Accounts []shardAccount `json:"accounts,omitempty"`
}

// shardAccount is a pharmacy's credentials (shard.json is written 0600).
type shardAccount struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	Token        string    `json:"token,omitempty"`
	Refresh      string    `json:"refresh,omitempty"`
	TokenExpires time.Time `json:"token_expires,omitzero"`
}

// heartbeat is heartbeat.json.
type heartbeat struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"` // the worker's clock when written
	// Ready is when the worker was ready to send (before or after the
	// agreed start).
	Ready      time.Time        `json:"ready,omitzero"`
	CPUSeconds float64          `json:"cpu_seconds"`
	Progress   loadgen.Progress `json:"progress"`
	// Requests and Late are the attempts and late sends so far.
	Requests uint64 `json:"requests"`
	Late     uint64 `json:"late"`
}

// workerDone is done.json.
type workerDone struct {
	Name       string    `json:"name"`
	Ended      time.Time `json:"ended"`
	Requests   uint64    `json:"requests"`
	Actions    uint64    `json:"actions"`
	Late       uint64    `json:"late"`
	Dropped    uint64    `json:"dropped"`
	Finals     uint64    `json:"finals"`
	CPUSeconds float64   `json:"cpu_seconds"`
	// PastTimeout and Failovers are loadgen.Totals' of this worker.
	PastTimeout int64  `json:"past_timeout"`
	Failovers   int64  `json:"failovers"`
	Error       string `json:"error,omitempty"`
}

// WorkerOptions configure RunWorker.
type WorkerOptions struct {
	// Dir holds shard.json and receives the worker's files.
	Dir string
	// Wait is how long to wait for shard.json to appear (a Kubernetes pod
	// may start before its coordinator has written it); 0: it must exist.
	Wait   time.Duration
	Logger *slog.Logger
}

// RunWorker runs the shard in o.Dir and writes the worker's files there.
func RunWorker(ctx context.Context, o WorkerOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp, err := readShard(ctx, filepath.Join(o.Dir, shardFile), o.Wait)
	if err != nil {
		return err
	}
	sc, err := spec.Parse(sp.ScenarioYAML, sp.ScenarioSource)
	if err != nil {
		return fmt.Errorf("worker: the shard's scenario: %w", err)
	}
	if len(sp.Classes) != len(sc.Traffic) {
		return fmt.Errorf("worker: shard.json has %d classes, the scenario %d", len(sp.Classes), len(sc.Traffic))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	hb := &heartbeater{path: filepath.Join(o.Dir, heartbeatFile), hb: heartbeat{Name: sp.Name}}
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		hb.run(ctx, filepath.Join(o.Dir, stopFile), stop, log)
	}()
	defer func() { stop(); <-hbDone }()

	urls := sp.PortalURLs
	if len(urls) == 0 {
		urls = []string{sp.PortalURL} // a shard.json from before portal_urls
	}
	tc, err := testbed.ClientTLSFromPEM([]byte(sp.CA))
	if err != nil {
		return fmt.Errorf("worker: shard.json's CA: %w", err)
	}
	client, err := portalClientOf(urls, tc)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	r := &run{sc: sc, log: log, profile: sp.Profile, timescale: sp.Timescale, demandScale: sp.DemandScale, seed: sp.Seed,
		runKey: sp.RunKey, client: client, tls: tc, sample: sp.Sample, ticketsDone: map[string]time.Time{}, waits: &certWaits{end: sc.Clock.End},
		clock: simclock.Clock{SimStart: sp.SimStart, WallStart: sp.WallStart, Scale: sp.Timescale}}
	setups := make([]*classSetup, len(sc.Traffic))
	for i, c := range sc.Traffic {
		if sp.Classes[i].Name != c.Name {
			return fmt.Errorf("worker: shard.json class %d is %q, the scenario's %q", i, sp.Classes[i].Name, c.Name)
		}
		cs := &classSetup{spec: c, fraud: c.Kind.Attacker()}
		switch c.Kind {
		case spec.KindIssue, spec.KindStolenCredentials, spec.KindForgedOnboarding:
			var phs []*portalclient.Pharmacy
			for _, a := range sp.Classes[i].Accounts {
				phs = append(phs, &portalclient.Pharmacy{ID: a.ID, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
					Token: a.Token, Refresh: a.Refresh, TokenExpires: a.TokenExpires})
			}
			cs.accounts = newAccounts(client, phs)
		}
		setups[i] = cs
	}
	classes := r.classes(setups)

	ff, err := os.OpenFile(filepath.Join(o.Dir, finalsFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	fw := &finalsWriter{w: bufio.NewWriterSize(ff, 64<<10)}
	fw.enc = json.NewEncoder(fw.w)
	hb.ready(time.Now())
	log.Info("worker ready", "name", sp.Name, "shard", sp.Index, "of", sp.Count, "start", sp.WallStart)
	totals, loadErr := loadgen.Run(ctx, loadgen.Plan{
		Clock: r.clock, DemandScale: sp.DemandScale, Duration: sp.Duration, Classes: classes, Dir: o.Dir, Portals: urls, TLS: tc,
		Observer: func(f loadgen.Final) { fw.write(f); r.observe(f) },
		Progress: hb.progress, Logger: log, Shard: loadgen.Shard{Index: sp.Index, Count: sp.Count}, Start: sp.WallStart,
	})
	ferr := errors.Join(fw.flush(), ff.Close())
	d := workerDone{Name: sp.Name, Ended: time.Now(), Requests: totals.Requests, Actions: totals.Actions, Late: totals.Late,
		Dropped: totals.Dropped, Finals: fw.count(), CPUSeconds: cpuSeconds(), PastTimeout: totals.PastTimeout, Failovers: totals.Failovers}
	if err := errors.Join(loadErr, ferr); err != nil {
		d.Error = err.Error()
	}
	if err := writeJSONAtomic(filepath.Join(o.Dir, doneFile), d); err != nil {
		return errors.Join(loadErr, ferr, err)
	}
	return errors.Join(loadErr, ferr)
}

// readShard reads shard.json, waiting up to wait for it to appear.
func readShard(ctx context.Context, path string, wait time.Duration) (*shardSpec, error) {
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var sp shardSpec
			if err := json.Unmarshal(b, &sp); err != nil {
				return nil, fmt.Errorf("worker: %s: %w", path, err)
			}
			if sp.Version != shardVersion {
				return nil, fmt.Errorf("worker: %s is version %d, this golive reads %d: run the coordinator's golive version", path, sp.Version, shardVersion)
			}
			if sp.Count < 1 || sp.Index < 0 || sp.Index >= sp.Count || sp.Duration <= 0 || sp.Timescale <= 0 {
				return nil, fmt.Errorf("worker: %s: shard %d of %d, duration %v, timescale %v: not a shard", path, sp.Index, sp.Count, sp.Duration, sp.Timescale)
			}
			return &sp, nil
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return nil, fmt.Errorf("worker: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// heartbeater writes heartbeat.json every heartbeatEvery and watches for
// the coordinator's stop file.
type heartbeater struct {
	path string
	mu   sync.Mutex
	hb   heartbeat
}

func (h *heartbeater) ready(t time.Time) {
	h.mu.Lock()
	h.hb.Ready = t
	h.mu.Unlock()
}

func (h *heartbeater) progress(p loadgen.Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hb.Progress = p
	h.hb.Requests += uint64(p.Achieved + 0.5)
	h.hb.Late = p.Late
}

func (h *heartbeater) run(ctx context.Context, stopPath string, stop context.CancelFunc, log *slog.Logger) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		h.mu.Lock()
		h.hb.At = time.Now()
		h.hb.CPUSeconds = cpuSeconds()
		hb := h.hb
		h.mu.Unlock()
		if err := writeJSONAtomic(h.path, hb); err != nil {
			log.Warn("writing the heartbeat", "err", err)
		}
		if _, err := os.Stat(stopPath); err == nil {
			log.Info("the coordinator asked this worker to stop")
			stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// finalsWriter appends Finals as JSON lines; the load calls it concurrently.
type finalsWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	n   uint64
	err error
}

func (f *finalsWriter) write(fin loadgen.Final) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return
	}
	if f.err = f.enc.Encode(fin); f.err == nil {
		f.n++
	}
}

func (f *finalsWriter) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return fmt.Errorf("worker: writing finals: %w", f.err)
	}
	return f.w.Flush()
}

func (f *finalsWriter) count() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// writeJSONAtomic writes v to path through a rename, so a reader never
// sees half a file; 0600, since a shard holds pharmacies' credentials.
func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return rundir.WriteFileAtomicMode(path, b, 0o600)
}

// cpuSeconds is this process's CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
