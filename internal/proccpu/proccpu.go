// Package proccpu reads CPU time from Linux's /proc: what one process
// (all its threads) has used, and what the whole machine has been busy
// with. The capacity search uses the differences over a step to price a
// request in CPU seconds per component, and to see how much of the machine
// other jobs took meanwhile.
package proccpu

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux
// architecture (the kernel converts to it for user space whatever its own
// tick rate).
const userHZ = 100

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// Process is the CPU time (user + system, all threads) pid has used.
func Process(pid int) (time.Duration, error) {
	return statFile(fmt.Sprintf("/proc/%d/stat", pid))
}

// Self is the CPU time this process has used.
func Self() (time.Duration, error) { return statFile("/proc/self/stat") }

func statFile(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("proccpu: %w", err)
	}
	return parseStat(b)
}

// Group is the CPU time of process group pgid: every live member's
// (user + system, all threads) and what the leader's reaped children used
// (cutime + cstime). A server that forks a process per connection and
// reaps it, like PostgreSQL's postmaster in its own group, is counted
// whole: a backend's time moves into its leader's when it exits, so a
// reading never goes back while the leader lives.
func Group(pgid int) (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("proccpu: %w", err)
	}
	var sum time.Duration
	leader := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		st, err := parseGroupStat(b)
		if err != nil || st.pgrp != pgid {
			continue
		}
		sum += st.own
		if pid == pgid {
			sum += st.children
			leader = true
		}
	}
	if !leader {
		return 0, fmt.Errorf("proccpu: process group %d has no leader", pgid)
	}
	return sum, nil
}

// groupStat is what Group needs of a stat line.
type groupStat struct {
	pgrp          int
	own, children time.Duration
}

// parseGroupStat reads pgrp (field 5), utime and stime (14, 15) and
// cutime and cstime (16, 17) of a /proc/PID/stat line. The command name
// (field 2) may hold spaces and parentheses, so fields are counted after
// its last ')'.
func parseGroupStat(b []byte) (groupStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return groupStat{}, errors.New("proccpu: stat line without a command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3: pgrp is f[2], utime f[11], stime f[12], cutime
	// f[13], cstime f[14].
	if len(f) < 15 {
		return groupStat{}, fmt.Errorf("proccpu: stat line has %d fields after the name, want at least 15", len(f))
	}
	var n [5]uint64
	for j, k := range []int{2, 11, 12, 13, 14} {
		v, err := strconv.ParseUint(f[k], 10, 64)
		if err != nil {
			return groupStat{}, fmt.Errorf("proccpu: stat field %d %q is not a number", k+3, f[k])
		}
		n[j] = v
	}
	return groupStat{pgrp: int(n[0]), own: ticks(n[1] + n[2]), children: ticks(n[3] + n[4])}, nil
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line.
func parseStat(b []byte) (time.Duration, error) {
	st, err := parseGroupStat(b)
	return st.own, err
}

// Waited is the time pid's threads have spent runnable but waiting for a
// CPU (the run delay of /proc/PID/task/*/schedstat): CPU starvation. Threads
// that have exited take their share with them, so it is a lower bound.
func Waited(pid int) (time.Duration, error) { return sumSchedstat(pid, schedRunDelay) }

// OnCPU is the time pid's live threads have run on a CPU, in nanoseconds
// (the first field of /proc/PID/task/*/schedstat). Process counts in
// 10 ms ticks; this is exact, for measurements too short for ticks. A
// thread that exited takes its time with it (Go rarely ends threads), so
// it can go back a little; callers comparing readings must allow for it.
func OnCPU(pid int) (time.Duration, error) { return sumSchedstat(pid, schedOnCPU) }

// WaitedSelf is Waited for this process.
func WaitedSelf() (time.Duration, error) { return Waited(os.Getpid()) }

// The fields of a schedstat line, "oncpu_ns delay_ns timeslices".
const (
	schedOnCPU    = 0
	schedRunDelay = 1
)

var schedFieldNames = [...]string{schedOnCPU: "on-CPU time", schedRunDelay: "run delay"}

// sumSchedstat adds one field of every live thread's schedstat.
func sumSchedstat(pid, field int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("proccpu: %w", err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		d, err := parseSchedstat(b, field)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// parseSchedstat reads one field of a schedstat line, in nanoseconds.
func parseSchedstat(b []byte, field int) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) <= field {
		return 0, fmt.Errorf("proccpu: schedstat %q has fewer than %d fields", strings.TrimSpace(string(b)), field+1)
	}
	n, err := strconv.ParseUint(f[field], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proccpu: schedstat %s %q: %w", schedFieldNames[field], f[field], err)
	}
	return time.Duration(n), nil
}

// Machine is the time all CPUs together have been busy (user, nice,
// system, irq, softirq and steal: everything but idle and iowait), read
// from /proc/stat.
func Machine() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("proccpu: %w", err)
	}
	return parseMachine(b)
}

func parseMachine(b []byte) (time.Duration, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("proccpu: /proc/stat starts with %q, want the cpu line", line)
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal: skip idle (4) and iowait (5).
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proccpu: /proc/stat field %d %q: %w", i+1, v, err)
		}
		busy += n
	}
	return ticks(busy), nil
}
