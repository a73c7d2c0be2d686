package spec

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/fault"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

func mustBuiltin(t *testing.T, name string) *Scenario {
	t.Helper()
	s, err := Builtin(name)
	if err != nil {
		t.Fatalf("built-in %s: %v", name, err)
	}
	return s
}

func TestBuiltinsParseAndFinishWithinFiveMinutes(t *testing.T) {
	names := Builtins()
	for _, want := range []string{"launch-day", "outage-tuesday", "forged-pharmacy", "insider-abuse", "signer-failover", "capacity", "slow-clients"} {
		if !contains(names, want) {
			t.Errorf("built-in %s is missing (have %v)", want, names)
		}
	}
	for _, name := range names {
		s := mustBuiltin(t, name)
		if s.Name != name {
			t.Errorf("%s: file declares name %q", name, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", name)
		}
		if w := s.WallDuration(0); w <= 0 || w > 5*time.Minute {
			t.Errorf("%s: wall time %v at timescale %v, want (0, 5m]", name, w, s.Clock.Timescale)
		}
		if s.Requests(0, 0) < 100 {
			t.Errorf("%s: a run sends only %.0f requests", name, s.Requests(0, 0))
		}
		for _, p := range portalapi.Profiles() {
			if _, err := s.PortalConfig(p); err != nil {
				t.Errorf("%s: portal config under %s: %v", name, p, err)
			}
			if _, err := s.SignerConfig(p); err != nil {
				t.Errorf("%s: signer config under %s: %v", name, p, err)
			}
		}
		// Every non-capacity class offers something inside the window.
		for _, c := range s.Traffic {
			if s.Capacity != nil && c.Name == s.Capacity.Class {
				continue
			}
			if c.Demand.Total(s.Clock.Start, s.Clock.End) <= 0 {
				t.Errorf("%s: class %s offers nothing", name, c.Name)
			}
		}
	}
}

func TestLaunchDayIsCalibratedToJune2021(t *testing.T) {
	s := mustBuiltin(t, "launch-day")
	issue, ok := s.Class("issue")
	if !ok {
		t.Fatal("launch-day has no issue class")
	}
	at := func(h, m int) time.Time { return time.Date(2021, 6, 14, h, m, 0, 0, s.Clock.Location) }
	// 140,000 certificates between 07:45 and 11:00 on the real day.
	got := issue.Demand.Total(at(7, 45), at(11, 0)) * s.DemandScale
	if math.Abs(got-140000) > 14000 {
		t.Errorf("07:45-11:00 integrates to %.0f, want 140,000 ± 10%%", got)
	}
	mean := got / at(11, 0).Sub(at(7, 45)).Seconds()
	if surge := issue.Demand.Rate(at(7, 50)); surge < 1.5*mean {
		t.Errorf("opening surge %.1f/s is not well above the morning mean %.1f/s", surge, mean)
	}
	if r := issue.Demand.Rate(at(7, 30)); r > mean/2 {
		t.Errorf("before 07:45 the rate is %.1f/s; the module was not open yet", r)
	}
	if lunch, before, after := issue.Demand.Rate(at(13, 30)), issue.Demand.Rate(at(12, 30)), issue.Demand.Rate(at(15, 0)); lunch >= before || lunch >= after {
		t.Errorf("no lunch dip: 12:30 %.1f, 13:30 %.1f, 15:00 %.1f", before, lunch, after)
	}
	if late, day := issue.Demand.Rate(at(19, 0)), issue.Demand.Rate(at(17, 0)); late > day/2 {
		t.Errorf("no fall after 18:00: 17:00 %.1f, 19:00 %.1f", day, late)
	}
	// Week 1 averaged 21-30/s over opening hours; a single day's peak
	// should be of that order, not hundreds.
	if p := issue.Demand.Peak(); p < 15 || p > 60 {
		t.Errorf("peak %.1f/s is outside the plausible 15-60/s", p)
	}
	if !s.Clock.Start.Equal(at(7, 0)) || !s.Clock.End.Equal(at(20, 0)) {
		t.Errorf("clock %v-%v", s.Clock.Start, s.Clock.End)
	}
}

func TestOutageTuesdayCutsTheSignerOffOnSchedule(t *testing.T) {
	s := mustBuiltin(t, "outage-tuesday")
	at := func(h, m int) time.Time { return time.Date(2021, 6, 15, h, m, 0, 0, s.Clock.Location) }
	signerCut := func(t0 time.Time) bool {
		for _, f := range s.Faults {
			if f.Active(t0) && len(f.Target.Signers(s.System.Signers)) == s.System.Signers {
				return true
			}
		}
		return false
	}
	for _, w := range [][2]time.Time{{at(11, 30), at(11, 45)}, {at(11, 59), at(17, 2)}} {
		for t0 := w[0]; t0.Before(w[1]); t0 = t0.Add(30 * time.Second) {
			if !signerCut(t0) {
				t.Fatalf("signers reachable at %s, inside the cut-off %s-%s", t0.Format("15:04:05"), w[0].Format("15:04"), w[1].Format("15:04"))
			}
		}
	}
	for _, free := range []time.Time{at(11, 29), at(11, 45), at(11, 58), at(17, 2), at(18, 0)} {
		if signerCut(free) {
			t.Errorf("signers cut off at %s, outside the 2021 windows", free.Format("15:04"))
		}
	}
	// Pharmacies keep taking customers during the cut-off.
	issue, _ := s.Class("issue")
	if r := issue.Demand.Rate(at(14, 30)); r < 10 {
		t.Errorf("demand during the cut-off is %.1f/s", r)
	}
	// The reproduction and the hardened run expect different things.
	naive, hard := s.ThresholdsFor(portalapi.ProfileNaive2021), s.ThresholdsFor(portalapi.ProfileHardened)
	if len(naive) <= len(s.Thresholds) || len(hard) <= len(s.Thresholds) || naive[len(naive)-1] == hard[len(hard)-1] {
		t.Errorf("profile thresholds not distinct: naive %v, hardened %v", naive, hard)
	}
	cfg, err := s.SignerConfig(portalapi.ProfileNaive2021)
	if err != nil || cfg.LockoutMark != 0 || cfg.HSMLatency.D() != 100*time.Millisecond || cfg.Shed {
		t.Errorf("naive signer config %+v, %v: want lockout off, 100ms HSM, no shedding", cfg, err)
	}
}

func TestSignerFailoverKillsOneOfThreeAndRestartsIt(t *testing.T) {
	s := mustBuiltin(t, "signer-failover")
	if s.System.Signers != 3 {
		t.Fatalf("signers = %d", s.System.Signers)
	}
	var kill, restart *Fault
	for i := range s.Faults {
		switch s.Faults[i].Kind {
		case fault.Kill:
			kill = &s.Faults[i]
		case fault.Restart:
			restart = &s.Faults[i]
		}
	}
	if kill == nil || restart == nil || !restart.At.After(kill.At) || kill.Target != restart.Target || len(kill.Target.Signers(3)) != 1 {
		t.Fatalf("want a kill of one signer then its restart, got %+v", s.Faults)
	}
	if !kill.Active(kill.At.Add(time.Minute)) || restart.Active(restart.At) {
		t.Error("Active: an open kill must be active after At, a restart never")
	}
	if !kill.End.Equal(restart.At) || kill.Active(restart.At) {
		t.Errorf("the kill ends at %v, want at the restart %v", kill.End, restart.At)
	}
}

func TestCapacityScenarioDerivesItsEnd(t *testing.T) {
	s := mustBuiltin(t, "capacity")
	c := s.Capacity
	if c == nil || c.Class != "issue" || c.SLO.P99 != 200*time.Millisecond || c.SLO.MinSuccess != 0.99 {
		t.Fatalf("capacity = %+v", c)
	}
	want := s.Clock.Start.Add(time.Duration(float64(time.Duration(c.MaxSteps)*c.Step) * s.Clock.Timescale))
	if !s.Clock.End.Equal(want) {
		t.Errorf("end %v, want %v", s.Clock.End, want)
	}
	if c.MinRequests != 300 || c.MinDuration != 5*time.Second || c.Step != 20*time.Second {
		t.Errorf("step evidence: min_requests %d, min_duration %v, step %v", c.MinRequests, c.MinDuration, c.Step)
	}
	// The system is the hardened design as it is: golive capacity, not the
	// scenario, holds the controls out of the measurement.
	cfg, err := s.PortalConfig(portalapi.ProfileHardened)
	if err != nil || cfg.Limits.Issue.MaxConcurrent != portalapi.HardenedConfig().Limits.Issue.MaxConcurrent {
		t.Errorf("capacity's portal differs from the hardened preset: %v", err)
	}
	if s.System.Signers != 3 || s.System.HSM.Slots != 10 || s.System.HSM.Latency != 50*time.Millisecond {
		t.Errorf("capacity's system %+v is not the documented 3 x 10 slots of 50 ms (600/s)", s.System)
	}
}

func TestCapacityStepEvidence(t *testing.T) {
	base := `
name: cap
description: Capacity defaults.
clock: {date: 2021-06-16, start: "10:00", timescale: 60}
system: {profile: hardened, signers: 1}
traffic:
  - {name: issue, kind: issue, pharmacies: 5}
capacity:
  class: issue
  slo: {p99: 200ms}
`
	s, err := Parse([]byte(base), "cap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Capacity.MinRequests != DefaultMinRequests || s.Capacity.MinDuration != DefaultMinStep {
		t.Errorf("defaults: %d requests, %v", s.Capacity.MinRequests, s.Capacity.MinDuration)
	}
	s, err = Parse([]byte(base+"  min_requests: 50\n  min_duration: 2s\n"), "cap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Capacity.MinRequests != 50 || s.Capacity.MinDuration != 2*time.Second {
		t.Errorf("set: %d requests, %v", s.Capacity.MinRequests, s.Capacity.MinDuration)
	}
	for _, bad := range []string{"  min_requests: 0\n", "  min_duration: 100ms\n"} {
		if _, err := Parse([]byte(base+bad), "cap.yaml"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProfilesAddToCommonThresholdsAndChecks(t *testing.T) {
	s := mustBuiltin(t, "launch-day")
	hard := s.ThresholdsFor(portalapi.ProfileHardened)
	if hard[0].Expr != "lost == 0" || len(hard) != len(s.Thresholds)+len(s.Profiles[portalapi.ProfileHardened].Thresholds) {
		t.Errorf("hardened thresholds %v", hard)
	}
	checks := s.ChecksFor(portalapi.ProfileHardened)
	if checks[0] != "consistency" || !contains(checks, "backlog_drained") {
		t.Errorf("hardened checks %v", checks)
	}
	if p, err := s.ProfileFor(""); err != nil || p != portalapi.ProfileHardened {
		t.Errorf("ProfileFor(\"\") = %q, %v", p, err)
	}
	if p, err := s.ProfileFor(portalapi.ProfileNaive2021); err != nil || p != portalapi.ProfileNaive2021 {
		t.Errorf("ProfileFor(naive) = %q, %v", p, err)
	}
	if _, err := s.ProfileFor("paranoid"); err == nil {
		t.Error("ProfileFor accepted an unknown profile")
	}
}

func TestMixAndBackoff(t *testing.T) {
	m := Mix{Vaccination: 0.5, Test: 0.25, Recovery: 0.25}
	for u, want := range map[float64]string{0: "v", 0.49: "v", 0.5: "t", 0.74: "t", 0.75: "r", 0.999: "r"} {
		if got := string(m.Pick(u)); got != want {
			t.Errorf("Pick(%v) = %s, want %s", u, got, want)
		}
	}
	r := Retries{Max: 5, BackoffBase: time.Second, BackoffMax: 5 * time.Second}
	for n, want := range map[int]time.Duration{0: 0, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 9: 5 * time.Second} {
		if got := r.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

const minimal = `name: tiny
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
traffic:
  - name: issue
    kind: issue
    demand:
      - {at: "08:00", rate: 10}
      - {at: "09:00", rate: 10}
`

func TestDefaults(t *testing.T) {
	s, err := Parse([]byte(minimal), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Traffic[0]
	if s.System.Profile != portalapi.ProfileHardened || s.System.Signers != 1 || s.Seed != 1 || s.DemandScale != 1 {
		t.Errorf("system defaults %+v seed %d scale %v", s.System, s.Seed, s.DemandScale)
	}
	if c.Pharmacies != 200 || c.Mix != DefaultMix || c.Client != DefaultClient(KindIssue) {
		t.Errorf("class defaults %+v", c)
	}
	// One simulated hour fits DefaultWallTarget at timescale 15.
	if s.Clock.Timescale != 15 || s.WallDuration(0) != DefaultWallTarget {
		t.Errorf("default timescale %v, wall %v", s.Clock.Timescale, s.WallDuration(0))
	}
	if s.Clock.Location.String() != "Europe/Berlin" || s.Clock.Start.Format(time.RFC3339) != "2021-06-14T08:00:00+02:00" {
		t.Errorf("clock %v in %v", s.Clock.Start, s.Clock.Location)
	}
	if got := s.Requests(0, 2); math.Abs(got-36000*2/15.0) > 1e-6 {
		t.Errorf("Requests = %v", got)
	}
}

// TestErrorsCarryTheirPosition feeds broken files and expects each error
// at the line and column of the offending node.
func TestErrorsCarryTheirPosition(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // "line:col: fragment"
	}{
		{"unknown key with suggestion", `name: x
clock:
  date: 2021-06-14
  start: "08:00"
  end: "09:00"
  timescal: 20
traffic: []
`, []string{`6:3: clock: unknown field "timescal" (did you mean "timescale"?)`, `7:10: traffic: at least one class`}},
		{"wrong types and bad values", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "09:00", timescale: fast}
traffic:
  - name: issue
    kind: issue
    pharmacies: many
    demand:
      - {at: "08:00", rate: -1}
      - {at: "25:00", rate: 3}
    client: {timeout: 10 seconds, impatient_probability: 2}
`, []string{
			`2:68: clock.timescale: want a number, got the string "fast"`,
			`6:17: traffic "issue".pharmacies: want a whole number`,
			`8:29: | rate -1 is negative`,
			`9:14: | "25:00" is not a time of day`,
			`10:23: traffic "issue".client.timeout: want a duration`,
			`10:58: | impatient_probability: 2 is outside 0..1`,
		}},
		{"end before start", `name: x
clock: {date: 2021-06-14, start: "09:00", end: "08:00"}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "09:00", rate: 1}]}
`, []string{`2:48: clock.end: 2021-06-14T08:00:00+02:00 is not after start`}},
		{"faults: unknown kind, bad target, overlap, window outside the clock", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
system: {signers: 3}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "12:00", rate: 1}]}
faults:
  - {kind: explode, target: portal, at: "09:00"}
  - {kind: kill, target: signer-4, at: "09:00"}
  - {kind: pause, target: signers, at: "09:00", until: "10:00"}
  - {kind: kill, target: signer-2, at: "09:30", until: "09:40"}
  - {kind: latency, target: "portal->signer-1", at: "10:00", duration: 5m, params: {latency: 100ms, jitter: 1s}}
  - {kind: latency, target: signer-1, at: "10:00", until: "13:00", params: {latency: 10ms}}
  - {kind: restart, target: portal, at: "10:00", until: "10:05"}
  - {kind: bandwidth, target: "client->portal", at: "10:00", until: "10:05"}
`, []string{
			`7:12: faults[0].kind: unknown fault kind "explode"`,
			`8:26: | target: "signer-4" does not exist with 3 signer(s)`,
			`10:5: faults: kill of signer-2 at 09:30 overlaps the pause of signers at 09:00 (line 9)`,
			`11:109: | jitter: 1s exceeds latency 100ms`,
			`12:29: | latency acts on a link`,
			`13:50: | a restart happens at one instant`,
			`14:5: | params rate_kbps required for bandwidth`,
		}},
		{"overlapping phases and unknown check", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "12:00", rate: 1}]}
phases:
  - {name: morning, from: "08:00", until: "10:00"}
  - {name: late, from: "09:30", until: "11:00"}
  - {name: night, from: "11:00", until: "13:00"}
checks: [consistency, consistancy]
thresholds: ["p99(issue) 500ms", "goodput >= 0.95*offered over soon"]
`, []string{
			`7:5: phases: "late" (09:30-11:00) overlaps "morning"`,
			`8:5: phases[2]: "night" (11:00-13:00) lies outside the clock's window`,
			`9:23: checks[1]: unknown check "consistancy" (did you mean "consistency"?)`,
			`10:14: thresholds[0]: threshold "p99(issue) 500ms": column 12: expected a comparison`,
			`10:34: thresholds[1]: threshold "goodput >= 0.95*offered over soon": column 30: expected a window length`,
		}},
		{"portal overrides by JSON name", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
system:
  portal:
    limits: {issue: {max_concurent: 3}}
    sign_call_timeout: soon
    pharmacy_quota: {enabled: "yes"}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "09:00", rate: 1}]}
`, []string{
			`5:22: system.portal.limits.issue: unknown field "max_concurent" (did you mean "max_concurrent"?)`,
			`6:24: system.portal.sign_call_timeout: the string "soon" does not fit`,
			`7:31: system.portal.pharmacy_quota.enabled: the string "yes" does not fit`,
		}},
		{"portal overrides that only fail together", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
system:
  portal: {issue_deadline: 1s, sign_call_timeout: 2s}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "09:00", rate: 1}]}
`, []string{`4:11: portal settings under profile hardened: `}},
		{"demand rules", `name: x
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
traffic:
  - name: a
    kind: verify
    mix: {v: 1}
    demand:
      - {at: "08:30", rate: 1}
      - {at: "08:10", rate: 1}
      - {shape: bursts, from: "08:00", until: "09:00", every: 1m, length: 2m, rate: 1}
      - {shape: wave, from: "08:00", until: "09:00"}
  - name: a
    kind: issue
    demand: [{at: "10:00", rate: 1}, {at: "11:00", rate: 1}]
`, []string{
			`6:5: traffic "a".mix: a verify class issues nothing`,
			`9:9: | point at 08:10 comes before the previous point at 08:30`,
			`10:75: | length: 2m0s is longer than every (1m0s)`,
			`11:17: | unknown shape "wave"`,
			`12:5: traffic[1]: class name "a" is already used at line 4`,
		}},
		{"syntax error", "name: x\nclock: [\n", []string{`2: YAML syntax:`}},
		{"two documents", "name: x\n---\nname: y\n", []string{`2:1: a scenario file holds one YAML document`}},
		{"empty file", "", []string{`1:1: the file is empty`}},
		{"missing required", "description: hi\n", []string{`1:1: scenario: "name" is required`, `1:1: scenario: "clock" is required`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "bad.yaml")
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want Errors, got %v", err)
			}
			text := err.Error()
			// "L:C: text" must start an error line; "L:C: | text" means
			// the error at L:C contains text somewhere.
			for _, w := range tc.want {
				pos, frag, loose := strings.Cut(w, " | ")
				found := false
				for _, line := range strings.Split(text, "\n") {
					if loose && strings.HasPrefix(line, "bad.yaml:"+pos+" ") && strings.Contains(line, frag) ||
						!loose && strings.HasPrefix(line, "bad.yaml:"+w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %q in\n%s", w, text)
				}
			}
			for _, line := range strings.Split(text, "\n") {
				if !strings.HasPrefix(line, "bad.yaml:") {
					t.Errorf("error line without position: %q", line)
				}
			}
			for i := 1; i < len(es); i++ {
				if es[i].Pos.Line < es[i-1].Pos.Line {
					t.Errorf("errors out of file order: %v before %v", es[i-1], es[i])
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	s, err := Resolve("insider-abuse")
	if err != nil || s.Source != "builtin/insider-abuse.yaml" {
		t.Fatalf("Resolve(builtin) = %v, %v", s, err)
	}
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Resolve(path)
	if err != nil || s.Name != "tiny" || s.Source != path || string(s.Raw) != minimal {
		t.Fatalf("Resolve(file) = %+v, %v", s, err)
	}
	if _, err := Resolve("launch-night"); err == nil || !strings.Contains(err.Error(), "launch-day") {
		t.Errorf("unknown name: %v (want the list of built-ins)", err)
	}
	if _, err := Resolve(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("a missing file resolved")
	}
	if _, err := BuiltinSource("../spec"); err == nil {
		t.Error("BuiltinSource escaped its directory")
	}
}

func TestPortalFieldNamesFollowTheConfig(t *testing.T) {
	names := PortalFieldNames()
	for _, want := range []string{"sign_call_timeout", "limits.issue.max_concurrent", "pharmacy_quota.rate_per_second", "anomaly.opening_hours"} {
		if !contains(names, want) {
			t.Errorf("%s missing from %v", want, names)
		}
	}
	if contains(names, "profile") {
		t.Error("profile must not be overridable")
	}
}

func TestFaultWindowsAndTargets(t *testing.T) {
	s, err := Parse([]byte(`name: f
clock: {date: 2021-06-14, start: "08:00", end: "12:00"}
system: {signers: 3}
traffic:
  - {name: a, kind: issue, demand: [{shape: step, from: "08:00", until: "12:00", rate: 1}]}
faults:
  - {kind: latency, target: "portal->signers", at: "09:00", duration: 90m, params: {latency: 100ms}}
  - {kind: stop, target: portal, at: "10:00"}
  - {kind: partition, target: "client->portal", at: "08:30", until: "08:45"}
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lat, stop, part := s.Faults[0], s.Faults[1], s.Faults[2]
	if !lat.Until.Equal(hm(10, 30)) || !lat.End.Equal(lat.Until) || lat.Params.Toxicity != 1 || lat.Params.Latency != 100*time.Millisecond {
		t.Errorf("latency fault %+v", lat)
	}
	if stop.Windowed() || !stop.End.Equal(s.Clock.End) || !stop.Active(hm(11, 59)) {
		t.Errorf("an open stop must last to the clock's end: %+v", stop)
	}
	if got := lat.Target.Signers(3); len(got) != 3 || got[2] != 3 {
		t.Errorf("portal->signers reaches %v", got)
	}
	if got := part.Target.Expand(3); len(got) != 1 || got[0] != "client->portal" || part.Target.Signers(3) != nil {
		t.Errorf("client->portal expands to %v", got)
	}
	for _, bad := range []Target{"signer-0", "signer-4", "signer-01", "client->signer-1", "portal->portal", "proxy"} {
		if got := bad.Expand(3); got != nil {
			t.Errorf("%s expands to %v, want nothing", bad, got)
		}
	}
}
