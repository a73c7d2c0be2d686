//go:build !linux

package frontdoor

import "errors"

// RealtimePriority is the SCHED_FIFO priority of --realtime on Linux.
const RealtimePriority = 10

// Realtime is Linux only.
func Realtime(int) error { return errors.New("realtime: SCHED_FIFO is Linux only") }
