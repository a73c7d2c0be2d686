package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/server"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// TestMain fails the suite when a testbed of these tests left a process,
// container or directory behind.
func TestMain(m *testing.M) { os.Exit(testbedtest.Main(m)) }

// miniOutage is outage-tuesday in miniature: a steady demand, the
// portal-to-signer links cut for a quarter of the run.
const miniOutage = `
name: mini-outage
description: A short cut-off between the portal and its signers.
clock: {date: 2021-06-15, start: "11:00", end: "12:00", timescale: 360}
system:
  profile: hardened
  signers: 2
  hsm: {slots: 10, latency: 5ms}
  portal:
    deferred_retry_after: 1s
    sign_call_timeout: 400ms
    issue_deadline: 1500ms
traffic:
  - name: issue
    kind: issue
    pharmacies: 8
    demand:
      - {at: "11:00", rate: 15}
      - {at: "12:00", rate: 15}
    client: {timeout: 10s, retries: {max: 2, backoff_base: 200ms, backoff_max: 1s}, poll_tickets: true, honour_retry_after: true}
faults:
  - {kind: partition, target: "portal->signers", at: "11:20", until: "11:35"}
phases:
  - {name: before, from: "11:00", until: "11:20"}
  - {name: cut, from: "11:20", until: "11:35"}
  - {name: after, from: "11:35", until: "12:00"}
thresholds:
  - lost == 0
checks: [consistency, backlog_drained, no_request_outlives_timeout]
`

// TestRunOutageLocal replays a cut-off on the local testbed (real child
// processes and the fault proxy): during the cut the hardened portal
// answers 202 tickets, afterwards the backlog drains, nothing acknowledged
// is lost, and the run directory holds what the run format promises.
func TestRunOutageLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniOutage), "mini-outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("outage")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Verdict != "pass" {
		t.Errorf("verdict %s: %v", sum.Verdict, sum.Reasons)
	}
	if sum.Requests.Deferred == 0 {
		t.Error("no 202 during the cut-off")
	}
	if sum.Consistency.Lost != 0 || sum.Consistency.Duplicates != 0 || sum.Consistency.Acknowledged < 100 {
		t.Errorf("consistency %+v", sum.Consistency)
	}
	if sum.Consistency.TicketsPending != 0 {
		t.Errorf("%d tickets never completed", sum.Consistency.TicketsPending)
	}
	// Offered: 15/s for 10 wall seconds.
	if sum.Requests.Actions < 120 || sum.Requests.Actions > 180 {
		t.Errorf("%d user actions, want about 150", sum.Requests.Actions)
	}

	var ev rundir.Events
	readJSON(t, filepath.Join(out, "events.json"), &ev)
	if len(ev.Faults) != 1 || ev.Faults[0].Target != "portal->signers" {
		t.Fatalf("faults %+v", ev.Faults)
	}
	for _, f := range ev.Faults {
		if f.Error != "" || f.End.IsZero() || f.Start.Hour() != 11 || f.Start.Minute() < 19 || f.End.Minute() < 34 {
			t.Errorf("fault recorded as %+v", f)
		}
	}
	if len(ev.Phases) != 3 || len(ev.Probes) != 2 || !ev.Probes[0].OK || !ev.Probes[1].OK {
		t.Errorf("events: phases %d, probes %+v", len(ev.Phases), ev.Probes)
	}
	// The cut phase has deferred answers, the others do not need them.
	var raw map[string]any
	readJSON(t, filepath.Join(out, "summary.json"), &raw)
	for _, k := range []string{"verdict", "scenario", "target", "profile", "requests", "latency_ms", "late_sends", "consistency", "security", "thresholds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary.json lacks %q", k)
		}
	}
	// results.gob is vegeta's format, one record per attempt.
	f, err := os.Open(filepath.Join(out, "results.gob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	n := uint64(0)
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			break
		}
		n++
	}
	if int64(n) < sum.Requests.Total || n == 0 {
		t.Errorf("results.gob holds %d records, summary counts %d requests", n, sum.Requests.Total)
	}
	ts, err := os.ReadFile(filepath.Join(out, "timeseries.csv"))
	if err != nil || !strings.HasPrefix(string(ts), "sim_time,class,offered") || strings.Count(string(ts), "\n") < 10 {
		t.Errorf("timeseries.csv: %v %.200s", err, ts)
	}
}

// TestURLTargetRefusesFaults: a deployment at a URL cannot be hurt, and
// the run says so before any load starts.
func TestURLTargetRefusesFaults(t *testing.T) {
	sc, err := spec.Parse([]byte(miniOutage), "mini-outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Run(context.Background(), Options{Scenario: sc, Target: "url=http://127.0.0.1:1", Out: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "url target cannot be hurt") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the refusal came late")
	}
	var target error = err
	if errors.Is(target, context.Canceled) {
		t.Fatal("wrong error kind")
	}
}

func simclockAt(start time.Time, scale float64) simclock.Clock {
	return simclock.Clock{SimStart: start, WallStart: time.Unix(1_700_000_000, 0), Scale: scale}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

const miniCapacity = `
name: mini-capacity
description: A short capacity search.
clock: {date: 2021-06-16, start: "10:00", timescale: 60}
system:
  profile: hardened
  signers: 2
  hsm: {slots: 4, latency: 20ms}
  portal:
    pharmacy_quota: {enabled: false}
    anomaly: {enabled: false}
traffic:
  - name: issue
    kind: issue
    pharmacies: 10
    client: {timeout: 5s, retries: {max: 0}}
capacity:
  class: issue
  start_rate: 5
  max_rate: 2000
  growth: 3
  step: 2s
  min_requests: 20
  min_duration: 2s
  max_steps: 8
  precision: 0.1
  slo: {p99: 1s, min_success: 0.99, min_goodput: 0.95}
`

// TestCapacityLocal: the search brackets the capacity of a system whose
// HSM model caps it (2 signers x 4 slots / 20 ms = 400 signatures/s at
// most) and sizes the signers for a forecast. The SLO's p99 is loose (1 s)
// so the first step passes on a busy machine too.
func TestCapacityLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniCapacity), "mini-capacity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := spec.Builtin("launch-day")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := RunCapacity(context.Background(), CapacityOptions{Scenario: sc, Forecast: fc, DemandScale: 100,
		Target: "local", Out: out, Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("capacity"), Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatalf("capacity: %v", err)
	}
	// The HSMs sign at most 400/s. The probe counts late answers of a step
	// too, so the latency bound is what limits: at r/s for a 2 s step the
	// last 1% wait 2(r-400)/400 s, and p99 within 1 s keeps r below
	// 400 x 1.5 / 0.99. (A busy machine lowers the capacity, never raises it.)
	if most := 400 * (1 + 1.0/2) / 0.99; res.CapacityRPS < 5 || res.CapacityRPS > most {
		t.Errorf("capacity %.1f/s outside what the HSM model allows (5..%.0f)", res.CapacityRPS, most)
	}
	if len(res.Steps) < 3 {
		t.Errorf("only %d steps", len(res.Steps))
	}
	pass, fail := false, false
	for _, s := range res.Steps {
		if s.OK && s.Rate <= res.CapacityRPS+0.01 {
			pass = true
		}
		if !s.OK && s.Rate > res.CapacityRPS {
			fail = true
		}
		if s.OK && s.Rate > res.CapacityRPS+0.01 {
			t.Errorf("a passing step at %.1f/s above the capacity %.1f/s", s.Rate, res.CapacityRPS)
		}
	}
	if !pass || !fail {
		t.Errorf("the search did not bracket the capacity: %+v", res.Steps)
	}
	// launch-day x100 peaks at thousands per second: far beyond this system.
	if res.ForecastPeakRPS < 1000 || res.Headroom >= 1 || res.Verdict != "fail" || res.NeededSigners <= 2 {
		t.Errorf("forecast verdict %+v", res)
	}
	var onDisk CapacityResult
	readJSON(t, filepath.Join(out, "capacity.json"), &onDisk)
	if onDisk.CapacityRPS != res.CapacityRPS || len(onDisk.Steps) != len(res.Steps) {
		t.Errorf("capacity.json differs from the result")
	}
}

// TestChaosSchedule: simulated fault times become wall offsets; a kill a
// later restart ends is one kill whose undo (start) runs at the restart;
// "signers" expands per replica; links stay whole for chaos to expand.
func TestChaosSchedule(t *testing.T) {
	sc, err := spec.Parse([]byte(`
name: sched
description: Fault schedule conversion.
clock: {date: 2021-06-15, start: "10:00", end: "12:00", timescale: 60}
system: {profile: hardened, signers: 3}
traffic:
  - {name: issue, kind: issue, pharmacies: 1, demand: [{at: "10:00", rate: 1}, {at: "12:00", rate: 1}]}
faults:
  - {kind: kill, target: signer-2, at: "10:40"}
  - {kind: restart, target: signer-2, at: "11:20"}
  - {kind: pause, target: signers, at: "11:30", until: "11:31"}
  - {kind: latency, target: "portal->signers", at: "11:00", until: "11:10", params: {latency: 100ms, jitter: 10ms}}
  - {kind: reset, target: "client->portal", at: "11:40", until: "11:45", params: {after: 250ms, toxicity: 0.25}}
`), "sched.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := simclockAt(sc.Clock.Start, 60)
	got := chaosFaults(sc.Faults, spec.System{Signers: 3}, clock)
	if len(got) != 6 {
		t.Fatalf("%d faults: %+v", len(got), got)
	}
	if got[0].Kind != "kill" || got[0].Target != "signer-2" || got[0].Start != 40*time.Second || got[0].Duration != 40*time.Second {
		t.Errorf("kill: %+v", got[0])
	}
	for i, want := range []string{"signer-1", "signer-2", "signer-3"} {
		if f := got[1+i]; f.Kind != "pause" || f.Target != want || f.Start != 90*time.Second || f.Duration != time.Second {
			t.Errorf("pause %d: %+v", i, f)
		}
	}
	if f := got[4]; f.Target != "portal->signers" || f.Params.Latency != 100*time.Millisecond || f.Params.Jitter != 10*time.Millisecond || f.Params.Toxicity != 1 || f.Duration != 10*time.Second {
		t.Errorf("latency: %+v", f)
	}
	// The parameters reach chaos as written, toxicity included.
	if f := got[5]; f.Kind != fault.Reset || f.Params != (fault.Params{After: 250 * time.Millisecond, Toxicity: 0.25}) || f.Start != 100*time.Second {
		t.Errorf("reset: %+v", f)
	}
}

// TestChaosSchedulePortals: with several portals a fault on one portal
// reaches that replica alone, and one on client->portal every client link,
// each its own chaos fault (chaos knows no "every portal" link).
func TestChaosSchedulePortals(t *testing.T) {
	sc, err := spec.Parse([]byte(`
name: sched
description: Fault schedule with two portals.
clock: {date: 2021-06-15, start: "10:00", end: "12:00", timescale: 60}
system: {profile: hardened, signers: 2, portals: 2}
traffic:
  - {name: issue, kind: issue, pharmacies: 1, demand: [{at: "10:00", rate: 1}, {at: "12:00", rate: 1}]}
faults:
  - {kind: kill, target: portal-2, at: "10:40"}
  - {kind: restart, target: portal-2, at: "11:20"}
  - {kind: partition, target: "client->portal", at: "11:30", until: "11:31"}
`), "sched.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := chaosFaults(sc.Faults, sc.System, simclockAt(sc.Clock.Start, 60))
	if len(got) != 3 {
		t.Fatalf("%d faults: %+v", len(got), got)
	}
	if got[0].Kind != "kill" || got[0].Target != "portal-2" || got[0].Duration != 40*time.Second {
		t.Errorf("kill: %+v", got[0])
	}
	for i, want := range []string{"client->portal-1", "client->portal-2"} {
		if f := got[1+i]; f.Kind != fault.Partition || f.Target != want {
			t.Errorf("partition %d: %+v, want target %s", i, f, want)
		}
	}
}

// TestInterruptUndoesFaults: Ctrl-C in the middle of a fault stops the
// load, undoes the fault, still writes the run directory (marked
// interrupted) and removes the testbed (TestMain checks the leftovers).
func TestInterruptUndoesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(strings.Replace(miniOutage, `until: "11:35"`, `until: "11:55"`, 1)), "mini-outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	sum, err := Run(ctx, Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("interrupt"),
		Progress: func(line string) {
			// Cancel once the load is past the fault's start (11:20).
			if strings.HasPrefix(line, "11:3") {
				once.Do(cancel)
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sum == nil || !sum.Interrupted || sum.Verdict != "fail" || sum.Requests.Total == 0 {
		t.Fatalf("summary %+v", sum)
	}
	var ev rundir.Events
	readJSON(t, filepath.Join(out, "events.json"), &ev)
	if len(ev.Faults) != 1 || ev.Faults[0].WallEnd.IsZero() {
		t.Fatalf("the fault was not undone: %+v", ev.Faults)
	}
	if !ev.Faults[0].End.Before(time.Date(2021, 6, 15, 11, 55, 0, 0, ev.Faults[0].End.Location())) {
		t.Errorf("the fault ended at %v, its scheduled end, not at the interrupt", ev.Faults[0].End)
	}
	if _, err := os.Stat(filepath.Join(out, "results.gob")); err != nil {
		t.Error(err)
	}
}

// TestAbortOnFail: a failing threshold marked abortOnFail stops the load
// early; the run still writes its directory and fails with the reason.
func TestAbortOnFail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	src := strings.Replace(miniOutage, "profile: hardened", "profile: naive-2021", 1)
	src = strings.Replace(src, "  - lost == 0\n", "  - lost == 0\n  - rate(status>=500) < 5% over 5m abortOnFail\n", 1)
	sc, err := spec.Parse([]byte(src), "mini-abort.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	start := time.Now()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("abort")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Aborted == "" || sum.Verdict != "fail" || !strings.Contains(sum.Aborted, "rate(status>=500)") {
		t.Fatalf("aborted %q verdict %s reasons %v", sum.Aborted, sum.Verdict, sum.Reasons)
	}
	// The cut starts 3.3 s into a 10 s load; the abort comes within the
	// cut, well before the scheduled end.
	if sum.Requests.Actions >= 140 {
		t.Errorf("%d actions: the load ran to its end", sum.Requests.Actions)
	}
	t.Logf("aborted after %v: %s", time.Since(start).Round(time.Second), sum.Aborted)
}

// The register a testbed generates holds every pharmacy the scenario
// onboards: serve's settings take the scenario's size.
func TestServeConfigSizesTheRegister(t *testing.T) {
	sc, err := spec.Parse([]byte(`name: big
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
traffic:
  - {name: issue, kind: issue, pharmacies: 3000, demand: [{at: "08:00", rate: 1}, {at: "09:00", rate: 1}]}
`), "big.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := serveConfig(sc, "hardened")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.Defaults("hardened")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyFile(cfg, "scenario.json"); err != nil {
		t.Fatalf("serve refuses the engine's config: %v", err)
	}
	if s.RegisterSize != 3000 {
		t.Fatalf("register_size %d, want 3000", s.RegisterSize)
	}
}
