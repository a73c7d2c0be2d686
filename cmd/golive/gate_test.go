package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// gateRun writes a 60-second run directory of one class at 100 requests a
// second, p50 40 ms and p99 120 ms times slower, each second jittered by up
// to ±jitter, with the given recorded thresholds in summary.json.
func gateRun(t *testing.T, seed uint64, slower, jitter float64, recorded ...map[string]any) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	t0 := time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC)
	var bs []threshold.Bucket
	for i := range 60 {
		j := 1 + jitter*(2*rng.Float64()-1)
		b := threshold.Bucket{Start: t0.Add(time.Duration(i) * time.Second), Class: "issue",
			Counts: rundir.Counts{Offered: 100, Sent: 100, OK: 100, Delivered: 100},
			P50:    40 * slower * j, P90: 80 * slower * j, P99: 120 * slower * j, Max: 150 * slower * j}
		bs = append(bs, b)
	}
	dir := t.TempDir()
	if err := rundir.WriteTimeseriesFile(dir, bs); err != nil {
		t.Fatal(err)
	}
	sum, _ := json.Marshal(map[string]any{"schema": "golive.summary/v1",
		"latency_ms": map[string]any{"p50": 40 * slower, "p99": 120 * slower}, "thresholds": recorded})
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGateIdenticalRerunPasses(t *testing.T) {
	base := gateRun(t, 1, 1, 0.05)
	run := gateRun(t, 1, 1, 0.05)
	r := golive(t, "", "gate", run, "--baseline", base, "--max-regression", "10%")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "PASS  regression p99 latency") || !strings.HasPrefix(lastLine(r.stdout), "PASS: 5 checks passed") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

func TestGateRegressionFails(t *testing.T) {
	base := gateRun(t, 1, 1, 0.05)
	run := gateRun(t, 2, 1.4, 0.05)
	r := golive(t, "", "gate", run, "--baseline", base, "--max-regression", "10%")
	if r.code != 1 {
		t.Fatalf("+40%% latency: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "FAIL  regression p50 latency") || lastLine(r.stdout) != "FAIL: 2 of 5 checks failed" {
		t.Errorf("output:\n%s", r.stdout)
	}
	// The baseline may be given as its summary.json (timeseries.csv beside it is used).
	if r := golive(t, "", "gate", run, "--baseline", filepath.Join(base, "summary.json")); r.code != 1 {
		t.Errorf("baseline as summary.json: exit %d\n%s", r.code, r.stdout)
	}
	// --json carries the same verdict.
	r = golive(t, "", "gate", run, "--baseline", base, "--json")
	var rep struct {
		Pass   bool
		Checks []struct{ OK bool }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.Pass || len(rep.Checks) != 5 { // p50, p99, goodput, error rate, p99 tail (n/a without results.gob)
		t.Errorf("--json: exit %d, %v, %+v\n%s", r.code, err, rep, r.stdout)
	}
}

func TestGateNoiseAlonePasses(t *testing.T) {
	base := gateRun(t, 1, 1, 0.05)
	for seed := uint64(2); seed < 7; seed++ {
		run := gateRun(t, seed, 1, 0.05)
		if r := golive(t, "", "gate", run, "--baseline", base); r.code != 0 {
			t.Fatalf("seed %d: ±5%% jitter failed the gate: exit %d\n%s", seed, r.code, r.stdout)
		}
	}
}

func TestGateThresholds(t *testing.T) {
	run := gateRun(t, 1, 1, 0, map[string]any{"expr": "p99 < 100ms", "ok": true, "value": "90ms", "scope": "run"})
	// The recorded threshold is re-judged from the files: p99 is 120 ms.
	r := golive(t, "", "gate", run)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  p99 < 100ms") || !strings.Contains(r.stdout, "120ms") {
		t.Errorf("recorded threshold: exit %d\n%s", r.code, r.stdout)
	}
	ok := gateRun(t, 1, 1, 0)
	if r := golive(t, "", "gate", ok, "--threshold", "p99 < 200ms", "--threshold", "rate(status>=500) < 1% over 10s"); r.code != 0 {
		t.Errorf("passing thresholds: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = golive(t, "", "gate", ok, "--threshold", "p99 < 200ms", "--threshold", "p50 < 30ms over 10s")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  p50 < 30ms over 10s") || !strings.Contains(r.stdout, "window:10s@09:00") ||
		lastLine(r.stdout) != "FAIL: 1 of 2 checks failed" {
		t.Errorf("failing threshold: exit %d\n%s", r.code, r.stdout)
	}
}

// TestGateDurationUnits: a threshold takes any Go duration unit, and a
// sub-millisecond limit is judged at that resolution (500us = 0.5 ms).
func TestGateDurationUnits(t *testing.T) {
	run := gateRun(t, 1, 0.004, 0) // p99 0.48 ms in every second
	for _, tc := range []struct {
		expr string
		code int
	}{
		{"p99(issue) < 500us", 0},
		{"p99(issue) < 500\u00b5s", 0}, // micro sign
		{"p99(issue) < 500\u03bcs", 0}, // Greek mu
		{"p99(issue) < 0.5ms", 0},
		{"p99(issue) < 490000ns", 0},
		{"p99(issue) < 450us", 1},
		{"p99(issue) < 470000ns", 1},
		{"p99(issue) < 0.0004s", 1},
	} {
		r := golive(t, "", "gate", run, "--threshold", tc.expr)
		if r.code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.expr, r.code, tc.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "480\u00b5s") {
			t.Errorf("%s: measured value not shown in microseconds:\n%s", tc.expr, r.stdout)
		}
	}
}

func TestGateUsageErrors(t *testing.T) {
	run := gateRun(t, 1, 1, 0)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gate", run, "--bogus"}, "unknown flag: --bogus"},
		{[]string{"gate"}, "gate takes one RUN_DIR"},
		{[]string{"gate", run, "--threshold", "p99(issue) <"}, `threshold "p99(issue) <": column 13: expected a value`},
		{[]string{"gate", run, "--max-regression", "ten"}, "not a percentage"},
		{[]string{"gate", run, "--threshold", "p99 < 5µ"}, `column 8: unknown unit "µ" (use ns, us (or µs), ms, s, m, h`},
		{[]string{"gate", filepath.Join(run, "nope")}, "run directory"},
		{[]string{"gate", t.TempDir()}, "not a run directory"},
		{[]string{"gate", run, "--baseline", filepath.Join(run, "nope")}, "baseline"},
	} {
		r := golive(t, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", tc.args[1:], r.code, r.stderr, tc.want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A threshold the run had too few events for stays inconclusive in the
// gate (exit 3), and a real failure beside it still fails (exit 1).
func TestGateKeepsTheRunsInconclusive(t *testing.T) {
	run := gateRun(t, 1, 1, 0, map[string]any{"expr": "p99 > 1s", "ok": false, "value": "120ms", "scope": "run"})
	p := filepath.Join(run, "summary.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	// As the engine records a shortage that forces a failure (the numbers
	// are made up: what counts is that the gate honours the record).
	sum["evidence"] = []map[string]any{{"kind": "threshold", "name": "p99 > 1s", "needs": "answered requests of class issue in the run",
		"min": 10000, "expected": 6000, "actual": 6000, "enough": false, "forces": "fail", "max_timescale": 54}}
	raw, _ = json.Marshal(sum)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := golive(t, "", "gate", run)
	if r.code != 3 || !strings.Contains(r.stdout, "INCONCLUSIVE  p99 > 1s") || !strings.Contains(r.stdout, "--timescale 54 or less") ||
		!strings.HasPrefix(lastLine(r.stdout), "INCONCLUSIVE: nothing failed") {
		t.Errorf("exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := golive(t, "", "gate", run, "--threshold", "p50 < 30ms"); r.code != 1 || !regexp.MustCompile(`FAIL +p50 < 30ms`).MatchString(r.stdout) {
		t.Errorf("a failing --threshold beside it: exit %d, want 1\n%s", r.code, r.stdout)
	}
}

func TestGateRefusesThresholdMistakes(t *testing.T) {
	run := gateRun(t, 1, 1, 0.05)
	for _, tc := range []struct{ expr, want string }{
		{"p99(isue) < 3s", `unknown class "isue" (did you mean "issue"?)`},
		{"p99(issue) < 3", "a time needs a unit"},
		{"rate(status>=500) < 150%", "a rate is at most 100%"},
	} {
		r := golive(t, "", "gate", run, "--threshold", tc.expr)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("gate --threshold %q: exit %d, stderr %q; want 2 and %q", tc.expr, r.code, r.stderr, tc.want)
		}
	}
}
