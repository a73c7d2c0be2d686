package reports

import (
	"strings"
	"testing"

	"github.com/golive-dev/golive/reports/rundir"
)

// TestTrafficTable: with profiles compared, summary.md lists every
// profile's classes with requests, bytes, 304s, cache hit rate and dead
// listings, the 2021 finder's dead listings beside the hardened one's none;
// a run directory from before the figures gets no table.
func TestTrafficTable(t *testing.T) {
	rate := func(v float64) *float64 { return &v }
	dead := func(v int64) *int64 { return &v }
	run := func(name string, d int64) *Run {
		return &Run{Name: name, Summary: &rundir.Summary{Profile: name, Verdict: "pass", Classes: map[string]rundir.ClassSummary{
			"finder": {Kind: "finder", Requests: 4450, Bytes: 1276613, NotModified: 2059, CacheHitRate: rate(0.4627),
				DeadListings: dead(d), Finder: &rundir.FinderClass{Answers: 4450, DeadListings: d}},
			"lists": {Kind: "verifier-lists", Requests: 5805, Bytes: 19504, NotModified: 5748, CacheHitRate: rate(0.99),
				SignatureFailures: dead(0), Lists: &rundir.ListsClass{}},
		}}}
	}
	hard, naive := run("hardened", 0), run("naive-2021", 458)
	hard.Profiles = []*Run{hard, naive}
	md := Markdown(hard)
	for _, want := range []string{
		"| hardened | finder | finder | 4,450 | 1.3 MB | 2,059 | 46.3% | 0 of 4,450 | - |",
		"| naive-2021 | finder | finder | 4,450 | 1.3 MB | 2,059 | 46.3% | **458 of 4,450** | - |",
		"| hardened | lists | verifier-lists | 5,805 | 19.5 kB | 5,748 | 99.0% | - | 0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	old := &Run{Name: "old", Summary: &rundir.Summary{Verdict: "pass", Classes: map[string]rundir.ClassSummary{"issue": {Requests: 10}}}}
	if rows := trafficRows(old); rows != nil {
		t.Errorf("a run without the figures gets rows %+v", rows)
	}
}
