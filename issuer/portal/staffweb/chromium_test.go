package staffweb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// End-to-end tests in headless Chromium (Debian's chromium package,
// installed by `make test-deps`), driven with chromedp: a person's
// journeys through the pages, with a screenshot of every page checked for
// content and heading. Missing Chromium skips, unless
// GOLIVE_REQUIRE_CHROMIUM=1 (CI) makes it a failure.
//
// GOLIVE_SCREENSHOTS=dir keeps the screenshots there (default: a
// temporary directory per test).

// Named timeouts: a browser start, one step (a navigation, a click and
// the page it loads), and the wait for something a page does by itself.
const (
	browserStartTimeout = 45 * time.Second
	stepTimeout         = 20 * time.Second
	selfRefreshTimeout  = 30 * time.Second
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("GOLIVE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("GOLIVE_REQUIRE_CHROMIUM=1 but no chromium on PATH (make test-deps, or apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH: install Debian's chromium package (make test-deps) to run the browser tests")
	return ""
}

// One browser serves every test of the package; each test gets its own
// browser context (its own cookies), so tests cannot see each other's
// sessions even though every portal listens on 127.0.0.1.
var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
	}
	os.Exit(code)
}

// newTab opens a tab in a fresh browser context. (The tests do not run in
// parallel: on two busy cores that made each slower than the sum.)
func newTab(t *testing.T) context.Context {
	t.Helper()
	bin := chromiumPath(t)
	shared.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.Flag("lang", "en-US"),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("mute-audio", true))
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		shared.ctx, shared.cancel = bctx, func() { bcancel(); acancel() }
		shared.err = within(browserStartTimeout, func() error { return chromedp.Do(bctx) }, shared.cancel)
	})
	if shared.err != nil {
		t.Fatalf("starting chromium: %v", shared.err)
	}
	ctx, cancel := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := within(stepTimeout, func() error { return chromedp.Do(ctx) }, cancel); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// within runs f (a first Run, which must not get a context with a
// deadline: it would bind the browser's life to it) and gives up after d.
func within(d time.Duration, f func() error, cancel context.CancelFunc) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cancel()
		return fmt.Errorf("no answer within %v", d)
	}
}

// do runs steps within stepTimeout.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// load runs steps that navigate (a click on a submit button, a link) and
// waits for the new page; it returns the page's HTTP status.
func load(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, steps...)
	if err != nil {
		url, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (now at %s)", what, err, url)
	}
	return resp.Status
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func heading(t *testing.T, ctx context.Context) string {
	t.Helper()
	return strings.TrimSpace(run(t, ctx, "reading the heading", chromedp.Text(chromedp.ID(portalapi.StaffIDHeading))))
}

func pageName(t *testing.T, ctx context.Context) string {
	t.Helper()
	a := run(t, ctx, "reading the page name", chromedp.AttributeValue(chromedp.CSS("body"), "data-page"))
	return a.Value
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("GOLIVE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// shot takes a screenshot of the whole page, checks that it is not blank
// and that the page's heading is the expected one, and keeps it.
func shot(t *testing.T, ctx context.Context, dir, name, wantHeading string) {
	t.Helper()
	if got := heading(t, ctx); got != wantHeading {
		t.Errorf("%s: heading %q, want %q", name, got, wantHeading)
	}
	raw := run(t, ctx, "screenshot of "+name, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: screenshot is no PNG: %v", name, err)
	}
	if sd, share := contrastStats(img); sd < 20 || share < 0.02 {
		t.Errorf("%s: screenshot looks blank (luminance sd %.1f, %.1f%% of pixels off the background)", name, sd, 100*share)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// contrastStats: the standard deviation of luminance and the share of
// pixels that differ from the most common colour (the background).
func contrastStats(img image.Image) (sd, share float64) {
	b := img.Bounds()
	counts := map[uint32]int{}
	var sum, sq float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			sum += l
			sq += l * l
			counts[(r>>8)<<16|(g>>8)<<8|bl>>8]++
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean := sum / float64(n)
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	return math.Sqrt(max(sq/float64(n)-mean*mean, 0)), 1 - float64(top)/float64(n)
}

// press activates the button with id from the keyboard (Enter on the
// focused button), as a counter without a mouse does. (A mouse click
// after a full-page screenshot can miss: the capture changes the
// viewport's metrics.)
func press(id string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.ID(id), "\r")
}

// typeText types text into the field with id as a keyboard with an input
// method does (SendKeys knows only the keys of a US layout).
func typeText(t *testing.T, ctx context.Context, id, text string) {
	t.Helper()
	do(t, ctx, "typing into "+id, chromedp.Focus(chromedp.ID(id)), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// signInBrowser types the credentials and signs in.
func signInBrowser(t *testing.T, ctx context.Context, ph *portaltest.Pharmacy) {
	t.Helper()
	typeText(t, ctx, portalapi.StaffIDClientID, ph.ClientID)
	typeText(t, ctx, portalapi.StaffIDClientSecret, ph.ClientSecret)
	load(t, ctx, "signing in", press(portalapi.StaffIDSignIn))
}

// typeVaccination fills the vaccination form the way staff do: typing
// names and numbers, choosing from lists and date pickers.
func typeVaccination(t *testing.T, ctx context.Context, env *portaltest.Env, fn, gn string) {
	t.Helper()
	typeText(t, ctx, "fn", fn)
	typeText(t, ctx, "gn", gn)
	do(t, ctx, "filling the form",
		chromedp.SendKeys(chromedp.ID("dob"), "26.02.1998"),
		chromedp.SetValue(chromedp.ID("mp"), "EU/1/20/1528"),
		chromedp.SetValue(chromedp.ID("dt"), env.Clock.Now().Add(-24*time.Hour).Format("2006-01-02")),
		chromedp.SendKeys(chromedp.ID("dn"), "2"),
		chromedp.SendKeys(chromedp.ID("sd"), "2"))
}

// TestBrowserIssueAndPrint: sign in, a refused form, a certificate, its
// QR code shown and its PDF shown and downloaded, all by keyboard and
// mouse in a real browser.
func TestBrowserIssueAndPrint(t *testing.T) {
	ctx := newTab(t)
	env, logs := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)

	if st := load(t, ctx, "opening the portal", chromedp.Navigate(env.URL+"/staff/")); st != http.StatusOK {
		t.Fatalf("/staff/: %d", st)
	}
	shot(t, ctx, dir, "signin", "Sign in")
	signInBrowser(t, ctx, ph)
	if pageName(t, ctx) != portalapi.StaffPageIssue {
		t.Fatalf("after sign-in: page %q, heading %q", pageName(t, ctx), heading(t, ctx))
	}
	shot(t, ctx, dir, "issue-vaccination", "Vaccination certificate")

	// Issue without a vaccine and a date: the API's field errors, next
	// to the fields.
	typeText(t, ctx, "fn", "Musterfrau-Gößinger")
	typeText(t, ctx, "gn", "Gabriele")
	do(t, ctx, "typing the doses", chromedp.SendKeys(chromedp.ID("dn"), "2"), chromedp.SendKeys(chromedp.ID("sd"), "2"))
	if st := load(t, ctx, "issuing an incomplete form", press(portalapi.StaffIDIssue)); st != http.StatusBadRequest {
		t.Fatalf("incomplete form: status %d", st)
	}
	do(t, ctx, "waiting for the error summary", chromedp.WaitVisible(chromedp.ID(portalapi.StaffIDErrorList)))
	for _, id := range []string{"mp-error", "dt-error"} {
		if code := run(t, ctx, id, chromedp.AttributeValue(chromedp.ID(id), "data-code")).Value; code != "required" {
			t.Errorf("%s: code %q, want required", id, code)
		}
	}
	if v := run(t, ctx, "reading fn", chromedp.Value(chromedp.ID("fn"))); v != "Musterfrau-Gößinger" {
		t.Fatalf("the refused form lost the name: %q", v)
	}
	shot(t, ctx, dir, "issue-field-errors", "Vaccination certificate")

	// Complete it and press Enter in the last field: the form's default
	// button is "issue", not the language switch that follows it.
	do(t, ctx, "completing the form",
		chromedp.SetValue(chromedp.ID("mp"), "EU/1/20/1528"),
		chromedp.SetValue(chromedp.ID("dt"), env.Clock.Now().Add(-24*time.Hour).Format("2006-01-02")),
		chromedp.SendKeys(chromedp.ID("dob"), "26.02.1998"))
	if st := load(t, ctx, "pressing Enter", chromedp.SendKeys(chromedp.ID("dob"), "\r")); st != http.StatusOK {
		t.Fatalf("issue: status %d", st)
	}
	if pageName(t, ctx) != portalapi.StaffPageCertificate {
		t.Fatalf("after issuing: page %q, heading %q", pageName(t, ctx), heading(t, ctx))
	}
	if h := run(t, ctx, "holder", chromedp.Text(chromedp.ID("holder"))); h != "Gabriele Musterfrau-Gößinger" {
		t.Fatalf("holder %q", h)
	}
	if w := run(t, ctx, "QR loaded", chromedp.JavascriptAttribute[int](chromedp.ID(portalapi.StaffIDQR), "naturalWidth")); w < 100 {
		t.Fatalf("the QR image did not load (naturalWidth %d)", w)
	}
	shot(t, ctx, dir, "certificate", "Certificate issued")

	// The PDF downloads...
	downloads := t.TempDir()
	dctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	progress := chromedp.BrowserEvents(dctx, browser.DownloadProgress)
	bcID := chromedp.FromContext(ctx).BrowserContextID
	do(t, ctx, "downloading the PDF",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: bcID,
				DownloadPath: downloads, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.ID(portalapi.StaffIDPDFDownload)))
	var pdf []byte
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the PDF download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			if pdf, err = os.ReadFile(filepath.Join(downloads, ev.GUID)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 1000 {
		t.Fatalf("downloaded %d bytes, not a PDF: %q", len(pdf), pdf[:min(len(pdf), 16)])
	}
	// ... and opens in the browser.
	href := run(t, ctx, "PDF link", chromedp.AttributeValue(chromedp.ID(portalapi.StaffIDPDF), "href")).Value
	resp := run(t, ctx, "opening the PDF", chromedp.NavigateResponse(env.URL+href))
	if resp.Status != http.StatusOK || resp.MimeType != "application/pdf" {
		t.Fatalf("opening the PDF: %d %s", resp.Status, resp.MimeType)
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
	checkLogs(t, logs, "Musterfrau-Gößinger", "Gabriele", "1998-02-26")
}

// TestBrowserSignerCutOff: the banner, a ticket within the deadline, and
// the ticket page turning into the certificate by itself (meta refresh,
// no script) once the signer is back.
func TestBrowserSignerCutOff(t *testing.T) {
	ctx := newTab(t)
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)
	load(t, ctx, "opening sign-in", chromedp.Navigate(env.URL+portalapi.StaffSignIn))
	signInBrowser(t, ctx, ph)

	env.SetSigners(portaltest.SignerDown)
	deadline := time.Now().Add(stepTimeout)
	for env.SignerClient.Available() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the signer client never noticed the cut-off")
		}
		time.Sleep(20 * time.Millisecond)
	}
	load(t, ctx, "opening the form", chromedp.Navigate(env.URL+portalapi.StaffIssuePrefix+portalapi.StaffKindVaccination))
	banner := run(t, ctx, "reading the banner", chromedp.Text(chromedp.ID(portalapi.StaffIDSignerDown)))
	if !strings.Contains(banner, "cut off") || !strings.Contains(banner, "taken for later") {
		t.Fatalf("banner %q", banner)
	}
	typeVaccination(t, ctx, env, "Später", "Susanne")
	shot(t, ctx, dir, "issue-cut-off-banner", "Vaccination certificate")
	began := time.Now()
	load(t, ctx, "issuing during the cut-off", press(portalapi.StaffIDIssue))
	if took, limit := time.Since(began), env.Config.IssueDeadline.D()+2*time.Second; took > limit {
		t.Errorf("the ticket took %v, more than the deadline %v and a margin", took, limit)
	}
	if pageName(t, ctx) != portalapi.StaffPageTicket {
		t.Fatalf("during the cut-off: page %q, heading %q", pageName(t, ctx), heading(t, ctx))
	}
	ready := run(t, ctx, "reading the estimate", chromedp.Text(chromedp.ID(portalapi.StaffIDReady)))
	if !strings.HasPrefix(ready, "Ready at about ") {
		t.Fatalf("estimate %q", ready)
	}
	shot(t, ctx, dir, "ticket", "Certificate is being signed")

	env.SetSigners(portaltest.SignerUp)
	wctx, cancel := context.WithTimeout(ctx, selfRefreshTimeout)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.ID(portalapi.StaffIDQR))); err != nil {
		t.Fatalf("the ticket page did not turn into the certificate by itself: %v (heading %q)", err, heading(t, ctx))
	}
	shot(t, ctx, dir, "certificate-after-cut-off", "Certificate issued")
}

// TestBrowserExpiredSessionKeepsForm: what was typed into a session that
// expired is there again after signing in, and issues once.
func TestBrowserExpiredSessionKeepsForm(t *testing.T) {
	ctx := newTab(t)
	env, logs := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)
	load(t, ctx, "opening sign-in", chromedp.Navigate(env.URL+portalapi.StaffSignIn))
	signInBrowser(t, ctx, ph)
	load(t, ctx, "opening the test form", chromedp.Click(chromedp.ID("tab-test")))
	sample := env.Clock.Now().Add(-2 * time.Hour).Format("2006-01-02T15:04")
	typeText(t, ctx, "fn", "Dąbrowski")
	typeText(t, ctx, "gn", "Łukasz")
	do(t, ctx, "filling the test form",
		chromedp.SendKeys(chromedp.ID("dob"), "03.11.1984"),
		chromedp.SetValue(chromedp.ID("tt"), "LP217198-3"),
		chromedp.SendKeys(chromedp.ID("ma"), "1232"),
		chromedp.SetValue(chromedp.ID("sc"), sample),
		chromedp.SetValue(chromedp.ID("tr"), "260415000"),
		chromedp.SendKeys(chromedp.ID("tc"), "Apotheke am Markt"))

	env.Clock.Advance(45 * time.Minute) // a long phone call: the session expires
	load(t, ctx, "issuing into the expired session", press(portalapi.StaffIDIssue))
	if pageName(t, ctx) != portalapi.StaffPageSignIn {
		t.Fatalf("after expiry: page %q", pageName(t, ctx))
	}
	notice := run(t, ctx, "reading the notice", chromedp.Text(chromedp.ID(portalapi.StaffIDNotice)))
	if !strings.Contains(notice, "what you typed is kept") {
		t.Fatalf("notice %q", notice)
	}
	shot(t, ctx, dir, "signin-session-expired", "Sign in")
	signInBrowser(t, ctx, ph)
	if pageName(t, ctx) != portalapi.StaffPageIssue || heading(t, ctx) != "Test certificate" {
		t.Fatalf("after signing in again: page %q heading %q", pageName(t, ctx), heading(t, ctx))
	}
	for id, want := range map[string]string{"fn": "Dąbrowski", "gn": "Łukasz", "dob": "03.11.1984", "tt": "LP217198-3",
		"ma": "1232", "sc": sample, "tr": "260415000", "tc": "Apotheke am Markt"} {
		if got := run(t, ctx, "reading "+id, chromedp.Value(chromedp.ID(id))); got != want {
			t.Errorf("%s after sign-in: %q, typed %q", id, got, want)
		}
	}
	shot(t, ctx, dir, "issue-restored", "Test certificate")
	load(t, ctx, "issuing", press(portalapi.StaffIDIssue))
	if h := run(t, ctx, "holder", chromedp.Text(chromedp.ID("holder"))); h != "Łukasz Dąbrowski" {
		t.Fatalf("issued after sign-in: page %q holder %q", pageName(t, ctx), h)
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
	checkLogs(t, logs, "Dąbrowski", "Łukasz", "1984-11-03")
}

// TestBrowserRefusals: a form whose CSRF token was tampered with is
// refused and issues nothing; unknown pages are pages; German works.
func TestBrowserRefusals(t *testing.T) {
	ctx := newTab(t)
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)
	load(t, ctx, "opening sign-in", chromedp.Navigate(env.URL+portalapi.StaffSignIn))
	signInBrowser(t, ctx, ph)
	typeVaccination(t, ctx, env, "Gefälscht", "Fritz")
	do(t, ctx, "tampering with the token", chromedp.SetValue(chromedp.CSS(`#issue-form input[name="csrf"]`), "forged-token"))
	if st := load(t, ctx, "issuing with a forged token", press(portalapi.StaffIDIssue)); st != http.StatusForbidden {
		t.Fatalf("forged token: status %d", st)
	}
	shot(t, ctx, dir, "error-csrf", "This form has expired")
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("a forged post issued %d certificates", n)
	}
	if st := load(t, ctx, "an unknown page", chromedp.Navigate(env.URL+"/staff/nowhere")); st != http.StatusNotFound {
		t.Fatalf("unknown page: %d", st)
	}
	shot(t, ctx, dir, "not-found", "Page not found")

	// The switch: German, kept across pages.
	load(t, ctx, "opening the form", chromedp.Navigate(env.URL+portalapi.StaffIssuePrefix+portalapi.StaffKindRecovery))
	typeText(t, ctx, "fn", "Ødegård")
	load(t, ctx, "switching to German", chromedp.Click(chromedp.CSS(`#issue-form button[value="de"]`)))
	if h := heading(t, ctx); h != "Genesenenzertifikat" {
		t.Fatalf("after the switch: %q", h)
	}
	if v := run(t, ctx, "reading fn", chromedp.Value(chromedp.ID("fn"))); v != "Ødegård" {
		t.Fatalf("the switch lost the typed name: %q", v)
	}
	shot(t, ctx, dir, "issue-recovery-de", "Genesenenzertifikat")
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("the language switch issued %d certificates", n)
	}
}

// TestBrowserBusyAndFailed: the overload page keeps the form; a ticket
// that is given up turns into the "could not be issued" page by itself.
func TestBrowserBusyAndFailed(t *testing.T) {
	ctx := newTab(t)
	env, _ := start(t, holdingOptions(func(c *portalapi.Config) { c.DeferredMaxAge = portalapi.Duration(time.Second) }))
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)
	load(t, ctx, "opening sign-in", chromedp.Navigate(env.URL+portalapi.StaffSignIn))
	signInBrowser(t, ctx, ph)
	typeVaccination(t, ctx, env, "Warteschlange", "Wilma")

	env.SetSigners(portaltest.SignerHang)
	holder := make(chan *portaltest.Response, 1)
	go func() { holder <- env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, "v")) }()
	deadline := time.Now().Add(stepTimeout)
	for metric(t, env, `portal_admission_in_flight{limiter="issue"}`) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the holding request never took the slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := load(t, ctx, "issuing while the portal is full", press(portalapi.StaffIDIssue)); st != http.StatusServiceUnavailable {
		t.Fatalf("shed post: status %d", st)
	}
	if v := run(t, ctx, "reading fn", chromedp.Value(chromedp.ID("fn"))); v != "Warteschlange" {
		t.Fatalf("the busy page lost the form: %q", v)
	}
	shot(t, ctx, dir, "busy", "The portal is busy right now")
	if r := <-holder; r.Status != http.StatusAccepted {
		t.Fatalf("holding request: %v", r)
	}

	// Again: the signer still hangs, so the request becomes a ticket; it
	// outlives DeferredMaxAge, and once the signer is back it is given up.
	load(t, ctx, "issuing again", press(portalapi.StaffIDIssue))
	if pageName(t, ctx) != portalapi.StaffPageTicket {
		t.Fatalf("second try: page %q heading %q", pageName(t, ctx), heading(t, ctx))
	}
	time.Sleep(1100 * time.Millisecond)
	env.SetSigners(portaltest.SignerUp)
	wctx, cancel := context.WithTimeout(ctx, selfRefreshTimeout)
	defer cancel()
	err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`body[data-page="`+portalapi.StaffPageFailed+`"]`)))
	if err != nil {
		t.Fatalf("the ticket page did not show the failure by itself: %v (page %q)", err, pageName(t, ctx))
	}
	shot(t, ctx, dir, "failed", "The certificate could not be issued")
	if errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("the tab closed")
	}
}

// TestBrowserNaiveHangAndSuspended: the 2021 reproduction at the counter.
// With the signer not answering, naive-2021's page shows no banner and
// takes no ticket: the form stands still while the page sends it again
// (staff_web.wait_for_signer, shortened here from the preset's 2 minutes
// so that the page, not the browser, gives up first), then the busy page
// says the signing service did not answer. A suspended pharmacy's post
// ends the session with a page saying why.
func TestBrowserNaiveHangAndSuspended(t *testing.T) {
	ctx := newTab(t)
	env, _ := start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021, Mutate: func(c *portalapi.Config) {
		c.StaffWeb.WaitForSigner = portalapi.Duration(2 * c.SignCallTimeout.D())
	}})
	ph := env.NewPharmacy(t)
	dir := screenshotDir(t)
	load(t, ctx, "opening sign-in", chromedp.Navigate(env.URL+portalapi.StaffSignIn))
	signInBrowser(t, ctx, ph)
	env.SetSigners(portaltest.SignerHang)
	load(t, ctx, "opening the form", chromedp.Navigate(env.URL+portalapi.StaffIssuePrefix+portalapi.StaffKindVaccination))
	typeVaccination(t, ctx, env, "Hängt", "Hannelore")

	// While the post has no answer the form is all there is to see.
	timeout := env.Config.SignCallTimeout.D()
	hang := make(chan []byte, 1)
	go func() {
		time.Sleep(timeout / 2)
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		raw, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot of the hang: %v", err)
		}
		hang <- raw
	}()
	began := time.Now()
	st := load(t, ctx, "issuing while the signer hangs", press(portalapi.StaffIDIssue))
	took := time.Since(began)
	raw := <-hang
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("the hang's screenshot is no PNG: %v", err)
	} else if sd, share := contrastStats(img); sd < 20 || share < 0.02 {
		t.Errorf("the hang's screenshot looks blank (sd %.1f, %.1f%%)", sd, 100*share)
	} else if err := os.WriteFile(filepath.Join(dir, "issue-naive-hang.png"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if wait := env.Config.StaffWeb.WaitForSigner.D(); took < wait {
		t.Errorf("the page answered after %v, before its wait for a signer %v: no hang", took, wait)
	}
	if st != http.StatusGatewayTimeout && st != http.StatusBadGateway && st != http.StatusServiceUnavailable {
		t.Errorf("after the hang: status %d", st)
	}
	if pageName(t, ctx) != portalapi.StaffPageBusy {
		t.Fatalf("after the hang: page %q heading %q", pageName(t, ctx), heading(t, ctx))
	}
	if n := run(t, ctx, "looking for a banner", chromedp.Evaluate[int](`document.querySelectorAll("#`+portalapi.StaffIDSignerDown+`").length`)); n != 0 {
		t.Error("naive-2021 shows the cut-off banner")
	}
	if text := run(t, ctx, "reading the page", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "did not answer") {
		t.Errorf("busy page after the hang: %q", text)
	}
	if v := run(t, ctx, "reading fn", chromedp.Value(chromedp.ID("fn"))); v != "Hängt" {
		t.Errorf("the busy page lost the form: %q", v)
	}
	shot(t, ctx, dir, "busy-naive-signer", "The portal is busy right now")

	env.SetSigners(portaltest.SignerUp)
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/suspend", portalapi.AdminRequest{Reason: "test"}); r.Status != http.StatusOK {
		t.Fatalf("suspending: %v", r)
	}
	if st := load(t, ctx, "issuing while suspended", press(portalapi.StaffIDIssue)); st != http.StatusForbidden {
		t.Fatalf("suspended: status %d", st)
	}
	if text := run(t, ctx, "reading the page", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "suspended") {
		t.Errorf("suspended page: %q", text)
	}
	shot(t, ctx, dir, "error-suspended", "Something went wrong")
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("%d certificates, want 0", n)
	}
}
