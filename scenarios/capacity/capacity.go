// Package capacity finds the highest request rate a target sustains within
// an SLO, by search rather than a fixed ramp: grow the rate geometrically
// until a step fails, then bisect between the last passing and the first
// failing rate. Each step is a bounded, open-model load at a constant rate;
// the probe that runs it is supplied by the caller (vegeta against a URL, or
// a whole scenario step).
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Step is what one constant-rate probe measured.
type Step struct {
	Offered float64       `json:"offered_rps"` // the rate asked for
	Goodput float64       `json:"goodput_rps"` // successful answers per second
	P99     time.Duration `json:"p99"`
	Success float64       `json:"success"` // fraction of requests that succeeded, 0..1
	Pass    bool          `json:"pass"`
}

// SLO is what a step must meet to pass.
type SLO struct {
	P99        time.Duration // p99 latency at most this
	MinSuccess float64       // success ratio at least this (default 0.99)
	// MinGoodput is the fraction of the offered rate that must succeed
	// (default 0.95): a target that answers fast by dropping work fails.
	MinGoodput float64
}

func (s SLO) withDefaults() SLO {
	if s.MinSuccess == 0 {
		s.MinSuccess = 0.99
	}
	if s.MinGoodput == 0 {
		s.MinGoodput = 0.95
	}
	return s
}

// Judge marks a step as passing or not.
func (s SLO) Judge(st Step) Step {
	s = s.withDefaults()
	st.Pass = st.P99 <= s.P99 && st.Success >= s.MinSuccess && st.Goodput >= s.MinGoodput*st.Offered
	return st
}

// Probe runs a constant-rate load of rate requests per second and reports
// what it measured. It must bound itself in time.
type Probe func(ctx context.Context, rate float64) (Step, error)

// Options bound the search.
type Options struct {
	Start    float64 // first rate tried (default 50/s)
	Max      float64 // never probe above this (default 100 000/s)
	Growth   float64 // factor between rates while all pass (default 2)
	Rel      float64 // stop bisecting when the interval is within this fraction (default 0.05)
	MaxSteps int     // total probes allowed (default 16)
	// Progress, when set, is told about each step.
	Progress func(Step)
}

// Result is the search's outcome: the capacity (highest passing rate) and
// every step, sorted by offered rate (the capacity curve).
type Result struct {
	Capacity float64 `json:"capacity_rps"`
	Steps    []Step  `json:"steps"`
	// Bounded is false when even Max passed or Start already failed: the
	// capacity lies outside what was probed.
	Bounded bool `json:"bounded"`
}

// ErrStartFails means the lowest rate already broke the SLO.
var ErrStartFails = errors.New("capacity: the first rate already fails the SLO")

// Search finds the capacity of a target under slo.
func Search(ctx context.Context, probe Probe, slo SLO, o Options) (Result, error) {
	if o.Start <= 0 {
		o.Start = 50
	}
	if o.Max <= 0 {
		o.Max = 100000
	}
	if o.Growth <= 1 {
		o.Growth = 2
	}
	if o.Rel <= 0 {
		o.Rel = 0.05
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = 16
	}
	var res Result
	run := func(rate float64) (Step, error) {
		st, err := probe(ctx, rate)
		if err != nil {
			return st, fmt.Errorf("capacity: probing %.0f/s: %w", rate, err)
		}
		st.Offered = rate
		st = slo.Judge(st)
		res.Steps = append(res.Steps, st)
		if o.Progress != nil {
			o.Progress(st)
		}
		return st, nil
	}
	finish := func() Result {
		sort.Slice(res.Steps, func(i, j int) bool { return res.Steps[i].Offered < res.Steps[j].Offered })
		return res
	}

	// Grow until a step fails.
	good, bad := 0.0, math.Inf(1)
	for rate := o.Start; len(res.Steps) < o.MaxSteps; rate = math.Min(rate*o.Growth, o.Max) {
		st, err := run(rate)
		if err != nil {
			return finish(), err
		}
		if !st.Pass {
			bad = rate
			break
		}
		good = rate
		if rate >= o.Max {
			res.Capacity = good
			return finish(), nil // unbounded above
		}
	}
	if good == 0 {
		return finish(), ErrStartFails
	}
	// Bisect (geometrically: rates span orders of magnitude).
	for len(res.Steps) < o.MaxSteps && !math.IsInf(bad, 1) && (bad-good)/good > o.Rel {
		rate := math.Sqrt(good * bad)
		st, err := run(rate)
		if err != nil {
			return finish(), err
		}
		if st.Pass {
			good = rate
		} else {
			bad = rate
		}
	}
	res.Capacity = good
	res.Bounded = !math.IsInf(bad, 1)
	return finish(), nil
}

// Knee is the step where goodput stops following the offered rate: the
// last passing step (the capacity), or the first when none passed.
func (r Result) Knee() (Step, bool) {
	var knee Step
	found := false
	for _, s := range r.Steps {
		if s.Pass && (!found || s.Offered > knee.Offered) {
			knee, found = s, true
		}
	}
	return knee, found
}
