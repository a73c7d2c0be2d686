package signerclient

import "time"

// BreakerConfig tunes the per-replica circuit breaker.
type BreakerConfig struct {
	// FailureThreshold consecutive failures open the breaker (default 3).
	FailureThreshold int
	// OpenFor is how long an open breaker refuses calls before it lets
	// probes through (half-open; default 5 s).
	OpenFor time.Duration
	// HalfOpenProbes is how many calls may run at once while half-open
	// (default 1); one success closes the breaker, one failure reopens it.
	HalfOpenProbes int
}

// Breaker states as Status reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// breaker is one replica's circuit breaker; the replica's mutex guards it.
type breaker struct {
	cfg      BreakerConfig
	state    string
	failures int       // consecutive failures while closed
	openedAt time.Time // when it last opened
	probes   int       // calls in flight while half-open
}

func newBreaker(cfg BreakerConfig) breaker {
	return breaker{cfg: cfg, state: BreakerClosed}
}

// current moves an open breaker whose time is up to half-open and returns
// the state.
func (b *breaker) current(now time.Time) string {
	if b.state == BreakerOpen && !now.Before(b.openedAt.Add(b.cfg.OpenFor)) {
		b.state, b.probes = BreakerHalfOpen, 0
	}
	return b.state
}

// allows reports whether a call may start now, without taking a probe.
func (b *breaker) allows(now time.Time) bool {
	switch b.current(now) {
	case BreakerClosed:
		return true
	case BreakerHalfOpen:
		return b.probes < b.cfg.HalfOpenProbes
	}
	return false
}

// start records that a call starts; it returns whether the call is a
// half-open probe.
func (b *breaker) start(now time.Time) bool {
	if b.current(now) == BreakerHalfOpen {
		b.probes++
		return true
	}
	return false
}

// done records a call's outcome; it returns true when the state changed.
func (b *breaker) done(now time.Time, probe, ok bool) bool {
	if probe && b.probes > 0 {
		b.probes--
	}
	before := b.state
	switch {
	case ok:
		b.state, b.failures = BreakerClosed, 0
	case b.state == BreakerHalfOpen:
		b.state, b.openedAt = BreakerOpen, now
	case b.state == BreakerClosed:
		b.failures++
		if b.failures >= b.cfg.FailureThreshold {
			b.state, b.openedAt, b.failures = BreakerOpen, now, 0
		}
	}
	return b.state != before
}
