package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
	"github.com/golive-dev/golive/scenarios/verdict"
)

func TestPreflight(t *testing.T) {
	sc, err := spec.Builtin("insider-abuse")
	if err != nil {
		t.Fatal(err)
	}
	short := func(o Options) []string {
		t.Helper()
		evs, err := Preflight(o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			if !e.Enough {
				out = append(out, e.Kind+" "+e.Name)
			}
		}
		return out
	}
	if got := short(Options{Scenario: sc}); len(got) != 0 {
		t.Errorf("at its own timescale: %v", got)
	}
	got := short(Options{Scenario: sc, Timescale: 900})
	if strings.Join(got, ", ") != "check fraud_contained, threshold fraud_escaped <= 10" {
		t.Errorf("hardened at x900: %v", got)
	}
	// --threshold's needs count too: 84 issue requests at x900 are too
	// few for a p99.
	got = short(Options{Scenario: sc, Profile: "naive-2021", Timescale: 900, Thresholds: []string{"p99(issue) < 1s"}})
	if strings.Join(got, ", ") != "threshold fraud_escaped > 10, threshold p99(issue) < 1s" {
		t.Errorf("naive-2021 at x900: %v", got)
	}
	if got := short(Options{Scenario: sc, Timescale: 900, DemandScale: 4}); len(got) != 0 {
		t.Errorf("x900 at demand scale 4: %v", got)
	}
	if _, err := Preflight(Options{Scenario: sc, Thresholds: []string{"p99(issue) <"}}); err == nil {
		t.Error("a threshold that does not parse passed preflight")
	}
}

func TestJudge(t *testing.T) {
	lostAt := time.Date(2026, 12, 2, 7, 19, 37, 0, time.UTC)
	sc, err := spec.Builtin("insider-abuse")
	if err != nil {
		t.Fatal(err)
	}
	short := verdict.Evidence{Kind: "check", Name: "fraud_contained", Needs: "night issuances", Min: 11, Expected: 3,
		Forces: verdict.ForcesFail, MaxTimescale: 245}
	for _, tc := range []struct {
		name, profile string
		s             Summary
		want, text    string
		reasons, inc  int
	}{
		{name: "short and failed: inconclusive", profile: "hardened",
			s:    Summary{Checks: []rundir.Check{{Name: "fraud_contained", Detail: "3 escaped"}}, Judgement: verdict.Judgement{Evidence: []verdict.Evidence{short}}},
			want: verdict.Inconclusive, text: "inconclusive", inc: 1},
		{name: "a real failure beside it fails the run", profile: "hardened",
			s: Summary{Checks: []rundir.Check{{Name: "fraud_contained"}}, Thresholds: []rundir.Threshold{{Expr: "lost == 0", Value: "2"}},
				Judgement: verdict.Judgement{Evidence: []verdict.Evidence{short}}},
			want: verdict.Fail, text: "fail", reasons: 1, inc: 1},
		{name: "interrupted fails even when unjudged", profile: "hardened",
			s:    Summary{Interrupted: true, Checks: []rundir.Check{{Name: "fraud_contained"}}, Judgement: verdict.Judgement{Evidence: []verdict.Evidence{short}}},
			want: verdict.Fail, text: "fail", reasons: 1, inc: 1},
		{name: "a reproduction that held", profile: "naive-2021",
			s:    Summary{Thresholds: []rundir.Threshold{{Expr: "fraud_escaped > 10", OK: true, Value: "27"}}},
			want: verdict.Pass, text: "reproduces 2021: yes"},
		{name: "a reproduction that did not", profile: "naive-2021",
			s:    Summary{Thresholds: []rundir.Threshold{{Expr: "fraud_escaped > 10", Value: "3"}}},
			want: verdict.Fail, text: "reproduces 2021: no", reasons: 1},
		{name: "starved: a slow run is inconclusive", profile: "hardened",
			s:    Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", Value: "47.1s"}}},
			want: verdict.Inconclusive, text: "inconclusive", inc: 1},
		{name: "under the limit a slow run fails", profile: "hardened",
			s:    Summary{Machine: starvedBy(1.5), Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", Value: "47.1s"}}},
			want: verdict.Fail, text: "fail", reasons: 1},
		{name: "starved: a lost certificate still fails", profile: "hardened",
			s: Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", Value: "47.1s"}, {Expr: "lost == 0", Value: "1"}},
				Checks: []rundir.Check{{Name: "consistency", OK: true}}},
			want: verdict.Fail, text: "fail", reasons: 2},
		{name: "starved: a lost load worker still fails", profile: "hardened",
			s: Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", Value: "47.1s"}},
				WorkerHealth: []rundir.WorkerHealth{{Name: "worker-2", State: rundir.WorkerLost, Lost: &lostAt, Reason: "exit status 137"}}},
			want: verdict.Fail, text: "fail", reasons: 2},
		{name: "a fault that did not run fails a run that otherwise passed", profile: "hardened",
			s:    Summary{FaultError: "kill-primary registry: no PostgreSQL registry", Thresholds: []rundir.Threshold{{Expr: "lost == 0", OK: true, Value: "0"}}},
			want: verdict.Fail, text: "fail", reasons: 1},
		{name: "starved: a fault that did not run still fails", profile: "hardened",
			s:    Summary{Machine: starvedBy(9), FaultError: "kill portal-2: no such component", Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", Value: "47.1s"}}},
			want: verdict.Fail, text: "fail", reasons: 2},
		{name: "starved: a pass stands", profile: "hardened",
			s:    Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "p99(issue) < 5s", OK: true, Value: "1.2s"}}},
			want: verdict.Pass, text: "pass"},
		{name: "starved: a reproduction by fraud figures stands", profile: "naive-2021",
			s:    Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "fraud_escaped > 10", OK: true, Value: "27"}}},
			want: verdict.Pass, text: "reproduces 2021: yes"},
		{name: "starved: a reproduction by latency is inconclusive", profile: "naive-2021",
			s:    Summary{Machine: starvedBy(9), Thresholds: []rundir.Threshold{{Expr: "p99(issue) > 20s", OK: true, Value: "36s"}}},
			want: verdict.Inconclusive, text: "reproduces 2021: inconclusive", inc: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{sc: sc, profile: tc.profile}
			s := tc.s
			r.judge(&s)
			if s.Verdict != tc.want || s.VerdictText != tc.text || len(s.Reasons) != tc.reasons || len(s.Inconclusive) != tc.inc {
				t.Errorf("verdict %s (%q), reasons %q, inconclusive %q", s.Verdict, s.VerdictText, s.Reasons, s.Inconclusive)
			}
		})
	}
}

func starvedBy(ratio float64) *rundir.Machine {
	return &rundir.Machine{CPUWaitPerCPUSecond: ratio, CPUWaitLimit: DefaultCPUWaitLimit, Starved: ratio > DefaultCPUWaitLimit}
}

func TestMachineOf(t *testing.T) {
	at := func(used, waited time.Duration) selfCPU { return selfCPU{used: used, waited: waited, ok: true} }
	m := machineOf(at(time.Second, time.Second), at(3*time.Second, 11*time.Second), 0)
	if m == nil || m.CPUWaitPerCPUSecond != 5 || m.CPUWaitLimit != DefaultCPUWaitLimit || !m.Starved {
		t.Errorf("10 s waited for 2 s of CPU: %+v", m)
	}
	if m := machineOf(at(time.Second, 0), at(3*time.Second, 11*time.Second), 6); m == nil || m.Starved {
		t.Errorf("5.5 s per CPU second under a limit of 6: %+v", m)
	}
	if m := machineOf(at(time.Second, 0), at(time.Second+time.Millisecond, time.Second), 0); m != nil {
		t.Errorf("1 ms of CPU is too little to tell: %+v", m)
	}
	if m := machineOf(selfCPU{}, at(3*time.Second, 0), 0); m != nil {
		t.Errorf("an unreadable /proc: %+v", m)
	}
	if m := machineOf(at(0, 0), at(3*time.Second, 30*time.Second), -1); m != nil {
		t.Errorf("a negative limit turns the guard off: %+v", m)
	}
	// The reading is real on Linux: this test's own process.
	if r := readSelfCPU(); !r.ok {
		t.Log("/proc not readable here")
	}
}
