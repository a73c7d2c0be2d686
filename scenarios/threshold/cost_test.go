package threshold

import (
	"errors"
	"strings"
	"testing"
)

// TestCostThresholds: cpu_per_issue(COMPONENT) and cpu_per_request judge
// summary.json's cost with time units; a run without a cost cannot be
// judged, and a cost metric has no per-phase value.
func TestCostThresholds(t *testing.T) {
	sum := baseSummary()
	sum["cost"] = map[string]any{
		"components": map[string]any{
			"portal":   map[string]any{"cpu_ms_per_request": 0.3, "cpu_ms_per_delivered": 0.35},
			"signer-1": map[string]any{"cpu_ms_per_request": 0.1, "cpu_ms_per_delivered": 0.12},
		},
		"signers": map[string]any{"cpu_ms_per_request": 0.1, "cpu_ms_per_delivered": 0.12},
		"system":  map[string]any{"cpu_ms_per_request": 0.5, "cpu_ms_per_delivered": 0.6},
	}
	rd, err := OpenRunDir(writeRun(t, sum, syntheticBuckets(), false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr, value string
		ok          bool
	}{
		{"cpu_per_issue(portal) < 400us", "350µs", true},
		{"cpu_per_issue(portal) < 300us", "350µs", false},
		{"cpu_per_request(portal) < 0.31ms", "300µs", true},
		{"cpu_per_issue(signer-1) <= 120us", "120µs", true},
		{"cpu_per_issue(signers) < 100us", "120µs", false},
		{"cpu_per_issue < 1ms", "600µs", true}, // the system
	} {
		r := eval(t, rd, tc.expr)
		if r.Value != tc.value || r.OK != tc.ok {
			t.Errorf("%s: %s ok=%v, want %s ok=%v (%s)", tc.expr, r.Value, r.OK, tc.value, tc.ok, r.Detail)
		}
	}
	// No such component: not judged.
	if _, err := Evaluate(rd, MustParse("cpu_per_issue(registry) < 1ms")); !errors.Is(err, ErrNoData) {
		t.Errorf("an unknown component: %v", err)
	}
	// A run without a cost.
	rd2, err := OpenRunDir(writeRun(t, baseSummary(), syntheticBuckets(), false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Evaluate(rd2, MustParse("cpu_per_issue(portal) < 1ms")); !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "not in the run's summary") {
		t.Errorf("no cost: %v", err)
	}
	// Parse errors.
	for src, want := range map[string]string{
		"cpu_per_issue(portal) < 400":           "a time needs a unit",
		"cpu_per_issue(portal) < 1ms per phase": "known only for the whole run",
		"cpu_per_issue(portal < 1ms":            `expected ")" after the component`,
		"cpu_per_isue(portal) < 1ms":            `did you mean "cpu_per_issue"`,
	} {
		if _, err := Parse(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}
