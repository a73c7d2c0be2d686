package engine

import (
	"context"
	"testing"

	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// miniMailout: pharmacies issuing while vaccination centres submit
// batch jobs, and doctors' practices joining half-way on 12 July (the
// portal's default practice date), all on the local testbed.
const miniMailout = `
name: mini-mailout
clock: {date: 2021-07-12, start: "10:00", end: "10:30", timescale: 180}
system:
  profile: hardened
  signers: 1
  hsm: {slots: 10, latency: 5ms}
traffic:
  - name: issue
    kind: issue
    pharmacies: 4
    demand:
      - {shape: step, from: "10:00", until: "10:30", rate: 5}
  - name: doctors
    kind: issue
    party: practice
    pharmacies: 3
    join_at: "10:15"
    demand:
      - {shape: step, from: "10:15", until: "10:30", rate: 3}
  - name: centres
    kind: mailout
    mailout: {items_per_job: 40, centres: 2, poll_every: 200ms}
    demand:
      - {shape: step, from: "10:00", until: "10:20", rate: 20}
thresholds:
  - lost == 0
checks: [consistency]
`

// TestRunMailoutLocal: a mailout class's jobs are submitted, every item
// is issued and counted (nothing lost or duplicated), summary.json holds
// the class's mailout fields, and practices that join at join_at issue
// through the gate.
func TestRunMailoutLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniMailout), "mini-mailout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("mailout")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	c, ok := sum.Classes["centres"]
	if !ok || c.Mailout == nil {
		t.Fatalf("no mailout class in the summary: %+v", sum.Classes)
	}
	m := c.Mailout
	// 20 letters a wall second for 400 s / 180 = 6.7 s: about 133 items.
	if m.Items < 100 || m.Items > 170 || m.Jobs < 3 {
		t.Errorf("%d items in %d jobs, want about 133 in 4", m.Items, m.Jobs)
	}
	if m.JobsRefused != 0 || m.ItemsAccepted != m.Items {
		t.Errorf("refused jobs: %+v", m)
	}
	if m.ItemsDone != m.ItemsAccepted || m.ItemsLost != 0 || m.ItemsPending != 0 || m.DuplicateUVCIs != 0 {
		t.Errorf("items: %+v", m)
	}
	if m.JobsDone != m.JobsAccepted || m.JobCompletion.Max <= 0 || m.ItemLatency.P50 <= 0 || m.ItemLatency.P50 > m.JobCompletion.Max {
		t.Errorf("jobs and latencies: %+v", m)
	}
	if sum.Consistency.Lost != 0 || sum.Verdict != "pass" {
		t.Errorf("verdict %s %v, consistency %+v", sum.Verdict, sum.Reasons, sum.Consistency)
	}
	d, ok := sum.Classes["doctors"]
	if !ok || d.OK < 10 || d.Failed > d.Requests/10 {
		t.Errorf("practices after join_at: %+v", d)
	}
	// The run directory's summary.json reads back with the class's fields.
	got, err := rundir.ReadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	if gm := got.Classes["centres"].Mailout; gm == nil || gm.ItemsDone != m.ItemsDone {
		t.Errorf("summary.json mailout %+v", gm)
	}
}
