package engine

import (
	"context"
	"testing"

	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/scenarios/spec"
)

// miniBooking: booked customers come while the portal is cut off from
// its signer; their pharmacies cannot reach them (channel none).
const miniBooking = `
name: mini-booking
description: Booked customers come during a cut-off.
clock: {date: 2021-06-15, start: "11:00", end: "12:40", timescale: 360}
system:
  profile: hardened
  signers: 1
  hsm: {slots: 10, latency: 5ms}
traffic:
  - name: issue
    kind: issue
    pharmacies: 2
    demand:
      - {at: "11:00", rate: 1}
      - {at: "12:40", rate: 1}
  - name: booking
    kind: booking
    pharmacies: 4
    demand:
      - {at: "11:00", rate: 2}
      - {at: "11:40", rate: 2}
    booking: {channels: {none: 1}, slot_every: 5m, slot_capacity: 4, open: "11:00", close: "12:40",
              lead_min: 20m, lead_max: 40m, staff_cancel_after: 0, max_rebooks: 0}
    client: {timeout: 8s, retries: {max: 0}}
faults:
  - {kind: blackhole, target: "portal->signers", at: "11:10", until: "12:40"}
thresholds:
  - lost == 0
`

// TestRunBookingCameInVain: the same booked customers come during the
// same cut-off. Under naive-2021 the portal hangs and fails, nobody was
// warned, and they came in vain; under hardened the portal defers and
// each leaves with a ticket: nobody came in vain. The difference comes
// from the portal's design, not from the booking class.
func TestRunBookingCameInVain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniBooking), "mini-booking.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inVain := map[string]int64{}
	for _, profile := range []string{portalapi.ProfileNaive2021, portalapi.ProfileHardened} {
		sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Profile: profile, Out: t.TempDir(),
			Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("booking-" + profile)})
		if err != nil {
			t.Fatalf("%s: run: %v", profile, err)
		}
		b := sum.Classes["booking"].Booking
		if b == nil || sum.CameInVain == nil {
			t.Fatalf("%s: no booking figures in the summary", profile)
		}
		t.Logf("%s: booking %+v", profile, *b)
		if b.Visits == 0 || b.Booked < b.Visits {
			t.Errorf("%s: %d booked, %d visits: the class did not book and come", profile, b.Booked, b.Visits)
		}
		if *sum.CameInVain != b.CameInVain || b.Warned != 0 {
			t.Errorf("%s: came_in_vain %d, class %d, warned %d (channel none warns nobody)", profile, *sum.CameInVain, b.CameInVain, b.Warned)
		}
		if sum.Consistency.Lost != 0 {
			t.Errorf("%s: %d lost", profile, sum.Consistency.Lost)
		}
		inVain[profile] = b.CameInVain
		if profile == portalapi.ProfileHardened && b.Tickets == 0 {
			t.Errorf("hardened: no visit left with a ticket during the cut-off: %+v", *b)
		}
	}
	if inVain[portalapi.ProfileNaive2021] == 0 || inVain[portalapi.ProfileHardened] != 0 {
		t.Errorf("came in vain: naive-2021 %d, hardened %d; want some and none", inVain[portalapi.ProfileNaive2021], inVain[portalapi.ProfileHardened])
	}
}
