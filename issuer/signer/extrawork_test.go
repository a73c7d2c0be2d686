package signer

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBurnExtraAddsItsShare: with the knob at 25%, the burner's own CPU
// is a quarter of what the rest of the process used meanwhile. CPU time,
// not wall time, so a busy machine does not change the answer.
func TestBurnExtraAddsItsShare(t *testing.T) {
	stop := make(chan struct{})
	burnt := make(chan time.Duration)
	before := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID)
	go func() { burnt <- burnExtra(25, stop) }()
	workDone := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var buf [32]byte
		start := cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)
		for cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)-start < 200*time.Millisecond {
			for range 1000 {
				buf = sha256.Sum256(buf[:])
			}
		}
		workDone <- cpuClock(unix.CLOCK_THREAD_CPUTIME_ID) - start
	}()
	work := <-workDone
	time.Sleep(5 * burnPeriod) // the burner settles its last periods
	close(stop)
	burn := <-burnt
	total := cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID) - before
	rest := total - burn
	share := float64(burn) / float64(rest)
	t.Logf("work loop %v, rest of the process %v, burner %v: %.3f of the rest", work, rest, burn, share)
	if rest < work || share < 0.22 || share > 0.28 {
		t.Errorf("the burner spent %.3f of the rest's CPU, want 0.25", share)
	}
}
