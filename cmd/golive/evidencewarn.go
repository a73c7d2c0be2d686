package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/golive-dev/golive/scenarios/engine"
	"github.com/golive-dev/golive/scenarios/spec"
)

// printEvidenceWarnings writes one "warning:" line per threshold or check
// that a run with o would have too few events to judge (the run then says
// inconclusive), with the largest timescale and smallest demand scale that
// give enough. It reports whether it warned; an error means o cannot run
// at all (a threshold that does not parse).
func printEvidenceWarnings(w io.Writer, o engine.Options) (bool, error) {
	evs, err := engine.Preflight(o)
	if err != nil {
		return false, err
	}
	warned := false
	for _, e := range evs {
		if e.Enough {
			continue
		}
		profile, _ := o.Scenario.ProfileFor(o.Profile)
		fmt.Fprintf(w, "warning: %s (%s) would be inconclusive: %s\n", o.Scenario.Name, profile, e.Reason())
		warned = true
	}
	return warned, nil
}

// judgedProfiles are the profiles validate checks the evidence of: the
// one asked for, else the scenario's own and every profile its profiles
// block configures (their thresholds differ).
func judgedProfiles(sc *spec.Scenario, asked string) []string {
	if asked != "" {
		return []string{asked}
	}
	seen := map[string]bool{sc.System.Profile: true}
	out := []string{sc.System.Profile}
	var more []string
	for p := range sc.Profiles {
		if !seen[p] {
			seen[p] = true
			more = append(more, p)
		}
	}
	sort.Strings(more)
	return append(out, more...)
}
