// Package overload is admission control: a Limiter bounds work in flight
// and the time a request may wait for a slot, rejecting at once when its
// queue is full (503 + Retry-After, answered in microseconds instead of
// after a timeout); a Quota limits each key (pharmacy) to a rate (429); and
// deadline helpers carry the caller's remaining time across a hop so a
// server never starts work its client has already given up on.
//
// In 2021 the signing backend's client allowed 10 in flight, a backlog of
// 5 with 100 ms wait and a 4 s timeout, and answered overload with 504s and
// finally a lock-out of the whole portal. A Limiter makes overload visible
// early and cheap for both sides.
package overload

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Rejection reasons; a *RejectError wraps one of them.
var (
	ErrOverloaded   = errors.New("overloaded: queue full")
	ErrQueueTimeout = errors.New("overloaded: no slot within the queue wait")
)

// RejectError is returned when a Limiter turns a request away. RetryAfter
// is the suggested client back-off.
type RejectError struct {
	Limiter    string
	Reason     error // ErrOverloaded or ErrQueueTimeout
	RetryAfter time.Duration
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("limiter %s: %v (retry after %v)", e.Limiter, e.Reason, e.RetryAfter)
}

func (e *RejectError) Unwrap() error { return e.Reason }

// RetryAfter extracts the suggested back-off from a rejection.
func RetryAfter(err error) (time.Duration, bool) {
	var re *RejectError
	if errors.As(err, &re) {
		return re.RetryAfter, true
	}
	return 0, false
}

// Retry-After bounds: below 1 s clients hammer; above 30 s a recovered
// service sits idle while pharmacies wait.
const (
	minRetryAfter = time.Second
	maxRetryAfter = 30 * time.Second
)

// ewmaWeight is the weight of the newest service-time sample.
const ewmaWeight = 0.1

// Limiter admits at most maxConcurrent holders at once and lets at most
// maxQueue more wait, first come first served, each for at most maxWait.
type Limiter struct {
	name     string
	max      int
	maxQueue int
	maxWait  time.Duration

	mu       sync.Mutex
	inFlight int
	waiters  list.List // of *waiter, oldest first
	svcNanos float64   // EWMA of hold time

	admitted, rejected, timedOut, cancelled atomic.Uint64
}

type waiter struct {
	ready chan struct{} // closed when a releasing holder hands its slot over
}

// NewLimiter panics on maxConcurrent < 1 or maxQueue < 0 (a configuration
// bug, not a runtime condition). maxWait <= 0 means queued requests wait
// until their context ends.
func NewLimiter(name string, maxConcurrent, maxQueue int, maxWait time.Duration) *Limiter {
	if maxConcurrent < 1 || maxQueue < 0 {
		panic(fmt.Sprintf("overload: limiter %s: maxConcurrent %d, maxQueue %d", name, maxConcurrent, maxQueue))
	}
	return &Limiter{name: name, max: maxConcurrent, maxQueue: maxQueue, maxWait: maxWait}
}

// Name is the limiter's name (for metrics labels and logs).
func (l *Limiter) Name() string { return l.name }

// Acquire takes a slot or says why not. On success the caller must call
// release exactly once when done (further calls are no-ops). Errors: a
// *RejectError wrapping ErrOverloaded (queue full: returned at once, without
// waiting or allocating a waiter) or ErrQueueTimeout (maxWait passed), or
// the context's error if ctx ended first.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		l.cancelled.Add(1)
		return nil, fmt.Errorf("limiter %s: %w", l.name, err)
	}
	l.mu.Lock()
	// Slots are handed straight to waiters on release, so a free slot
	// implies an empty queue: nobody is overtaken.
	if l.inFlight < l.max {
		l.inFlight++
		l.mu.Unlock()
		l.admitted.Add(1)
		return l.releaser(), nil
	}
	if l.waiters.Len() >= l.maxQueue || l.hopelessLocked() {
		ra := l.retryAfterLocked()
		l.mu.Unlock()
		l.rejected.Add(1)
		return nil, &RejectError{Limiter: l.name, Reason: ErrOverloaded, RetryAfter: ra}
	}
	w := &waiter{ready: make(chan struct{})}
	elem := l.waiters.PushBack(w)
	l.mu.Unlock()

	var timeout <-chan time.Time
	if l.maxWait > 0 {
		t := time.NewTimer(l.maxWait)
		defer t.Stop()
		timeout = t.C
	}
	var ctxDone bool
	select {
	case <-w.ready:
		l.admitted.Add(1)
		return l.releaser(), nil
	case <-timeout:
	case <-ctx.Done():
		ctxDone = true
	}

	l.mu.Lock()
	select {
	case <-w.ready:
		// A slot arrived while we were giving up.
		if !ctxDone {
			l.mu.Unlock()
			l.admitted.Add(1)
			return l.releaser(), nil
		}
		// Nobody will use it: pass it on.
		l.handOffLocked()
	default:
		l.waiters.Remove(elem)
	}
	ra := l.retryAfterLocked()
	l.mu.Unlock()
	if ctxDone {
		l.cancelled.Add(1)
		return nil, fmt.Errorf("limiter %s: %w", l.name, ctx.Err())
	}
	l.timedOut.Add(1)
	return nil, &RejectError{Limiter: l.name, Reason: ErrQueueTimeout, RetryAfter: ra}
}

func (l *Limiter) releaser() func() {
	start := time.Now()
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		held := float64(time.Since(start))
		l.mu.Lock()
		if l.svcNanos == 0 {
			l.svcNanos = held
		} else {
			l.svcNanos += ewmaWeight * (held - l.svcNanos)
		}
		l.handOffLocked()
		l.mu.Unlock()
	}
}

// handOffLocked gives a freed slot to the oldest waiter, or frees it.
func (l *Limiter) handOffLocked() {
	if front := l.waiters.Front(); front != nil {
		w := l.waiters.Remove(front).(*waiter)
		close(w.ready)
		return
	}
	l.inFlight--
}

// hopelessLocked reports whether a new waiter would, by the measured
// service time, not get a slot within maxWait: the queue ahead of it
// drains at max per service time. Such a request is turned away now, in
// microseconds, instead of with the same 503 after waiting maxWait (under
// overload most rejections would otherwise be slow ones). Until a service
// time has been measured, only a full queue rejects.
func (l *Limiter) hopelessLocked() bool {
	if l.maxWait <= 0 || l.svcNanos == 0 {
		return false
	}
	wait := float64(l.waiters.Len()+1) * l.svcNanos / float64(l.max)
	return wait > float64(l.maxWait)
}

func (l *Limiter) retryAfterLocked() time.Duration {
	return suggestRetry(time.Duration(l.svcNanos), l.waiters.Len(), l.max)
}

// suggestRetry estimates when a new request would find room: the queue
// ahead of it drains at maxConcurrent per service time.
func suggestRetry(svc time.Duration, queued, maxConcurrent int) time.Duration {
	d := time.Duration(float64(svc) * float64(queued+1) / float64(maxConcurrent))
	return min(max(d, minRetryAfter), maxRetryAfter)
}

// InFlight is the number of slots held.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// Queued is the number of requests waiting.
func (l *Limiter) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters.Len()
}

// Rejected counts requests turned away at once: the queue was full, or
// the measured service time said no slot would come within maxWait.
func (l *Limiter) Rejected() uint64 { return l.rejected.Load() }

// TimedOut counts requests that waited maxWait without getting a slot.
func (l *Limiter) TimedOut() uint64 { return l.timedOut.Load() }

// Cancelled counts requests whose context ended before they got a slot.
func (l *Limiter) Cancelled() uint64 { return l.cancelled.Load() }

// Admitted counts requests that got a slot.
func (l *Limiter) Admitted() uint64 { return l.admitted.Load() }

// ServiceTime is the smoothed time a slot is held.
func (l *Limiter) ServiceTime() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.svcNanos)
}
