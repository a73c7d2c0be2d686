package signerclient

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	cfg := BreakerConfig{FailureThreshold: 3, OpenFor: time.Second, HalfOpenProbes: 1}
	t0 := time.Date(2021, 6, 15, 11, 59, 0, 0, time.UTC)
	type step struct {
		at     time.Duration // since t0
		call   string        // "ok", "fail", or "" (only look)
		allows bool          // allows() before the call
		state  string        // state after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"failures below the threshold keep it closed", []step{
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
			{0, "ok", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
		}},
		{"threshold consecutive failures open it", []step{
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerOpen},
			{500 * time.Millisecond, "", false, BreakerOpen},
		}},
		{"after OpenFor a probe success closes it", []step{
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerOpen},
			{time.Second, "", true, BreakerHalfOpen},
			{time.Second, "ok", true, BreakerClosed},
			{time.Second, "fail", true, BreakerClosed},
		}},
		{"a probe failure reopens it for another OpenFor", []step{
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerClosed},
			{0, "fail", true, BreakerOpen},
			{time.Second, "fail", true, BreakerOpen},
			{1900 * time.Millisecond, "", false, BreakerOpen},
			{2 * time.Second, "", true, BreakerHalfOpen},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBreaker(cfg)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				if got := b.allows(now); got != s.allows {
					t.Fatalf("step %d: allows = %v, want %v", i, got, s.allows)
				}
				if s.call != "" {
					probe := b.start(now)
					b.done(now, probe, s.call == "ok")
				}
				if got := b.current(now); got != s.state {
					t.Fatalf("step %d: state %s, want %s", i, got, s.state)
				}
			}
		})
	}
}

func TestBreakerHalfOpenLimitsProbes(t *testing.T) {
	b := newBreaker(BreakerConfig{FailureThreshold: 1, OpenFor: time.Second, HalfOpenProbes: 2})
	t0 := time.Now()
	b.done(t0, b.start(t0), false)
	later := t0.Add(time.Second)
	p1, p2 := b.start(later), b.start(later)
	if !p1 || !p2 {
		t.Fatalf("half-open calls not marked as probes: %v %v", p1, p2)
	}
	if b.allows(later) {
		t.Fatal("a third concurrent probe is allowed")
	}
	b.done(later, p1, true)
	if b.current(later) != BreakerClosed || !b.allows(later) {
		t.Fatalf("a probe success left state %s", b.current(later))
	}
}
