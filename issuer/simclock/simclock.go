// Package simclock maps wall-clock time to the simulated business day a
// scenario replays: Sim = SimStart + (wall - WallStart) * Scale. The portal
// judges opening hours and the 2021 signer's lockout on it, the load
// generator follows demand curves on it, and reports plot against it.
package simclock

import (
	"errors"
	"fmt"
	"time"
)

// Clock is a linear map between wall time and simulated time. The zero
// value is not usable; a Clock with Scale 1 and SimStart == WallStart is the
// identity (real time).
type Clock struct {
	// SimStart is the simulated time at WallStart.
	SimStart time.Time
	// WallStart is when the simulation started on the wall clock.
	WallStart time.Time
	// Scale is simulated seconds per wall second (60: a simulated hour per
	// wall minute).
	Scale float64
}

// Real is the identity clock: simulated time is wall time.
func Real() Clock {
	now := time.Now()
	return Clock{SimStart: now, WallStart: now, Scale: 1}
}

// New starts a clock now at simStart running scale times faster than the wall.
func New(simStart time.Time, scale float64) (Clock, error) {
	if !(scale > 0) || scale > 1e6 {
		return Clock{}, fmt.Errorf("simclock: timescale %v must be in (0, 1e6]", scale)
	}
	if simStart.IsZero() {
		return Clock{}, errors.New("simclock: a start time is required")
	}
	return Clock{SimStart: simStart, WallStart: time.Now(), Scale: scale}, nil
}

// Sim is the simulated time at wall time w.
func (c Clock) Sim(w time.Time) time.Time {
	return c.SimStart.Add(time.Duration(float64(w.Sub(c.WallStart)) * c.Scale))
}

// Wall is the wall time at simulated time s.
func (c Clock) Wall(s time.Time) time.Time {
	return c.WallStart.Add(time.Duration(float64(s.Sub(c.SimStart)) / c.Scale))
}

// Now is the simulated time now.
func (c Clock) Now() time.Time { return c.Sim(time.Now()) }

// SimDuration is how long wall duration d lasts in simulated time.
func (c Clock) SimDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.Scale)
}

// WallDuration is how long simulated duration d lasts on the wall.
func (c Clock) WallDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Scale)
}
