package spec

import (
	"strings"
	"testing"
	"time"
)

// TestPublicKinds: finder and verifier-lists classes parse with a public
// client's defaults and no accounts; `pharmacies` and `mix` are refused
// with their positions; the built-ins that use them parse and threshold
// on their figures.
func TestPublicKinds(t *testing.T) {
	s, err := Parse([]byte(`name: x
clock: {date: 2021-06-15, start: "11:00", end: "12:00"}
traffic:
  - {name: issue, kind: issue, pharmacies: 5, demand: [{shape: step, from: "11:00", until: "12:00", rate: 2}]}
  - name: finder
    kind: finder
    demand:
      - {at: "11:00", rate: 5}
      - {at: "11:30", rate: 5}
      - {at: "11:30", rate: 80}
      - {at: "12:00", rate: 80}
  - {name: lists, kind: verifier-lists, demand: [{shape: step, from: "11:00", until: "12:00", rate: 20}]}
thresholds:
  - dead_listings(finder) == 0
  - cache_hit_rate(lists) >= 90%
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := s.Class("finder")
	if !ok || f.Kind != KindFinder || f.Pharmacies != 0 || f.Client.Timeout != 5*time.Second || !f.Client.HonourRetryAfter || f.Client.PollTickets {
		t.Errorf("finder class %+v", f)
	}
	// The news: the step multiplies the rate at 11:30.
	at := func(hm string) time.Time {
		v, _ := time.ParseInLocation("2006-01-02 15:04", "2021-06-15 "+hm, s.Clock.Location)
		return v
	}
	if r0, r1 := f.Demand.Rate(at("11:29")), f.Demand.Rate(at("11:31")); r0 != 5 || r1 != 80 {
		t.Errorf("finder demand %v before the news, %v after", r0, r1)
	}
	l, ok := s.Class("lists")
	if !ok || l.Kind != KindLists || l.Pharmacies != 0 || l.Mix != (Mix{}) {
		t.Errorf("lists class %+v", l)
	}
	if s.RegisterSize() != DefaultRegisterSize {
		t.Errorf("register size %d: the public classes onboard nobody", s.RegisterSize())
	}

	_, err = Parse([]byte(`name: x
clock: {date: 2021-06-15, start: "11:00", end: "12:00"}
traffic:
  - {name: finder, kind: finder, pharmacies: 3, demand: [{shape: step, from: "11:00", until: "12:00", rate: 5}]}
  - {name: lists, kind: verifier-lists, mix: {v: 1}, demand: [{shape: step, from: "11:00", until: "12:00", rate: 5}]}
  - {name: app, kind: verifier-list, demand: [{shape: step, from: "11:00", until: "12:00", rate: 5}]}
`), "bad.yaml")
	for _, want := range []string{
		`4:34: traffic "finder".pharmacies: a finder class uses no pharmacy accounts`,
		`5:41: traffic "lists".mix: a verifier-lists class issues nothing`,
		`6:23: traffic "app".kind: unknown kind "verifier-list" (did you mean "verifier-lists"?)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}

	for name, kinds := range map[string][]ClassKind{"finder-rush": {KindIssue, KindFinder}, "verifier-morning": {KindIssue, KindLists, KindVerify}} {
		b, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kinds {
			found := false
			for _, c := range b.Traffic {
				found = found || c.Kind == k
			}
			if !found {
				t.Errorf("%s has no %s class", name, k)
			}
		}
		if b.WallDuration(0) > DefaultWallTarget {
			t.Errorf("%s lasts %v on the wall", name, b.WallDuration(0))
		}
	}
}
