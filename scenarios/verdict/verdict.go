// Package verdict is the vocabulary of a run's verdict, shared by the
// engine that decides it, the reports that render it and the CLI that exits
// with it: the values of summary.json's "verdict", the exit codes, the
// wording of a reproduction ("reproduces 2021: yes") and the evidence
// records that make a threshold or check inconclusive when a run had too
// few events to judge it. It imports nothing of golive, so every side can.
package verdict

import (
	"fmt"
	"strings"
)

// The values of summary.json's "verdict". Scripts that compare with "pass"
// and "fail" keep working; "inconclusive" is added.
const (
	Pass = "pass"
	Fail = "fail"
	// Inconclusive: nothing failed that the run could judge, but a
	// threshold or check had too few events to be judged (see Evidence).
	Inconclusive = "inconclusive"
)

// Exit codes of golive run (docs/run-format.md, docs/ci.md).
const (
	ExitPass         = 0
	ExitFail         = 1 // a threshold or check failed (or the run broke)
	ExitUsage        = 2 // the command line or the setup is wrong
	ExitInconclusive = 3 // too few events to judge; nothing judged failed
)

// ExitCode is the exit code for a verdict (an unknown one counts as failed).
func ExitCode(v string) int {
	switch v {
	case Pass:
		return ExitPass
	case Inconclusive:
		return ExitInconclusive
	}
	return ExitFail
}

// Combine is the verdict of several runs (the profiles of a comparison, or
// the parts of one run): fail when any failed, else inconclusive when any
// was, else pass. No verdicts at all is a pass.
func Combine(vs ...string) string {
	out := Pass
	for _, v := range vs {
		switch v {
		case Pass:
		case Inconclusive:
			if out == Pass {
				out = Inconclusive
			}
		default:
			out = Fail
		}
	}
	return out
}

// Text is a verdict as people read it: "pass", "fail", "inconclusive", or,
// for a run that reproduces a failure (reproduces = "2021"), "reproduces
// 2021: yes", "no" or "inconclusive". A reproduction's pass means the old
// failure showed, which must not read as a design passing.
func Text(v, reproduces string) string {
	if reproduces == "" {
		if v == "" {
			return "-"
		}
		return v
	}
	answer := "no"
	switch v {
	case Pass:
		answer = "yes"
	case Inconclusive:
		answer = "inconclusive"
	case "":
		answer = "-"
	}
	return fmt.Sprintf("reproduces %s: %s", reproduces, answer)
}

// Label is Text for banners and tables: capitals for a design's verdict
// ("PASS", "FAIL", "INCONCLUSIVE"), a reproduction's wording as it is
// ("reproduces 2021: yes"), so the two never read alike.
func Label(v, reproduces string) string {
	if reproduces != "" {
		return Text(v, reproduces)
	}
	return strings.ToUpper(Text(v, ""))
}

// Judgement is what summary.json adds to "verdict" and "reasons" about how
// the run was judged. The engine's and the reports' summary types embed it,
// so its keys sit at summary.json's top level.
type Judgement struct {
	// VerdictText is the verdict as reports word it (see Text).
	VerdictText string `json:"verdict_text,omitempty"`
	// Reproduces names the failure the profile's thresholds assert
	// ("2021"); empty for a run that judges a design.
	Reproduces string `json:"reproduces,omitempty"`
	// Inconclusive says, per threshold or check the run had too few
	// events for, what it needed and the scales that would give enough.
	Inconclusive []string `json:"inconclusive,omitempty"`
	// Evidence lists every minimum the thresholds and checks declared.
	Evidence []Evidence `json:"evidence,omitempty"`
}
