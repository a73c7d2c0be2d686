package spec

import (
	"strings"
	"testing"
	"time"
)

const bookingScenario = `
name: b
clock: {date: 2021-06-15, start: "08:00", end: "12:00", timescale: 120}
traffic:
  - name: issue
    kind: issue
    pharmacies: 2
    demand: [{at: "08:00", rate: 1}, {at: "12:00", rate: 1}]
  - name: booked
    kind: booking
    pharmacies: 5
    demand: [{at: "08:00", rate: 1}, {at: "12:00", rate: 1}]
%s
`

func TestBookingClassParses(t *testing.T) {
	s, err := Parse([]byte(strings.Replace(bookingScenario, "%s", `    booking:
      channels: {none: 1, email: 1}
      slot_every: 15m
      slot_capacity: 3
      open: "09:00"
      lead_max: 1h
      staff_cancel_after: 0`, 1)), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Class("booked")
	b := c.Booking
	if c.Kind != KindBooking || b == nil || c.Pharmacies != 5 {
		t.Fatalf("class %+v", c)
	}
	if b.SlotEvery != 15*time.Minute || b.SlotCapacity != 3 || b.LeadMax != time.Hour || b.LeadMin != 30*time.Minute ||
		b.StaffCancelAfter != 0 || b.MaxRebooks != 2 || b.Open.Hour() != 9 || !b.Close.Equal(s.Clock.End) {
		t.Errorf("booking %+v", b)
	}
	if b.Channels.Pick(0.25) != "none" || b.Channels.Pick(0.75) != "email" {
		t.Errorf("channels %+v pick %s %s", b.Channels, b.Channels.Pick(0.25), b.Channels.Pick(0.75))
	}
	if s.RegisterSize() < 7 {
		t.Errorf("the register is not sized for the booking class's pharmacies")
	}
	// Defaults without a booking block.
	s, err = Parse([]byte(strings.Replace(bookingScenario, "%s", "", 1)), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, _ = s.Class("booked")
	if c.Booking == nil || *c.Booking != DefaultBooking(s.Clock) {
		t.Errorf("default booking %+v", c.Booking)
	}
}

func TestBookingClassErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"    booking: {lead_min: 2h, lead_max: 1h}", "lead_max 1h0m0s is shorter than lead_min"},
		{"    booking: {channels: {none: 0}}", "shares sum to 0"},
		{"    booking: {channels: {pigeon: 1}}", "pigeon"},
		{"    booking: {slot_every: 1m, open: \"00:00\", close: \"24:00\"}", "at most 500"},
		{"    booking: {slot_capacity: 0}", "slot_capacity"},
		{"    booking: {open: \"13:00\", close: \"12:00\"}", "close must be after open"},
	} {
		_, err := Parse([]byte(strings.Replace(bookingScenario, "%s", tc.block, 1)), "b.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.block, err, tc.want)
		}
	}
	// Only a booking class takes booking settings.
	bad := strings.Replace(bookingScenario, "    pharmacies: 2\n", "    pharmacies: 2\n    booking: {slot_capacity: 2}\n", 1)
	if _, err := Parse([]byte(strings.Replace(bad, "%s", "", 1)), "b.yaml"); err == nil || !strings.Contains(err.Error(), "only a booking class books") {
		t.Errorf("booking on an issue class: %v", err)
	}
}
