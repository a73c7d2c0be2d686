package overload

import (
	"container/list"
	"fmt"
	"math"
	"sync"
	"time"
)

// Quota is a token bucket per key (per pharmacy): rate tokens per second,
// up to burst. One busy or abusive pharmacy hits its own 429 while the
// others are served, the fairness the single shared 2021 queue lacked (and
// a cap on what a passed-on login can issue per hour).
//
// Memory is bounded by maxKeys. Buckets are kept in least-recently-used
// order; one that has been idle long enough to be full again is exactly
// equivalent to no bucket, so it is dropped as it is noticed. If maxKeys
// live buckets exist, the least recently used is evicted, which only ever
// gives its key a fresh (full) bucket: size maxKeys above the number of
// keys (pharmacies) so that never happens in normal operation.
type Quota struct {
	rate    float64
	burst   float64
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element
	lru     list.List // of *bucket, most recent first
	evicted uint64
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// NewQuota panics on rate <= 0, burst < 1 or maxKeys < 1 (configuration
// bugs).
func NewQuota(rate float64, burst int, maxKeys int) *Quota {
	if !(rate > 0) || math.IsInf(rate, 0) || burst < 1 || maxKeys < 1 {
		panic(fmt.Sprintf("overload: quota rate %v burst %d maxKeys %d", rate, burst, maxKeys))
	}
	return &Quota{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: map[string]*list.Element{}}
}

// Allow takes one token from key's bucket at time now. When the bucket is
// empty it returns false and how long until a token is available.
func (q *Quota) Allow(key string, now time.Time) (bool, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropIdleLocked(now)
	el, ok := q.buckets[key]
	if !ok {
		if len(q.buckets) >= q.maxKeys {
			back := q.lru.Back()
			delete(q.buckets, q.lru.Remove(back).(*bucket).key)
			q.evicted++
		}
		el = q.lru.PushFront(&bucket{key: key, tokens: q.burst, last: now})
		q.buckets[key] = el
	} else {
		q.lru.MoveToFront(el)
	}
	b := el.Value.(*bucket)
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(q.burst, b.tokens+elapsed.Seconds()*q.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / q.rate * float64(time.Second)))
	return false, wait
}

// Peek reports whether key's bucket holds a token at time now without
// taking it, and if not how long until it will. A failure throttle peeks
// before an attempt and takes a token (Allow) only when the attempt fails,
// so successes never count against a key.
func (q *Quota) Peek(key string, now time.Time) (bool, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	el, ok := q.buckets[key]
	if !ok {
		return true, 0
	}
	b := el.Value.(*bucket)
	tokens := b.tokens
	if elapsed := now.Sub(b.last); elapsed > 0 {
		tokens = math.Min(q.burst, tokens+elapsed.Seconds()*q.rate)
	}
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - tokens) / q.rate * float64(time.Second)))
}

// Forget drops the buckets whose keys match (an operator's reset); it
// walks every bucket, so it is for rare calls.
func (q *Quota) Forget(match func(key string) bool) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for key, el := range q.buckets {
		if match(key) {
			q.lru.Remove(el)
			delete(q.buckets, key)
			n++
		}
	}
	return n
}

// dropIdleLocked removes up to two least-recently-used buckets that have
// refilled completely (amortised O(1) per call).
func (q *Quota) dropIdleLocked(now time.Time) {
	for range 2 {
		back := q.lru.Back()
		if back == nil {
			return
		}
		b := back.Value.(*bucket)
		if b.tokens+now.Sub(b.last).Seconds()*q.rate < q.burst {
			return
		}
		q.lru.Remove(back)
		delete(q.buckets, b.key)
	}
}

// Len is the number of buckets held.
func (q *Quota) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buckets)
}

// Evicted counts buckets dropped before they had refilled (capacity
// pressure); non-zero means maxKeys is too small.
func (q *Quota) Evicted() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.evicted
}
