package evidence

import (
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/threshold"
	"github.com/golive-dev/golive/scenarios/verdict"
)

func needsOf(t *testing.T, sc *spec.Scenario, profile string, extra ...string) []Need {
	t.Helper()
	var exprs []*threshold.Expr
	for _, th := range sc.ThresholdsFor(profile) {
		exprs = append(exprs, threshold.MustParse(th.Expr))
	}
	for _, x := range extra {
		exprs = append(exprs, threshold.MustParse(x))
	}
	needs, err := For(sc, profile, exprs)
	if err != nil {
		t.Fatal(err)
	}
	return needs
}

func find(t *testing.T, evs []verdict.Evidence, kind, name string) verdict.Evidence {
	t.Helper()
	for _, e := range evs {
		if e.Kind == kind && e.Name == name {
			return e
		}
	}
	t.Fatalf("no evidence for %s %s in %+v", kind, name, evs)
	return verdict.Evidence{}
}

func builtin(t *testing.T, name string) *spec.Scenario {
	t.Helper()
	sc, err := spec.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// insider-abuse's insider sends 1 request per second for 9 bursts of 5
// minutes (2,700 in the real night): 27 at x100, 3 at x900. The night-burst
// detector tolerates 10 off-hours certificates a day, so fraud_contained
// needs 11: judgeable up to x245 (2,700 / 11 = 245.5).
func TestInsiderAbuseFraudContained(t *testing.T) {
	sc := builtin(t, "insider-abuse")
	needs := needsOf(t, sc, "hardened")
	at := func(ts, ds float64) verdict.Evidence {
		return find(t, Assess(needs, ts, ds, nil), "check", "fraud_contained")
	}
	e := at(900, 1)
	if e.Enough || e.Expected != 3 || e.Min != 11 || e.Forces != verdict.ForcesFail {
		t.Fatalf("x900: %+v, want 3 of 11, not enough, forcing a fail", e)
	}
	if !strings.Contains(e.Needs, "outside opening hours 08:00-20:00") {
		t.Errorf("needs %q does not name the off-hours rule", e.Needs)
	}
	if e.MaxTimescale != 245 || e.MinDemandScale != 3.67 {
		t.Errorf("x900: largest timescale %v, smallest demand scale %v; want 245 and 3.67", e.MaxTimescale, e.MinDemandScale)
	}
	if !strings.Contains(e.Reason(), "--timescale 245 or less, or --demand-scale 3.67 or more") {
		t.Errorf("reason %q does not name the scales", e.Reason())
	}
	if e := at(100, 1); !e.Enough || e.Expected != 27 {
		t.Errorf("x100: %+v, want 27, enough", e)
	}
	// The named bounds do give enough, and just past them does not.
	if e := at(245, 1); !e.Enough || e.Expected != 11 {
		t.Errorf("x245: %+v, want 11, enough", e)
	}
	if e := at(250, 1); e.Enough {
		t.Errorf("x250: %+v, want too few", e)
	}
	if e := at(900, 3.67); !e.Enough {
		t.Errorf("x900 at demand scale 3.67: %+v, want enough", e)
	}
	if e := at(900, 3.6); e.Enough {
		t.Errorf("x900 at demand scale 3.6: %+v, want too few", e)
	}
	// naive-2021 has no detector: its reproduction threshold needs the
	// same 11 attacker actions to be able to pass at all.
	n := find(t, Assess(needsOf(t, sc, "naive-2021"), 900, 1, nil), "threshold", "fraud_escaped > 10")
	if n.Enough || n.Min != 11 || n.Forces != verdict.ForcesFail {
		t.Errorf("naive-2021 x900: %+v", n)
	}
	for _, e := range Assess(needsOf(t, sc, "naive-2021"), 900, 1, nil) {
		if e.Name == "fraud_contained" {
			t.Errorf("naive-2021 declares fraud_contained: %+v", e)
		}
	}
}

// The counts follow loadgen's pacer: what Expected promises is what a
// pacer over the same demand sends, at every timescale.
func TestExpectedMatchesThePacer(t *testing.T) {
	sc := builtin(t, "insider-abuse")
	insider, _ := sc.Class("insider")
	w := way{classes: []spec.Class{insider}, spans: []span{{sc.Clock.Start, sc.Clock.End}}, accounts: 1, min: 1, start: sc.Clock.Start}
	for _, ts := range []float64{100, 245, 250, 333, 900} {
		for _, ds := range []float64{1, 0.5, 3.67} {
			wallStart := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := simclock.Clock{SimStart: sc.Clock.Start, WallStart: wallStart, Scale: ts}
			p, err := loadgen.NewPacer(insider.Demand, clock, ds, wallStart, sc.Clock.WallDuration(ts))
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			for {
				if _, ok := p.Intended(uint64(sent)); !ok {
					break
				}
				sent++
			}
			if got := w.expected(ts, ds); got != float64(sent) {
				t.Errorf("x%g demand x%g: expected %v, the pacer sends %d", ts, ds, got, sent)
			}
		}
	}
}

func TestCountMin(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		min    int
		forces verdict.Forced
	}{
		{"fraud_escaped > 10", 11, verdict.ForcesFail},
		{"fraud_escaped >= 10", 10, verdict.ForcesFail},
		{"fraud_escaped <= 10", 11, verdict.ForcesPass},
		{"fraud_escaped < 10", 10, verdict.ForcesPass},
		{"lost == 0", 1, verdict.ForcesPass},
		{"lost != 0", 1, verdict.ForcesFail},
		{"lost == 3", 3, verdict.ForcesFail},
	} {
		e := threshold.MustParse(tc.expr)
		min, forces, ok := countMin(e.Op, e.Value)
		if !ok || min != tc.min || forces != tc.forces {
			t.Errorf("%s: min %d forces %s (ok %v), want %d %s", tc.expr, min, forces, ok, tc.min, tc.forces)
		}
	}
}

const custom = `name: custom
clock: {date: 2021-06-14, start: "08:00", end: "12:00", timescale: 60}
traffic:
  - name: issue
    kind: issue
    demand: [{shape: step, from: "08:00", until: "10:00", rate: 1}]
  - name: thief
    kind: stolen-credentials
    pharmacies: 2
    demand: [{shape: step, from: "08:00", until: "12:00", rate: 0.5}]
phases:
  - {name: morning, from: "08:00", until: "10:00"}
  - {name: late, from: "10:00", until: "12:00"}
thresholds:
  - p99(issue) < 2s per phase
  - p99(issue) >= 2s
  - rate(status>=500) < 1%
  - p99(issue) < 2s over 10m
checks: [fraud_contained]
`

func TestPercentileRateAndVolumeNeeds(t *testing.T) {
	sc, err := spec.Parse([]byte(custom), "custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	needs := needsOf(t, sc, "hardened")
	// issue: 7,200 real requests in the morning, 120 at x60.
	evs := Assess(needs, 60, 1, nil)
	var perPhase []verdict.Evidence
	for _, e := range evs {
		if e.Name == "p99(issue) < 2s per phase" {
			perPhase = append(perPhase, e)
		}
		if strings.Contains(e.Name, "over 10m") {
			t.Errorf("a windowed threshold declared a need: %+v", e)
		}
	}
	// Only the morning has issue demand; the late phase is not judged.
	if len(perPhase) != 1 || !strings.Contains(perPhase[0].Needs, "in phase morning") || perPhase[0].Min != 100 ||
		perPhase[0].Expected != 120 || !perPhase[0].Enough || perPhase[0].Forces != verdict.ForcesFail {
		t.Errorf("per-phase p99 needs %+v", perPhase)
	}
	if e := find(t, evs, "threshold", "p99(issue) >= 2s"); e.Forces != verdict.ForcesPass || e.Min != 100 {
		t.Errorf("lower-limit p99: %+v", e)
	}
	// A 1% rate needs 100 answers of every class: 120 + 120 at x60.
	if e := find(t, evs, "threshold", "rate(status>=500) < 1%"); e.Min != 100 || e.Expected != 240 || e.Forces != verdict.ForcesEither {
		t.Errorf("rate: %+v", e)
	}
	// The thief issues during opening hours only: the off-hours rule never
	// sees it, so the volume rule (121 an hour per account) is the way,
	// 1,800 real per hour over 2 accounts = 900: judgeable up to x7.43.
	fc := find(t, evs, "check", "fraud_contained")
	if fc.Min != 121 || !strings.Contains(fc.Needs, "volume detector") || !strings.Contains(fc.Needs, "per account") {
		t.Errorf("fraud_contained: %+v", fc)
	}
	if fc.Enough || fc.MaxTimescale != 7.43 {
		t.Errorf("fraud_contained at x60: %+v, want too few, largest timescale 7.43", fc)
	}
	if e := find(t, Assess(needs, 7.43, 1, nil), "check", "fraud_contained"); !e.Enough {
		t.Errorf("fraud_contained at the named x7.43: %+v", e)
	}
}

// After a run the buckets' counts decide, not the demand's promise: a run
// cut short has fewer events than its demand promised.
func TestActualCountsDecide(t *testing.T) {
	sc := builtin(t, "insider-abuse")
	needs := needsOf(t, sc, "hardened")
	night := time.Date(2021, 9, 14, 21, 0, 0, 0, sc.Clock.Location)
	var bs []threshold.Bucket
	for i := range 12 {
		bs = append(bs, threshold.Bucket{Start: night.Add(time.Duration(i) * time.Minute), Class: "insider", Counts: rundir.Counts{Offered: 1, Sent: 1}})
	}
	// Daytime and other classes do not count towards the night rule.
	bs = append(bs, threshold.Bucket{Start: night.Add(-5 * time.Hour), Class: "insider", Counts: rundir.Counts{Offered: 50}},
		threshold.Bucket{Start: night, Class: "issue", Counts: rundir.Counts{Offered: 50}})
	e := find(t, Assess(needs, 900, 1, bs), "check", "fraud_contained")
	if !e.Enough || e.Actual == nil || *e.Actual != 12 || e.Expected != 3 {
		t.Errorf("%+v, want 12 counted (3 promised), enough", e)
	}
	e = find(t, Assess(needs, 100, 1, bs[:5]), "check", "fraud_contained")
	if e.Enough || *e.Actual != 5 {
		t.Errorf("%+v, want 5 counted, too few", e)
	}
}

func TestOffHoursSpans(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	at := func(d, h int) time.Time { return time.Date(2021, 9, d, h, 0, 0, 0, loc) }
	for _, tc := range []struct {
		name        string
		open, close time.Duration
		from, to    time.Time
		want        []span
	}{
		{"evening", 8 * time.Hour, 20 * time.Hour, at(14, 17), at(15, 0), []span{{at(14, 20), at(15, 0)}}},
		{"overnight run", 8 * time.Hour, 20 * time.Hour, at(14, 6), at(15, 10),
			[]span{{at(14, 6), at(14, 8)}, {at(14, 20), at(15, 8)}}},
		{"open across midnight", 18 * time.Hour, 2 * time.Hour, at(14, 0), at(15, 0),
			[]span{{at(14, 2), at(14, 18)}}},
	} {
		cfg := defaultFraud()
		cfg.OpenFrom, cfg.OpenUntil = tc.open, tc.close
		det := mustDetector(t, cfg)
		got := offHours(det, cfg, tc.from, tc.to)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if !got[i].from.Equal(tc.want[i].from) || !got[i].to.Equal(tc.want[i].to) {
				t.Errorf("%s: span %d %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

// No built-in is inconclusive at its own timescale: their verdicts stay
// as they were.
func TestBuiltinsJudgeableAtTheirTimescale(t *testing.T) {
	for _, name := range spec.Builtins() {
		sc := builtin(t, name)
		for _, p := range []string{"hardened", "naive-2021"} {
			for _, e := range Assess(needsOf(t, sc, p), sc.Clock.Timescale, sc.DemandScale, nil) {
				if !e.Enough {
					t.Errorf("%s %s at x%g: %s", name, p, sc.Clock.Timescale, e.Reason())
				}
			}
		}
	}
}

func defaultFraud() fraud.Config { return fraud.DefaultConfig() }

func mustDetector(t *testing.T, cfg fraud.Config) *fraud.Detector {
	t.Helper()
	d, err := fraud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
