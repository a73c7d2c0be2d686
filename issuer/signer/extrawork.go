package signer

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The calibration knob (Config.ExtraSignWork): a build whose signer costs
// p% more CPU for the same signatures, to measure what golive gate --ab
// detects (docs/gate.md). It is never set outside that measurement.

// cpuClock reads a CPU-time clock: CLOCK_PROCESS_CPUTIME_ID or
// CLOCK_THREAD_CPUTIME_ID. Unlike getrusage these include the running
// thread's current slice, which a spinning thread otherwise misses by up
// to a scheduler tick per reading.
func cpuClock(id int32) time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(id, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// extraWork burns CPU inside the signature path, like a heavier
// implementation would: after each signature, the request that comes by
// computes hashes until the CPU burnt so far is p% of everything else the
// process has used since the signer started. A second request arriving
// meanwhile does not wait (the next one settles its share).
type extraWork struct {
	p     time.Duration // percent
	mu    sync.Mutex
	self0 time.Duration // the process's CPU when the signer started
	burnt time.Duration
}

func newExtraWork(p int) *extraWork {
	return &extraWork{p: time.Duration(p), self0: cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID)}
}

// settle burns what is owed, on the calling goroutine's thread.
func (e *extraWork) settle() {
	if !e.mu.TryLock() {
		return
	}
	defer e.mu.Unlock()
	runtime.LockOSThread() // the thread's CPU clock is then this burn's
	defer runtime.UnlockOSThread()
	work := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID) - e.self0 - e.burnt
	owed := work*e.p/100 - e.burnt
	if owed <= 0 {
		return
	}
	start := cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)
	var buf [32]byte
	for n := 0; ; n++ {
		buf = sha256.Sum256(buf[:])
		if n%64 == 63 && cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)-start >= owed {
			break
		}
	}
	e.burnt += cpuClock(unix.CLOCK_THREAD_CPUTIME_ID) - start
}

// total is the CPU burnt so far.
func (e *extraWork) total() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.burnt
}
