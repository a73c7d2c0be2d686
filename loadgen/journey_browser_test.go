package loadgen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
)

// Browser journeys in headless Chromium against a complete issuer
// (portaltest): certificates and their PDFs, an expired session that keeps
// its form, the cut-off's banner and ticket, and the counts and
// screenshots that summary.json gets. Missing Chromium skips, unless
// GOLIVE_REQUIRE_CHROMIUM=1 makes it a failure.

// journeyRunTimeout bounds one RunJourneys of the tests (browser start
// included) on a loaded machine.
const journeyRunTimeout = 3 * time.Minute

func chromium(t *testing.T) string {
	t.Helper()
	if p := loadgen.ChromiumPath(); p != "" {
		return p
	}
	if os.Getenv("GOLIVE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("GOLIVE_REQUIRE_CHROMIUM=1 but no chromium on PATH (make test-deps, or apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH: install Debian's chromium package (make test-deps) to run the browser journeys")
	return ""
}

// morning is 09:00 in Berlin today: inside the fraud detector's opening
// hours, whenever the test runs.
func morning(t *testing.T) *portaltest.Clock {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	c := &portaltest.Clock{}
	c.Set(time.Date(y, m, d, 9, 0, 0, 0, loc))
	return c
}

func login(ph *portaltest.Pharmacy) []loadgen.JourneyLogin {
	return []loadgen.JourneyLogin{{PharmacyID: ph.ID, ClientID: ph.ClientID, ClientSecret: ph.ClientSecret}}
}

// testLog writes the executor's log into the test's.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func runJourneys(t *testing.T, p loadgen.JourneyPlan) ([]loadgen.JourneyResult, []rundir.BrowserShot) {
	t.Helper()
	p.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	ctx := t.Context()
	rs, shots, err := loadgen.RunJourneys(ctx, loadgen.JourneyBrowser, p)
	if err != nil {
		t.Fatalf("journeys: %v", err)
	}
	return rs, shots
}

// shotDir is where a test's screenshots go: GOLIVE_SCREENSHOTS/<test>
// keeps them, else a temporary directory.
func shotDir(t *testing.T) string {
	if d := os.Getenv("GOLIVE_SCREENSHOTS"); d != "" {
		d = filepath.Join(d, t.Name())
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// checkShot: the file exists, is a PNG and is not one colour.
func checkShot(t *testing.T, dir string, s rundir.BrowserShot) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(s.File)))
	if err != nil {
		t.Fatalf("screenshot %s: %v", s.File, err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot %s is no PNG: %v", s.File, err)
	}
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	r0, g0, b0, _ := first.RGBA()
	differ := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bl != b0 {
				differ++
			}
		}
	}
	if differ < 100 {
		t.Errorf("screenshot %s looks blank (%d sampled pixels off the corner's colour)", s.File, differ)
	}
}

func TestBrowserJourneysIssueAndKeepForms(t *testing.T) {
	exe := chromium(t)
	env := portaltest.Start(t, portaltest.Options{Clock: morning(t)})
	ph := env.NewPharmacy(t)
	dir := shotDir(t)
	rs, shots := runJourneys(t, loadgen.JourneyPlan{BaseURL: env.URL, Users: 1, Logins: login(ph), Duration: journeyRunTimeout,
		MaxJourneys: 2, Dir: dir, ExecPath: exe, Phase: func(time.Time) string { return "morning" },
		// The second customer's session expires while the form is filled.
		BeforeIssue: func(_, seq int) {
			if seq == 1 {
				env.Clock.Advance(2 * env.Config.StaffWeb.SessionIdle.D())
			}
		}})
	if len(rs) != 2 {
		t.Fatalf("%d journeys, want 2: %+v", len(rs), rs)
	}
	for i, r := range rs {
		if r.Outcome != loadgen.JourneyPDF || r.ToPDF < r.ToAnswer || r.ToAnswer <= 0 || r.Phase != "morning" || r.Banner {
			t.Errorf("journey %d: %+v", i, r)
		}
	}
	if rs[0].SessionLost || !rs[1].SessionLost || rs[1].FormLost {
		t.Errorf("session lost %v/%v, form lost %v: want only the second session lost, and its form kept", rs[0].SessionLost, rs[1].SessionLost, rs[1].FormLost)
	}
	sum := loadgen.SummarizeJourneys(1, loadgen.DefaultAnswerTimeout, []string{"morning", "evening"}, rs, shots)
	m := sum.Phases[0]
	if m.Journeys != 2 || m.PDF != 2 || m.SessionsLost != 1 || m.FormsLost != 0 || m.TimeToPDF.Count != 2 || m.TimeToPDF.P50 == nil ||
		*m.TimeToPDF.P99 < *m.TimeToPDF.P50 || sum.Phases[1].Journeys != 0 || sum.Phases[1].TimeToPDF.P50 != nil {
		t.Errorf("summary: %+v", sum)
	}
	var cert bool
	for _, s := range shots {
		checkShot(t, dir, s)
		cert = cert || (s.State == portalapi.StaffPageCertificate && s.Phase == "morning")
	}
	if !cert {
		t.Errorf("no screenshot of the certificate: %+v", shots)
	}
	// Both issued once: the kept form carried its Idempotency-Key.
	cs, err := env.Store.CertificatesByPharmacy(t.Context(), ph.ID)
	if err != nil || len(cs) != 2 {
		t.Errorf("%d certificates (%v), want 2", len(cs), err)
	}
	// Each journey names the certificate it got, for the after-run check.
	stored := map[string]bool{}
	for _, c := range cs {
		stored[c.UVCI] = true
	}
	for i, r := range rs {
		if !stored[r.UVCI] {
			t.Errorf("journey %d got UVCI %q, not one of the pharmacy's certificates", i, r.UVCI)
		}
	}
}

// With keep_forms_on_expiry off (naive-2021) the form is lost and typed
// again: counted.
func TestBrowserJourneysFormLostWithoutKeeping(t *testing.T) {
	exe := chromium(t)
	env := portaltest.Start(t, portaltest.Options{Clock: morning(t), Mutate: func(c *portalapi.Config) { c.StaffWeb.KeepFormsOnExpiry = false }})
	ph := env.NewPharmacy(t)
	rs, _ := runJourneys(t, loadgen.JourneyPlan{BaseURL: env.URL, Users: 1, Logins: login(ph), Duration: journeyRunTimeout,
		MaxJourneys: 1, ExecPath: exe,
		BeforeIssue: func(int, int) { env.Clock.Advance(2 * env.Config.StaffWeb.SessionIdle.D()) }})
	if len(rs) != 1 || !rs[0].SessionLost || !rs[0].FormLost || rs[0].Outcome != loadgen.JourneyPDF {
		t.Fatalf("journeys %+v: want a lost session and form, then the PDF", rs)
	}
}

// During a cut-off the hardened portal answers with its banner and a
// ticket within the issuance deadline; the journey keeps a screenshot.
func TestBrowserJourneysCutOffTicket(t *testing.T) {
	exe := chromium(t)
	env := portaltest.Start(t, portaltest.Options{Clock: morning(t)})
	ph := env.NewPharmacy(t)
	env.SetSigners(portaltest.SignerDown)
	deadline := time.Now().Add(20 * time.Second)
	for env.SignerClient.Available() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the signer client never noticed the cut-off")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dir := shotDir(t)
	rs, shots := runJourneys(t, loadgen.JourneyPlan{BaseURL: env.URL, Users: 1, Logins: login(ph), Duration: journeyRunTimeout,
		MaxJourneys: 1, Dir: dir, ExecPath: exe, TicketWait: time.Second, Phase: func(time.Time) string { return "cut-off" }})
	if len(rs) != 1 {
		t.Fatalf("%d journeys", len(rs))
	}
	r := rs[0]
	if r.Outcome != loadgen.JourneyTicket || !r.Banner || r.Page != portalapi.StaffPageTicket || r.ToPDF != 0 {
		t.Fatalf("journey in the cut-off: %+v", r)
	}
	// (How fast the ticket comes is the portal's issuance deadline,
	// tested in staffweb; a loaded machine makes a browser's figure here
	// no test of it.)
	t.Logf("ticket after %v (issuance deadline %v)", r.ToAnswer, env.Config.IssueDeadline.D())
	var ticket bool
	for _, s := range shots {
		checkShot(t, dir, s)
		ticket = ticket || (s.State == portalapi.StaffPageTicket && s.Banner && s.Phase == "cut-off")
	}
	if !ticket {
		t.Errorf("no screenshot of the ticket with its banner: %+v", shots)
	}
	sum := loadgen.SummarizeJourneys(1, loadgen.DefaultAnswerTimeout, []string{"cut-off"}, rs, shots)
	if c := sum.Phases[0]; c.Ticket != 1 || c.Banner != 1 || c.PDF != 0 || c.TimeToPDF.Count != 0 || c.TimeToAnswer.Count != 1 {
		t.Errorf("summary of the cut-off: %+v", c)
	}
}

// TestBrowserJourneysOverTLS: in front of an https portal whose
// certificate no root signed, a browser told that certificate's key
// (TrustSPKI, as a TLS run tells it its portals' keys) gets its PDF; one
// not told gets nothing.
func TestBrowserJourneysOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium twice (tens of seconds)")
	}
	exe := chromium(t)
	env := portaltest.Start(t, portaltest.Options{Clock: morning(t)})
	ph := env.NewPharmacy(t)
	up, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(up))
	t.Cleanup(front.Close)
	sum := sha256.Sum256(front.Certificate().RawSubjectPublicKeyInfo)
	trust := base64.StdEncoding.EncodeToString(sum[:])
	run := func(spki []string) []loadgen.JourneyResult {
		rs, _ := runJourneys(t, loadgen.JourneyPlan{BaseURL: front.URL, Users: 1, Logins: login(ph), Duration: journeyRunTimeout,
			MaxJourneys: 1, ExecPath: exe, TrustSPKI: spki, AnswerTimeout: 20 * time.Second})
		return rs
	}
	if rs := run([]string{trust}); len(rs) != 1 || rs[0].Outcome != loadgen.JourneyPDF {
		t.Fatalf("trusting the portal's key: %+v, want one PDF", rs)
	}
	if rs := run(nil); len(rs) == 1 && rs[0].Outcome == loadgen.JourneyPDF {
		t.Errorf("a browser that trusts no key got a PDF from a certificate no root signed: %+v", rs)
	}
}
