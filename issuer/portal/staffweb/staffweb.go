// Package staffweb is the staff web portal: the pages pharmacy staff work
// on at the counter. Sign-in, the issuance form for vaccination, test and
// recovery certificates, the certificate with its QR code and PDF, and the
// ticket of a request deferred while the signer is cut off, in German and
// English, rendered on the server and usable without JavaScript.
//
// The pages hold no issuing logic: every action is a call of the portal's
// API made in-process (api.go), so a page gets exactly the API's
// validation, idempotency, quotas, admission control and deferral, and
// shows the API's answers as pages. Sessions, cookies and CSRF are in
// session.go; docs/staff-portal.md describes the design.
package staffweb

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure the staff web portal.
type Options struct {
	// API is the portal's API handler, called in-process. Required.
	API http.Handler
	// Key (at least 32 bytes) keys CSRF tokens and sealed values. Keep it
	// across restarts (the portal derives it from its token key) so open
	// forms stay valid through a restart.
	Key []byte
	// Clock is the portal's time source (time.Now when nil).
	Clock func() time.Time
	// Logger gets operational logs: never a name, birth date or form value.
	Logger *slog.Logger
	// SignersAvailable reports how many signer replicas could sign now.
	SignersAvailable func() int
	// Backlog reports the deferred requests waiting for a signer.
	Backlog func() int64
	// Defers: the portal takes requests for later when no signer can sign
	// (Config.DeferOnSignerUnavailable). Only then does the cut-off banner
	// promise that.
	Defers bool
	// DrainRate is how many deferred requests per second the portal signs
	// once the signer is back (for the ticket page's estimate).
	DrainRate float64
	// Country is the preselected country of vaccination or test.
	Country string
	// CertIssuer is every certificate's issuer ("is").
	CertIssuer string
	// Location is the time zone of the counter (sample times, "ready at").
	Location *time.Location
	// IdleTimeout ends a session after this long without a request;
	// MaxAge after this long in any case. Defaults: 30 minutes, 12 hours.
	IdleTimeout, MaxAge time.Duration
	// MaxSessions bounds the session table (default 10,000).
	MaxSessions int
	// KeepForms carries a form posted into an expired session through the
	// sign-in page back into the form; false loses it (the 2021 portal).
	KeepForms bool
	// SecureCookies marks cookies Secure even on plain HTTP (TLS ends at a
	// proxy in front of the portal). Over TLS they are Secure anyway.
	SecureCookies bool
	// BodyReadTimeout bounds reading a form post (default 10 s).
	BodyReadTimeout time.Duration
	// InUseWait is how long a post waits for an earlier post of the same
	// form still in progress (a double click) before saying so (default 5 s).
	InUseWait time.Duration
	// WaitForSigner is how long a post keeps being sent again while no
	// signer can sign, before the page says so (0: at once; see
	// portalapi.StaffWebConfig.WaitForSigner).
	WaitForSigner time.Duration
}

// Web serves the staff pages under portalapi.StaffRoot.
type Web struct {
	opts     Options
	keys     *keyring
	sessions *sessions
	log      *slog.Logger
	pages    map[string]*template.Template
	mux      *http.ServeMux
	css      []byte
}

// New builds the staff web portal.
func New(opts Options) (*Web, error) {
	if opts.API == nil {
		return nil, errors.New("staffweb: Options.API is required")
	}
	keys, err := newKeyring(opts.Key)
	if err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SignersAvailable == nil {
		opts.SignersAvailable = func() int { return 1 }
	}
	if opts.Backlog == nil {
		opts.Backlog = func() int64 { return 0 }
	}
	if opts.Country == "" {
		opts.Country = "DE"
	}
	if opts.CertIssuer == "" {
		opts.CertIssuer = "Robert Koch-Institut"
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 12 * time.Hour
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 10000
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = 10 * time.Second
	}
	if opts.InUseWait <= 0 {
		opts.InUseWait = 5 * time.Second
	}
	w := &Web{opts: opts, keys: keys, log: opts.Logger.With("subsystem", "staffweb"),
		sessions: newSessions(opts.MaxSessions, opts.IdleTimeout, opts.MaxAge), pages: map[string]*template.Template{}}
	for _, name := range []string{"signin", "issue", "certificate", "ticket", "message"} {
		t, err := template.New(name).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("staffweb: template %s: %w", name, err)
		}
		w.pages[name] = t
	}
	if w.css, err = fs.ReadFile(assets, "static/style.css"); err != nil {
		return nil, fmt.Errorf("staffweb: stylesheet: %w", err)
	}
	w.routes()
	return w, nil
}

func (w *Web) now() time.Time { return w.opts.Clock() }

func (w *Web) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /staff/{$}", w.home)
	m.HandleFunc("GET /staff/signin", w.signInPage)
	m.HandleFunc("POST /staff/signin", w.signIn)
	m.HandleFunc("POST /staff/signout", w.signOut)
	m.HandleFunc("POST /staff/lang", w.setLang)
	m.HandleFunc("GET /staff/issue/{kind}", w.issuePage)
	m.HandleFunc("POST /staff/issue/{kind}", w.issue)
	m.HandleFunc("GET /staff/certificates/{ref}", w.certificatePage)
	m.HandleFunc("GET /staff/certificates/{ref}/qr.png", w.certificateFile)
	m.HandleFunc("GET /staff/certificates/{ref}/certificate.pdf", w.certificateFile)
	m.HandleFunc("GET /staff/tickets/{ref}", w.ticketPage)
	m.HandleFunc("GET /staff/static/style.css", w.stylesheet)
	w.mux = m
}

// csp allows the page's own stylesheet and images and nothing else: no
// script at all, no frames, forms only to this origin.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves every staff page with the security headers; pages are
// never cached (they carry names, tokens of forms, or both).
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	_, pattern := w.mux.Handler(r)
	if pattern == "" {
		w.unmatched(rw, r)
		return
	}
	w.mux.ServeHTTP(rw, r)
}

// unmatched answers unknown paths and wrong methods with a page.
func (w *Web) unmatched(rw http.ResponseWriter, r *http.Request) {
	probe := &statusProbe{header: http.Header{}}
	w.mux.ServeHTTP(probe, r)
	if probe.status != http.StatusMethodNotAllowed {
		w.notFound(rw, r)
		return
	}
	v := w.view(rw, r, nil, portalapi.StaffPageError)
	rw.Header().Set("Allow", probe.header.Get("Allow"))
	v.Title = v.T("error.title")
	w.render(rw, http.StatusMethodNotAllowed, "message", v, messageView{Text: v.T("error.method"), Back: portalapi.StaffRoot})
}

func (w *Web) notFound(rw http.ResponseWriter, r *http.Request) {
	v := w.view(rw, r, nil, portalapi.StaffPageError)
	v.Title = v.T("error.notfound")
	w.render(rw, http.StatusNotFound, "message", v, messageView{Back: portalapi.StaffRoot})
}

type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int)        { p.status = code }

func (w *Web) stylesheet(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/css; charset=utf-8")
	rw.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = rw.Write(w.css)
}

// ---------------------------------------------------------------- views

// view is what the layout needs; Body is the page's own part.
type view struct {
	Lang       string
	Page       string // data-page of <body>
	Title      string // <h1> and <title>
	CSRF       string
	Path       string // where the language switch returns to
	Pharmacy   string // signed in as ("" when not)
	Banner     bool   // the signer is cut off and requests are deferred
	Refresh    int    // seconds until the page reloads itself (0: never)
	Notice     string
	NoticeKind string // "info", "warn" or "error"
	LangInForm bool   // the page's form carries the language switch
	Body       any
}

// T is the page's text for key.
func (v *view) T(key string) string {
	t, ok := msgs[key]
	if !ok {
		return key
	}
	return t.in(v.Lang)
}

// F is T with fmt.Sprintf arguments.
func (v *view) F(key string, args ...any) string { return fmt.Sprintf(v.T(key), args...) }

// view starts a page for request r: language, CSRF token (setting the
// sid cookie if needed), banner.
func (w *Web) view(rw http.ResponseWriter, r *http.Request, s *session, page string) *view {
	v := &view{Lang: lang(r), Page: page, CSRF: w.keys.csrfToken(w.ensureSID(rw, r)), Path: r.URL.Path,
		Banner: w.opts.Defers && w.opts.SignersAvailable() == 0}
	if s != nil {
		v.Pharmacy = s.pharmacyID
	}
	return v
}

func (w *Web) render(rw http.ResponseWriter, status int, tmpl string, v *view, body any) {
	v.Body = body
	var buf strings.Builder
	if err := w.pages[tmpl].ExecuteTemplate(&buf, "layout", v); err != nil {
		// Templates are fixed and tested; this is a bug, and its error
		// text names only template positions, never data.
		w.log.Error("rendering a page failed", "template", tmpl, "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(buf.String()))
}

// messageView is the body of the simple pages (errors, refusals).
type messageView struct {
	Text string
	Back string
}
