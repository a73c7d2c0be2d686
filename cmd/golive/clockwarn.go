package main

import (
	"fmt"
	"io"

	"github.com/golive-dev/golive/scenarios/spec"
)

// printClockWarnings writes one "warning:" line per span that the
// timescale makes shorter than the waits deciding it, then the largest
// timescale that keeps the scenario meaningful. It reports whether it
// warned; a profile it cannot configure is left to the run to refuse.
func printClockWarnings(w io.Writer, sc *spec.Scenario, profile string, timescale float64) bool {
	rep, err := sc.ClockCheck(profile, timescale)
	if err != nil || rep.Meaningful() {
		return false
	}
	for _, cw := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s at x%g: %s\n", sc.Name, rep.Timescale, cw)
	}
	if a := rep.Advice(sc); a != "" {
		fmt.Fprintf(w, "warning: %s: %s\n", sc.Name, a)
	}
	return true
}
