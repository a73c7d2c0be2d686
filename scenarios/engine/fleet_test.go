package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// Two local workers send the mini outage: one run's verdict, and the
// workers' request counts add up to the merged summary's and to the
// records in the merged results.gob.
func TestWorkersLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniOutage), "mini-outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("workers"), Workers: 2})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Verdict != "pass" {
		t.Errorf("verdict %s: %v", sum.Verdict, sum.Reasons)
	}
	if sum.Workers != 2 || len(sum.WorkerHealth) != 2 {
		t.Fatalf("workers %d, health %+v", sum.Workers, sum.WorkerHealth)
	}
	var reqs int64
	for _, w := range sum.WorkerHealth {
		if w.State != rundir.WorkerFinished || w.Requests == 0 || w.Actions == 0 {
			t.Errorf("worker %+v", w)
		}
		reqs += w.Requests
	}
	if reqs != sum.Requests.Total {
		t.Errorf("the workers' requests add up to %d, the summary counts %d", reqs, sum.Requests.Total)
	}
	// The same offered load as one process: 15/s for 10 wall seconds.
	if sum.Requests.Actions < 120 || sum.Requests.Actions > 180 {
		t.Errorf("%d user actions, want about 150", sum.Requests.Actions)
	}
	if sum.Consistency.Acknowledged < 100 || sum.Consistency.Lost != 0 {
		t.Errorf("consistency %+v: the workers' acknowledgements did not reach the check", sum.Consistency)
	}
	f, err := os.Open(filepath.Join(out, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var n, sent int64
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		n++
		if r.Error == "" || !strings.HasPrefix(r.Error, "dropped") {
			sent++
		}
	}
	if sent != sum.Requests.Total {
		t.Errorf("results.gob holds %d sent records (%d in all), summary counts %d requests", sent, n, sum.Requests.Total)
	}
}

// A worker killed mid-run: the run fails with a reason naming the worker
// and the time, and its health says lost.
func TestLostWorkerFailsTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	src := strings.Replace(miniOutage, "faults:\n  - {kind: partition, target: \"portal->signers\", at: \"11:20\", until: \"11:35\"}\n", "", 1)
	sc, err := spec.Parse([]byte(src), "mini-steady.yaml")
	if err != nil {
		t.Fatal(err)
	}
	killed := make(chan time.Time, 1)
	o := Options{Scenario: sc, Target: "local", Out: t.TempDir(), Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("lostworker"), Workers: 2}
	o.workersStarted = func(procs []testbed.WorkerProc, start time.Time) {
		go func() {
			time.Sleep(time.Until(start.Add(3 * time.Second)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := procs[1].Kill(ctx); err != nil {
				t.Errorf("killing worker-2: %v", err)
			}
			killed <- time.Now()
		}()
	}
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	at := <-killed
	if sum.Verdict != "fail" {
		t.Errorf("verdict %s with a worker killed", sum.Verdict)
	}
	var reason string
	for _, r := range sum.Reasons {
		if strings.Contains(r, "worker worker-2 lost at ") {
			reason = r
		}
	}
	if reason == "" {
		t.Fatalf("no reason names worker-2: %v", sum.Reasons)
	}
	w := sum.WorkerHealth[1]
	if w.State != rundir.WorkerLost || w.Lost == nil || w.Lost.Sub(at).Abs() > 3*time.Second {
		t.Errorf("worker-2 health %+v, killed at %s", w, at.Format(time.RFC3339Nano))
	}
	if !strings.Contains(reason, w.Lost.UTC().Format("15:04:05")) {
		t.Errorf("reason %q lacks the time %s", reason, w.Lost.UTC().Format("15:04:05"))
	}
	if sum.WorkerHealth[0].State != rundir.WorkerFinished {
		t.Errorf("worker-1 %+v", sum.WorkerHealth[0])
	}
	t.Logf("reason: %s", reason)
}

// miniSteadyIssue is the failover tests' load: 15 issuances a second from
// 8 pharmacies for the hour 10:00-11:00, retried with their keys.
const miniSteadyIssue = `traffic:
  - name: issue
    kind: issue
    pharmacies: 8
    demand:
      - {at: "10:00", rate: 15}
      - {at: "11:00", rate: 15}
    client: {timeout: 10s, retries: {max: 3, backoff_base: 200ms, backoff_max: 1s}, poll_tickets: true, honour_retry_after: true}
`

// miniPortalFailover is portal-failover in 12 wall seconds: two portals on
// one PostgreSQL registry, portal-2 killed for a third of the run.
const miniPortalFailover = `
name: mini-portal-failover
description: One of two portals is killed under load.
clock: {date: 2021-06-16, start: "10:00", end: "11:00", timescale: 300}
system:
  profile: hardened
  portals: 2
  signers: 1
  hsm: {slots: 10, latency: 5ms}
` + miniSteadyIssue + `faults:
  - {kind: kill, target: portal-2, at: "10:20"}
  - {kind: restart, target: portal-2, at: "10:40"}
thresholds:
  - lost == 0
  - past_timeout == 0
checks: [consistency, no_request_outlives_timeout]
`

// Two workers against two portals, one of them killed: each worker
// spreads its requests over both portals (its failovers reach the
// summary), nothing acknowledged is lost and no request outlives its
// timeout, as with one process.
func TestWorkersSeveralPortals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	testbedtest.RequirePostgres(t)
	sc, err := spec.Parse([]byte(miniPortalFailover), "mini-portal-failover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: t.TempDir(), Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("workersportals"), Workers: 2})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Verdict != "pass" {
		t.Errorf("verdict %s: %v", sum.Verdict, sum.Reasons)
	}
	if sum.System == nil || sum.System.Portals != 2 || sum.Workers != 2 {
		t.Fatalf("system %+v, workers %d: want 2 portals and 2 workers", sum.System, sum.Workers)
	}
	if sum.Requests.Failovers == 0 {
		t.Errorf("no failovers with portal-2 down for a third of the run: the workers did not spread over both portals")
	}
	if sum.Requests.PastTimeout != 0 || sum.Consistency.Lost != 0 || sum.Consistency.Acknowledged < 100 {
		t.Errorf("past timeout %d, consistency %+v", sum.Requests.PastTimeout, sum.Consistency)
	}
	for _, w := range sum.WorkerHealth {
		if w.State != rundir.WorkerFinished || w.Requests == 0 {
			t.Errorf("worker %+v", w)
		}
	}
}

// miniRegistryFailover is registry-failover in 15 wall seconds: the
// PostgreSQL primary killed at a third of the run, its synchronous
// standby promoted.
const miniRegistryFailover = `
name: mini-registry-failover
description: The registry's primary is killed under load.
clock: {date: 2021-06-14, start: "10:00", end: "11:00", timescale: 240}
system:
  profile: hardened
  signers: 1
  hsm: {slots: 10, latency: 5ms}
  registry: postgres
  registry_standby: true
` + miniSteadyIssue + `faults:
  - {kind: kill-primary, target: registry, at: "10:20"}
thresholds:
  - lost == 0
checks: [consistency]
`

// TestRunRegistryFailoverLocal: the engine's fault runner reaches the
// testbed's registry cluster (a wrapper once hid it and kill-primary never
// ran, silently): the primary is killed, the standby promoted, nothing
// acknowledged is lost, and summary.json has the recovery.
func TestRunRegistryFailoverLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	testbedtest.RequirePostgres(t)
	sc, err := spec.Parse([]byte(miniRegistryFailover), "mini-registry-failover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("regfailover")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.FaultError != "" || sum.Verdict != "pass" {
		t.Errorf("verdict %s, fault error %q: %v", sum.Verdict, sum.FaultError, sum.Reasons)
	}
	ev, err := rundir.ReadEvents(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Faults) != 1 || ev.Faults[0].Kind != "kill-primary" || ev.Faults[0].Error != "" {
		t.Errorf("faults in events.json: %+v", ev.Faults)
	}
	if len(ev.Failovers) == 0 {
		t.Errorf("no promotion in events.json")
	}
	if sum.Recovery == nil || !sum.Recovery.Recovered {
		t.Errorf("recovery %+v", sum.Recovery)
	}
	if sum.Consistency.Lost != 0 || sum.Consistency.Acknowledged < 100 {
		t.Errorf("consistency %+v", sum.Consistency)
	}
}

// TestRunBrowsersAcknowledged: a certificate a browser journey was shown
// is acknowledged like a 201, so the after-run check looks for it: the
// run's acknowledgements are the API's plus the browsers' PDFs.
func TestRunBrowsersAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed and Chromium")
	}
	if loadgen.ChromiumPath() == "" {
		if os.Getenv("GOLIVE_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("GOLIVE_REQUIRE_CHROMIUM=1 but no chromium on PATH (make test-deps)")
		}
		t.Skip("no chromium on PATH (set GOLIVE_REQUIRE_CHROMIUM=1 to fail instead)")
	}
	src := strings.Replace(miniOutage, "faults:\n  - {kind: partition, target: \"portal->signers\", at: \"11:20\", until: \"11:35\"}\n", "", 1)
	src = strings.Replace(src, "timescale: 360", "timescale: 200", 1) // 18 s: time for several journeys
	sc, err := spec.Parse([]byte(src), "mini-browsers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: t.TempDir(), Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("browsersack"), Browsers: 1})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Browsers == nil || sum.Browsers.PDF == 0 {
		t.Fatalf("browsers %+v: no journey got its PDF", sum.Browsers)
	}
	// The load's certificates and the steady-state probes' own issuances.
	api := sum.Requests.OK + sum.Requests.TicketDone
	for _, p := range sum.Probes {
		for _, c := range p.Checks {
			if c.Check == "issue" && c.OK {
				api++
			}
		}
	}
	if got := sum.Consistency.Acknowledged - api; got != sum.Browsers.PDF || sum.Consistency.Lost != 0 {
		t.Errorf("acknowledged %d = API and probes %d + %d, want the browsers' %d PDFs beside them; consistency %+v",
			sum.Consistency.Acknowledged, api, got, sum.Browsers.PDF, sum.Consistency)
	}
}
