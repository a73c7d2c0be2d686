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

// TestBrowserSectionShowsPhasesAndScreenshots: summary.json's browsers
// becomes a table per phase with the time to PDF, and the screenshots
// of the cut-off are shown (linked relative to the report, which may sit
// above the profile's directory).
func TestBrowserSectionShowsPhasesAndScreenshots(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "hardened")
	if _, err := synthrun.Write(dir, synthrun.Config{Duration: time.Hour, Requests: 5_000}); err != nil {
		t.Fatal(err)
	}
	s, err := rundir.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	s.Browsers = &rundir.Browsers{Instances: 3, AnswerTimeoutMS: 30000,
		BrowserCounts: rundir.BrowserCounts{Journeys: 7, PDF: 4, Ticket: 3, Banner: 3, TimeToPDF: rundir.Percentiles(ms(210, 230, 250, 1870))},
		Phases: []rundir.BrowserPhase{
			{Name: "morning", BrowserCounts: rundir.BrowserCounts{Journeys: 5, PDF: 4, Ticket: 1, TimeToPDF: rundir.Percentiles(ms(210, 230, 250, 1870))}},
			{Name: "cut-off", BrowserCounts: rundir.BrowserCounts{Journeys: 3, Ticket: 3, Banner: 3, FormsLost: 1, TimeToAnswer: rundir.Percentiles(ms(400, 410, 420))}},
		},
		Screenshots: []rundir.BrowserShot{
			{File: "browsers/morning-certificate-u0-000.png", Phase: "morning", State: "certificate", Page: "certificate", AfterMS: 230},
			// A ticket of a busy morning: shown only as a link, the
			// cut-off's is the one to see.
			{File: "browsers/morning-ticket-u0-001.png", Phase: "morning", State: "ticket", Page: "ticket", Banner: true, AfterMS: 9000},
			{File: "browsers/cut-off-ticket-u1-004.png", Phase: "cut-off", State: "ticket", Page: "ticket", Banner: true, AfterMS: 410},
			{File: "browsers/cut-off-ticket-u2-005.png", Phase: "cut-off", State: "ticket", Page: "ticket", Banner: true, AfterMS: 420},
		}}
	if err := rundir.WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	run, err := reports.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Write(context.Background(), run, base); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(base, reports.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	h := string(raw)
	section, _, _ := strings.Cut(h[strings.Index(h, `id="browsers"`)+1:], `id="phases"`)
	for _, want := range []string{"Time to PDF p99", "<td>morning</td>", "<td>cut-off</td>", "1.87 s", "230 ms",
		`<img src="hardened/browsers/cut-off-ticket-u1-004.png"`, "with the cut-off banner",
		`<img src="hardened/browsers/morning-certificate-u0-000.png"`, `href="hardened/browsers/cut-off-ticket-u2-005.png"`,
		`class="num bad">1</td>`, `href="hardened/browsers/morning-ticket-u0-001.png"`} {
		if !strings.Contains(section, want) {
			t.Errorf("browser section lacks %q:\n%s", want, section)
		}
	}
	if strings.Contains(section, `<img src="hardened/browsers/morning-ticket`) {
		t.Error("the morning's ticket is shown instead of the cut-off's")
	}
	// The cut-off's ticket is shown before the morning's certificate.
	if strings.Index(section, "cut-off-ticket-u1") > strings.Index(section, "morning-certificate") {
		t.Error("the certificate is shown before the cut-off's ticket")
	}
}

// A run without browsers has no such section.
func TestNoBrowserSectionWithoutBrowsers(t *testing.T) {
	if f := compareFixture(t); strings.Contains(f.html, `id="browsers"`) {
		t.Error("a run without browsers has a browser section")
	}
}
