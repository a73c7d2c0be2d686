package spec

import (
	"strings"
	"testing"
	"time"
)

const partyBase = `name: p
clock: {date: 2021-07-12, start: "08:00", end: "10:00"}
traffic:
`

func TestPartyAndMailoutParse(t *testing.T) {
	s, err := Parse([]byte(partyBase+`
  - name: doctors
    kind: issue
    party: practice
    pharmacies: 30
    join_at: "09:00"
    demand: [{shape: step, from: "09:00", until: "10:00", rate: 2}]
  - name: pharmacies
    kind: issue
    demand: [{shape: step, from: "08:00", until: "10:00", rate: 2}]
  - name: centres
    kind: mailout
    mailout: {items_per_job: 500, centres: 3, poll_every: 2s}
    demand: [{shape: step, from: "08:00", until: "10:00", rate: 5}]
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, ph, mo := s.Traffic[0], s.Traffic[1], s.Traffic[2]
	if !doc.IsPractice() || !doc.Joins() || doc.JoinAt.Hour() != 9 || doc.Pharmacies != 30 {
		t.Errorf("practice class %+v", doc)
	}
	if ph.Party != PartyPharmacy || ph.IsPractice() || ph.Joins() {
		t.Errorf("pharmacy class %+v", ph)
	}
	if mo.Kind != KindMailout || mo.Mailout == nil || *mo.Mailout != (Mailout{ItemsPerJob: 500, Centres: 3, PollEvery: 2 * time.Second}) || mo.Pharmacies != 0 {
		t.Errorf("mailout class %+v %+v", mo, mo.Mailout)
	}
	if !s.HasMailout() {
		t.Error("HasMailout false")
	}
	// Practices do not count against the pharmacy register.
	if s.RegisterSize() != DefaultRegisterSize {
		t.Errorf("register size %d", s.RegisterSize())
	}

	d, err := Parse([]byte(partyBase+`
  - name: centres
    kind: mailout
    demand: [{shape: step, from: "08:00", until: "10:00", rate: 5}]
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m := d.Traffic[0].Mailout; m == nil || *m != DefaultMailout {
		t.Errorf("mailout defaults %+v", m)
	}
}

func TestPartyAndMailoutErrors(t *testing.T) {
	step := `    demand: [{shape: step, from: "08:00", until: "10:00", rate: 2}]` + "\n"
	for _, tc := range []struct {
		name, class, want string
	}{
		{"party on verify", "  - name: v\n    kind: verify\n    party: practice\n" + step, "only an issue class issues as a party"},
		{"unknown party", "  - name: i\n    kind: issue\n    party: hospital\n" + step, `"hospital" is neither pharmacy nor practice`},
		{"join_at outside", "  - name: i\n    kind: issue\n    join_at: \"11:00\"\n" + step, "outside the clock's window"},
		{"demand before join_at", "  - name: i\n    kind: issue\n    join_at: \"09:00\"\n" + step, "before join_at"},
		{"join_at on mailout", "  - name: m\n    kind: mailout\n    join_at: \"09:00\"\n" + step, "only an issue class joins"},
		{"too many practices", "  - name: i\n    kind: issue\n    party: practice\n    pharmacies: 501\n" + step, "the practice register holds 500"},
		{"mailout block on issue", "  - name: i\n    kind: issue\n    mailout: {centres: 1}\n" + step, "only a mailout class has one"},
		{"mailout with pharmacies", "  - name: m\n    kind: mailout\n    pharmacies: 3\n" + step, "uses no pharmacy accounts"},
		{"mailout with mix", "  - name: m\n    kind: mailout\n    mix: {v: 1}\n" + step, "issues nothing"},
		{"items per job too large", "  - name: m\n    kind: mailout\n    mailout: {items_per_job: 5001}\n" + step, "items_per_job"},
		{"too many centres", "  - name: m\n    kind: mailout\n    mailout: {centres: 4}\n" + step, "centres"},
		{"unknown mailout key", "  - name: m\n    kind: mailout\n    mailout: {jobs: 4}\n" + step, "jobs"},
		{"poll_every zero", "  - name: m\n    kind: mailout\n    mailout: {poll_every: 0s}\n" + step, "poll_every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(partyBase+tc.class), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "bad.yaml:") {
				t.Errorf("error without a position: %v", err)
			}
		})
	}
}

// launch-week: five days in at most 5 minutes of wall time, the cut-off
// kept meaningful by the clock guard under both profiles, three kinds of
// traffic and reproductions on naive-2021.
func TestLaunchWeek(t *testing.T) {
	s := mustBuiltin(t, "launch-week")
	if got := s.Clock.End.Sub(s.Clock.Start); got != 109*time.Hour {
		t.Errorf("window %v, want Monday 07:00 to Friday 20:00", got)
	}
	if w := s.WallDuration(0); w > 5*time.Minute {
		t.Errorf("wall %v", w)
	}
	for _, p := range []string{"hardened", "naive-2021"} {
		rep, err := s.ClockCheck(p, 0)
		if err != nil || !rep.Meaningful() {
			t.Errorf("%s: clock guard %v %+v", p, err, rep.Warnings)
		}
	}
	kinds := map[ClassKind]bool{}
	for _, c := range s.Traffic {
		kinds[c.Kind] = true
	}
	if !kinds[KindIssue] || !kinds[KindMailout] || !kinds[KindVerify] || !s.HasMailout() {
		t.Errorf("kinds %v", kinds)
	}
	if s.ReproducesFor("naive-2021") != "2021" || s.ReproducesFor("hardened") != "" {
		t.Error("profiles")
	}
	// Monday's morning is launch-day's: the same 07:45-11:00 integral.
	ld := mustBuiltin(t, "launch-day")
	c, _ := s.Class("issue")
	lc, _ := ld.Class("issue")
	from, to := ld.Clock.Start.Add(45*time.Minute), ld.Clock.Start.Add(4*time.Hour)
	if a, b := c.Demand.Total(from, to), lc.Demand.Total(from, to); a < 0.99*b || a > 1.01*b {
		t.Errorf("Monday morning %.0f, launch-day %.0f", a, b)
	}
	// Nights are quiet.
	night := time.Date(2021, 6, 16, 2, 0, 0, 0, s.Clock.Location)
	if r := c.Demand.Rate(night); r != 0 {
		t.Errorf("issue demand %v at 02:00", r)
	}
	if len(s.Faults) != 1 || s.Faults[0].At.Weekday() != time.Tuesday {
		t.Errorf("faults %+v", s.Faults)
	}
}
