package signer

import (
	"crypto/sha256"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestBurnExtraAddsItsShare: with the knob at 50%, the process spends
// about 1.5 times the CPU of the work alone. CPU time, not wall time, so
// a busy machine does not change the answer.
func TestBurnExtraAddsItsShare(t *testing.T) {
	stop := make(chan struct{})
	before := rusage(syscall.RUSAGE_SELF)
	go burnExtra(50, stop)
	workDone := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var buf [32]byte
		start := rusage(rusageThread)
		for rusage(rusageThread)-start < 200*time.Millisecond {
			for range 1000 {
				buf = sha256.Sum256(buf[:])
			}
		}
		workDone <- rusage(rusageThread) - start
	}()
	work := <-workDone
	time.Sleep(5 * burnPeriod) // the burner settles its last periods
	close(stop)
	total := rusage(syscall.RUSAGE_SELF) - before
	ratio := float64(total) / float64(work)
	t.Logf("work %v, process %v: %.2fx", work, total, ratio)
	if ratio < 1.35 || ratio > 1.8 {
		t.Errorf("the process spent %.2fx the work's CPU, want about 1.5x", ratio)
	}
}
