package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golive-dev/golive/reports/gate"
	"github.com/golive-dev/golive/scenarios/engine"
)

// abFlags are golive gate --ab's settings.
type abFlags struct {
	on       bool
	target   string
	rate     float64
	round    time.Duration
	budget   time.Duration
	maxPairs int
	logLevel string
}

// abMinShare: a part of the system using less than this share of the
// baseline's CPU is not judged on its own (its few ticks are noise); it
// still counts in the system's total.
const abMinShare = 0.05

// abJudgedParts are the parts judged on their own: the issuer's. The
// testbed's fault proxy counts only in the system's total: it is the
// harness's plumbing, and a figure judged on its own is one more chance
// for one process instance's bias to fail a comparison of a build with
// itself (docs/gate.md: the one A vs A false alarm of 2026-12-03 was the
// proxy's 1.052 at the end of the budget).
var abJudgedParts = []string{"portal", "signers"}

// abMetrics are the figures of a pair: CPU per request of the system and
// of each judged part that carries at least abMinShare of it, and the
// median latency.
func abMetrics(first engine.ABPair) []gate.ABMetric {
	ms := []gate.ABMetric{{Name: "cpu/request system", Kind: gate.ABCost}}
	sys := first.Baseline.CPUPerRequest("system")
	for _, part := range abJudgedParts {
		if sys > 0 && first.Baseline.CPUPerRequest(part) >= abMinShare*sys {
			ms = append(ms, gate.ABMetric{Name: "cpu/request " + part, Kind: gate.ABCost})
		}
	}
	return append(ms, gate.ABMetric{Name: "p50 latency", Kind: gate.ABLatency})
}

// abValues turns the engine's pairs into the gate's figures.
func abValues(pairs []engine.ABPair) []gate.ABPair {
	out := make([]gate.ABPair, 0, len(pairs))
	for _, p := range pairs {
		v := gate.ABPair{
			"cpu/request system": {p.Baseline.CPUPerRequest("system"), p.Candidate.CPUPerRequest("system")},
			"p50 latency":        {p.Baseline.P50.Seconds(), p.Candidate.P50.Seconds()},
		}
		for _, part := range abJudgedParts {
			v["cpu/request "+part] = [2]float64{p.Baseline.CPUPerRequest(part), p.Candidate.CPUPerRequest(part)}
		}
		out = append(out, v)
	}
	return out
}

// runAB compares two builds and prints one line per figure; it returns
// whether the candidate regressed.
func runAB(ctx context.Context, stdout, stderr io.Writer, baseline, candidate string, f abFlags, limit float64) (bool, error) {
	log, _ := newLogger(io.Discard, "info", "text")
	if f.logLevel != "" {
		var err error
		if log, err = newLogger(stderr, f.logLevel, "text"); err != nil {
			return false, usageErr("%v", err)
		}
	}
	var progress func(string)
	if isTerminal(stderr) {
		progress = func(s string) { fmt.Fprintln(stderr, s) }
	}
	var metrics []gate.ABMetric
	decide := func(pairs []engine.ABPair) bool {
		if metrics == nil {
			metrics = abMetrics(pairs[0])
		}
		return gate.ABDone(gate.JudgeAB(abValues(pairs), metrics, limit, false))
	}
	started := time.Now()
	pairs, err := engine.RunAB(ctx, engine.ABOptions{Baseline: baseline, Candidate: candidate, Target: f.target,
		Rate: f.rate, Round: f.round, Budget: f.budget, MaxRounds: f.maxPairs, Decide: decide, Progress: progress, Logger: log})
	if err != nil {
		if errors.Is(err, engine.ErrABSetup) {
			return false, usageErr("gate --ab: %s", strings.TrimPrefix(err.Error(), engine.ErrABSetup.Error()+": "))
		}
		if len(pairs) < gate.ABMinPairs {
			return false, failErr("gate --ab: %v", err)
		}
		fmt.Fprintf(stderr, "golive: gate --ab: %v; judging the %d pairs run\n", err, len(pairs))
	}
	if len(pairs) < gate.ABMinPairs {
		return false, failErr("gate --ab: only %d pairs of turns within the %s budget, %d needed: raise --budget or shorten --round", len(pairs), f.budget, gate.ABMinPairs)
	}
	checks := gate.JudgeAB(abValues(pairs), metrics, limit, !gate.ABDone(gate.JudgeAB(abValues(pairs), metrics, limit, false)))
	for _, c := range checks {
		fmt.Fprintln(stdout, c.Line())
	}
	failed := gate.ABFailed(checks)
	verdict := "PASS: no regression beyond"
	if failed {
		verdict = "FAIL: the candidate regressed beyond half of"
	}
	fmt.Fprintf(stdout, "%s %.0f%% (%d pairs of %s turns at %g/s, %s)\n", verdict, limit*100, len(pairs), f.round, f.rate,
		time.Since(started).Round(time.Second))
	return failed, nil
}
