package reports_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golive-dev/golive/reports"
	"github.com/golive-dev/golive/reports/synthrun"
)

// BenchmarkReport10M loads and writes the report of a run the size of a
// 10-million-request launch day: 13 h simulated at 1 s buckets x 3 classes
// (140,400 timeseries rows), /metrics every 30 s and HDR histograms holding
// 10 M values. Target: under 30 s per report in bounded memory; peak-RSS-MB
// is the process's high-water mark (VmHWM) while reports are written.
func BenchmarkReport10M(b *testing.B) {
	dir := b.TempDir()
	tot, err := synthrun.Write(dir, synthrun.Config{Duration: 13 * time.Hour, Requests: 10_000_000})
	if err != nil {
		b.Fatal(err)
	}
	if tot.All.Offered < 9_900_000 {
		b.Fatalf("fixture has only %d requests", tot.All.Offered)
	}
	out := filepath.Join(dir, "report")
	resetPeakRSS()
	b.ResetTimer()
	for b.Loop() {
		run, err := reports.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := reports.Write(context.Background(), run, out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if mb := peakRSSMB(); mb > 0 {
		b.ReportMetric(mb, "peak-RSS-MB")
	}
	b.ReportMetric(float64(tot.All.Offered), "requests/report")
}

// resetPeakRSS clears the kernel's RSS high-water mark (Linux >= 4.0), so
// VmHWM measures the reports and not the fixture generation before them.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseFloat(string(bytes.Fields(rest)[0]), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
