package spec

import (
	"strings"
	"testing"
	"time"
)

const vendorBase = `
name: v
clock: {date: 2021-07-29, start: "08:00", end: "12:00", timescale: 360}
traffic:
  - name: vendors
    kind: vendor
    pharmacies: 10
    stop_direct_at: "09:00"
    vendors:
      - {name: ready, share: 0.5}
      - {name: late, share: 0.3, ready_at: "10:00", backlog: [{shape: step, from: "10:00", until: "11:00", rate: 4}]}
      - {name: odd, share: 0.2, fault: incompatible, fault_until: "10:00"}
    demand:
      - {shape: step, from: "08:00", until: "12:00", rate: 10}
`

// TestParseVendorClass reads a vendor class: its vendors, their readiness,
// faults and backlogs, the direct-access stop, the pharmacies split by
// share, and demand that adds the backlogs to the class's curve.
func TestParseVendorClass(t *testing.T) {
	s, err := Parse([]byte(vendorBase), "v.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Traffic[0]
	if c.Kind != KindVendor || c.Vendor == nil || len(c.Vendor.Vendors) != 3 {
		t.Fatalf("class: %+v", c)
	}
	vc := c.Vendor
	at := func(hm string) time.Time {
		t.Helper()
		tm, err := parseWhen(hm, s.Clock.Start, true)
		if err != nil {
			t.Fatal(err)
		}
		return tm.In(s.Clock.Location)
	}
	if !vc.StopDirectAt.Equal(at("09:00")) {
		t.Errorf("stop_direct_at %v", vc.StopDirectAt)
	}
	late, odd := vc.Vendors[1], vc.Vendors[2]
	if late.FaultAt(at("09:59")) != VendorDown || late.FaultAt(at("10:00")) != "" {
		t.Errorf("late: before ready %q, at ready %q", late.FaultAt(at("09:59")), late.FaultAt(at("10:00")))
	}
	if odd.FaultAt(at("08:30")) != VendorIncompatible || odd.FaultAt(at("10:00")) != "" {
		t.Errorf("odd: %q then %q", odd.FaultAt(at("08:30")), odd.FaultAt(at("10:00")))
	}
	if got := vc.PharmaciesOf(10); got[0]+got[1]+got[2] != 10 || got[0] != 5 || got[2] < 1 {
		t.Errorf("pharmacies %v", got)
	}
	if r := c.DemandAt(at("10:30")); r != 14 {
		t.Errorf("demand at 10:30 = %v, want 10 + backlog 4", r)
	}
	if r := late.Rate(c.Demand, vc.TotalShare(), at("10:30")); r < 6.99 || r > 7.01 {
		t.Errorf("late's rate at 10:30 = %v, want 0.3*10 + 4", r)
	}
}

// TestParseVendorClassErrors: what a vendor class may not say, each
// reported at its line.
func TestParseVendorClassErrors(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"vendors on an issue class", "kind: vendor", "kind: issue", "only a vendor class has vendors"},
		{"no vendors", "    vendors:\n      - {name: ready, share: 0.5}\n      - {name: late, share: 0.3, ready_at: \"10:00\", backlog: [{shape: step, from: \"10:00\", until: \"11:00\", rate: 4}]}\n      - {name: odd, share: 0.2, fault: incompatible, fault_until: \"10:00\"}\n", "", "needs \"vendors\""},
		{"unknown fault", "fault: incompatible", "fault: flaky", "unknown fault \"flaky\""},
		{"share above 1", "share: 0.5", "share: 1.5", "must be in (0, 1]"},
		{"bad name", "name: ready,", "name: Ready,", "lower-case"},
		{"duplicate name", "name: odd,", "name: ready,", "already named"},
		{"too few pharmacies", "pharmacies: 10", "pharmacies: 2", "cannot be shared among 3 vendors"},
		{"window without fault", "fault: incompatible, fault_until", "fault_until", "need a fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(vendorBase, tc.from, tc.to, 1)
			_, err := Parse([]byte(src), "v.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
