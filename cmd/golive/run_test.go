package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyInsider is insider-abuse in ten simulated minutes: at demand scale 1
// the insider sends 3 requests, too few for the night-burst detector (it
// tolerates 10); at demand scale 4 it sends 12.
const tinyInsider = `name: tiny-insider
clock: {date: 2021-09-14, start: "21:00", end: "21:10", timescale: 60}
system: {profile: hardened, signers: 1, hsm: {slots: 4, latency: 5ms}}
traffic:
  - name: issue
    kind: issue
    pharmacies: 6
    demand: [{shape: step, from: "21:00", until: "21:10", rate: 0.5}]
  - name: insider
    kind: stolen-credentials
    pharmacies: 1
    demand: [{shape: step, from: "21:00", until: "21:10", rate: 0.3}]
thresholds: [lost == 0]
checks: [consistency]
profiles:
  hardened: {thresholds: ["fraud_escaped <= 10"], checks: [fraud_contained]}
  naive-2021: {thresholds: ["fraud_escaped > 10"]}
`

func readSummary(t *testing.T, dir string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRunExitCodes runs a scenario on the local testbed (this test binary
// acting as golive for the children) and checks the exit code contract:
// 3 when too few events leave checks unjudged (with the reason and the
// scale that can judge them), 0 when the run passes and a reproduction
// reproduces, 1 when a threshold fails; a comparison's exit code and
// summary.md heading follow every profile's verdict.
func TestRunExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs testbeds")
	}
	t.Setenv("GOLIVE_TEST_MAIN", "1")
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny-insider.yaml")
	if err := os.WriteFile(file, []byte(tinyInsider), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("too few events: inconclusive, exit 3", func(t *testing.T) {
		out := filepath.Join(dir, "compare")
		r := golive(t, "", "run", file, "--target", "local", "--profile", "naive-2021,hardened", "--out", out)
		if r.code != 3 {
			t.Fatalf("exit %d, want 3\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"tiny-insider reproduces 2021: inconclusive (naive-2021",
			"tiny-insider INCONCLUSIVE (hardened",
			"inconclusive: check fraud_contained needs 11 issuances by class insider outside opening hours",
			"judge it at --timescale 16.3 or less, or --demand-scale 3.67 or more",
			"tiny-insider INCONCLUSIVE: naive-2021: reproduces 2021: inconclusive · hardened: INCONCLUSIVE",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		// Said before the load, too.
		if !strings.Contains(r.stderr, "warning: tiny-insider (hardened) would be inconclusive: check fraud_contained") {
			t.Errorf("no warning before the run:\n%s", r.stderr)
		}
		s := readSummary(t, filepath.Join(out, "naive-2021"))
		if s["verdict"] != "inconclusive" || s["reproduces"] != "2021" || s["verdict_text"] != "reproduces 2021: inconclusive" {
			t.Errorf("naive-2021 summary.json: verdict %v, reproduces %v, verdict_text %v", s["verdict"], s["reproduces"], s["verdict_text"])
		}
		md, err := os.ReadFile(filepath.Join(out, "summary.md"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(md), "## ⚠️ INCONCLUSIVE") {
			t.Errorf("comparison summary.md starts %q", headLine(string(md)))
		}
	})

	t.Run("enough events: the detector contains the insider, exit 0", func(t *testing.T) {
		out := filepath.Join(dir, "hardened")
		r := golive(t, "", "run", file, "--target", "local", "--demand-scale", "4", "--out", out)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "would be inconclusive") {
			t.Errorf("warned at a demand scale that gives enough:\n%s", r.stderr)
		}
		s := readSummary(t, out)
		sec := s["security"].(map[string]any)
		if s["verdict"] != "pass" || sec["fraud_revoked"].(float64) < 1 || sec["fraud_escaped"].(float64) != 0 {
			t.Errorf("verdict %v, security %v", s["verdict"], sec)
		}
	})

	t.Run("a reproduction that does not reproduce fails, exit 1", func(t *testing.T) {
		out := filepath.Join(dir, "naive")
		r := golive(t, "", "run", file, "--target", "local", "--demand-scale", "4", "--profile", "naive-2021",
			"--threshold", "lost > 0", "--out", out)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "tiny-insider reproduces 2021: no (naive-2021") || !strings.Contains(r.stdout, "fail: threshold lost > 0") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		md, err := os.ReadFile(filepath.Join(out, "summary.md"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(md), "## ❌ reproduces 2021: no — ") {
			t.Errorf("summary.md starts %q", headLine(string(md)))
		}
	})
}

func headLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
