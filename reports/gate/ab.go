package gate

import (
	"fmt"
	"math"
)

// The A/B comparison (golive gate --ab, docs/gate.md): two builds take
// turns on one machine, and each pair of turns gives one ratio per figure
// (candidate / baseline): the CPU per request of each part of the system,
// from the kernel's accounting, and the median latency. Whatever else the
// machine does hits both turns of a pair alike, so the ratios are far less
// noisy than either build's figures. After every pair the gate asks, per
// figure, for a one-sided 99% confidence bound on each side of the
// geometric mean ratio (Student's t over the log ratios):
//
//   - regression: the lower bound is above 1 + limit/2, so the candidate
//     is worse, and by more than half the limit;
//   - no regression: the upper bound is below 1 + limit: whatever the
//     difference is, it is less than the limit;
//   - otherwise undecided, and another pair runs.
//
// The comparison stops at the first regression or once every cost figure
// is cleared; when the budget runs out first, an undecided figure fails
// only if it is significantly worse at all (lower bound above 1) and its
// estimate is beyond half the limit.

// ABPair holds one pair of turns' figures: metric -> {baseline, candidate}.
type ABPair map[string][2]float64

// Kinds of A/B figure.
const (
	ABCost    = "cost"
	ABLatency = "latency"
)

// ABMetric names a figure the comparison judges.
type ABMetric struct {
	Name string // "cpu/request system", "p50 latency"
	Kind string // ABCost or ABLatency
}

// AB states of a figure.
const (
	ABRegression   = "regression"
	ABNoRegression = "no regression"
	ABUndecided    = "undecided"
)

// ABCheck is one figure's judgement after n pairs.
type ABCheck struct {
	Metric ABMetric
	Pairs  int
	// Baseline and Candidate are the medians of the turns' figures.
	Baseline, Candidate float64
	// Ratio is the geometric mean of candidate/baseline over the pairs;
	// Lo and Hi its one-sided 99% bounds.
	Ratio, Lo, Hi float64
	State         string
	// Final: decided by the end-of-budget rule, not a bound.
	Final bool
}

// Fails reports whether the check fails the gate.
func (c ABCheck) Fails() bool { return c.State == ABRegression }

// ABMinPairs is the fewest pairs a bound is computed from.
const ABMinPairs = 3

// JudgeAB judges every metric over the pairs so far at limit (0.1 =
// 10%). final applies the end-of-budget rule to undecided figures.
func JudgeAB(pairs []ABPair, metrics []ABMetric, limit float64, final bool) []ABCheck {
	out := make([]ABCheck, 0, len(metrics))
	for _, m := range metrics {
		var logs, as, bs []float64
		for _, p := range pairs {
			v, ok := p[m.Name]
			if !ok || v[0] <= 0 || v[1] <= 0 {
				continue
			}
			logs = append(logs, math.Log(v[1]/v[0]))
			as, bs = append(as, v[0]), append(bs, v[1])
		}
		c := ABCheck{Metric: m, Pairs: len(logs), State: ABUndecided, Lo: 0, Hi: math.Inf(1)}
		if len(logs) > 0 {
			c.Baseline, c.Candidate = median(as), median(bs)
			mean, se := meanSE(logs)
			c.Ratio = math.Exp(mean)
			if len(logs) >= ABMinPairs {
				t := tCrit99(len(logs) - 1)
				c.Lo, c.Hi = math.Exp(mean-t*se), math.Exp(mean+t*se)
				switch {
				case c.Lo > 1+limit/2:
					c.State = ABRegression
				case c.Hi < 1+limit:
					c.State = ABNoRegression
				}
			}
		}
		if final && c.State == ABUndecided {
			c.Final = true
			c.State = ABNoRegression
			if c.Pairs >= ABMinPairs && c.Lo > 1 && c.Ratio > 1+limit/2 {
				c.State = ABRegression
			}
		}
		out = append(out, c)
	}
	return out
}

// ABDone reports whether the answer is clear: a figure regressed, or
// every cost figure is cleared.
func ABDone(checks []ABCheck) bool {
	cleared, costs := 0, 0
	for _, c := range checks {
		if c.State == ABRegression {
			return true
		}
		if c.Metric.Kind == ABCost {
			costs++
			if c.State == ABNoRegression {
				cleared++
			}
		}
	}
	return costs > 0 && cleared == costs
}

// ABFailed reports whether any check fails the gate.
func ABFailed(checks []ABCheck) bool {
	for _, c := range checks {
		if c.Fails() {
			return true
		}
	}
	return false
}

// Line is the check as golive gate --ab prints it.
func (c ABCheck) Line() string {
	result := "PASS"
	if c.Fails() {
		result = "FAIL"
	}
	unit, scale := "µs", 1e6
	if c.Metric.Kind == ABLatency {
		unit, scale = "ms", 1e3
	}
	how := ""
	if c.Final {
		how = ", decided at the end of the budget"
	}
	hi := "∞"
	if !math.IsInf(c.Hi, 1) {
		hi = fmt.Sprintf("%.3f", c.Hi)
	}
	return fmt.Sprintf("%s  %-22s  %.0f -> %.0f %s  ratio %.3f [%.3f, %s]  %d pairs  %s%s",
		result, c.Metric.Name, c.Baseline*scale, c.Candidate*scale, unit, c.Ratio, c.Lo, hi, c.Pairs, c.State, how)
}

func meanSE(xs []float64) (mean, se float64) {
	n := float64(len(xs))
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, math.Inf(1)
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}

// t99 are Student's t quantiles at 0.99 for 1..30 degrees of freedom.
var t99 = [...]float64{31.821, 6.965, 4.541, 3.747, 3.365, 3.143, 2.998, 2.896, 2.821, 2.764,
	2.718, 2.681, 2.650, 2.624, 2.602, 2.583, 2.567, 2.552, 2.539, 2.528,
	2.518, 2.508, 2.500, 2.492, 2.485, 2.479, 2.473, 2.467, 2.462, 2.457}

// tCrit99 is the one-sided 99% critical value of Student's t with df
// degrees of freedom (rounded up between the tabulated points).
func tCrit99(df int) float64 {
	switch {
	case df < 1:
		return math.Inf(1)
	case df <= len(t99):
		return t99[df-1]
	case df <= 40:
		return 2.457
	case df <= 60:
		return 2.423
	case df <= 120:
		return 2.390
	}
	return 2.358
}
