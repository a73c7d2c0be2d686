package reports

import (
	"strings"
	"testing"

	"github.com/golive-dev/golive/reports/rundir"
)

// TestBookingTable: a run with a booking class shows its figures per
// profile in summary.md; one without shows no table.
func TestBookingTable(t *testing.T) {
	mk := func(name string, inVain int64) *Run {
		return &Run{Name: name, Summary: &rundir.Summary{Classes: map[string]rundir.ClassSummary{
			"issue":   {},
			"booking": {Booking: &rundir.Booking{Visits: 100, IssuedAtVisit: 40, Tickets: 60 - inVain, CameInVain: inVain, Warned: 3}},
		}}}
	}
	naive, hardened := mk("naive-2021", 37), mk("hardened", 0)
	cmp := &Run{Name: "cmp", Summary: naive.Summary, Profiles: []*Run{naive, hardened}}
	rows := bookingRows(cmp)
	if len(rows) != 2 || rows[0].CameInVain != 37 || !rows[0].InVainBad || rows[1].InVainBad {
		t.Fatalf("rows %+v", rows)
	}
	md := Markdown(cmp)
	for _, want := range []string{"### Booked customers", "| naive-2021 | booking | 100 | 40 | 23 | 37 | 3 |", "| hardened | booking | 100 | 40 | 60 | 0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(Markdown(&Run{Name: "x", Summary: &rundir.Summary{}}), "Booked customers") {
		t.Error("a run without a booking class shows the table")
	}
}
