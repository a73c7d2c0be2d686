package verdict

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	short := func(forces Forced) []Evidence {
		return []Evidence{{Kind: "check", Name: "fraud_contained", Needs: "night issuances", Min: 11, Expected: 3,
			Forces: forces, MaxTimescale: 245, MinDemandScale: 3.67}}
	}
	for _, tc := range []struct {
		name   string
		ev     []Evidence
		ok     bool
		want   string
		reason bool
	}{
		{"short, forcing the failure it got", short(ForcesFail), false, Inconclusive, true},
		{"short, but passed what it could only fail", short(ForcesFail), true, Pass, false},
		{"short, forcing the pass it got", short(ForcesPass), true, Inconclusive, true},
		{"short, failed what it could only pass", short(ForcesPass), false, Fail, false},
		{"short, either result noise", short(ForcesEither), true, Inconclusive, true},
		{"enough events", []Evidence{{Kind: "check", Name: "fraud_contained", Min: 11, Expected: 27, Enough: true, Forces: ForcesFail}}, false, Fail, false},
		{"another item's shortage", []Evidence{{Kind: "threshold", Name: "fraud_contained", Min: 11, Forces: ForcesFail}}, false, Fail, false},
		{"no evidence", nil, true, Pass, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reasons := Decide("check", "fraud_contained", tc.ok, tc.ev)
			if got != tc.want || (len(reasons) > 0) != tc.reason {
				t.Fatalf("Decide = %s %q, want %s (reason %v)", got, reasons, tc.want, tc.reason)
			}
			marked := len(tc.ev) > 0 && tc.ev[0].Verdict == Inconclusive
			if marked != (got == Inconclusive) {
				t.Errorf("evidence marked %v for a %s result", marked, got)
			}
			if tc.reason && !strings.Contains(reasons[0], "check fraud_contained needs 11 night issuances, the demand sends 3; judge it at --timescale 245 or less, or --demand-scale 3.67 or more") {
				t.Errorf("reason %q", reasons[0])
			}
		})
	}
}

func TestRemedyWithoutATimescale(t *testing.T) {
	e := Evidence{Kind: "threshold", Name: "lost == 0", Needs: "actions", Min: 1, MinDemandScale: 2}
	if r := e.Remedy(); r != "no timescale of 1 or more gives enough; judge it at --demand-scale 2 or more" {
		t.Errorf("remedy %q", r)
	}
	e.MinDemandScale = 0
	if r := e.Remedy(); !strings.Contains(r, "no timescale or demand scale can judge it") {
		t.Errorf("remedy %q", r)
	}
	one := 12.0
	e.Actual = &one
	e.Expected = 3
	if r := e.Reason(); !strings.Contains(r, "the run had 12 (the demand sends 3)") {
		t.Errorf("reason %q", r)
	}
}

func TestCombineAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		code int
	}{
		{nil, Pass, 0},
		{[]string{Pass, Pass}, Pass, 0},
		{[]string{Pass, Inconclusive}, Inconclusive, 3},
		{[]string{Inconclusive, Fail}, Fail, 1},
		{[]string{Fail, Inconclusive}, Fail, 1},
		{[]string{Pass, "broken"}, Fail, 1},
	} {
		got := Combine(tc.in...)
		if got != tc.want || ExitCode(got) != tc.code {
			t.Errorf("Combine(%v) = %s (exit %d), want %s (exit %d)", tc.in, got, ExitCode(got), tc.want, tc.code)
		}
	}
	if ExitUsage != 2 || ExitInconclusive == ExitPass || ExitInconclusive == ExitFail || ExitInconclusive == ExitUsage {
		t.Error("exit codes overlap")
	}
}

func TestReproductionWording(t *testing.T) {
	for _, tc := range []struct{ v, rep, text, label string }{
		{Pass, "", "pass", "PASS"},
		{Inconclusive, "", "inconclusive", "INCONCLUSIVE"},
		{Pass, "2021", "reproduces 2021: yes", "reproduces 2021: yes"},
		{Fail, "2021", "reproduces 2021: no", "reproduces 2021: no"},
		{Inconclusive, "2021", "reproduces 2021: inconclusive", "reproduces 2021: inconclusive"},
	} {
		if got := Text(tc.v, tc.rep); got != tc.text {
			t.Errorf("Text(%s, %q) = %q, want %q", tc.v, tc.rep, got, tc.text)
		}
		if got := Label(tc.v, tc.rep); got != tc.label {
			t.Errorf("Label(%s, %q) = %q, want %q", tc.v, tc.rep, got, tc.label)
		}
	}
}
