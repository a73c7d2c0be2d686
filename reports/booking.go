package reports

import (
	"fmt"
	"sort"
)

// bookingRow is one booking class of one profile in the report's booking
// table: what its citizens met.
type bookingRow struct {
	Profile, Class                      string
	Citizens, Booked, Visits, Issued    int64
	Tickets, CameInVain, Warned, GaveUp int64
	WaitP50, WaitP99                    string
	BacklogMax, BacklogFinal            int64
	Channels                            string
	InVainBad                           bool
}

// bookingRows are the booking classes of every profile (none without).
func bookingRows(run *Run) []bookingRow {
	runs := run.Profiles
	if len(runs) == 0 {
		runs = []*Run{run}
	}
	var out []bookingRow
	for _, r := range runs {
		if r.Summary == nil {
			continue
		}
		names := make([]string, 0, len(r.Summary.Classes))
		for name, c := range r.Summary.Classes {
			if c.Booking != nil {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			b := r.Summary.Classes[name].Booking
			var chans []string
			for _, ch := range []string{"none", "email", "sms"} {
				if n := b.Channels[ch]; n > 0 {
					chans = append(chans, fmt.Sprintf("%s %d", ch, n))
				}
			}
			row := bookingRow{Profile: r.Name, Class: name, Citizens: b.Citizens, Booked: b.Booked, Visits: b.Visits,
				Issued: b.IssuedAtVisit, Tickets: b.Tickets, CameInVain: b.CameInVain, Warned: b.Warned, GaveUp: b.GaveUp,
				WaitP50: ms(b.WaitMS.P50), WaitP99: ms(b.WaitMS.P99), BacklogMax: b.Backlog.Max, BacklogFinal: b.Backlog.MaxFinal,
				InVainBad: b.CameInVain > 0}
			for i, c := range chans {
				if i > 0 {
					row.Channels += ", "
				}
				row.Channels += c
			}
			out = append(out, row)
		}
	}
	return out
}
