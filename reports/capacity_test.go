package reports_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
)

// A capacity search's directory: summary.json of kind capacity beside a
// capacity.json with steps, the model and the advice.
const capSummary = `{"schema": "golive.summary/v1", "kind": "capacity", "verdict": "pass", "scenario": "capacity",
 "profile": "hardened", "target": "local",
 "requests": {"total": 4000, "ok": 3800, "deferred": 200},
 "latency_ms": {"p50": 57, "p90": 70, "p99": 150},
 "consistency": {"acknowledged": 3800, "verified": 3800, "lost": 0, "duplicates": 0},
 "security": {"fraud_escaped": 0}}`

const capFile = `{"slo": {"p99_ms": 200, "min_success": 0.99}, "forecast_peak_rps": 24, "capacity_rps": 160, "headroom": 6.67,
 "knee_rps": 160, "system_from": "capacity", "signers": 3, "hsm_slots": 10, "hsm_latency_ms": 50,
 "controls_held_out": ["per-pharmacy quota"],
 "bounds": [{"resource": "CPU", "rps": 170, "basis": "0.8 free cores / 4.7 ms CPU per request"}, {"resource": "HSM", "rps": 600, "basis": "3 signers x 10 slots / 50ms"}],
 "binding": {"resource": "CPU", "analytic_rps": 170, "measured_rps": 160, "share": 0.94, "basis": "0.8 free cores / 4.7 ms CPU per request", "why": "The lowest analytic bound."},
 "advice": "capacity 160/s covers the forecast peak 24.0/s 6.7x", "apply": "--signers 1",
 "steps": [
  {"rate": 160, "goodput": 160, "p99_ms": 150, "success": 1, "ok": true, "duration_s": 20, "requests": 3200,
   "outcomes": {"ok": 3200}, "cpu_ms_per_request": 4.7},
  {"rate": 320, "goodput": 30, "p99_ms": 747, "success": 0.3, "ok": false, "duration_s": 20, "requests": 800,
   "outcomes": {"ok": 600, "deferred": 200}, "cause": "slo", "reasons": ["p99 747 ms > 200 ms (+274%)"],
   "notes": ["waited 4.1s for the previous step's backlog to drain"]}
 ]}`

func TestCapacityRunShowsTheSearch(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{rundir.SummaryFile: capSummary, rundir.CapacityFile: capFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 0 {
		t.Errorf("a capacity search was told about missing per-second files: %q", r.Notes)
	}
	md := reports.Markdown(r)
	for _, want := range []string{
		"| Capacity | 160/s (binding: CPU (170/s analytic: 0.8 free cores / 4.7 ms CPU per request; 160/s measured, 94%)) |",
		"| Requests | 4,000 (3,800 issued, 200 deferred, 0 failed) |",
		"### Capacity search",
		"Held out of the measurement: per-pharmacy quota",
		"Analytic bounds: CPU 170/s (0.8 free cores / 4.7 ms CPU per request) · HSM 600/s (3 signers x 10 slots / 50ms)",
		"apply with --signers 1",
		"| 320.0/s | 20.0 s | 800 | 600 | 200 |",
		"FAIL (slo) | p99 747 ms > 200 ms (+274%); waited 4.1s for the previous step's backlog to drain |",
		"`consistency.lost == 0`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q\n%s", want, md)
		}
	}
	for _, unwanted := range []string{"security.fraud_escaped", "Late / dropped sends", "is missing"} {
		if strings.Contains(md, unwanted) {
			t.Errorf("summary.md of a capacity search shows %q", unwanted)
		}
	}
	if err := reports.Write(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, reports.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `id="capacity-steps"`) || !strings.Contains(string(html), "p99 747 ms &gt; 200 ms (&#43;274%)") {
		t.Error("report.html lacks the capacity steps table")
	}
}
