package engine

import (
	"context"
	"testing"

	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/scenarios/spec"
)

// miniVendors is stop-and-restart in miniature: direct issuance until
// 08:40, then four vendors' gateways: one ready at once, one ready at
// 09:30 (down before), one sending DD.MM.YYYY dates until 09:30, one slow
// (held past the client's 2 s timeout) 09:00-09:30.
const miniVendors = `
name: mini-vendors
clock: {date: 2021-07-29, start: "08:00", end: "10:30", timescale: 360}
system:
  profile: hardened
  signers: 1
  hsm: {slots: 10, latency: 5ms}
traffic:
  - name: direct
    kind: issue
    pharmacies: 3
    demand:
      - {shape: step, from: "08:00", until: "09:00", rate: 3}
    client: {timeout: 5s, retries: {max: 0, backoff_base: 1s, backoff_max: 1s}}
  - name: vendors
    kind: vendor
    pharmacies: 12
    stop_direct_at: "08:40"
    vendors:
      - {name: steady, share: 0.25}
      - {name: late, share: 0.25, ready_at: "09:30"}
      - {name: odd, share: 0.25, fault: incompatible, fault_until: "09:30"}
      - {name: sluggish, share: 0.25, fault: slow, fault_from: "09:00", fault_until: "09:30"}
    demand:
      - {shape: step, from: "08:00", until: "10:30", rate: 8}
    client: {timeout: 2s, retries: {max: 1, backoff_base: 200ms, backoff_max: 1s}}
thresholds:
  - lost == 0
checks: [consistency]
`

// TestRunVendorsLocal runs vendor classes on the local testbed: every
// vendor fault ends in its own error class in summary.json's vendor rows
// (gateway_down before readiness, 422 incompatible_format, timeout for
// the slow gateway), every vendor issues once it works, direct issuance
// is refused after the stop, and nothing acknowledged is lost.
func TestRunVendorsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniVendors), "mini-vendors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: t.TempDir(), Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("vendors"), Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Consistency.Lost != 0 || sum.Consistency.Acknowledged == 0 || sum.Consistency.Duplicates != 0 {
		t.Errorf("consistency: %+v", sum.Consistency)
	}
	vs := sum.Classes["vendors"].Vendors
	if len(vs) != 4 {
		t.Fatalf("vendor rows: %+v", vs)
	}
	for name, want := range map[string]string{"late": "gateway_down", "odd": "422 incompatible_format", "sluggish": "timeout"} {
		if vs[name].Errors[want] == 0 {
			t.Errorf("%s: errors %v, want some %s", name, vs[name].Errors, want)
		}
	}
	for name, v := range vs {
		if v.Issued == 0 {
			t.Errorf("%s issued nothing: %+v", name, v)
		}
	}
	if s := vs["steady"]; len(s.Errors) != 0 {
		t.Errorf("steady had errors: %v", s.Errors)
	}
	if d := sum.Classes["direct"]; d.OK == 0 || d.OK >= d.Actions {
		t.Errorf("direct: %d of %d issued; want some before the stop and refusals after", d.OK, d.Actions)
	}
}
