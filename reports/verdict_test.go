package reports_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/reports/synthrun"
	"github.com/golive-dev/golive/scenarios/verdict"
)

// patchSummary rewrites dir/summary.json through edit, as the scenario
// engine would have written it.
func patchSummary(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, rundir.SummaryFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rendered writes the report of dir and returns summary.md, report.html
// and junit.xml.
func rendered(t *testing.T, dir string) (*reports.Run, string, string, junitDoc) {
	t.Helper()
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	if err := reports.Write(context.Background(), run, out); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var doc junitDoc
	if err := xml.Unmarshal([]byte(read(reports.JUnitFile)), &doc); err != nil {
		t.Fatal(err)
	}
	return run, read(reports.MarkdownFile), read(reports.HTMLFile), doc
}

// reproduction makes the naive-2021 profile of a comparison a reproduction
// of 2021 whose thresholds (asserting the failure) held or not, as the
// engine writes it.
func reproduction(t *testing.T, reproduced bool) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := synthrun.WriteCompare(dir, synthrun.Config{Duration: time.Hour, Requests: 20_000}); err != nil {
		t.Fatal(err)
	}
	patchSummary(t, filepath.Join(dir, synthrun.Naive2021), func(m map[string]any) {
		v := verdict.Pass
		if !reproduced {
			v = verdict.Fail
		}
		m["verdict"], m["reproduces"], m["verdict_text"] = v, "2021", verdict.Text(v, "2021")
		m["thresholds"] = []map[string]any{{"expr": "p99(issue) > 3s", "ok": reproduced, "value": "4.1s", "scope": "run"}}
		m["checks"] = []map[string]any{{"name": "consistency", "ok": true, "detail": "0 lost"}}
	})
	patchSummary(t, filepath.Join(dir, synthrun.Hardened), func(m map[string]any) {
		m["verdict_text"] = verdict.Text(m["verdict"].(string), "")
		m["checks"] = []map[string]any{{"name": "consistency", "ok": true, "detail": "0 lost"}}
	})
	return dir
}

func suite(t *testing.T, doc junitDoc, name string) junitSuite {
	t.Helper()
	for _, s := range doc.Suites {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no suite %s", name)
	return junitSuite{}
}

func TestReproductionIsLabelledNotPassed(t *testing.T) {
	dir := reproduction(t, true)
	run, md, html, doc := rendered(t, dir)
	if run.Overall() != verdict.Pass {
		t.Fatalf("hardened passes and naive-2021 reproduces 2021, but the comparison is %s", run.Overall())
	}
	if !strings.HasPrefix(md, "## ✅ PASS: golive report: launch-day (naive-2021 vs hardened)") {
		t.Errorf("summary.md starts %q", firstLine(md))
	}
	for _, want := range []string{"naive-2021: reproduces 2021: yes · hardened: PASS", "| naive-2021 | reproduces 2021: yes |", "| hardened | PASS |"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if strings.Contains(md, "| naive-2021 | PASS |") {
		t.Error("summary.md gives the reproduction a bare PASS")
	}
	if !strings.Contains(html, ">reproduces 2021: yes</td>") || strings.Contains(html, ">naive-2021</td><td class=\"ok\">PASS</td>") {
		t.Error("report.html's profile table does not label the reproduction")
	}
	naive := suite(t, doc, "golive.launch-day.naive-2021")
	props := map[string]string{}
	for _, p := range naive.Properties {
		props[p.Name] = p.Value
	}
	if props["verdict"] != "reproduces 2021: yes" || props["reproduces"] != "2021" {
		t.Errorf("naive-2021 suite properties %v", props)
	}
	found := false
	for _, c := range naive.Cases {
		if c.Name == "reproduces 2021" {
			found = true
			if c.Failure != nil {
				t.Errorf("reproduces 2021 testcase fails: %+v", c.Failure)
			}
		}
		// The 2021 failure showing is the point: no zero-check on lost or
		// escaped fraud fails the reproduction.
		if strings.HasPrefix(c.Name, "consistency.") || strings.HasPrefix(c.Name, "security.") {
			t.Errorf("reproduction suite has the built-in check %q", c.Name)
		}
	}
	if !found {
		t.Error("no reproduces 2021 testcase in the naive-2021 suite")
	}
}

func TestFailedReproductionFailsTheComparison(t *testing.T) {
	dir := reproduction(t, false)
	run, md, html, doc := rendered(t, dir)
	if run.Overall() != verdict.Fail {
		t.Fatalf("comparison %s, want fail", run.Overall())
	}
	// The heading agrees with golive run's exit code 1: no PASS beside a
	// reproduction that did not reproduce.
	if !strings.HasPrefix(md, "## ❌ FAIL") || !strings.Contains(md, "naive-2021: reproduces 2021: no · hardened: PASS") {
		t.Errorf("summary.md starts %q", md[:min(len(md), 200)])
	}
	if !strings.Contains(html, `id="verdict" class="fail"`) {
		t.Error("report.html's banner is not a fail")
	}
	naive := suite(t, doc, "golive.launch-day.naive-2021")
	failing := map[string]bool{}
	for _, c := range naive.Cases {
		if c.Failure != nil {
			failing[c.Name] = true
		}
	}
	if !failing["reproduces 2021"] || !failing["p99(issue) > 3s"] {
		t.Errorf("failing testcases %v, want reproduces 2021 and p99(issue) > 3s", failing)
	}
}

func TestInconclusiveThresholdIsSkippedNotFailed(t *testing.T) {
	dir := t.TempDir()
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: time.Hour, Requests: 20_000}); err != nil {
		t.Fatal(err)
	}
	const expr = "fraud_escaped <= 10"
	ev := verdict.Evidence{Kind: "threshold", Name: expr, Needs: "actions by class insider", Min: 11, Expected: 3,
		Forces: verdict.ForcesPass, MaxTimescale: 245, MinDemandScale: 3.67, Verdict: verdict.Inconclusive}
	patchSummary(t, dir, func(m map[string]any) {
		m["verdict"], m["verdict_text"] = verdict.Inconclusive, verdict.Inconclusive
		m["inconclusive"] = []string{ev.Reason()}
		m["evidence"] = []verdict.Evidence{ev}
		ths := m["thresholds"].([]any)
		m["thresholds"] = append(ths, map[string]any{"expr": expr, "ok": true, "value": "3", "scope": "run"})
		m["checks"] = []map[string]any{{"name": "consistency", "ok": true, "detail": "0 lost"}}
	})
	run, md, html, doc := rendered(t, dir)
	if run.Outcome() != verdict.Inconclusive || run.Passed() || run.Verdict() != "INCONCLUSIVE" {
		t.Fatalf("outcome %s, verdict %s", run.Outcome(), run.Verdict())
	}
	if !strings.HasPrefix(md, "## ⚠️ INCONCLUSIVE") {
		t.Errorf("summary.md starts %q", firstLine(md))
	}
	for _, want := range []string{"| ⚠️ inconclusive | `" + expr + "` |", "--timescale 245 or less", "--demand-scale 3.67 or more"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if !strings.Contains(html, `id="verdict" class="inconclusive"`) {
		t.Error("report.html's banner is not inconclusive")
	}
	s := doc.Suites[0]
	if s.Failures != 0 || s.Skipped != 2 { // the threshold and the scenario verdict
		t.Errorf("suite failures=%d skipped=%d, want 0 and 2", s.Failures, s.Skipped)
	}
	for _, c := range s.Cases {
		if c.Name == expr && (c.Skipped == nil || !strings.Contains(c.Skipped.Message, "needs 11 actions by class insider")) {
			t.Errorf("%s is not skipped with its reason: %+v", expr, c)
		}
	}
}
