package staffweb_test

import (
	"bytes"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// pageTimeout bounds one page request of a test's HTTP client.
const pageTimeout = 20 * time.Second

// morningClock is 09:00 in Berlin today: inside the fraud detector's
// opening hours, so no test trips the off-hours rule by running at night.
func morningClock(t testing.TB) *portaltest.Clock {
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

// lockedBuffer collects logs from every goroutine of the issuer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs an issuer whose logs go to the returned buffer.
func start(t *testing.T, opts portaltest.Options) (*portaltest.Env, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	if opts.Clock == nil {
		opts.Clock = morningClock(t)
	}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("GOLIVE_TEST_LOG") != "" {
			t.Logf("issuer logs:\n%s", logs.String())
		}
	})
	return portaltest.Start(t, opts), logs
}

// staff is a browser without a browser: a cookie jar, redirects not
// followed (tests look at them).
type staff struct {
	t      *testing.T
	env    *portaltest.Env
	c      *http.Client
	header http.Header // sent with every request
}

func newStaff(t *testing.T, env *portaltest.Env) *staff {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &staff{t: t, env: env, header: http.Header{"Accept-Language": {"en"}}, c: &http.Client{Jar: jar, Timeout: pageTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer.
type page struct {
	status int
	header http.Header
	body   string
	path   string
}

func (s *staff) do(method, path string, form url.Values) *page {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.env.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(raw), path: path}
}

func (s *staff) get(path string) *page { s.t.Helper(); return s.do(http.MethodGet, path, nil) }
func (s *staff) post(path string, form url.Values) *page {
	s.t.Helper()
	return s.do(http.MethodPost, path, form)
}

// follow GETs a redirect's target.
func (s *staff) follow(p *page) *page {
	s.t.Helper()
	if p.status != http.StatusSeeOther {
		s.t.Fatalf("%s: want 303, got %d (%s): %s", p.path, p.status, p.name(), p.text())
	}
	return s.get(p.header.Get("Location"))
}

// signIn signs ph in and returns the issuance form it lands on.
func (s *staff) signIn(ph *portaltest.Pharmacy) *page {
	s.t.Helper()
	form := s.get(portalapi.StaffSignIn)
	p := s.post(portalapi.StaffSignIn, url.Values{"csrf": {form.hidden("csrf")}, "client_id": {ph.ClientID}, "client_secret": {ph.ClientSecret}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != portalapi.StaffIssuePrefix+portalapi.StaffKindVaccination {
		s.t.Fatalf("sign-in: %d %s %s", p.status, p.header.Get("Location"), p.text())
	}
	return s.follow(p)
}

// submit posts the form on page f (its CSRF token and key) with fields.
func (s *staff) submit(f *page, kind string, fields map[string]string) *page {
	s.t.Helper()
	v := url.Values{"csrf": {f.hidden("csrf")}, "key": {f.hidden("key")}}
	for k, val := range fields {
		v.Set(k, val)
	}
	return s.post(portalapi.StaffIssuePrefix+kind, v)
}

var (
	reHeading = regexp.MustCompile(`<h1 id="page-heading">([^<]*)</h1>`)
	rePage    = regexp.MustCompile(`<body data-page="([a-z]+)">`)
	reErr     = regexp.MustCompile(`id="([a-z_]+)-error" data-code="([a-z_]+)"`)
	reTags    = regexp.MustCompile(`<[^>]+>`)
)

func (p *page) hidden(name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// value is the value of the input with id (or the selected option of a select).
func (p *page) value(id string) string {
	if m := regexp.MustCompile(`<input id="` + id + `"[^>]* value="([^"]*)"`).FindStringSubmatch(p.body); m != nil {
		return html.UnescapeString(m[1])
	}
	sel := regexp.MustCompile(`(?s)<select id="` + id + `".*?</select>`).FindString(p.body)
	if m := regexp.MustCompile(`<option value="([^"]*)" selected>`).FindStringSubmatch(sel); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func (p *page) heading() string {
	if m := reHeading.FindStringSubmatch(p.body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func (p *page) name() string {
	if m := rePage.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

// errors are the field errors shown: field id -> the API's code.
func (p *page) errors() map[string]string {
	out := map[string]string{}
	for _, m := range reErr.FindAllStringSubmatch(p.body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// text is the page's visible text, roughly.
func (p *page) text() string {
	t := reTags.ReplaceAllString(p.body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(t)), " ")
}

// element is the text of the element with id.
func (p *page) element(id string) string {
	m := regexp.MustCompile(`(?s)id="` + id + `"[^>]*>(.*?)</`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(reTags.ReplaceAllString(m[1], "")))
}

// vaccination is a valid vaccination form, dated the day before the
// env's clock.
func vaccination(env *portaltest.Env, fn, gn string) map[string]string {
	return map[string]string{"fn": fn, "gn": gn, "dob": "26.02.1998", "mp": "EU/1/20/1528", "dn": "2", "sd": "2",
		"dt": env.Clock.Now().Add(-24 * time.Hour).Format("2006-01-02"), "co": "DE"}
}
