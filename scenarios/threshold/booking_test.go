package threshold

import (
	"strings"
	"testing"
)

// TestCameInVain: came_in_vain is a whole-run count read from
// summary.json's top level; a run without a booking class lacks it and
// the threshold fails with a reason rather than passing.
func TestCameInVain(t *testing.T) {
	sum := baseSummary()
	sum["came_in_vain"] = 7
	rd, err := OpenRunDir(writeRun(t, sum, syntheticBuckets(), true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{{"came_in_vain == 0", false}, {"came_in_vain > 0", true}, {"came_in_vain <= 10", true}} {
		if r := eval(t, rd, tc.expr); r.OK != tc.ok || r.Value != "7" || r.Scope != "run" {
			t.Errorf("%s: %+v, want ok=%v value 7", tc.expr, r, tc.ok)
		}
	}
	if e := MustParse("came_in_vain == 0"); !e.Metric.WholeRunOnly {
		t.Error("came_in_vain is judged per bucket")
	}
	none, err := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), true))
	if err != nil {
		t.Fatal(err)
	}
	if rs := EvaluateAll(none, []*Expr{MustParse("came_in_vain == 0")}); rs[0].OK || !strings.Contains(rs[0].Detail, "not in the run's summary") {
		t.Errorf("without a booking class: %+v", rs[0])
	}
}
