package gate

import (
	"encoding/json"
	"strings"

	"github.com/golive-dev/golive/scenarios/verdict"
)

// runEvidence reads the evidence records summary.json carries (none for a
// run directory from before them).
func runEvidence(sum map[string]any) []verdict.Evidence {
	raw, ok := sum["evidence"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var evs []verdict.Evidence
	if json.Unmarshal(b, &evs) != nil {
		return nil
	}
	return evs
}

// unjudged marks one of the run's own thresholds inconclusive when the run
// had too few events for it and the shortage forces the result it got, as
// the run itself decided: the gate does not turn a run's "inconclusive"
// into a failure.
func unjudged(c *Check, evs []verdict.Evidence) {
	if v, reasons := verdict.Decide("threshold", c.Name, c.OK, evs); v == verdict.Inconclusive {
		c.OK, c.Inconclusive = false, true
		c.Detail = strings.Join(append(reasons, c.Detail), "; ")
	}
}

// Verdict is the gate's: fail when a check failed, else inconclusive when
// one could not be judged, else pass.
func (r *Report) Verdict() string {
	var vs []string
	for _, c := range r.Checks {
		switch {
		case c.Inconclusive:
			vs = append(vs, verdict.Inconclusive)
		case c.OK:
			vs = append(vs, verdict.Pass)
		default:
			vs = append(vs, verdict.Fail)
		}
	}
	return verdict.Combine(vs...)
}
