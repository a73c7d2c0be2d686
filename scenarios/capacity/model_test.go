package capacity

import (
	"math"
	"strings"
	"testing"
	"time"
)

// capacitySystem is the built-in capacity scenario's system.
var capacitySystem = System{Signers: 3, HSMSlots: 10, HSMLatency: 50 * time.Millisecond, IssueConcurrency: 64, Pharmacies: 80}

func TestAnalyticBounds(t *testing.T) {
	if r := capacitySystem.HSMRate(); math.Abs(r-600) > 1e-9 {
		t.Fatalf("HSM bound %v, want 3 x 10 / 50 ms = 600/s", r)
	}
	if r := (System{Signers: 1, HSMSlots: 10, HSMLatency: 450 * time.Millisecond}).HSMRate(); math.Abs(r-22.22) > 0.01 {
		t.Errorf("launch-day's single signer: %v/s, want 22.2", r)
	}
	if r := (System{Signers: 2}).HSMRate(); r != 0 {
		t.Errorf("no HSM model gave a bound of %v", r)
	}

	cost := &CPUCost{Total: 0.002, Available: 1.6, AtRPS: 500}
	sys := capacitySystem
	sys.QuotaRate, sys.QuotaBurst = 1, 60
	sys.SuspendAfter, sys.SuspendWindow = 120, time.Minute
	b := sys.Bounds(cost, 20*time.Second)
	want := map[string]float64{
		ResourceHSM:        600,
		ResourceCPU:        800,                // 1.6 cores / 2 ms
		ResourceAdmission:  1280,               // 64 / 50 ms
		ResourceQuota:      80 * (1 + 60.0/20), // 320
		ResourceSuspension: 80 * 120 / 20.0,    // 480: the step is shorter than the window
	}
	if len(b) != len(want) {
		t.Fatalf("bounds %+v", b)
	}
	for i, bd := range b {
		if math.Abs(bd.RPS-want[bd.Resource]) > 1e-6 {
			t.Errorf("%s: %.1f/s, want %.1f (%s)", bd.Resource, bd.RPS, want[bd.Resource], bd.Basis)
		}
		if i > 0 && b[i-1].RPS > bd.RPS {
			t.Error("bounds not sorted lowest first")
		}
		if control := bd.Resource == ResourceQuota || bd.Resource == ResourceSuspension; control != bd.Control {
			t.Errorf("%s: control %v", bd.Resource, bd.Control)
		}
	}
	// Each portal replica admits its own 64 in flight.
	sys.Portals = 3
	for _, bd := range sys.Bounds(cost, 20*time.Second) {
		if bd.Resource == ResourceAdmission && math.Abs(bd.RPS-3*1280) > 1e-6 {
			t.Errorf("3 portals' admission: %.1f/s, want 3840 (%s)", bd.RPS, bd.Basis)
		}
	}
}

func TestSheddingBound(t *testing.T) {
	// Erlang B's textbook values: 10 servers at 1% loss carry 4.46 Erlangs.
	if b := ErlangB(10, 4.4612); math.Abs(b-0.01) > 1e-4 {
		t.Errorf("B(10, 4.4612) = %.5f, want 0.01", b)
	}
	if b := ErlangB(1, 1); b != 0.5 {
		t.Errorf("B(1, 1) = %v, want 0.5", b)
	}
	sys := capacitySystem
	if r := sys.SheddingRate(); r != 0 {
		t.Errorf("signers that queue got a shedding bound %v", r)
	}
	sys.Shed, sys.MaxLoss = true, 0.01
	// 3 replicas x 4.4612 Erlangs / 50 ms = 267.7/s: well below the 600/s
	// the slots could sign if they never sat idle.
	if r := sys.SheddingRate(); math.Abs(r-267.7) > 0.2 {
		t.Errorf("shedding bound %.1f/s, want 267.7", r)
	}
	b := sys.Bounds(nil, 20*time.Second)
	if b[0].Resource != ResourceShedding || !strings.Contains(b[0].Basis, "at most 1%") {
		t.Errorf("lowest bound %+v", b[0])
	}
	// A looser SLO lets the same slots carry more.
	sys.MaxLoss = 0.05
	if r := sys.SheddingRate(); r < 330 || r > 600 {
		t.Errorf("at 5%% loss: %.1f/s", r)
	}
}

func TestCost(t *testing.T) {
	st := Step{Offered: 500, Requests: 10000}
	c, ok := Cost(st, CPU{Seconds: map[string]float64{"portal": 12, "signers": 6, "generator": 2}, Wall: 20, Cores: 2, Other: 8})
	if !ok {
		t.Fatal("no cost")
	}
	if math.Abs(c.Total-0.002) > 1e-12 || math.Abs(c.PerRequest["portal"]-0.0012) > 1e-12 {
		t.Errorf("cost %+v, want 2 ms in all, 1.2 ms portal", c)
	}
	if math.Abs(c.Available-1.6) > 1e-12 {
		t.Errorf("available %.2f cores, want 2 - 8 s / 20 s = 1.6", c.Available)
	}
	if !strings.Contains(c.String(), "portal 1.20") {
		t.Errorf("String %q", c.String())
	}
	if _, ok := Cost(Step{}, CPU{Wall: 1}); ok {
		t.Error("a cost from nothing")
	}
}

// result builds a search result: passing steps up to capacity, then one
// failing step with the given cause.
func result(capacity float64, cause Cause, problems map[string]int64) Result {
	fail := Step{Offered: capacity * 1.1, Requests: 1000, Cause: cause, Problems: problems, Reasons: []string{"p99 400 ms > 200 ms (+100%)"}}
	for k, v := range problems {
		if IsControl(k) {
			fail.Controls += v
		}
	}
	return Result{Capacity: capacity, Bounded: true, Steps: []Step{{Offered: capacity, Pass: true}, fail}}
}

func TestBind(t *testing.T) {
	hsmOnly := capacitySystem.Bounds(nil, 20*time.Second)
	b := Bind(result(540, CauseSLO, nil), hsmOnly)
	if b.Resource != ResourceHSM || b.AnalyticRPS != 600 || math.Abs(b.Share-0.9) > 1e-9 {
		t.Errorf("binding %+v, want HSM at 90%% of 600", b)
	}
	if s := b.String(); !strings.Contains(s, "HSM (600/s analytic: 3 signers x 10 slots / 50ms; 540/s measured, 90%)") {
		t.Errorf("String %q", s)
	}

	// A CPU bound below the HSM's binds instead.
	cpu := capacitySystem.Bounds(&CPUCost{Total: 0.004, Available: 1.6, AtRPS: 380}, 20*time.Second)
	if b := Bind(result(380, CauseSLO, nil), cpu); b.Resource != ResourceCPU || math.Abs(b.AnalyticRPS-400) > 1e-9 {
		t.Errorf("binding %+v, want CPU at 400/s", b)
	}

	// The CPU binds only when the run was short of it: at the failing
	// step its threads waited long for a CPU. Otherwise the next bound.
	starved := result(380, CauseSLO, nil)
	starved.Steps[1].CPU = &CPU{Seconds: map[string]float64{"portal": 10}, Waited: map[string]float64{"portal": 8}}
	if b := Bind(starved, cpu); b.Resource != ResourceCPU || !strings.Contains(b.Why, "CPU-starved") {
		t.Errorf("starved: %+v", b)
	}
	roomy := result(380, CauseSLO, nil)
	roomy.Steps[1].CPU = &CPU{Seconds: map[string]float64{"portal": 10}, Waited: map[string]float64{"portal": 0.5}}
	if b := Bind(roomy, cpu); b.Resource != ResourceHSM || !strings.Contains(b.Why, "The CPU bound (400/s) is not it") {
		t.Errorf("not starved: %+v", b)
	}

	// Far below every bound: the binding is named, and said not to explain it.
	if b := Bind(result(200, CauseSLO, nil), hsmOnly); b.Resource != ResourceHSM || !strings.Contains(b.Why, "only 33%") {
		t.Errorf("unexplained binding %+v", b)
	}

	// A control that refused the failing step binds, never the HSM.
	sus := map[string]int64{ProblemKey(403, "pharmacy_suspended"): 600, ProblemKey(503, "overloaded"): 10}
	withControls := capacitySystem
	withControls.SuspendAfter = 120
	b = Bind(result(20, CauseControls, sus), withControls.Bounds(nil, 20*time.Second))
	if b.Resource != ResourceSuspension || b.AnalyticRPS != 480 || !strings.Contains(b.Why, "refused by a control") {
		t.Errorf("binding %+v, want the anomaly suspension", b)
	}
	quota := map[string]int64{ProblemKey(429, "rate_limited"): 900}
	if b := Bind(result(100, CauseControls, quota), hsmOnly); b.Resource != ResourceQuota {
		t.Errorf("binding %+v, want the quota", b)
	}

	if b := Bind(result(300, CauseGenerator, nil), hsmOnly); b.Resource != ResourceGenerator {
		t.Errorf("binding %+v, want the load generator", b)
	}
	unbounded := Result{Capacity: 2000, Steps: []Step{{Offered: 2000, Pass: true}}}
	if b := Bind(unbounded, hsmOnly); !strings.Contains(b.Why, "No step failed") {
		t.Errorf("unbounded: %+v", b)
	}
	if b := Bind(result(50, CauseSLO, nil), nil); b.Resource != ResourceUnknown {
		t.Errorf("no model: %+v", b)
	}
}

func TestSize(t *testing.T) {
	hsm := Binding{Resource: ResourceHSM, AnalyticRPS: 600, MeasuredRPS: 540}
	// The issue's case: capacity far above launch day's 24/s peak. The
	// per-signer rate is the measured 180/s, not a nominal figure, so one
	// replica covers 30/s; the advice keeps a second so that one can fail
	// (never a single point of failure).
	z := Size(540, capacitySystem, 24, hsm, nil)
	if z.PerSignerRPS != 180 || z.PerSignerBasis != BasisMeasured || z.TargetRPS != 30 || z.NeededSigners != 1 ||
		z.RecommendedSigners != 2 || z.Apply != "--signers 2" {
		t.Errorf("sizing %+v", z)
	}
	if !strings.Contains(z.Advice, "1 signer replica of 10 HSM slots covers 30.0/s") || !strings.Contains(z.Advice, "keep 2 signer replicas (1+1: one can fail)") {
		t.Errorf("advice %q", z.Advice)
	}

	// CPU-bound on a shared machine: 3 replicas delivered 60/s, 20/s each,
	// though each one's HSM does 10 slots / 450 ms = 22.2/s. Sized from
	// the model, 2 carry a 40/s target (not the 3 that 20/s each would
	// need), and a spare makes 3: the current count, so no flag.
	three := System{Signers: 3, HSMSlots: 10, HSMLatency: 450 * time.Millisecond}
	z = Size(60, three, 32, Binding{Resource: ResourceCPU}, nil)
	if z.PerSignerBasis != BasisHSMModel || math.Abs(z.PerSignerRPS-10/0.45) > 1e-9 || z.NeededSigners != 2 || z.RecommendedSigners != 3 || z.Apply != "" {
		t.Errorf("CPU-bound sizing from the HSM model %+v", z)
	}
	// The same run bound by the HSM: the measured rate is the replicas'.
	if z = Size(60, three, 32, Binding{Resource: ResourceHSM}, nil); z.PerSignerBasis != BasisMeasured || z.NeededSigners != 2 || z.RecommendedSigners != 3 {
		t.Errorf("HSM-bound sizing %+v", z)
	}

	// Short of the peak, HSM-bound: more replicas, computed from the
	// measured rate per replica.
	one := System{Signers: 1, HSMSlots: 10, HSMLatency: 450 * time.Millisecond}
	z = Size(20, one, 24, Binding{Resource: ResourceHSM}, nil)
	if z.NeededSigners != 2 || z.NeededSlots != 15 || z.Apply != "--signers 3" || !strings.Contains(z.Advice, "run 2 signer replicas (now 1) or 15 HSM slots each") {
		t.Errorf("short sizing %+v", z)
	}

	// CPU-bound: more signers do not help; the advice gives cores, and no
	// flag to apply.
	cost := &CPUCost{Total: 0.004, Available: 1.6}
	z = Size(380, capacitySystem, 400, Binding{Resource: ResourceCPU}, cost)
	if z.Apply != "" || !strings.Contains(z.Advice, "more signer replicas do not help") || math.Abs(z.NeededCores-2) > 1e-9 {
		t.Errorf("CPU sizing %+v", z)
	}
	// Enough free CPU seconds but a missed SLO: the cores were contended.
	z = Size(27, capacitySystem, 24, Binding{Resource: ResourceCPU}, &CPUCost{Total: 0.005, Available: 0.6, Cores: 2})
	if !strings.Contains(z.Advice, "other jobs held 1.4 of 2 cores") {
		t.Errorf("contended CPU advice %q", z.Advice)
	}

	// Whatever the numbers, the needed replicas at the measured rate cover
	// the target, and one fewer would not.
	for _, c := range []struct{ capacity, peak float64 }{{540, 24}, {20, 24}, {100, 300}, {333, 333}, {7, 1000}} {
		z := Size(c.capacity, capacitySystem, c.peak, hsm, nil)
		got := float64(z.NeededSigners) * z.PerSignerRPS
		if got < z.TargetRPS-1e-9 || (z.NeededSigners > 1 && float64(z.NeededSigners-1)*z.PerSignerRPS >= z.TargetRPS) {
			t.Errorf("capacity %v, peak %v: %d signers x %.2f/s = %.1f for a target of %.1f", c.capacity, c.peak, z.NeededSigners, z.PerSignerRPS, got, z.TargetRPS)
		}
	}

	if z := Size(0, capacitySystem, 24, hsm, nil); z.NeededSigners != 0 || !strings.Contains(z.Advice, "no capacity measured") {
		t.Errorf("no capacity: %+v", z)
	}
}
