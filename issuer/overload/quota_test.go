package overload

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2021, 6, 14, 7, 45, 0, 0, time.UTC)

func TestQuotaBurstRefillAndRetryAfter(t *testing.T) {
	q := NewQuota(2, 3, 100) // 2/s, burst 3
	for i := range 3 {
		if ok, _ := q.Allow("a", t0); !ok {
			t.Fatalf("burst request %d denied", i)
		}
	}
	ok, ra := q.Allow("a", t0)
	if ok || ra != 500*time.Millisecond {
		t.Fatalf("4th: ok %v retry %v, want false 500ms", ok, ra)
	}
	// Another pharmacy is unaffected.
	if ok, _ := q.Allow("b", t0); !ok {
		t.Fatal("b denied because of a")
	}
	// After 250 ms half a token: still denied, 250 ms to go.
	if ok, ra := q.Allow("a", t0.Add(250*time.Millisecond)); ok || ra != 250*time.Millisecond {
		t.Fatalf("at 250ms: %v %v", ok, ra)
	}
	if ok, _ := q.Allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("token not refilled after 500ms")
	}
	// Long idle refills only up to burst.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := q.Allow("a", later); !ok {
			t.Fatalf("after idle, request %d denied", i)
		}
	}
	if ok, _ := q.Allow("a", later); ok {
		t.Fatal("idle refilled beyond burst")
	}
}

func TestQuotaClockGoingBackwards(t *testing.T) {
	q := NewQuota(1, 1, 10)
	q.Allow("a", t0)
	if ok, _ := q.Allow("a", t0.Add(-time.Hour)); ok {
		t.Fatal("time going backwards granted a token")
	}
}

func TestQuotaMemoryBounded(t *testing.T) {
	q := NewQuota(1, 5, 1000)
	// 100k distinct keys at the same instant: all new, none idle.
	for i := range 100_000 {
		q.Allow(fmt.Sprintf("k%d", i), t0)
		if q.Len() > 1000 {
			t.Fatalf("len %d exceeds maxKeys", q.Len())
		}
	}
	if q.Evicted() == 0 {
		t.Fatal("expected capacity evictions")
	}
}

func TestQuotaDropsIdleBucketsWithoutChangingAnswers(t *testing.T) {
	q := NewQuota(1, 2, 10_000)
	for i := range 500 {
		q.Allow(fmt.Sprintf("idle%d", i), t0)
	}
	// Each idle bucket refills completely after 1 s; traffic on one key
	// sweeps them out as it goes.
	now := t0.Add(10 * time.Second)
	for i := range 400 {
		q.Allow("busy", now.Add(time.Duration(i)*time.Millisecond))
	}
	if q.Len() > 10 {
		t.Fatalf("%d buckets left; idle ones not dropped", q.Len())
	}
	if q.Evicted() != 0 {
		t.Fatal("idle drops counted as capacity evictions")
	}
	// A dropped key starts full again: the same answer a kept, refilled bucket would give.
	for i := range 2 {
		if ok, _ := q.Allow("idle7", now); !ok {
			t.Fatalf("idle key request %d denied", i)
		}
	}
	if ok, _ := q.Allow("idle7", now); ok {
		t.Fatal("burst exceeded after re-creation")
	}
}

func TestNewQuotaPanicsOnBadConfig(t *testing.T) {
	for _, c := range []struct {
		rate        float64
		burst, keys int
	}{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {-1, 1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewQuota(%v) did not panic", c)
				}
			}()
			NewQuota(c.rate, c.burst, c.keys)
		}()
	}
}

// TestQuotaPeekAndForget: Peek never takes a token (a failure throttle
// charges failures only); Forget drops matching buckets, which start full.
func TestQuotaPeekAndForget(t *testing.T) {
	q := NewQuota(1, 2, 10) // a failure a second, two in a row
	for range 5 {
		if ok, _ := q.Peek("a", t0); !ok {
			t.Fatal("peeking spent tokens")
		}
	}
	q.Allow("a", t0)
	q.Allow("a", t0)
	q.Allow("b", t0)
	q.Allow("b", t0)
	if ok, ra := q.Peek("a", t0.Add(250*time.Millisecond)); ok || ra != 750*time.Millisecond {
		t.Fatalf("empty bucket: %v %v, want false 750ms", ok, ra)
	}
	if n := q.Forget(func(k string) bool { return k == "a" }); n != 1 {
		t.Fatalf("Forget dropped %d", n)
	}
	if ok, _ := q.Peek("a", t0); !ok {
		t.Fatal("a forgotten bucket is not full")
	}
	if ok, _ := q.Peek("b", t0); ok {
		t.Fatal("Forget dropped the wrong bucket")
	}
}
