package gate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/threshold"
)

// synth describes a synthetic run: 60 one-second buckets of one class at
// 100 requests a second, p50 40 ms and p99 120 ms times Slower, each
// bucket's latencies jittered by up to ±Jitter, Failed server errors a
// second and Good requests out of 100 answered successfully.
type synth struct {
	Seed           uint64
	Slower, Jitter float64
	Failed         int64
	Seconds        int
}

func (s synth) write(t *testing.T, summary bool) string {
	t.Helper()
	if s.Slower == 0 {
		s.Slower = 1
	}
	if s.Seconds == 0 {
		s.Seconds = 60
	}
	rng := rand.New(rand.NewPCG(s.Seed, 7))
	t0 := time.Date(2021, 6, 14, 9, 0, 0, 0, time.UTC)
	var bs []threshold.Bucket
	for i := 0; i < s.Seconds; i++ {
		j := 1 + s.Jitter*(2*rng.Float64()-1)
		b := threshold.Bucket{Start: t0.Add(time.Duration(i) * time.Second), Class: "issue",
			Counts: rundir.Counts{Offered: 100, Sent: 100, OK: 100 - s.Failed, Error: s.Failed, Delivered: 100 - s.Failed},
			P50:    40 * s.Slower * j, P90: 80 * s.Slower * j, P99: 120 * s.Slower * j, Max: 150 * s.Slower * j}
		bs = append(bs, b)
	}
	dir := t.TempDir()
	if err := rundir.WriteTimeseriesFile(dir, bs); err != nil {
		t.Fatal(err)
	}
	if summary {
		sum := map[string]any{
			"schema":     "golive.summary/v1",
			"latency_ms": map[string]any{"p50": 40 * s.Slower, "p99": 120 * s.Slower},
			"goodput":    map[string]any{"mean": float64(100 - s.Failed)},
			"thresholds": []any{
				map[string]any{"expr": "p99 < 1s", "ok": true, "value": "120ms", "scope": "run"},
				map[string]any{"expr": "custom_check()", "ok": true, "value": "fine", "scope": "run"},
			},
		}
		b, _ := json.Marshal(sum)
		if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func byName(rep *Report) map[string]Check {
	m := map[string]Check{}
	for _, c := range rep.Checks {
		m[c.Kind+":"+c.Name] = c
	}
	return m
}

func TestIdenticalRerunPasses(t *testing.T) {
	base := synth{Seed: 1, Jitter: 0.05}.write(t, true)
	run := synth{Seed: 1, Jitter: 0.05}.write(t, true)
	rep, err := Evaluate(run, Options{Baseline: base})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass {
		t.Fatalf("identical rerun failed: %+v", rep.Checks)
	}
	checks := byName(rep)
	for _, name := range []string{"regression:p50 latency", "regression:p99 latency", "regression:goodput", "regression:error rate", "threshold:p99 < 1s"} {
		if _, ok := checks[name]; !ok {
			t.Errorf("no %s check in %+v", name, rep.Checks)
		}
	}
	if c := checks["threshold:p99 < 1s"]; !strings.Contains(c.Detail, "re-evaluated") {
		t.Errorf("the run's own threshold was not re-evaluated: %+v", c)
	}
	if c := checks["threshold:custom_check()"]; !c.OK || !strings.Contains(c.Detail, "as recorded") {
		t.Errorf("an unparsable recorded threshold should keep its recorded verdict: %+v", c)
	}
}

func TestSlowerEverywhereFails(t *testing.T) {
	base := synth{Seed: 1, Jitter: 0.05}.write(t, false)
	run := synth{Seed: 2, Jitter: 0.05, Slower: 1.4}.write(t, false)
	rep, err := Evaluate(run, Options{Baseline: base, MaxRegression: 0.10})
	if err != nil {
		t.Fatal(err)
	}
	checks := byName(rep)
	for _, name := range []string{"regression:p50 latency", "regression:p99 latency"} {
		c := checks[name]
		v, _ := strconv.ParseFloat(strings.TrimSuffix(c.Value, "%"), 64)
		if c.OK || v < 35 || v > 45 {
			t.Errorf("%s: %+v, want a failure of about +40%%", name, c)
		}
	}
	if rep.Pass || !checks["regression:goodput"].OK || !checks["regression:error rate"].OK {
		t.Errorf("verdict %v, goodput %+v, errors %+v", rep.Pass, checks["regression:goodput"], checks["regression:error rate"])
	}
	// The same slowdown within a generous limit passes: both conditions
	// are needed to fail.
	rep, err = Evaluate(run, Options{Baseline: base, MaxRegression: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass {
		t.Errorf("+40%% failed a 50%% limit: %+v", rep.Checks)
	}
}

func TestJitterAlonePasses(t *testing.T) {
	// ±5% noise in every second must not fail a 10% limit, for any seed.
	for seed := uint64(1); seed <= 20; seed++ {
		base := synth{Seed: seed, Jitter: 0.05}.write(t, false)
		run := synth{Seed: seed + 100, Jitter: 0.05}.write(t, false)
		rep, err := Evaluate(run, Options{Baseline: base})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Pass {
			t.Fatalf("seed %d: noise failed the gate: %+v", seed, rep.Checks)
		}
	}
}

func TestSmallButSignificantDifferencePasses(t *testing.T) {
	// +5% everywhere is significant but within the limit.
	base := synth{Seed: 1, Jitter: 0.01}.write(t, false)
	run := synth{Seed: 2, Jitter: 0.01, Slower: 1.05}.write(t, false)
	rep, err := Evaluate(run, Options{Baseline: base})
	if err != nil {
		t.Fatal(err)
	}
	c := byName(rep)["regression:p50 latency"]
	if !c.OK || !strings.Contains(c.Detail, "p=") {
		t.Errorf("+5%% with tiny noise: %+v", c)
	}
}

func TestMoreErrorsFail(t *testing.T) {
	base := synth{Seed: 1, Jitter: 0.05}.write(t, false)
	run := synth{Seed: 2, Jitter: 0.05, Failed: 5}.write(t, false)
	rep, err := Evaluate(run, Options{Baseline: base})
	if err != nil {
		t.Fatal(err)
	}
	checks := byName(rep)
	if c := checks["regression:error rate"]; c.OK || c.Value != "5.00%" {
		t.Errorf("error rate: %+v", c)
	}
	// 95 of 100 offered succeed against 100: goodput down 5%, within 10%.
	if c := checks["regression:goodput"]; !c.OK || c.Value != "-5.0%" {
		t.Errorf("goodput: %+v", c)
	}
	run = synth{Seed: 2, Jitter: 0.05, Failed: 20}.write(t, false)
	rep, _ = Evaluate(run, Options{Baseline: base})
	if c := byName(rep)["regression:goodput"]; c.OK || c.Value != "-20.0%" {
		t.Errorf("goodput down 20%%: %+v", c)
	}
}

func TestSummaryOnlyBaselineIsPointCompared(t *testing.T) {
	base := synth{Seed: 1, Seconds: 4}.write(t, true)
	run := synth{Seed: 2, Seconds: 4, Slower: 1.3}.write(t, true)
	rep, err := Evaluate(run, Options{Baseline: filepath.Join(base, "summary.json")})
	if err != nil {
		t.Fatal(err)
	}
	c := byName(rep)["regression:p99 latency"]
	if c.OK || c.Value != "+30.0%" || !strings.Contains(c.Detail, "NOT noise-aware") {
		t.Errorf("point comparison: %+v", c)
	}
}

func TestThresholdsAndBadInput(t *testing.T) {
	run := synth{Seed: 1}.write(t, true)
	rep, err := Evaluate(run, Options{Thresholds: []*threshold.Expr{
		threshold.MustParse("p99 < 100ms over 10s"), threshold.MustParse("rate(outcome==error) < 1%"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	checks := byName(rep)
	if c := checks["threshold:p99 < 100ms over 10s"]; c.OK || c.Value != "120ms" {
		t.Errorf("p99 over 10s: %+v", c)
	}
	if c := checks["threshold:rate(outcome==error) < 1%"]; !c.OK {
		t.Errorf("error rate: %+v", c)
	}
	if rep.Pass || rep.Failed() != 1 {
		t.Errorf("pass=%v failed=%d", rep.Pass, rep.Failed())
	}
	if _, err := Evaluate(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("missing run dir gated")
	}
	if _, err := Evaluate(run, Options{Baseline: filepath.Join(run, "timeseries.csv")}); err == nil {
		t.Error("a baseline that is neither a dir nor summary.json was accepted")
	}
}

func TestMannWhitney(t *testing.T) {
	lo := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hi := []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	// Total separation of 10 and 10: z = (100-50-0.5)/sqrt(175) = 3.74.
	if p := MannWhitneyGreater(lo, hi); math.Abs(p-9.2e-5) > 0.5e-5 {
		t.Errorf("p(hi > lo) = %g, want about 9.2e-5", p)
	}
	if p := MannWhitneyGreater(hi, lo); p < 0.999 {
		t.Errorf("p(lo > hi) = %g, want about 1", p)
	}
	if p := MannWhitneyGreater(lo, lo); p < 0.45 || p > 0.55 {
		t.Errorf("p for identical samples = %g, want about 0.5", p)
	}
	if p := MannWhitneyGreater([]float64{3, 3, 3}, []float64{3, 3}); p != 1 {
		t.Errorf("all ties: p = %g, want 1", p)
	}
}
