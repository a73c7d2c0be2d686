package engine

import (
	"time"

	"github.com/golive-dev/golive/internal/proccpu"
	"github.com/golive-dev/golive/reports/rundir"
)

// DefaultCPUWaitLimit is how long golive's threads may wait for a CPU per
// CPU second they get, over the load, before the machine counts as
// starved. Two CPU burners on two cores beside a run come to about 1-2; a
// machine shared by dozens of busy jobs to 10 and more, where the
// generator, the proxy and the issuer all lag on the scheduler and a
// failed threshold says more about the machine than about the design.
const DefaultCPUWaitLimit = 4.0

// selfCPU is this process's CPU use and run-queue wait at one moment.
type selfCPU struct {
	used, waited time.Duration
	ok           bool
}

func readSelfCPU() selfCPU {
	used, err1 := proccpu.Self()
	waited, err2 := proccpu.WaitedSelf()
	return selfCPU{used: used, waited: waited, ok: err1 == nil && err2 == nil}
}

// machineOf compares two readings: the generator's wait per CPU second
// over the load stands for every process of the run, since they share the
// machine's run queue. Nil when /proc could not be read or the load used
// too little CPU to tell.
func machineOf(before, after selfCPU, limit float64) *rundir.Machine {
	const minUsed = 50 * time.Millisecond // below it the ratio is noise
	if !before.ok || !after.ok || limit < 0 {
		return nil
	}
	used := after.used - before.used
	if used < minUsed {
		return nil
	}
	if limit == 0 {
		limit = DefaultCPUWaitLimit
	}
	ratio := (after.waited - before.waited).Seconds() / used.Seconds()
	return &rundir.Machine{CPUWaitPerCPUSecond: ratio, CPUWaitLimit: limit, Starved: ratio > limit}
}
