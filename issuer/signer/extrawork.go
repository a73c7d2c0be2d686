package signer

import (
	"crypto/sha256"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The calibration knob (Config.ExtraSignWork): a build whose signer costs
// p% more CPU for the same signatures, to measure what golive gate --ab
// detects (docs/gate.md). It is never set outside that measurement.

// burnPeriod is how often the burner settles what it owes; short enough
// that a turn of a few seconds carries its share.
const burnPeriod = 20 * time.Millisecond

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

// burnExtra keeps this process's CPU at (1 + p/100) times what its other
// threads use: every burnPeriod it reads the process's CPU clock (everything
// but its own thread's is the signer's real work) and computes hashes on
// its own locked thread until its own CPU is p% of that work. It runs for
// the life of the process, or until stop is closed; then it returns its
// own thread's CPU time.
func burnExtra(p int, stop <-chan struct{}) time.Duration {
	runtime.LockOSThread() // its thread's CPU is then its own
	// Counted from here: the thread may have run other goroutines before,
	// and the process's start-up is no work to add to.
	self0, own0 := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID), cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)
	var buf [32]byte
	t := time.NewTicker(burnPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return cpuClock(unix.CLOCK_THREAD_CPUTIME_ID) - own0
		case <-t.C:
		}
		self, own := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID)-self0, cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)-own0
		target := (self - own) * time.Duration(p) / 100
		for n := 0; own < target; n++ {
			buf = sha256.Sum256(buf[:])
			if n%256 == 255 {
				own = cpuClock(unix.CLOCK_THREAD_CPUTIME_ID) - own0
			}
		}
	}
}
