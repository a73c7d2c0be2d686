package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports/synthrun"
)

func TestReportWritesFilesAndPrintsPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	// A failing run still gets its report and exit 0: gating is 'gate'.
	if _, err := synthrun.Write(dir, synthrun.Config{Profile: synthrun.Naive2021, Duration: time.Hour, Requests: 20_000}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	r := golive(t, "", "report", dir, "--out", out)
	mustOK(t, r, "report")
	want := filepath.Join(out, "report.html")
	if strings.TrimSpace(r.stdout) != want {
		t.Errorf("stdout %q, want the report path %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "verdict FAIL") {
		t.Errorf("stderr does not give the verdict: %q", r.stderr)
	}
	for _, f := range []string{"report.html", "summary.md", "junit.xml", "charts/offered.png", "charts/offered.svg", "charts/capacity.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestReportDefaultsToRunDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: 20 * time.Minute, Requests: 5_000, Omit: []string{"metrics.csv"}}); err != nil {
		t.Fatal(err)
	}
	r := golive(t, "", "report", dir)
	mustOK(t, r, "report")
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr, "charts left out: backlog") {
		t.Errorf("stderr does not name the omitted chart: %q", r.stderr)
	}
}

func TestReportExitCodes(t *testing.T) {
	if r := golive(t, "", "report"); r.code != 2 || !strings.Contains(r.stderr, "RUN_DIR") {
		t.Errorf("no argument: exit %d, stderr %q; want 2 naming RUN_DIR", r.code, r.stderr)
	}
	if r := golive(t, "", "report", "a", "b"); r.code != 2 {
		t.Errorf("two arguments: exit %d, want 2", r.code)
	}
	if r := golive(t, "", "report", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "not a run directory") {
		t.Errorf("empty directory: exit %d, stderr %q; want 1", r.code, r.stderr)
	}
	dir := t.TempDir()
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: 10 * time.Minute, Requests: 1_000}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), []byte("{\n\"verdict\": pass\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := golive(t, "", "report", dir); r.code != 1 || !strings.Contains(r.stderr, "summary.json:2:") {
		t.Errorf("malformed summary: exit %d, stderr %q; want 1 with file and line", r.code, r.stderr)
	}
	r := golive(t, "", "report", "--help")
	mustOK(t, r, "report --help")
	if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "golive report out/run") {
		t.Errorf("--help lacks an example:\n%s", r.stdout)
	}
}
