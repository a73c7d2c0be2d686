package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/signer"
)

// TestGateABUsage: the --ab form's mistakes are usage errors (exit 2)
// with one line saying what to fix, before anything starts.
func TestGateABUsage(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "golive")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gate", "--ab", exe}, "takes two golive executables"},
		{[]string{"gate", "--ab", exe, filepath.Join(t.TempDir(), "missing")}, "is not an executable golive build"},
		{[]string{"gate", "--ab", exe, exe, "--round", "0s"}, "rounds of 1s or more"},
		{[]string{"gate", "--ab", exe, exe, "--max-regression", "ten"}, "--max-regression"},
		{[]string{"gate", "--ab", exe, exe, "--target", "url=http://127.0.0.1:1"}, "starts its own systems"},
		{[]string{"gate", "--ab", exe, exe, "--baseline", "runs/old"}, "belong to the RUN_DIR form"},
	} {
		r := golive(t, "", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestGateABCalibrate measures golive gate --ab: N comparisons of a build
// with itself (every failure is a false alarm) and N of the build against
// the same build with GOLIVE_TEST_SIGNER_EXTRA_WORK_PERCENT set (every
// failure a detection), alternating, each within its time budget. It runs
// for N x 2 x (1 to 5) minutes, so only on demand:
//
//	GOLIVE_GATE_AB_CALIBRATE=1 go test -run TestGateABCalibrate -v -timeout 4h ./cmd/golive
//
// Knobs: _N comparisons each way (20), _PERCENT extra signer CPU (25),
// _BUDGET per comparison (5m), _ARGS more gate flags (space-separated),
// _ONLY=regression to run only the A/A+PERCENT comparisons (the 10%
// rate, once A/A has been measured), _ONLY=same only the A/A ones.
// Results and the machine's load are logged; docs/gate.md records them.
func TestGateABCalibrate(t *testing.T) {
	if os.Getenv("GOLIVE_GATE_AB_CALIBRATE") != "1" {
		t.Skip("set GOLIVE_GATE_AB_CALIBRATE=1 to measure the A/B gate (hours of wall time)")
	}
	n := envInt(t, "GOLIVE_GATE_AB_CALIBRATE_N", 20)
	pct := envInt(t, "GOLIVE_GATE_AB_CALIBRATE_PERCENT", 25)
	budget := os.Getenv("GOLIVE_GATE_AB_CALIBRATE_BUDGET")
	if budget == "" {
		budget = "5m"
	}
	dir := t.TempDir()
	base := os.Getenv("GOLIVE_TESTBED_BINARY")
	if base == "" {
		base = filepath.Join(dir, "golive")
		cmd := exec.Command("go", "build", "-o", base, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building golive: %v\n%s", err, out)
		}
	}
	slow := filepath.Join(dir, "golive-slower")
	script := fmt.Sprintf("#!/bin/sh\n%s=%d exec %q \"$@\"\n", signer.EnvExtraSignWork, pct, base)
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		fail, broke bool
		wall        time.Duration
		pairs       int
	}
	onlySlower, onlySame := false, false
	switch v := os.Getenv("GOLIVE_GATE_AB_CALIBRATE_ONLY"); v {
	case "":
	case "regression":
		onlySlower = true
	case "same":
		onlySame = true
	default:
		t.Fatalf("GOLIVE_GATE_AB_CALIBRATE_ONLY=%q: want regression, same or nothing", v)
	}
	broken := 0
	var same, slower []result
	pairsRe := regexp.MustCompile(`\((\d+) pairs`)
	for i := range 2 * n {
		if (onlySlower && i%2 == 0) || (onlySame && i%2 == 1) {
			continue
		}
		cand, label := base, "A/A"
		if i%2 == 1 {
			cand, label = slow, fmt.Sprintf("A/A+%d%%", pct)
		}
		args := []string{"gate", "--ab", base, cand, "--budget", budget}
		if extra := os.Getenv("GOLIVE_GATE_AB_CALIBRATE_ARGS"); extra != "" {
			args = append(args, strings.Fields(extra)...)
		}
		load, _ := os.ReadFile("/proc/loadavg")
		t0 := time.Now()
		r := golive(t, "", args...)
		res := result{wall: time.Since(t0), fail: r.code == 1}
		// Exit 1 without a verdict line is the comparison breaking (a
		// system that did not start), neither a detection nor a false
		// alarm: counted apart.
		if r.code != 0 && !strings.Contains(r.stdout, "FAIL: ") {
			res.fail, res.broke = false, true
			broken++
			t.Logf("%s: exit %d, no verdict: %s", label, r.code, strings.TrimSpace(r.stderr))
		}
		if m := pairsRe.FindStringSubmatch(r.stdout); m != nil {
			res.pairs, _ = strconv.Atoi(m[1])
		}
		t.Logf("%2d %-9s exit %d in %s, %d pairs, load %s\n%s", i/2+1, label, r.code, res.wall.Round(time.Second), res.pairs,
			strings.Fields(string(load))[0], r.stdout)
		if i%2 == 0 {
			same = append(same, res)
		} else {
			slower = append(slower, res)
		}
	}
	sum := func(rs []result) (fails int, median, worst time.Duration) {
		if len(rs) == 0 {
			return 0, 0, 0
		}
		var ws []time.Duration
		for _, r := range rs {
			if r.broke {
				continue
			}
			if r.fail {
				fails++
			}
			ws = append(ws, r.wall)
		}
		slices.Sort(ws)
		return fails, ws[len(ws)/2], ws[len(ws)-1]
	}
	fa, m1, w1 := sum(same)
	det, m2, w2 := sum(slower)
	if onlySlower {
		t.Logf("false alarms (A/A): not run (GOLIVE_GATE_AB_CALIBRATE_ONLY=regression)")
	} else {
		t.Logf("false alarms (A/A): %d/%d; median %s, longest %s", fa, n, m1.Round(time.Second), w1.Round(time.Second))
	}
	if onlySame {
		t.Logf("detections (A/A+%d%%): not run (GOLIVE_GATE_AB_CALIBRATE_ONLY=same)", pct)
	} else {
		t.Logf("detections (A/A+%d%%): %d/%d; median %s, longest %s", pct, det, n, m2.Round(time.Second), w2.Round(time.Second))
	}
	t.Logf("broken comparisons (no verdict, counted in neither): %d", broken)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
