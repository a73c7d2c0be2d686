package reports_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/reports/synthrun"
)

// TestCostInSummaryMarkdownAndHTML: a run whose summary.json has a cost
// shows CPU per request and per certificate for each component and the
// sums in summary.md and report.html; a run without one shows no table.
func TestCostInSummaryMarkdownAndHTML(t *testing.T) {
	dir := t.TempDir()
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: 10 * time.Minute, Requests: 2_000}); err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if md := reports.Markdown(run); strings.Contains(md, "CPU per request") {
		t.Errorf("summary.md shows a cost the run does not have:\n%s", md)
	}

	s, err := rundir.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Cost = &rundir.Cost{Source: rundir.CostSourceCgroup, WallSeconds: 60, Requests: 2000, Delivered: 1000}
	s.Cost.Fill(map[string]float64{"portal": 0.8, "signer-1": 0.5, "signer-2": 0.3, "proxy": 0.1}, map[string]int{"signer-2": 1}, 2)
	if err := rundir.WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	if run, err = reports.Load(dir); err != nil {
		t.Fatal(err)
	}
	md := reports.Markdown(run)
	for _, want := range []string{
		"### CPU per request",
		"container cgroup CPU usage",
		"| portal | 0.80 s | 400 µs | 800 µs |",
		"| signer-2 | 0.30 s (≥, 1 restarts) | 150 µs | 300 µs |",
		"| **signers (sum)** | 0.80 s (≥, 1 restarts) | 400 µs | 800 µs |",
		"| **system (sum)** | 1.70 s (≥, 1 restarts) | 850 µs | 1.70 ms |",
		"| load generator (not in the sum) | 2.00 s | 1.00 ms | 2.00 ms |",
		"signer-2 restarted 1 times during the run",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	// The order: portal, signers by number, then the rest.
	if i, j, k := strings.Index(md, "| portal"), strings.Index(md, "| signer-1"), strings.Index(md, "| proxy"); !(i < j && j < k) {
		t.Errorf("rows out of order:\n%s", md)
	}
	out := filepath.Join(dir, "report")
	if err := reports.Write(context.Background(), run, out); err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(filepath.Join(out, reports.HTMLFile))
	if !strings.Contains(string(h), `id="cost-table"`) || !strings.Contains(string(h), "<td class=\"num\">850 µs</td>") {
		t.Error("report.html has no cost table")
	}
}
