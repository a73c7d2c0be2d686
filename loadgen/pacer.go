package loadgen

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/issuer/simclock"
)

// Pacer is a vegeta.Pacer that follows a Demand on a simulated clock: the
// wall send rate at wall time w is Scale * Demand.Rate(Clock.Sim(w)). It
// integrates that rate once, up front, into a table of expected hits, so
// that hit n's intended send time (when the expected count reaches n+1) is
// known exactly and the recorder can tell late sends from on-time ones.
//
// A Pacer with a nil Demand is unlimited: vegeta sends as fast as its
// workers allow and there is no intended time.
type Pacer struct {
	demand Demand
	clock  simclock.Clock
	scale  float64
	start  time.Time
	end    time.Time
	step   time.Duration
	cum    []float64 // cum[i]: hits expected by start + i*step (the last entry at end)
	rate   []float64 // rate[i]: wall rate in step i (at its midpoint)

	// shard: Pace releases only this worker's hits (Shard.global).
	shard Shard

	stopOnce sync.Once
	stopCh   chan struct{}
}

var _ vegeta.Pacer = (*Pacer)(nil)

// maxPacerSteps bounds the integral table (8 MB of float64 per slice).
const maxPacerSteps = 1_000_000

// cumEpsilon absorbs the rounding of summing millions of steps (0.1 hits
// per step is not exact in binary), so a hit due exactly at a step's end
// is found there and not after a following zero-rate stretch.
const cumEpsilon = 1e-6

// longWait is the wait above which Pace sleeps itself, so Stop can cut it
// short: vegeta's own sleep cannot be interrupted (a lunch break at rate 0
// would otherwise hold Ctrl-C for minutes).
const longWait = 20 * time.Millisecond

// NewPacer integrates demand (scaled by scale) over the wall interval
// [start, start+dur] on clock. demand may be nil for an unlimited rate.
func NewPacer(demand Demand, clock simclock.Clock, scale float64, start time.Time, dur time.Duration) (*Pacer, error) {
	if dur <= 0 {
		return nil, fmt.Errorf("loadgen: pacer duration %v must be > 0", dur)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("loadgen: demand scale %v must be > 0", scale)
	}
	if demand != nil && !(clock.Scale > 0) {
		return nil, fmt.Errorf("loadgen: pacer needs a clock with a timescale > 0")
	}
	p := &Pacer{demand: demand, clock: clock, scale: scale, start: start, end: start.Add(dur), stopCh: make(chan struct{})}
	if demand == nil {
		return p, nil
	}
	p.step = max(time.Millisecond, dur/maxPacerSteps)
	n := int((dur + p.step - 1) / p.step)
	p.cum = make([]float64, n+1)
	p.rate = make([]float64, n)
	for i := range n {
		// The midpoint rule is exact for piecewise-linear demand whose
		// corners (a lunch break's steps) fall on grid points, where the
		// trapezoid rule would average the two sides of a step.
		t0, t1 := p.gridTime(i), p.gridTime(i+1)
		mid := t0.Add(t1.Sub(t0) / 2)
		r := scale * demand.Rate(clock.Sim(mid))
		if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
			return nil, fmt.Errorf("loadgen: demand rate %v at %s is not finite and >= 0", r/scale, clock.Sim(mid).Format(time.RFC3339))
		}
		p.rate[i] = r
		p.cum[i+1] = p.cum[i] + r*t1.Sub(t0).Seconds()
	}
	return p, nil
}

func (p *Pacer) gridTime(i int) time.Time {
	t := p.start.Add(time.Duration(i) * p.step)
	if t.After(p.end) {
		return p.end
	}
	return t
}

// Start and End are the wall interval the pacer covers.
func (p *Pacer) Start() time.Time { return p.start }

// End is when the pacer stops.
func (p *Pacer) End() time.Time { return p.end }

// Unlimited reports whether the pacer has no demand (as fast as possible).
func (p *Pacer) Unlimited() bool { return p.demand == nil }

// Stop makes Pace report stop from now on, cutting short a long wait.
func (p *Pacer) Stop() { p.stopOnce.Do(func() { close(p.stopCh) }) }

// Pace implements vegeta.Pacer. It works on absolute wall time rather than
// vegeta's elapsed (measured from a start the pacer cannot see), so the
// intended times it hands out match the waits it asks for.
func (p *Pacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	select {
	case <-p.stopCh:
		return 0, true
	default:
	}
	now := time.Now()
	if p.demand == nil {
		return 0, now.After(p.end)
	}
	due, ok := p.Intended(p.shard.global(hits))
	if !ok || due.After(p.end) {
		return 0, true // the demand curve's part of the run is over
	}
	// A hit due by the end goes out even if it is asked for after the end
	// (a busy generator): it is a late send, not a dropped one. The run's
	// drain bounds how long such stragglers may take.
	wait := due.Sub(now)
	if wait > longWait {
		t := time.NewTimer(wait - longWait/2)
		select {
		case <-p.stopCh:
			t.Stop()
			return 0, true
		case <-t.C:
		}
		wait = time.Until(due)
	}
	return wait, false
}

// Rate implements vegeta.Pacer: the wall rate elapsed after Start.
func (p *Pacer) Rate(elapsed time.Duration) float64 {
	return p.RateAt(p.start.Add(elapsed))
}

// RateAt is the wall send rate the demand asks for at wall time w (0 for an
// unlimited pacer and outside [Start, End]).
func (p *Pacer) RateAt(w time.Time) float64 {
	if p.demand == nil || w.Before(p.start) || w.After(p.end) {
		return 0
	}
	return p.scale * p.demand.Rate(p.clock.Sim(w))
}

// Intended is the wall time hit n (counting from 0) is due: when the
// expected number of hits reaches n+1. ok is false when the demand asks for
// fewer hits before End, and for an unlimited pacer.
func (p *Pacer) Intended(n uint64) (time.Time, bool) {
	if p.demand == nil {
		return time.Time{}, false
	}
	target := float64(n) + 1
	last := len(p.cum) - 1
	if target > p.cum[last]+cumEpsilon {
		return time.Time{}, false
	}
	// i: the first grid point whose count reaches target; the hit is due in (i-1, i].
	i := sort.SearchFloat64s(p.cum, target-cumEpsilon)
	if i == 0 {
		return p.start, true
	}
	t0 := p.gridTime(i - 1)
	h := p.gridTime(i).Sub(t0).Seconds()
	c := max(target-p.cum[i-1], 0)
	u := h
	if r := p.rate[i-1]; r > 0 {
		u = min(c/r, h)
	}
	return t0.Add(time.Duration(u * float64(time.Second))), true
}

// Expected is the number of hits due by wall time w (capped at End).
func (p *Pacer) Expected(w time.Time) uint64 {
	if p.demand == nil || !w.After(p.start) {
		return 0
	}
	if w.After(p.end) {
		w = p.end
	}
	return uint64(math.Floor(p.cumAt(w) + cumEpsilon))
}

// Offered is the (fractional) number of hits the demand asks for in [from, to).
func (p *Pacer) Offered(from, to time.Time) float64 {
	if p.demand == nil {
		return 0
	}
	return p.cumAt(to) - p.cumAt(from)
}

func (p *Pacer) cumAt(w time.Time) float64 {
	if !w.After(p.start) {
		return 0
	}
	if !w.Before(p.end) {
		return p.cum[len(p.cum)-1]
	}
	i := int(w.Sub(p.start) / p.step)
	return p.cum[i] + p.rate[i]*w.Sub(p.gridTime(i)).Seconds()
}
