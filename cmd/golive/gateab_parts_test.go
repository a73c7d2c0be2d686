package main

import (
	"slices"
	"testing"

	"github.com/golive-dev/golive/scenarios/engine"
)

// The issuer's parts above 5% of the system are judged on their own; the
// fault proxy and small parts count only in the total.
func TestABMetricsJudgedParts(t *testing.T) {
	round := engine.ABRound{Requests: 100, CPU: map[string]float64{"portal": 0.6, "signers": 0.3, "proxy": 0.1}}
	var names []string
	for _, m := range abMetrics(engine.ABPair{Baseline: round, Candidate: round}) {
		names = append(names, m.Name)
	}
	want := []string{"cpu/request system", "cpu/request portal", "cpu/request signers", "p50 latency"}
	if !slices.Equal(names, want) {
		t.Errorf("figures %v, want %v", names, want)
	}
	small := engine.ABRound{Requests: 100, CPU: map[string]float64{"portal": 0.97, "signers": 0.03}}
	for _, m := range abMetrics(engine.ABPair{Baseline: small, Candidate: small}) {
		if m.Name == "cpu/request signers" {
			t.Errorf("signers at 3%% of the system judged on their own")
		}
	}
}
