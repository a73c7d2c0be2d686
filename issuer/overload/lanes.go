package overload

import (
	"context"
	"sync/atomic"
	"time"
)

// Lanes puts background work (the vaccination centres' mail-out) below
// interactive work (a pharmacy's customer waiting at the counter) in
// priority on the resources they share: the process's CPU, the signer
// replicas and the registry's writer. Interactive work marks itself with
// Interactive and is never slowed or refused by Lanes; background work
// asks Spare before each unit and gets it only when no interactive
// request is in flight and none has started or ended for the quiet
// period, so it runs in the gaps of pharmacy traffic and stops within one
// unit when a pharmacy request arrives.
//
// Why gaps and not a share: a fixed share (a token bucket of N items a
// second) still lands its work on top of interactive requests when
// pharmacy demand peaks, and the p99 at the counter is made of exactly
// those collisions. Waiting for an idle moment costs the batch nothing
// it needs (a mail-out has hours) and bounds what a pharmacy request can
// find in its way to the one unit already started.
type Lanes struct {
	quiet time.Duration
	poll  time.Duration

	inFlight atomic.Int64
	// last is the Unix nanoseconds of the latest interactive start or
	// end: background work waits until quiet has passed since.
	last atomic.Int64

	interactive, background, waits atomic.Uint64
	waited                         atomic.Int64 // nanoseconds background work spent waiting
}

// DefaultQuiet is the idle time Spare waits for: long enough that a
// request arriving right behind another (a burst) is not overtaken,
// short against a batch item's whole life.
const DefaultQuiet = 2 * time.Millisecond

// NewLanes makes the lanes; quiet <= 0 takes DefaultQuiet.
func NewLanes(quiet time.Duration) *Lanes {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	return &Lanes{quiet: quiet, poll: max(quiet/2, 200*time.Microsecond)}
}

// Interactive marks one interactive request as running; call done (once)
// when it ends. It never blocks. A nil *Lanes does nothing.
func (l *Lanes) Interactive() (done func()) {
	if l == nil {
		return func() {}
	}
	l.interactive.Add(1)
	l.inFlight.Add(1)
	l.last.Store(time.Now().UnixNano())
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			return
		}
		l.last.Store(time.Now().UnixNano())
		l.inFlight.Add(-1)
	}
}

// Spare waits until the interactive lane is idle (nothing in flight and
// nothing started or ended for the quiet period), or ctx ends (its
// error). A nil *Lanes never waits.
func (l *Lanes) Spare(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	start := time.Now()
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		idleFor := now.Sub(time.Unix(0, l.last.Load()))
		if l.inFlight.Load() == 0 && idleFor >= l.quiet {
			l.background.Add(1)
			if waited {
				l.waits.Add(1)
				l.waited.Add(int64(now.Sub(start)))
			}
			return nil
		}
		waited = true
		d := l.poll
		if l.inFlight.Load() == 0 && idleFor > 0 {
			d = min(d, l.quiet-idleFor)
		}
		t := time.NewTimer(max(d, 50*time.Microsecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// InteractiveInFlight is how many interactive requests run now.
func (l *Lanes) InteractiveInFlight() int64 { return l.inFlight.Load() }

// LanesStats counts the lanes' work.
type LanesStats struct {
	Interactive uint64        // interactive requests marked
	Background  uint64        // units of background work let through
	Waits       uint64        // of those, how many had to wait for a gap
	Waited      time.Duration // total time background work waited
}

// Stats returns the counters.
func (l *Lanes) Stats() LanesStats {
	return LanesStats{Interactive: l.interactive.Load(), Background: l.background.Load(),
		Waits: l.waits.Load(), Waited: time.Duration(l.waited.Load())}
}
