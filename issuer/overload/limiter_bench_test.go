package overload

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkLimiterReject is the cost of turning a request away when every
// slot is held and the queue is full: the path a 503 takes.
func BenchmarkLimiterReject(b *testing.B) {
	l := NewLimiter("bench", 1, 0, time.Hour)
	hold, _ := l.Acquire(context.Background())
	defer hold()
	for b.Loop() {
		if _, err := l.Acquire(context.Background()); !errors.Is(err, ErrOverloaded) {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterBurst replays TestLimiterBurstOf200Against4Slots and
// reports how long a rejected request waited for its answer (p50, p99),
// the figure that test asserted (p99 < 5 ms) before it moved here: on a
// loaded machine it measures the scheduler as much as the limiter.
func BenchmarkLimiterBurst(b *testing.B) {
	var all []time.Duration
	for b.Loop() {
		l := NewLimiter("sign", 4, 8, 50*time.Millisecond)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			start = make(chan struct{})
		)
		for range 200 {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				release, err := l.Acquire(context.Background())
				took := time.Since(t0)
				if err == nil {
					time.Sleep(2 * time.Millisecond)
					release()
					return
				}
				if errors.Is(err, ErrOverloaded) {
					mu.Lock()
					all = append(all, took)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if len(all) == 0 {
		b.Fatal("no rejections")
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2])/1e3, "reject-p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100])/1e3, "reject-p99-µs")
}
