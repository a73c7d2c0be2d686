package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/scenarios/spec"
)

func TestScenariosListShowsEveryBuiltinWithinFiveMinutes(t *testing.T) {
	r := golive(t, "", "scenarios", "list")
	mustOK(t, r, "scenarios list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(spec.Builtins())+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("want a header and %d rows, got:\n%s", len(spec.Builtins()), r.stdout)
	}
	row := regexp.MustCompile(`^(\S+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}-(?:\d{4}-\d{2}-\d{2} )?\S+)\s+x(\S+)\s+(?:<=)?(\S+)\s+(?:<=)?(\d+)\s+(\S.*)$`)
	// A window of several days ends on its own date (launch-week).
	for i, name := range spec.Builtins() {
		m := row.FindStringSubmatch(lines[i+1])
		if m == nil || m[1] != name {
			t.Fatalf("row %d = %q, want %s's details", i+1, lines[i+1], name)
		}
		wall, err := time.ParseDuration(m[4])
		if err != nil || wall > 5*time.Minute || wall <= 0 {
			t.Errorf("%s: wall time %q", name, m[4])
		}
		if m[5] == "0" {
			t.Errorf("%s: sends no requests", name)
		}
	}
	if !strings.Contains(r.stdout, "2021-06-14 07:00-20:00") {
		t.Errorf("launch-day's simulated window missing:\n%s", r.stdout)
	}
}

func TestScenariosShowPrintsValidYAML(t *testing.T) {
	r := golive(t, "", "scenarios", "show", "outage-tuesday")
	mustOK(t, r, "scenarios show")
	s, err := spec.Parse([]byte(r.stdout), "shown.yaml")
	if err != nil || s.Name != "outage-tuesday" {
		t.Fatalf("shown YAML does not parse back: %v", err)
	}
	// Round trip through validate on standard input.
	v := golive(t, r.stdout, "scenarios", "validate", "-")
	mustOK(t, v, "validate -")
	if !strings.HasPrefix(v.stdout, "ok <stdin>: outage-tuesday") {
		t.Errorf("validate - printed %q", v.stdout)
	}

	bad := golive(t, "", "scenarios", "show", "launch-night")
	if bad.code != 2 || !strings.Contains(bad.stderr, "launch-day") {
		t.Errorf("show of an unknown name: exit %d, stderr %q (want 2 and the list)", bad.code, bad.stderr)
	}
}

func TestScenariosValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`name: good
clock: {date: 2021-06-14, start: "08:00", end: "09:00", timescale: 60}
traffic:
  - {name: issue, kind: issue, demand: [{shape: step, from: "08:00", until: "09:00", rate: 5}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`name: bad
clock: {date: 2021-06-14, start: "08:00", end: "09:00"}
traffic:
  - name: issue
    kind: issue
    demand: [{shape: step, from: "08:00", until: "09:00", rate: 5}]
faults:
  - {kind: kill, target: signer-2, at: "08:30"}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	r := golive(t, "", "scenarios", "validate", good)
	mustOK(t, r, "validate good")
	// 3600 s x 5/s / 60 = 300 requests in one wall minute.
	if !strings.Contains(r.stdout, "ok "+good+": good, 2021-06-14 08:00-09:00 at x60, 1m0s wall, 300 requests") {
		t.Errorf("stdout %q", r.stdout)
	}

	r = golive(t, "", "scenarios", "validate", good, bad)
	if r.code != 2 {
		t.Fatalf("exit %d with an invalid file, want 2 (a usage error)", r.code)
	}
	if !strings.Contains(r.stdout, "ok "+good) {
		t.Errorf("the good file was not reported ok: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, bad+`:8:26: faults[0] (kill).target: "signer-2" does not exist with 1 signer(s)`) {
		t.Errorf("stderr lacks the positioned error:\n%s", r.stderr)
	}

	r = golive(t, "", "scenarios", "validate", filepath.Join(dir, "missing.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	r = golive(t, "", "scenarios", "validate", "signer-failover")
	mustOK(t, r, "validate a built-in by name")

	r = golive(t, "", "scenarios", "validate")
	if r.code != 2 {
		t.Errorf("validate without files: exit %d, want 2", r.code)
	}
}

func TestScenariosValidateWarnsOfACompressedClock(t *testing.T) {
	r := golive(t, "", "scenarios", "validate", "outage-tuesday", "--timescale", "3600")
	mustOK(t, r, "validate at x3600 (warnings keep exit 0)")
	if !strings.Contains(r.stdout, "at x3600") {
		t.Errorf("ok line does not give the timescale checked: %q", r.stdout)
	}
	for _, want := range []string{
		"warning: outage-tuesday at x3600: fault blackhole portal->signers 11:30-11:45 lasts 250ms on the wall",
		"fault blackhole portal->signers 11:59-17:02",
		"the largest timescale that keeps the scenario meaningful is x30",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = golive(t, "", "scenarios", "validate", "outage-tuesday", "--timescale", "30")
	mustOK(t, r, "validate at x30")
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("x30 keeps outage-tuesday meaningful, yet: %s", r.stderr)
	}
	r = golive(t, "", "scenarios", "validate", "outage-tuesday", "--timescale", "-1")
	if r.code != 2 {
		t.Errorf("negative timescale: exit %d, want 2", r.code)
	}
}

func TestScenariosValidateWarnsOfTooFewEvents(t *testing.T) {
	r := golive(t, "", "scenarios", "validate", "insider-abuse", "--timescale", "900")
	mustOK(t, r, "validate at x900 (warnings keep exit 0)")
	for _, want := range []string{
		"warning: insider-abuse (hardened) would be inconclusive: check fraud_contained needs 11 issuances by class insider",
		"warning: insider-abuse (naive-2021) would be inconclusive: threshold fraud_escaped > 10 needs 11 actions by class insider, the demand sends 3",
		"judge it at --timescale 245 or less, or --demand-scale 3.67 or more",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, args := range [][]string{{"--timescale", "245"}, {"--timescale", "900", "--demand-scale", "3.67"}, {}} {
		r = golive(t, "", append([]string{"scenarios", "validate", "insider-abuse"}, args...)...)
		mustOK(t, r, "validate "+strings.Join(args, " "))
		if strings.Contains(r.stderr, "inconclusive") {
			t.Errorf("%v gives enough events, yet: %s", args, r.stderr)
		}
	}
	r = golive(t, "", "scenarios", "validate", "insider-abuse", "--profile", "naive-2021", "--timescale", "900")
	if strings.Contains(r.stderr, "(hardened)") || !strings.Contains(r.stderr, "(naive-2021) would be inconclusive") {
		t.Errorf("--profile naive-2021 checks only that profile: %s", r.stderr)
	}
	if r := golive(t, "", "scenarios", "validate", "insider-abuse", "--demand-scale", "-1"); r.code != 2 {
		t.Errorf("negative demand scale: exit %d, want 2", r.code)
	}
}

// Each threshold mistake a new team made is refused before any load, with
// exit 2 and a message naming the fix (issue 13).
func TestThresholdMistakesAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ expr, want string }{
		{"p99(isue) < 3s", `unknown class "isue" (did you mean "issue"?)`},
		{"rate(status>=500) < 150%", "a rate is at most 100%"},
		{"lost < 0", "lost < 0 can never hold"},
		{"p99(issue) < 3", "a time needs a unit: write 3s or 3ms"},
		{"p99(issue) < 3s over 1m abortonfail", `did you mean "abortOnFail"?`},
	} {
		file := filepath.Join(dir, "t.yaml")
		src := "name: t\nclock: {date: 2021-06-14, start: \"08:00\", end: \"09:00\", timescale: 60}\n" +
			"traffic:\n  - {name: issue, kind: issue, demand: [{at: \"08:00\", rate: 1}, {at: \"09:00\", rate: 1}]}\n" +
			"thresholds: [\"" + tc.expr + "\"]\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		r := golive(t, "", "scenarios", "validate", file)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("validate with %q: exit %d, stderr %q; want 2 and %q", tc.expr, r.code, r.stderr, tc.want)
		}
		// The same mistakes given to run and gate: exit 2 before any load.
		r = golive(t, "", "run", "launch-day", "--target", "url=http://127.0.0.1:1", "--threshold", tc.expr, "--out", filepath.Join(dir, "run"))
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("run --threshold %q: exit %d, stderr %q; want 2 and %q", tc.expr, r.code, r.stderr, tc.want)
		}
	}
}
