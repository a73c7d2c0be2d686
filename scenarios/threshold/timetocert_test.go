package threshold

import (
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
)

// ttcRun writes a run directory whose customers waited 0.5 s at the
// median; 2 % left without a certificate in the afternoon.
func ttcRun(t *testing.T) *RunDir {
	t.Helper()
	dir := t.TempDir()
	ms := func(v float64) *float64 { return &v }
	t0 := time.Date(2021, 6, 15, 8, 0, 0, 0, time.UTC)
	s := &rundir.Summary{Schema: rundir.Schema, Timescale: 180,
		TimeToCert: &rundir.TimeToCert{Actions: 200, WithCert: 198, WithoutCert: 2, LeftShare: 0.01,
			P50: ms(500), P90: ms(3 * 3600e3), P99: nil, Max: nil},
		Phases: []rundir.PhaseSummary{
			{Name: "morning", TimeToCert: &rundir.TimeToCert{Actions: 100, WithCert: 100, P50: ms(400), P90: ms(600), P99: ms(900), Max: ms(1000)}},
			{Name: "afternoon", TimeToCert: &rundir.TimeToCert{Actions: 100, WithCert: 98, WithoutCert: 2, LeftShare: 0.02, P50: ms(4 * 3600e3), P90: ms(5 * 3600e3)}},
		}}
	s.Sim.Start, s.Sim.End = t0, t0.Add(10*time.Hour)
	if err := rundir.WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	if err := rundir.WriteEvents(dir, &rundir.Events{Phases: []rundir.Phase{
		{Name: "morning", Start: t0, End: t0.Add(4 * time.Hour)},
		{Name: "afternoon", Start: t0.Add(4 * time.Hour), End: t0.Add(10 * time.Hour)},
	}}); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func TestTimeToCertThresholds(t *testing.T) {
	rd := ttcRun(t)
	for _, c := range []struct {
		expr, value, scope string
		ok                 bool
	}{
		{"p50(time_to_cert) < 1s", "500ms", "run", true},
		{"p90(time_to_cert) < 15m", "3h0m0s", "run", false},
		{"p99(time_to_cert) < 15m", "beyond the run", "run", false},
		{"max(time_to_cert) < 1440m", "beyond the run", "run", false},
		{"p99(time_to_cert) < 15m per phase", "beyond the run", "phase:afternoon", false},
		{"p50(time_to_cert) < 1s per phase", "4h0m0s", "phase:afternoon", false},
	} {
		e, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		r, err := Evaluate(rd, e)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if r.OK != c.ok || r.Value != c.value || r.Scope != c.scope {
			t.Errorf("%s: ok %v value %q scope %q; want %v %q %q (%s)", c.expr, r.OK, r.Value, r.Scope, c.ok, c.value, c.scope, r.Detail)
		}
	}
	e := MustParse("p95(time_to_cert) < 1s")
	if _, err := Evaluate(rd, e); err == nil || !strings.Contains(err.Error(), "p50, p90, p99 and max") {
		t.Errorf("p95 of the time to certificate: %v", err)
	}
}
