package gate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// abPairs makes n pairs whose candidate/baseline ratio is ratio times a
// log-normal noise of sd sigma.
func abPairs(seed uint64, n int, ratio, sigma float64) []ABPair {
	rnd := rand.New(rand.NewPCG(seed, 7))
	out := make([]ABPair, n)
	for i := range out {
		a := 1e-3 * math.Exp(rnd.NormFloat64()*0.2) // the machine's state moves both
		b := a * ratio * math.Exp(rnd.NormFloat64()*sigma)
		out[i] = ABPair{"cpu": {a, b}}
	}
	return out
}

var abCPU = []ABMetric{{Name: "cpu", Kind: ABCost}}

func TestJudgeABDecides(t *testing.T) {
	// A clear 25% regression with 5% noise per pair: found in a few pairs.
	c := JudgeAB(abPairs(1, 4, 1.25, 0.05), abCPU, 0.10, false)[0]
	if c.State != ABRegression || !ABDone([]ABCheck{c}) || !ABFailed([]ABCheck{c}) {
		t.Errorf("25%% regression: %+v", c)
	}
	// No difference: cleared once the upper bound is below 1.10.
	c = JudgeAB(abPairs(2, 8, 1.0, 0.05), abCPU, 0.10, false)[0]
	if c.State != ABNoRegression || !ABDone([]ABCheck{c}) || ABFailed([]ABCheck{c}) {
		t.Errorf("no difference: %+v", c)
	}
	// Too few pairs: undecided whatever the values.
	c = JudgeAB(abPairs(3, ABMinPairs-1, 2, 0.01), abCPU, 0.10, false)[0]
	if c.State != ABUndecided || ABDone([]ABCheck{c}) {
		t.Errorf("%d pairs: %+v", ABMinPairs-1, c)
	}
	// A 7% regression in 40% noise stays undecided ...
	c = JudgeAB(abPairs(4, 6, 1.07, 0.4), abCPU, 0.10, false)[0]
	if c.State != ABUndecided {
		t.Fatalf("noisy: %+v", c)
	}
	// ... and the end of the budget does not fail it without significance.
	if c = JudgeAB(abPairs(4, 6, 1.07, 0.4), abCPU, 0.10, true)[0]; c.State != ABNoRegression || !c.Final {
		t.Errorf("noisy, final: %+v", c)
	}
	// A significant regression between half the limit and the limit fails
	// at the end of the budget.
	c = JudgeAB(abPairs(5, 30, 1.08, 0.05), abCPU, 0.10, true)[0]
	if c.State != ABRegression || c.Ratio < 1.05 {
		t.Errorf("8%% regression at the end: %+v", c)
	}
}

// TestJudgeABFalseAlarms: on pairs of one build (ratio 1, 10% noise per
// pair, as measured on the shared machine) the sequential test, looked at
// after every pair up to 30, fails under 1% of comparisons; a 25%
// regression is caught in at least 99%.
func TestJudgeABFalseAlarms(t *testing.T) {
	run := func(seed uint64, ratio float64) bool {
		pairs := abPairs(seed, 30, ratio, 0.10)
		for n := ABMinPairs; n <= len(pairs); n++ {
			cs := JudgeAB(pairs[:n], abCPU, 0.10, false)
			if ABDone(cs) {
				return ABFailed(cs)
			}
		}
		return ABFailed(JudgeAB(pairs, abCPU, 0.10, true))
	}
	const trials = 2000
	fa, det := 0, 0
	for s := range uint64(trials) {
		if run(s, 1.0) {
			fa++
		}
		if run(s+trials, 1.25) {
			det++
		}
	}
	t.Logf("false alarms %d/%d, detections %d/%d", fa, trials, det, trials)
	if fa > trials/100 || det < trials*99/100 {
		t.Errorf("false alarms %d/%d (want < 1%%), detections %d/%d (want >= 99%%)", fa, trials, det, trials)
	}
}
