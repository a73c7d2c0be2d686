package signer

import (
	"crypto/sha256"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExtraWorkAddsItsShare: with the knob at 25%, the CPU burnt is a
// quarter of what the rest of the process used meanwhile. CPU time, not
// wall time, so a busy machine does not change the answer.
func TestExtraWorkAddsItsShare(t *testing.T) {
	before := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID)
	e := newExtraWork(25)
	var buf [32]byte
	for range 200 { // 200 "signatures" of about 1 ms of CPU each
		start := cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)
		for cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)-start < time.Millisecond {
			for range 100 {
				buf = sha256.Sum256(buf[:])
			}
		}
		e.settle()
	}
	burnt := e.total()
	rest := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID) - before - burnt
	share := float64(burnt) / float64(rest)
	t.Logf("rest of the process %v, burnt %v: %.3f of the rest", rest, burnt, share)
	if rest < 200*time.Millisecond || share < 0.22 || share > 0.28 {
		t.Errorf("burnt %.3f of the rest's CPU, want 0.25", share)
	}
}
