package loadgen

import (
	"math"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/simclock"
)

var t0 = time.Date(2021, 6, 14, 7, 0, 0, 0, time.FixedZone("CEST", 2*3600))

func identity(start time.Time) simclock.Clock {
	return simclock.Clock{SimStart: start, WallStart: start, Scale: 1}
}

func near(t *testing.T, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	if d := got.Sub(want); d > tol || d < -tol {
		t.Fatalf("%s = %s, want %s (off by %v)", what, got.Format("15:04:05.000000"), want.Format("15:04:05.000000"), d)
	}
}

func mustPacer(t *testing.T, d Demand, c simclock.Clock, scale float64, start time.Time, dur time.Duration) *Pacer {
	t.Helper()
	p, err := NewPacer(d, c, scale, start, dur)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPacerConstant(t *testing.T) {
	p := mustPacer(t, Constant(100), identity(t0), 1, t0, 10*time.Second)
	for _, n := range []uint64{0, 1, 99, 500, 999} {
		at, ok := p.Intended(n)
		if !ok {
			t.Fatalf("hit %d has no intended time", n)
		}
		near(t, "Intended", at, t0.Add(time.Duration(n+1)*10*time.Millisecond), time.Microsecond)
	}
	if at, ok := p.Intended(1000); ok {
		t.Fatalf("hit 1000 of 1000 is due at %s", at)
	}
	if got := p.Expected(t0.Add(5 * time.Second)); got != 500 {
		t.Fatalf("Expected(5s) = %d, want 500", got)
	}
	if got := p.Expected(t0.Add(time.Hour)); got != 1000 {
		t.Fatalf("Expected after the end = %d, want 1000", got)
	}
	if got := p.Offered(t0.Add(time.Second), t0.Add(2*time.Second)); math.Abs(got-100) > 1e-6 {
		t.Fatalf("Offered over a second = %v, want 100", got)
	}
}

// A ramp from 0 to 100/s over 10 s: N(t) = 5 t², hit n due at sqrt((n+1)/5).
func checkRamp(t *testing.T, p *Pacer, start time.Time) {
	t.Helper()
	for n := uint64(0); n < 500; n++ {
		at, ok := p.Intended(n)
		if !ok {
			t.Fatalf("hit %d has no intended time", n)
		}
		want := start.Add(time.Duration(math.Sqrt(float64(n+1)/5) * float64(time.Second)))
		near(t, "Intended", at, want, 2*time.Microsecond)
	}
	if _, ok := p.Intended(500); ok {
		t.Fatal("a 500th hit of a ramp that integrates to 500")
	}
	if got := p.Expected(start.Add(4 * time.Second)); got != 80 {
		t.Fatalf("Expected(4s) = %d, want 80", got)
	}
}

func TestPacerRamp(t *testing.T) {
	c, err := NewCurve(Point{t0, 0}, Point{t0.Add(10 * time.Second), 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRamp(t, mustPacer(t, c, identity(t0), 1, t0, 10*time.Second), t0)
}

// The same ramp on a compressed clock: 10 simulated minutes in 10 wall
// seconds. The rate is per real second, so the wall rate is the demand's
// at the simulated instant, and the scale factor multiplies it.
func TestPacerCompressedClockAndScale(t *testing.T) {
	c, err := NewCurve(Point{t0, 0}, Point{t0.Add(10 * time.Minute), 50})
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := simclock.Clock{SimStart: t0, WallStart: wall, Scale: 60}
	checkRamp(t, mustPacer(t, c, clock, 2, wall, 10*time.Second), wall)
}

func TestPacerZeroRateStretch(t *testing.T) {
	lunch, back := t0.Add(2*time.Second), t0.Add(4*time.Second)
	c, err := NewCurve(Point{t0, 100}, Point{lunch, 100}, Point{lunch, 0}, Point{back, 0}, Point{back, 100})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPacer(t, c, identity(t0), 1, t0, 6*time.Second)
	if got := p.Expected(t0.Add(6 * time.Second)); got != 400 {
		t.Fatalf("hits over the day = %d, want 400", got)
	}
	for n := uint64(0); n < 400; n++ {
		at, _ := p.Intended(n)
		if at.After(lunch.Add(time.Millisecond)) && at.Before(back) {
			t.Fatalf("hit %d due at %s, during lunch", n, at.Sub(t0))
		}
	}
	last, _ := p.Intended(199)
	near(t, "last hit before lunch", last, lunch, time.Millisecond)
	first, _ := p.Intended(200)
	near(t, "first hit after lunch", first, back.Add(10*time.Millisecond), time.Millisecond)
}

func TestPacerPaceStopsAtEndAndOnStop(t *testing.T) {
	// Started 2.1 s ago, in a lunch break lasting until 4 s: Pace would
	// wait ~1.9 s; Stop must cut that short.
	start := time.Now().Add(-2100 * time.Millisecond)
	c, _ := NewCurve(Point{start, 100}, Point{start.Add(2 * time.Second), 100}, Point{start.Add(2 * time.Second), 0},
		Point{start.Add(4 * time.Second), 0}, Point{start.Add(4 * time.Second), 100})
	p := mustPacer(t, c, identity(start), 1, start, 6*time.Second)
	done := make(chan bool)
	go func() { _, stop := p.Pace(0, 200); done <- stop }()
	time.Sleep(50 * time.Millisecond)
	p.Stop()
	select {
	case stop := <-done:
		if !stop {
			t.Fatal("Pace did not report stop after Stop")
		}
	case <-time.After(1500 * time.Millisecond):
		t.Fatal("Stop did not interrupt Pace's wait through the lunch break")
	}

	// Behind schedule: wait is 0; past the end: stop.
	p2 := mustPacer(t, Constant(100), identity(start), 1, start, 6*time.Second)
	if wait, stop := p2.Pace(0, 0); stop || wait > 0 {
		t.Fatalf("hit 0 of a pacer 2 s in: wait %v stop %v, want 0 false", wait, stop)
	}
	// Hit 219 is due at 2.2 s, 100 ms from now: Pace sleeps most of it
	// itself (so Stop can interrupt) and returns the rest. A busy machine
	// only makes it later, so the bounds below hold under load.
	due := start.Add(2200 * time.Millisecond)
	wait, stop := p2.Pace(0, 219)
	back := time.Now()
	if stop || wait > longWait {
		t.Fatalf("hit 219: wait %v stop %v", wait, stop)
	}
	if back.Before(due.Add(-longWait)) {
		t.Fatalf("Pace returned %v before the hit is due with wait %v", due.Sub(back), wait)
	}
	if goes := back.Add(wait); goes.Before(due.Add(-time.Millisecond)) {
		t.Fatalf("hit 219 would go %v early", due.Sub(goes))
	}
	// Past the end: a hit that was due by then still goes, at once (a
	// late send, not a dropped one); the first hit due after it stops.
	p3 := mustPacer(t, Constant(100), identity(start), 1, start, time.Second)
	if wait, stop := p3.Pace(0, 99); stop || wait > 0 {
		t.Fatalf("hit 99, due by the end, asked after it: wait %v stop %v, want 0 false", wait, stop)
	}
	if _, stop := p3.Pace(0, 100); !stop {
		t.Fatal("Pace for a hit due after the end did not stop")
	}
}

func TestCurveValidation(t *testing.T) {
	if _, err := NewCurve(); err == nil {
		t.Fatal("empty curve accepted")
	}
	if _, err := NewCurve(Point{t0, -1}); err == nil {
		t.Fatal("negative rate accepted")
	}
	if _, err := NewCurve(Point{t0, math.NaN()}); err == nil {
		t.Fatal("NaN rate accepted")
	}
	if _, err := NewCurve(Point{t0, 1}, Point{t0.Add(-time.Second), 1}); err == nil {
		t.Fatal("points out of order accepted")
	}
	c, _ := NewCurve(Point{t0, 10}, Point{t0.Add(10 * time.Second), 20})
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{-time.Hour, 10}, {0, 10}, {5 * time.Second, 15}, {10 * time.Second, 20}, {time.Hour, 20}} {
		if got := c.Rate(t0.Add(tc.at)); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Rate(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if _, err := NewPacer(Constant(1), identity(t0), 1, t0, 0); err == nil {
		t.Fatal("pacer with zero duration accepted")
	}
	if _, err := NewPacer(DemandFunc(func(time.Time) float64 { return -1 }), identity(t0), 1, t0, time.Second); err == nil {
		t.Fatal("pacer with negative demand accepted")
	}
}
