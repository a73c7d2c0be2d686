package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/reports/rundir"
)

// browserJourneys is the JourneyBrowser executor: one headless Chromium
// per user (Debian's chromium, driven over the DevTools protocol with
// chromedp), each a pharmacy's counter: it signs in once, then for every
// customer opens the vaccination form, types the holder, presses "issue"
// and follows the pages to the PDF, as staff do. It finds the elements by
// the stable ids of portalapi's staff surface.
type browserJourneys struct {
	p    JourneyPlan
	mu   sync.Mutex
	seen map[string]bool // phase + state photographed already
	shot []rundir.BrowserShot
}

// Named timeouts of a browser's life outside the journeys' own.
const (
	// browserStartTimeout bounds starting one Chromium on a busy machine
	// (the others wait their turn).
	browserStartTimeout = 2 * time.Minute
	// fillTimeout bounds filling a form or reading a page (no network;
	// generous: a machine under load answers DevTools calls slowly).
	fillTimeout = 30 * time.Second
	// shotTimeout bounds one screenshot (a busy machine is slow at it);
	// hangShotTimeout one taken while a post is pending.
	shotTimeout     = 30 * time.Second
	hangShotTimeout = 5 * time.Second
	// shotTries is how often a screenshot of a page is tried.
	shotTries = 2
)

// ChromiumPath finds Debian's chromium on PATH ("" when there is none).
func ChromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Shots are the screenshots kept.
func (b *browserJourneys) Shots() []rundir.BrowserShot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]rundir.BrowserShot(nil), b.shot...)
}

func (b *browserJourneys) Run(ctx context.Context, p JourneyPlan, observe func(JourneyResult)) error {
	b.p, b.seen = p, map[string]bool{}
	if b.p.ExecPath == "" {
		b.p.ExecPath = ChromiumPath()
	}
	if b.p.ExecPath == "" {
		return errors.New("loadgen: browser journeys need Chromium: install Debian's chromium package (make test-deps)")
	}
	if p.Dir != "" {
		if err := os.MkdirAll(filepath.Join(p.Dir, rundir.BrowsersDir), 0o755); err != nil {
			return fmt.Errorf("loadgen: browser screenshots: %w", err)
		}
	}
	start := p.Start
	if start == nil {
		now := make(chan struct{})
		close(now)
		start = now
	}
	// end is set when start closes; users read it after that.
	var end time.Time
	began := make(chan struct{})
	go func() {
		select {
		case <-start:
			end = time.Now().Add(p.Duration)
			close(began)
		case <-ctx.Done():
		}
	}()
	launch := make(chan struct{}, 1) // one browser starts at a time
	var ready sync.WaitGroup
	ready.Add(p.Users)
	go func() {
		ready.Wait()
		if p.Ready != nil {
			p.Ready()
		}
	}()
	errs := make([]error, p.Users)
	var wg sync.WaitGroup
	for u := range p.Users {
		wg.Go(func() {
			var once sync.Once
			isReady := func() { once.Do(ready.Done) }
			defer isReady()
			errs[u] = b.user(ctx, u, launch, isReady, began, func() time.Time { return end }, observe)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// user is one counter: its own browser, journeys until end.
func (b *browserJourneys) user(ctx context.Context, u int, launch chan struct{}, ready func(), began <-chan struct{}, endOf func() time.Time, observe func(JourneyResult)) error {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(b.p.ExecPath), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.Flag("lang", "en-US"),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("mute-audio", true))
	if len(b.p.TrustSPKI) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(b.p.TrustSPKI, ",")))
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	tab, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser and must not carry a deadline (it
	// would bind the browser's life to it), so the wait is bounded here.
	select {
	case launch <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	var startErr error
	select {
	case err := <-started:
		if err != nil {
			startErr = fmt.Errorf("loadgen: browser %d: starting chromium: %w", u, err)
		}
	case <-time.After(browserStartTimeout):
		cancel()
		startErr = fmt.Errorf("loadgen: browser %d: chromium did not start within %v", u, browserStartTimeout)
	case <-ctx.Done():
	}
	<-launch
	if startErr != nil || ctx.Err() != nil {
		return startErr
	}
	// Staff sign in before the day starts.
	login := b.p.Logins[u%len(b.p.Logins)]
	if _, err := navigate(tab, b.p.AnswerTimeout, chromedp.Navigate(strings.TrimRight(b.p.BaseURL, "/")+portalapi.StaffSignIn)); err == nil {
		if _, err := b.signIn(tab, login); err != nil {
			b.p.Logger.Info("browser sign-in before the start", "user", u, "err", err)
		}
	}
	ready()
	select {
	case <-began:
	case <-ctx.Done():
		return nil
	}
	end := endOf()
	for seq := 0; ctx.Err() == nil && time.Now().Before(end) && (b.p.MaxJourneys <= 0 || seq < b.p.MaxJourneys); seq++ {
		r := b.journey(tab, u, seq, login)
		if ctx.Err() != nil && r.Outcome != JourneyPDF {
			return nil // cut short by the end of the run, not by the portal
		}
		observe(r)
		if r.Outcome != JourneyPDF {
			b.p.Logger.Info("browser journey", "user", u, "seq", seq, "outcome", r.Outcome, "page", r.Page, "status", r.Status, "err", r.Err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(b.p.Pause):
		}
	}
	return nil
}

// step runs actions that need no page load within d.
func step(ctx context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Do(sctx, actions...)
}

// navigate runs actions that load a page (a navigation, pressing a
// submit button) and returns the page's HTTP status.
func navigate(ctx context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) (int64, error) {
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, actions...)
	if err != nil {
		return 0, err
	}
	if resp == nil {
		return 0, nil
	}
	return resp.Status, nil
}

// pageState is what a journey reads off a page.
type pageState struct {
	Page   string `json:"page"`
	Banner bool   `json:"banner"`
	FN     string `json:"fn"`
	PDF    string `json:"pdf"`
	UVCI   string `json:"uvci"`
}

const pageStateJS = `(() => { const v = id => { const e = document.getElementById(id); return e ? (e.value || e.getAttribute("href") || "") : ""; };
return {page: (document.body && document.body.dataset.page) || "", banner: !!document.getElementById("` + portalapi.StaffIDSignerDown + `"),
fn: v("fn"), pdf: v("` + portalapi.StaffIDPDF + `"),
uvci: ((document.getElementById("` + portalapi.StaffIDUVCI + `") || {}).textContent || "").trim()}; })()`

func readPage(ctx context.Context) (pageState, error) {
	sctx, cancel := context.WithTimeout(ctx, fillTimeout)
	defer cancel()
	return chromedp.Run(sctx, chromedp.Evaluate[pageState](pageStateJS))
}

// fillJS sets the fields by id in one round trip to the browser (a
// journey measures the portal from pressing "issue", not typing; keystroke
// by keystroke costs dozens of DevTools calls per form, which a busy
// machine cannot spare for three browsers) and says which were missing.
func fillJS(fields [][2]string) chromedp.Action[chromedp.Void] {
	b, _ := json.Marshal(fields)
	js := `(() => { const missing = []; for (const [id, v] of ` + string(b) + `) {
const e = document.getElementById(id); if (!e) { missing.push(id); continue; } e.value = v; }
return missing.join(","); })()`
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		missing, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			return err
		}
		if missing != "" {
			return fmt.Errorf("the page has no field %s", missing)
		}
		return nil
	})
}

// holder is what staff type for customer seq.
type holder struct{ fn, gn, dob, dt string }

// Its dates are in real time, like the API load's payloads: the portal
// validates certificates on its real clock, only the business day is
// simulated.
func (b *browserJourneys) holder(u, seq int, now time.Time) holder {
	rnd := rand.New(rand.NewPCG(b.p.Payloads.Seed, uint64(u)<<32|uint64(seq)))
	c := dcc.Sample(rnd, dcc.TypeVaccination, now)
	return holder{fn: c.Nam.Fn, gn: c.Nam.Gn, dob: c.Dob, dt: now.Add(-24 * time.Hour).Format(time.DateOnly)}
}

func (h holder) fill() chromedp.Action[chromedp.Void] {
	return fillJS([][2]string{{"fn", h.fn}, {"gn", h.gn}, {"dob", h.dob}, {"mp", "EU/1/20/1528"}, {"dt", h.dt},
		{"dn", "2"}, {"sd", "2"}})
}

// press presses a button (one round trip, like fillJS).
func press(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const b = document.getElementById(`+
			strconv.Quote(id)+`); if (!b) return false; b.click(); return true; })()`))
		if err == nil && !ok {
			err = fmt.Errorf("the page has no button %s", id)
		}
		return err
	})
}

func (b *browserJourneys) signIn(tab context.Context, login JourneyLogin) (int64, error) {
	if err := step(tab, fillTimeout, fillJS([][2]string{{portalapi.StaffIDClientID, login.ClientID},
		{portalapi.StaffIDClientSecret, login.ClientSecret}})); err != nil {
		return 0, fmt.Errorf("typing the sign-in: %w", err)
	}
	return navigate(tab, b.p.AnswerTimeout, press(portalapi.StaffIDSignIn))
}

// journey is one customer: the form, "issue", the pages to the PDF.
func (b *browserJourneys) journey(tab context.Context, u, seq int, login JourneyLogin) (r JourneyResult) {
	r.User, r.Seq = u, seq
	fail := func(o JourneyOutcome, format string, a ...any) JourneyResult {
		r.Outcome, r.Err = o, fmt.Sprintf(format, a...)
		return r
	}
	formURL := strings.TrimRight(b.p.BaseURL, "/") + portalapi.StaffIssuePrefix + portalapi.StaffKindVaccination
	if _, err := navigate(tab, b.p.AnswerTimeout, chromedp.Navigate(formURL)); err != nil {
		return fail(outcomeOf(err), "opening the form: %v", err)
	}
	st, err := readPage(tab)
	if err != nil {
		return fail(JourneyFailed, "reading the form: %v", err)
	}
	if st.Page == portalapi.StaffPageSignIn { // the start of the day
		if _, err := b.signIn(tab, login); err != nil {
			return fail(outcomeOf(err), "signing in: %v", err)
		}
		if st, err = readPage(tab); err != nil || st.Page != portalapi.StaffPageIssue {
			return fail(JourneyFailed, "after signing in: page %q (%v)", st.Page, err)
		}
	}
	if st.Page != portalapi.StaffPageIssue {
		return fail(JourneyFailed, "the form is page %q", st.Page)
	}
	now := time.Now()
	r.Sim = b.p.Sim(now)
	r.Phase = b.p.Phase(r.Sim)
	h := b.holder(u, seq, now)
	if err := step(tab, fillTimeout, h.fill()); err != nil {
		return fail(JourneyFailed, "filling the form: %v", err)
	}
	if b.p.BeforeIssue != nil {
		b.p.BeforeIssue(u, seq)
	}

	r.Pressed = time.Now()
	status, err := b.post(tab, &r, u, seq)
	if err != nil {
		return fail(outcomeOf(err), "issuing: %v", err)
	}
	r.Status = status
	if st, err = readPage(tab); err != nil {
		return fail(JourneyFailed, "reading the answer: %v", err)
	}
	if st.Page == portalapi.StaffPageSignIn {
		// The session expired under the form: sign in again; the form
		// must come back filled (staff_web.keep_forms_on_expiry).
		r.SessionLost = true
		if _, err := b.signIn(tab, login); err != nil {
			return fail(outcomeOf(err), "signing in again: %v", err)
		}
		if st, err = readPage(tab); err != nil || st.Page != portalapi.StaffPageIssue {
			return fail(JourneyFailed, "after signing in again: page %q (%v)", st.Page, err)
		}
		if st.FN != h.fn {
			r.FormLost = true // typed again, as in 2021
			if err := step(tab, fillTimeout, h.fill()); err != nil {
				return fail(JourneyFailed, "filling the lost form again: %v", err)
			}
		}
		if r.Status, err = b.post(tab, &r, u, seq); err != nil {
			return fail(outcomeOf(err), "issuing after signing in again: %v", err)
		}
		if st, err = readPage(tab); err != nil {
			return fail(JourneyFailed, "reading the answer: %v", err)
		}
	}
	r.Page, r.Banner = st.Page, st.Banner
	b.photograph(tab, r, st.Page, st.Page, st.Banner)

	switch st.Page {
	case portalapi.StaffPageCertificate:
	case portalapi.StaffPageTicket:
		// The ticket page reloads itself and becomes the certificate.
		wctx, cancel := context.WithTimeout(tab, b.p.TicketWait)
		err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.ID(portalapi.StaffIDPDF)))
		cancel()
		if err != nil {
			r.Outcome = JourneyTicket
			return r
		}
		if st, err = readPage(tab); err != nil {
			return fail(JourneyFailed, "reading the certificate: %v", err)
		}
	case portalapi.StaffPageBusy:
		return fail(JourneyBusy, "busy page (%d)", r.Status)
	default:
		return fail(JourneyFailed, "answer page %q (%d)", st.Page, r.Status)
	}
	if st.PDF == "" {
		return fail(JourneyFailed, "the certificate page has no PDF link")
	}
	pdfURL := strings.TrimRight(b.p.BaseURL, "/") + st.PDF
	pctx, cancel := context.WithTimeout(tab, b.p.AnswerTimeout)
	resp, err := chromedp.Run(pctx, chromedp.NavigateResponse(pdfURL))
	cancel()
	if err != nil {
		return fail(outcomeOf(err), "opening the PDF: %v", err)
	}
	if resp.Status != http.StatusOK || resp.MimeType != "application/pdf" {
		return fail(JourneyFailed, "the PDF: %d %s", resp.Status, resp.MimeType)
	}
	r.ToPDF, r.Outcome, r.UVCI = time.Since(r.Pressed), JourneyPDF, st.UVCI
	return r
}

// post presses "issue" and waits for the answer page; a post still
// without an answer after HangShotAfter is photographed once per phase
// (the form standing still, as the 2021 button did).
func (b *browserJourneys) post(tab context.Context, r *JourneyResult, u, seq int) (int64, error) {
	done := make(chan struct{})
	snap := *r
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-done:
		case <-time.After(b.p.HangShotAfter):
			// A capture that meets the answer's navigation never ends:
			// bounded short, so it cannot hold up the journey.
			b.photographWithin(tab, snap, "hang", portalapi.StaffPageIssue, false, hangShotTimeout)
		}
	})
	status, err := navigate(tab, b.p.AnswerTimeout, press(portalapi.StaffIDIssue))
	if err == nil {
		r.ToAnswer = time.Since(r.Pressed) // before waiting for the photographer
	}
	close(done)
	wg.Wait()
	if err != nil {
		b.photograph(tab, *r, string(outcomeOf(err)), "", false)
	}
	return status, err
}

// outcomeOf is a browser error's outcome: no page within the answer
// timeout is a timeout, anything else a failure.
func outcomeOf(err error) JourneyOutcome {
	if errors.Is(err, context.DeadlineExceeded) {
		return JourneyTimeout
	}
	return JourneyFailed
}

// failedState are the states whose every screenshot is kept (up to
// MaxShots): a journey that fails leaves one.
var failedState = map[string]bool{string(JourneyBusy): true, string(JourneyFailed): true, string(JourneyTimeout): true, // "failed" is also the page of a ticket given up
	portalapi.StaffPageError: true}

// photograph keeps a screenshot of the page: the first of each phase and
// state, and those of failed journeys.
func (b *browserJourneys) photograph(tab context.Context, r JourneyResult, state, page string, banner bool) {
	b.photographWithin(tab, r, state, page, banner, shotTimeout)
}

func (b *browserJourneys) photographWithin(tab context.Context, r JourneyResult, state, page string, banner bool, timeout time.Duration) {
	if b.p.Dir == "" {
		return
	}
	key := r.Phase + "/" + state
	b.mu.Lock()
	first := !b.seen[key]
	// The first of each phase and state is always kept (a bounded
	// number); repeats only of failures, up to MaxShots.
	if !first && (!failedState[state] || len(b.shot) >= b.p.MaxShots) {
		b.mu.Unlock()
		return
	}
	b.seen[key] = true
	b.mu.Unlock()
	after := time.Since(r.Pressed)
	var png []byte
	var err error
	for try := 0; try < shotTries; try++ { // a loaded renderer drops a capture now and then
		sctx, cancel := context.WithTimeout(tab, timeout)
		png, err = chromedp.Run(sctx, chromedp.CaptureScreenshot())
		cancel()
		if err == nil || state == "hang" {
			break
		}
	}
	if err != nil {
		b.p.Logger.Info("browser screenshot", "state", state, "err", err)
		if first { // let a later journey of this phase try again
			b.mu.Lock()
			delete(b.seen, key)
			b.mu.Unlock()
		}
		return
	}
	phase := r.Phase
	if phase == "" {
		phase = "run"
	}
	name := fmt.Sprintf("%s-%s-u%d-%03d.png", phase, state, r.User, r.Seq)
	rel := rundir.BrowsersDir + "/" + name
	if err := os.WriteFile(filepath.Join(b.p.Dir, rundir.BrowsersDir, name), png, 0o644); err != nil {
		b.p.Logger.Warn("browser screenshot", "err", err)
		return
	}
	b.mu.Lock()
	b.shot = append(b.shot, rundir.BrowserShot{File: rel, Phase: r.Phase, State: state, Page: page, Banner: banner,
		AfterMS: float64(after.Microseconds()) / 1000})
	b.mu.Unlock()
}
