package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/scenarios/spec"
)

// FaultEvent is one applied fault for events.json.
type FaultEvent struct {
	Kind      string            `json:"kind"`
	Target    string            `json:"target"`
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end,omitzero"`
	WallStart time.Time         `json:"wall_start"`
	WallEnd   time.Time         `json:"wall_end,omitzero"`
	Params    map[string]string `json:"params,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// faultRunner applies the scenario's faults at their simulated times and
// remembers how to undo each one.
type faultRunner struct {
	tb    testbed.Testbed
	clock simclock.Clock
	log   *slog.Logger

	mu    sync.Mutex
	list  []*FaultEvent
	undos map[*FaultEvent]func(context.Context) error
}

func newFaultRunner(tb testbed.Testbed, clock simclock.Clock, log *slog.Logger) *faultRunner {
	return &faultRunner{tb: tb, clock: clock, log: log, undos: map[*FaultEvent]func(context.Context) error{}}
}

type faultStep struct {
	at   time.Time // simulated
	undo bool
	f    spec.Fault
	ev   **FaultEvent
}

// run applies and undoes faults on schedule until ctx ends.
func (fr *faultRunner) run(ctx context.Context, faults []spec.Fault, replicas int) {
	var steps []faultStep
	for _, f := range faults {
		for _, target := range spec.Target(f.Target).Expand(max(replicas, 1)) {
			f1 := f
			f1.Target = spec.Target(target)
			ev := new(*FaultEvent)
			steps = append(steps, faultStep{at: f.At, f: f1, ev: ev})
			if f.Windowed() {
				steps = append(steps, faultStep{at: f.Until, undo: true, f: f1, ev: ev})
			}
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	for _, s := range steps {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(fr.clock.Wall(s.at))):
		}
		if s.undo {
			if *s.ev != nil {
				fr.undo(context.WithoutCancel(ctx), *s.ev)
			}
			continue
		}
		*s.ev = fr.apply(ctx, s.f)
	}
}

func (fr *faultRunner) apply(ctx context.Context, f spec.Fault) *FaultEvent {
	now := time.Now()
	ev := &FaultEvent{Kind: string(f.Kind), Target: string(f.Target), Start: fr.clock.Sim(now), WallStart: now, Params: paramsOf(f)}
	undo, err := fr.inject(ctx, f)
	if err != nil {
		ev.Error = err.Error()
		ev.End, ev.WallEnd = ev.Start, now
		fr.log.Warn("fault failed", "kind", f.Kind, "target", f.Target, "err", err)
	} else {
		fr.log.Info("fault applied", "kind", f.Kind, "target", f.Target)
	}
	fr.mu.Lock()
	fr.list = append(fr.list, ev)
	if undo != nil && err == nil {
		fr.undos[ev] = undo
	} else if err == nil {
		ev.End, ev.WallEnd = ev.Start, now // an instant (restart)
	}
	fr.mu.Unlock()
	return ev
}

func (fr *faultRunner) undo(ctx context.Context, ev *FaultEvent) {
	fr.mu.Lock()
	u := fr.undos[ev]
	delete(fr.undos, ev)
	fr.mu.Unlock()
	if u == nil {
		return
	}
	err := u(ctx)
	now := time.Now()
	fr.mu.Lock()
	ev.End, ev.WallEnd = fr.clock.Sim(now), now
	if err != nil {
		ev.Error = "undo: " + err.Error()
	}
	fr.mu.Unlock()
	if err != nil {
		fr.log.Warn("undoing fault failed", "kind", ev.Kind, "target", ev.Target, "err", err)
	}
}

// undoAll undoes every fault still in effect (end of run, Ctrl-C).
func (fr *faultRunner) undoAll(ctx context.Context) {
	fr.mu.Lock()
	var open []*FaultEvent
	for ev := range fr.undos {
		open = append(open, ev)
	}
	fr.mu.Unlock()
	for _, ev := range open {
		fr.undo(ctx, ev)
	}
}

func (fr *faultRunner) events() []FaultEvent {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	out := make([]FaultEvent, len(fr.list))
	for i, e := range fr.list {
		out[i] = *e
	}
	return out
}

// inject applies one fault to one component or link and returns its undo
// (nil for an instant such as a restart).
func (fr *faultRunner) inject(ctx context.Context, f spec.Fault) (func(context.Context) error, error) {
	tb, name := fr.tb, string(f.Target)
	switch f.Kind {
	case spec.FaultKill:
		return func(ctx context.Context) error { return tb.Start(ctx, name) }, tb.Kill(ctx, name)
	case spec.FaultStop:
		return func(ctx context.Context) error { return tb.Start(ctx, name) }, tb.Stop(ctx, name)
	case spec.FaultRestart:
		return nil, tb.Restart(ctx, name)
	case spec.FaultPause:
		return func(ctx context.Context) error { return tb.Resume(ctx, name) }, tb.Pause(ctx, name)
	case spec.FaultCPU:
		return func(ctx context.Context) error { return tb.CPU(ctx, name, 0) }, tb.CPU(ctx, name, f.Params.CPUs)
	}
	px, err := tb.Proxy(name)
	if err != nil {
		return nil, err
	}
	tox := float32(f.Params.Toxicity)
	if tox <= 0 {
		tox = 1
	}
	addToxic := func(typ, stream string, attrs toxiproxy.Attributes) (func(context.Context) error, error) {
		tname := fmt.Sprintf("golive-%s-%s", typ, stream)
		if _, err := px.AddToxic(tname, typ, stream, tox, attrs); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", typ, name, err)
		}
		return func(context.Context) error { return px.RemoveToxic(tname) }, nil
	}
	switch f.Kind {
	case spec.FaultPartition:
		if err := px.Disable(); err != nil {
			return nil, fmt.Errorf("partition %s: %w", name, err)
		}
		return func(context.Context) error { return px.Enable() }, nil
	case spec.FaultLatency:
		return addToxic("latency", "downstream", toxiproxy.Attributes{
			"latency": f.Params.Latency.Milliseconds(), "jitter": f.Params.Jitter.Milliseconds()})
	case spec.FaultBandwidth:
		return addToxic("bandwidth", "downstream", toxiproxy.Attributes{"rate": f.Params.RateKBps})
	case spec.FaultBlackhole:
		return addToxic("timeout", "upstream", toxiproxy.Attributes{"timeout": 0})
	case spec.FaultReset:
		return addToxic("reset_peer", "upstream", toxiproxy.Attributes{"timeout": f.Params.After.Milliseconds()})
	}
	return nil, fmt.Errorf("unknown fault kind %q", f.Kind)
}

func paramsOf(f spec.Fault) map[string]string {
	p := map[string]string{}
	if f.Params.Latency > 0 {
		p["latency"] = f.Params.Latency.String()
	}
	if f.Params.Jitter > 0 {
		p["jitter"] = f.Params.Jitter.String()
	}
	if f.Params.RateKBps > 0 {
		p["rate_kbps"] = fmt.Sprint(f.Params.RateKBps)
	}
	if f.Params.After > 0 {
		p["after"] = f.Params.After.String()
	}
	if f.Params.CPUs > 0 {
		p["cpus"] = fmt.Sprint(f.Params.CPUs)
	}
	if len(p) == 0 {
		return nil
	}
	return p
}
