package overload

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond (state changes made by other goroutines) for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestLimiterBurstOf200Against4Slots(t *testing.T) {
	const (
		goroutines = 200
		slots      = 4
		queue      = 8
		work       = 2 * time.Millisecond
	)
	l := NewLimiter("sign", slots, queue, 50*time.Millisecond)
	var (
		cur, peak         atomic.Int64
		ok, full, timeout atomic.Int64
		mu                sync.Mutex
		rejectLatencies   []time.Duration
		wg                sync.WaitGroup
		start             = make(chan struct{})
	)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			release, err := l.Acquire(context.Background())
			took := time.Since(t0)
			switch {
			case err == nil:
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(work)
				cur.Add(-1)
				release()
				ok.Add(1)
			case errors.Is(err, ErrOverloaded):
				full.Add(1)
				mu.Lock()
				rejectLatencies = append(rejectLatencies, took)
				mu.Unlock()
				if ra, found := RetryAfter(err); !found || ra < time.Second || ra > 30*time.Second {
					t.Errorf("RetryAfter %v, %v", ra, found)
				}
			case errors.Is(err, ErrQueueTimeout):
				timeout.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()

	if p := peak.Load(); p > slots {
		t.Fatalf("peak in flight %d > %d", p, slots)
	} else if p < slots {
		t.Errorf("peak in flight %d: the limiter never filled its %d slots", p, slots)
	}
	if full.Load() == 0 {
		t.Fatal("no request was rejected for a full queue")
	}
	if got := ok.Load() + full.Load() + timeout.Load(); got != goroutines {
		t.Fatalf("outcomes add up to %d", got)
	}
	if uint64(full.Load()) != l.Rejected() || uint64(timeout.Load()) != l.TimedOut() || uint64(ok.Load()) != l.Admitted() {
		t.Fatalf("counters: rejected %d/%d timedout %d/%d admitted %d/%d",
			l.Rejected(), full.Load(), l.TimedOut(), timeout.Load(), l.Admitted(), ok.Load())
	}
	// At least the slots plus the queue were served.
	if ok.Load() < slots+queue {
		t.Errorf("only %d admitted", ok.Load())
	}
	if l.InFlight() != 0 || l.Queued() != 0 {
		t.Fatalf("leaked: in flight %d queued %d", l.InFlight(), l.Queued())
	}

	// How fast a rejection is depends on the machine: the figure is
	// BenchmarkLimiterBurst's (docs/BENCHMARKS.md); that a full queue
	// rejects without waiting is TestLimiterFullQueueRejectsWithoutWaiting.
	slices.Sort(rejectLatencies)
	n := len(rejectLatencies)
	t.Logf("admitted %d, queue-full %d, timed out %d; rejection latency p50 %v p99 %v max %v",
		ok.Load(), n, timeout.Load(), rejectLatencies[n/2], rejectLatencies[(n*99)/100], rejectLatencies[n-1])
}

// TestLimiterFullQueueRejectsWithoutWaiting: with every slot held and the
// queue full, Acquire answers ErrOverloaded while nothing is released and
// long before the queue wait could end: the answer cannot have waited.
// (Ordering, not a stopwatch: it holds on a machine of any speed.)
func TestLimiterFullQueueRejectsWithoutWaiting(t *testing.T) {
	for _, queue := range []int{0, 3} {
		l := NewLimiter("full", 2, queue, time.Hour)
		var holds []func()
		for range 2 {
			r, err := l.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			holds = append(holds, r)
		}
		served := make(chan error, queue)
		for i := range queue {
			go func() {
				r, err := l.Acquire(context.Background())
				if err == nil {
					r()
				}
				served <- err
			}()
			waitFor(t, "queue growth", func() bool { return l.Queued() == i+1 })
		}
		for range 50 {
			_, err := l.Acquire(context.Background())
			if !errors.Is(err, ErrOverloaded) || errors.Is(err, ErrQueueTimeout) {
				t.Fatalf("queue %d: want ErrOverloaded, got %v", queue, err)
			}
		}
		if l.InFlight() != 2 || l.Queued() != queue || l.Rejected() != 50 || l.Admitted() != 2 {
			t.Fatalf("queue %d: the rejections touched the limiter: in flight %d queued %d rejected %d admitted %d",
				queue, l.InFlight(), l.Queued(), l.Rejected(), l.Admitted())
		}
		for _, r := range holds {
			r()
		}
		for range queue {
			if err := <-served; err != nil {
				t.Errorf("queue %d: a queued request was not served: %v", queue, err)
			}
		}
		waitFor(t, "drain", func() bool { return l.InFlight() == 0 })
	}
}

func TestLimiterSustainedFiveTimesOverload(t *testing.T) {
	// Open-loop arrivals at 5x capacity for 300 ms: 2 slots x 5 ms work
	// = 400/s capacity; 5 arrivals every 2.5 ms = 2000/s. Arrivals come
	// in groups so that a late tick on a busy machine (which also
	// stretches the 5 ms holds) still leaves the limiter overloaded.
	l := NewLimiter("sign", 2, 4, 20*time.Millisecond)
	var (
		wg                         sync.WaitGroup
		mu                         sync.Mutex
		rejected                   []time.Duration
		longest                    time.Duration // longest Acquire-to-release span
		admitted, overloaded, late atomic.Int64
	)
	tick := time.NewTicker(2500 * time.Microsecond)
	defer tick.Stop()
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		<-tick.C
		for range 5 {
			wg.Go(func() {
				t0 := time.Now()
				release, err := l.Acquire(context.Background())
				if err != nil {
					switch {
					case errors.Is(err, ErrOverloaded):
						overloaded.Add(1)
						d := time.Since(t0)
						mu.Lock()
						rejected = append(rejected, d)
						mu.Unlock()
					case errors.Is(err, ErrQueueTimeout):
						late.Add(1)
					default:
						t.Errorf("unexpected error %v", err)
					}
					return
				}
				admitted.Add(1)
				time.Sleep(5 * time.Millisecond)
				release()
				span := time.Since(t0)
				mu.Lock()
				longest = max(longest, span)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(rejected) == 0 {
		t.Fatal("no rejections at 5x overload")
	}
	slices.Sort(rejected)
	t.Logf("admitted %d, rejected at once %d, after the queue wait %d; rejection p99 %v; service time %v, longest hold %v",
		admitted.Load(), overloaded.Load(), late.Load(), rejected[len(rejected)*99/100], l.ServiceTime(), longest)
	// Under overload the limiter says no at once (queue full, or hopeless
	// by the measured service time) rather than after maxWait: slow
	// rejections are the exception. Counted by reason, not by stopwatch.
	if o, w := overloaded.Load(), late.Load(); o < 4*w {
		t.Errorf("%d rejections at once, %d after waiting maxWait: want most at once", o, w)
	}
	// The smoothed service time reflects the 5 ms hold: no shorter than the
	// sleep, no longer than the longest hold this test saw.
	if st := l.ServiceTime(); st < 5*time.Millisecond || st > longest {
		t.Errorf("service time estimate %v, want 5 ms..%v", st, longest)
	}
}

func TestLimiterFIFO(t *testing.T) {
	l := NewLimiter("fifo", 1, 10, 0)
	hold, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	releases := make(chan func(), 5)
	for i := range 5 {
		go func() {
			r, err := l.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			releases <- r
		}()
		waitFor(t, "queue growth", func() bool { return l.Queued() == i+1 })
	}
	hold()
	for want := range 5 {
		got := <-order
		if got != want {
			t.Fatalf("admitted %d, want %d (FIFO)", got, want)
		}
		if l.InFlight() != 1 {
			t.Fatalf("in flight %d", l.InFlight())
		}
		(<-releases)()
	}
	waitFor(t, "drain", func() bool { return l.InFlight() == 0 })
}

func TestLimiterQueueTimeoutAndCancel(t *testing.T) {
	l := NewLimiter("t", 1, 2, 30*time.Millisecond)
	hold, _ := l.Acquire(context.Background())

	// The context allows 100 times maxWait: the queue wait, not the
	// context, must end the wait (an ordering of two timers, which a slow
	// machine delays alike).
	ctx100, cancel100 := context.WithTimeout(context.Background(), 100*30*time.Millisecond)
	defer cancel100()
	t0 := time.Now()
	_, err := l.Acquire(ctx100)
	waited := time.Since(t0)
	if !errors.Is(err, ErrQueueTimeout) || errors.Is(err, ErrOverloaded) {
		t.Fatalf("want ErrQueueTimeout, got %v", err)
	}
	if waited < 30*time.Millisecond {
		t.Fatalf("waited %v for a 30 ms maxWait", waited)
	}
	if _, ok := RetryAfter(err); !ok {
		t.Fatal("timeout without RetryAfter")
	}

	// Cancellation: no queue wait may end the wait first, however slowly
	// the test reaches cancel() (set while nothing else uses l).
	l.maxWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		done <- err
	}()
	waitFor(t, "queued", func() bool { return l.Queued() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if l.Queued() != 0 || l.Cancelled() != 1 || l.TimedOut() != 1 {
		t.Fatalf("queued %d cancelled %d timedout %d", l.Queued(), l.Cancelled(), l.TimedOut())
	}
	// Already-cancelled context: no slot, no queueing.
	if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	hold()
	hold() // second release is a no-op
	if l.InFlight() != 0 {
		t.Fatalf("double release corrupted count: %d", l.InFlight())
	}
	r, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r()
}

func TestLimiterZeroQueueRejectsImmediately(t *testing.T) {
	// An hour's queue wait and a slot never released during the call: an
	// answer at all means it did not wait.
	l := NewLimiter("nq", 1, 0, time.Hour)
	hold, _ := l.Acquire(context.Background())
	defer hold()
	if _, err := l.Acquire(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("want ErrOverloaded, got %v", err)
	}
}

func TestLimiterNoLeakUnderCancellationRaces(t *testing.T) {
	// Waiters give up (timeout or cancel) at the same moments slots are
	// handed over; afterwards every slot must be free again.
	l := NewLimiter("race", 3, 20, time.Millisecond)
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*300*time.Microsecond+200*time.Microsecond)
			defer cancel()
			r, err := l.Acquire(ctx)
			if err == nil {
				time.Sleep(200 * time.Microsecond)
				r()
			}
		}()
	}
	wg.Wait()
	if l.InFlight() != 0 || l.Queued() != 0 {
		t.Fatalf("in flight %d, queued %d after all finished", l.InFlight(), l.Queued())
	}
	total := l.Admitted() + l.Rejected() + l.TimedOut() + l.Cancelled()
	if total != 400 {
		t.Fatalf("outcomes %d, want 400", total)
	}
	var rels []func()
	for range 3 {
		r, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatalf("slot lost: %v", err)
		}
		rels = append(rels, r)
	}
	for _, r := range rels {
		r()
	}
}

func TestSuggestRetry(t *testing.T) {
	tests := []struct {
		svc    time.Duration
		queued int
		slots  int
		want   time.Duration
	}{
		{0, 0, 4, time.Second},                                   // no data: floor
		{100 * time.Millisecond, 8, 4, time.Second},              // 225 ms -> floor 1 s
		{2 * time.Second, 8, 4, 4500 * time.Millisecond},         // 2 s x 9 / 4
		{4 * time.Second, 9, 10, 4 * time.Second},                // 4 s x 10 / 10
		{10 * time.Second, 100, 2, 30 * time.Second},             // capped
		{1500 * time.Millisecond, 1, 1, 3000 * time.Millisecond}, // 1.5 s x 2
	}
	for _, tc := range tests {
		if got := suggestRetry(tc.svc, tc.queued, tc.slots); got != tc.want {
			t.Errorf("suggestRetry(%v, %d, %d) = %v, want %v", tc.svc, tc.queued, tc.slots, got, tc.want)
		}
	}
}

func TestNewLimiterPanicsOnBadConfig(t *testing.T) {
	for _, c := range [][2]int{{0, 1}, {1, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLimiter(%d, %d) did not panic", c[0], c[1])
				}
			}()
			NewLimiter("x", c[0], c[1], 0)
		}()
	}
}

// TestLimiterShedsHopelessWaitersAtOnce: once the service time is known, a
// request that could not get a slot within maxWait is rejected at once
// rather than after waiting maxWait for the same answer; one that can is
// queued and served.
func TestLimiterShedsHopelessWaitersAtOnce(t *testing.T) {
	l := NewLimiter("t", 1, 10, 50*time.Millisecond)
	// Measure a service time of about 20 ms (more on a busy machine).
	var longest time.Duration
	for range 3 {
		t0 := time.Now()
		r, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		r()
		longest = max(longest, time.Since(t0))
	}
	st := l.ServiceTime()
	if st < 20*time.Millisecond || st > longest {
		t.Fatalf("service time %v, want 20 ms..%v", st, longest)
	}
	// The rule itself, on a service time of an hour and a queue wait of
	// 2.5 hours: a second waiter (2 service times) fits and a third (3)
	// does not, and no waiter times out however slowly this test runs.
	// Set before any other goroutine uses the limiter.
	l.svcNanos, l.maxWait = float64(time.Hour), 150*time.Minute
	hold, _ := l.Acquire(context.Background())
	// One waiter: one service time expected, within maxWait: it queues.
	queued := make(chan error, 1)
	go func() {
		r, err := l.Acquire(context.Background())
		if err == nil {
			r()
		}
		queued <- err
	}()
	waitFor(t, "queued", func() bool { return l.Queued() == 1 })
	// Waiters 2 and 3 would expect 2 and 3 service times: the third is
	// hopeless.
	go func() {
		r, err := l.Acquire(context.Background())
		if err == nil {
			r()
		}
	}()
	waitFor(t, "queued twice", func() bool { return l.Queued() == 2 })
	// ErrOverloaded comes only from the path that does not queue (a
	// waiter that gave up gets ErrQueueTimeout), so this one did not wait.
	_, err := l.Acquire(context.Background())
	if !errors.Is(err, ErrOverloaded) || errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("want an immediate ErrOverloaded, got %v", err)
	}
	if l.Queued() != 2 {
		t.Fatalf("queued %d, want the 2 waiters that fit", l.Queued())
	}
	hold()
	if err := <-queued; err != nil {
		t.Fatalf("the first waiter was not served: %v", err)
	}
}
