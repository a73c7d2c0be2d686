package proccpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := []byte("4242 (golive (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 0 0")
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("utime+stime = %v, want %v", got, want)
	}
	if _, err := parseStat([]byte("4242 golive S 1")); err == nil {
		t.Error("a line without a command name parsed")
	}
	if _, err := parseStat([]byte("4242 (golive) S 1 2")); err == nil {
		t.Error("a short line parsed")
	}
}

// A process group's time is its members' own and its leader's reaped
// children's: a forked child that burns CPU and exits moves into the
// leader's count, so Group never goes back.
func TestParseGroupStat(t *testing.T) {
	line := []byte("4242 (postgres: x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 30 20 20 0 8 0 1000 0 0")
	st, err := parseGroupStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.pgrp != 4242 || st.own != 3250*time.Millisecond || st.children != 500*time.Millisecond {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseGroupStat([]byte("4242 (x) S 1 x 4242 0 -1 4194560 100 0 0 0 250 75 30 20")); err == nil {
		t.Error("a non-numeric pgrp parsed")
	}
}

func TestGroupCountsReapedChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	// A shell leading its own group burns CPU in a subshell, reaps it,
	// then marks the file: from then on the burn is only in the leader's
	// cutime.
	done := filepath.Join(t.TempDir(), "reaped")
	cmd := exec.Command("sh", "-c", `(i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done); touch "$1"; sleep 60`, "sh", done)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a shell: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pgid := cmd.Process.Pid
	var last time.Duration
	deadline := time.Now().Add(groupTestTimeout)
	for {
		got, err := Group(pgid)
		if err != nil {
			t.Fatal(err)
		}
		if got < last {
			t.Fatalf("group time went back: %v then %v", last, got)
		}
		last = got
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell's burn did not end within %v", groupTestTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := Group(pgid)
	if err != nil {
		t.Fatal(err)
	}
	if got < last || got < 50*time.Millisecond {
		t.Errorf("group time %v after the burning subshell was reaped (%v before): its time is not counted", got, last)
	}
	own, err := Process(pgid)
	if err != nil {
		t.Fatal(err)
	}
	if got-own < 50*time.Millisecond {
		t.Errorf("group %v, leader's own %v: the reaped child's time is missing", got, own)
	}
	if _, err := Group(1 << 30); err == nil {
		t.Error("a group without a leader read")
	}
}

// groupTestTimeout bounds the wait for the child's burn to be counted.
const groupTestTimeout = 2 * time.Minute

func TestParseMachine(t *testing.T) {
	got, err := parseMachine([]byte("cpu  100 5 50 9000 40 3 2 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal = 170 ticks; idle and iowait left out.
	if want := 1700 * time.Millisecond; got != want {
		t.Errorf("busy %v, want %v", got, want)
	}
	if _, err := parseMachine([]byte("intr 1 2 3")); err == nil {
		t.Error("a file without the cpu line parsed")
	}
}

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat([]byte("633141828 3278405189 2235\n"), schedRunDelay)
	if err != nil || got != 3278405189*time.Nanosecond {
		t.Errorf("run delay %v, %v", got, err)
	}
	if got, err := parseSchedstat([]byte("633141828 3278405189 2235\n"), schedOnCPU); err != nil || got != 633141828*time.Nanosecond {
		t.Errorf("on-CPU time %v, %v", got, err)
	}
	if _, err := parseSchedstat([]byte("12"), schedRunDelay); err == nil {
		t.Error("a one-field line parsed")
	}
	if runtime.GOOS == "linux" {
		if _, err := WaitedSelf(); err != nil {
			t.Errorf("WaitedSelf: %v", err)
		}
	}
}

func TestSelfCountsWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	m0, err := Machine()
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter has moved by several of its 10 ms units:
	// the machine's counters advance by whole scheduler ticks, so a burn
	// that the process's own (finer) counter sees may fall inside one.
	const burn = 50 * time.Millisecond
	x := 0
	for after, _ := Self(); after < before+burn; after, _ = Self() {
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
	if m1, _ := Machine(); m1 <= m0 {
		t.Errorf("machine busy time did not move while this process worked: %v then %v", m0, m1)
	}
}
