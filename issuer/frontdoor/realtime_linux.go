package frontdoor

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// RealtimePriority is the SCHED_FIFO priority of --realtime: above every
// normal process, low among real-time ones (the kernel's own threads use
// 50 and up).
const RealtimePriority = 10

// Realtime puts every thread of this process under SCHED_FIFO at prio;
// threads the Go runtime starts later inherit it from the thread that
// starts them. The kernel then runs the front as soon as a packet wakes
// it, ahead of the portal on a shared core. The default real-time
// throttle (95% of each second) still leaves other processes a share if
// the front ever spins. Needs CAP_SYS_NICE.
func Realtime(prio int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("realtime: listing threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && err != unix.ESRCH {
			return fmt.Errorf("realtime: SCHED_FIFO for thread %d: %w (needs CAP_SYS_NICE, e.g. root)", tid, err)
		}
	}
	return nil
}
