package signer

import (
	"crypto/sha256"
	"runtime"
	"syscall"
	"time"
)

// The calibration knob (Config.ExtraSignWork): a build whose signer costs
// p% more CPU for the same signatures, to measure what golive gate --ab
// detects (docs/gate.md). It is never set outside that measurement.

// rusageThread is Linux's RUSAGE_THREAD: the calling thread only.
const rusageThread = 1

// burnPeriod is how often the burner settles what it owes; short enough
// that a turn of a few seconds carries its share.
const burnPeriod = 20 * time.Millisecond

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burnExtra keeps this process's CPU at (1 + p/100) times what its other
// threads use: every burnPeriod it reads the process's CPU (everything
// but its own thread's is the signer's real work) and computes hashes on
// its own locked thread until its own CPU is p% of that work. It runs for
// the life of the process, or until stop is closed.
func burnExtra(p int, stop <-chan struct{}) {
	runtime.LockOSThread() // its thread's CPU is then its own
	var buf [32]byte
	t := time.NewTicker(burnPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		self, own := rusage(syscall.RUSAGE_SELF), rusage(rusageThread)
		work := self - own
		target := work * time.Duration(p) / 100
		for n := 0; own < target; n++ {
			buf = sha256.Sum256(buf[:])
			if n%256 == 255 {
				own = rusage(rusageThread)
			}
		}
	}
}
