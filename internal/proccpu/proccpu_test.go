package proccpu

import (
	"runtime"
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
