package staffweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/printout"
	"github.com/golive-dev/golive/issuer/signerclient"
)

// Plain-HTTP tests of the staff pages against a complete issuer
// (portaltest): real portal, store and signers, the pages mounted as in
// production.

func certCount(t *testing.T, env *portaltest.Env, ph *portaltest.Pharmacy) int {
	t.Helper()
	cs, err := env.Store.CertificatesByPharmacy(context.Background(), ph.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// checkHeaders: every page is uncacheable, framed by nobody, and runs no
// script but what the CSP allows (none).
func checkHeaders(t *testing.T, p *page) {
	t.Helper()
	for k, want := range map[string]string{"Content-Security-Policy": wantCSP, "Cache-Control": "no-store",
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s (%s): %s = %q, want %q", p.path, p.name(), k, got, want)
		}
	}
}

var (
	reControl = regexp.MustCompile(`<(input|select)\s[^>]*>`)
	reID      = regexp.MustCompile(`\sid="([^"]+)"`)
	reType    = regexp.MustCompile(`\stype="([^"]+)"`)
)

// checkLabels: every visible input and select has a <label for> on the page.
func checkLabels(t *testing.T, p *page) {
	t.Helper()
	for _, tag := range reControl.FindAllString(p.body, -1) {
		if m := reType.FindStringSubmatch(tag); m != nil && m[1] == "hidden" {
			continue
		}
		id := reID.FindStringSubmatch(tag)
		if id == nil || !strings.Contains(p.body, `<label for="`+id[1]+`"`) {
			t.Errorf("%s: control without a label: %s", p.name(), tag)
		}
	}
}

func TestSignInIssueAndPrint(t *testing.T) {
	env, logs := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)

	if p := s.get(portalapi.StaffRoot); p.status != http.StatusSeeOther || p.header.Get("Location") != portalapi.StaffSignIn {
		t.Fatalf("/staff/ signed out: %d %s", p.status, p.header.Get("Location"))
	}
	signin := s.get(portalapi.StaffSignIn)
	checkHeaders(t, signin)
	checkLabels(t, signin)
	if signin.heading() != "Sign in" || signin.name() != portalapi.StaffPageSignIn {
		t.Fatalf("sign-in page: heading %q page %q", signin.heading(), signin.name())
	}
	cookie := signin.header.Get("Set-Cookie")
	for _, want := range []string{"golive_staff=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("sign-in cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie %q is Secure on plain HTTP: the browser would drop it", cookie)
	}

	// A wrong secret: refused next to the field, the ID kept, the secret not echoed.
	bad := s.post(portalapi.StaffSignIn, url.Values{"csrf": {signin.hidden("csrf")}, "client_id": {ph.ClientID}, "client_secret": {"wrong-secret-value"}})
	if got := bad.errors()["client_secret"]; got != "invalid_client" || bad.value("client_id") != ph.ClientID || strings.Contains(bad.body, "wrong-secret-value") {
		t.Fatalf("wrong secret: errors %v, client_id %q, secret echoed %v", bad.errors(), bad.value("client_id"), strings.Contains(bad.body, "wrong-secret-value"))
	}

	form := s.signIn(ph)
	if form.status != http.StatusOK || form.name() != portalapi.StaffPageIssue || form.heading() != "Vaccination certificate" {
		t.Fatalf("form: %d %q %q", form.status, form.name(), form.heading())
	}
	if !strings.Contains(form.text(), ph.ID) {
		t.Errorf("the form does not say who is signed in (%s)", ph.ID)
	}
	checkHeaders(t, form)
	checkLabels(t, form)
	if form.hidden("key") == "" || form.hidden("csrf") == signin.hidden("csrf") {
		t.Fatalf("form key %q; csrf unchanged by sign-in: %v", form.hidden("key"), form.hidden("csrf") == signin.hidden("csrf"))
	}

	fields := vaccination(env, "Zyxwvutsrq-Ölmüller", "Quentina")
	res := s.submit(form, portalapi.StaffKindVaccination, fields)
	loc := res.header.Get("Location")
	if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, portalapi.StaffRoot+"certificates/") {
		t.Fatalf("issue: %d %s %s", res.status, loc, res.text())
	}
	cert := s.follow(res)
	checkHeaders(t, cert)
	if cert.heading() != "Certificate issued" || cert.element("holder") != "Quentina Zyxwvutsrq-Ölmüller" {
		t.Fatalf("certificate page: heading %q holder %q", cert.heading(), cert.element("holder"))
	}
	uvci := cert.element("uvci")
	if !strings.HasPrefix(uvci, "URN:UVCI:01:DE:") || strings.Contains(loc, "UVCI") || strings.Contains(loc, url.PathEscape(uvci)) {
		t.Fatalf("uvci %q; the page's URL %q must not carry it", uvci, loc)
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates issued, want 1", n)
	}

	// QR and PDF: the API's own, for this certificate.
	qr := s.get(loc + "/qr.png")
	if qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" || qr.header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("qr: %d %v", qr.status, qr.header)
	}
	hc1, err := printout.DecodeQR(strings.NewReader(qr.body))
	if err != nil {
		t.Fatalf("reading the QR code: %v", err)
	}
	d, err := hcert.Decode(hc1)
	if err != nil || d.Payload.UVCI() != uvci || d.Payload.Nam.Fn != fields["fn"] || d.Payload.Dob != "1998-02-26" {
		t.Fatalf("QR holds %v (err %v), want %s for %s born 1998-02-26", d, err, uvci, fields["fn"])
	}
	pdf := s.get(loc + "/certificate.pdf")
	if pdf.status != http.StatusOK || pdf.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf.body, "%PDF-") {
		t.Fatalf("pdf: %d %v %q", pdf.status, pdf.header, pdf.body[:min(len(pdf.body), 20)])
	}

	// Sign out: the session is gone, its pages lead to sign-in.
	out := s.post("/staff/signout", url.Values{"csrf": {cert.hidden("csrf")}})
	if out.status != http.StatusSeeOther || out.header.Get("Location") != portalapi.StaffSignIn {
		t.Fatalf("sign out: %d %s", out.status, out.header.Get("Location"))
	}
	if p := s.get(loc); p.status != http.StatusSeeOther || p.header.Get("Location") != portalapi.StaffSignIn {
		t.Fatalf("certificate after sign-out: %d %s", p.status, p.header.Get("Location"))
	}
	checkLogs(t, logs, fields["fn"], fields["gn"], "1998-02-26")
}

// checkLogs: no holder name or birth date reaches a log line.
func checkLogs(t *testing.T, logs *lockedBuffer, personal ...string) {
	t.Helper()
	out := logs.String()
	for _, v := range personal {
		if v != "" && strings.Contains(out, v) {
			t.Errorf("the logs contain %q", v)
		}
	}
}

// apiErrors posts payload to the API itself and returns its field
// errors by the form field they belong to (the first per field).
func apiErrors(t *testing.T, env *portaltest.Env, ph *portaltest.Pharmacy, payload string) map[string]string {
	t.Helper()
	env.Login(t, ph)
	r := env.Issue(t, ph.Token, portaltest.NewKey(), json.RawMessage(payload))
	if r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("API: want a validation answer, got %v", r)
	}
	out := map[string]string{}
	set := func(field, code string) {
		f := field[strings.LastIndexAny(field, ".")+1:]
		switch f {
		case "nam", "fnt":
			f = "fn"
		case "gnt":
			f = "gn"
		}
		if _, ok := out[f]; !ok {
			out[f] = code
		}
	}
	for _, fe := range r.Problem.Errors {
		set(fe.Field, fe.Code)
	}
	if len(r.Problem.Errors) == 0 {
		set(r.Problem.Field, r.Problem.Code)
	}
	return out
}

// TestFieldErrorsAreTheAPIs: a form with mistakes shows, next to each
// field, the code the API gives for the same payload.
func TestFieldErrorsAreTheAPIs(t *testing.T) {
	env, logs := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	s.signIn(ph)
	tomorrow := env.Clock.Now().Add(36 * time.Hour).Format("2006-01-02")
	yesterday := env.Clock.Now().Add(-24 * time.Hour).Format("2006-01-02")
	cases := []struct {
		name, kind string
		fields     map[string]string
		api        string // the same request, written by hand
	}{
		{"vaccination", portalapi.StaffKindVaccination,
			map[string]string{"fn": "", "gn": "", "dob": "1998-13", "mp": "EU/1/20/1528", "dn": "zwei", "sd": "2", "dt": tomorrow, "co": "DE"},
			`{"ver":"1.3.0","nam":{},"dob":"1998-13","v":[{"tg":"840539006","vp":"1119349007","mp":"EU/1/20/1528","ma":"ORG-100030215","dn":"zwei","sd":2,"dt":"` + tomorrow + `","co":"DE","is":"Robert Koch-Institut"}]}`},
		{"a name the certificate cannot carry", portalapi.StaffKindVaccination,
			map[string]string{"fn": "Müller😀", "gn": "Max", "dob": "1998", "mp": "EU/1/20/1528", "dn": "1", "sd": "2", "dt": yesterday, "co": "DE"},
			`{"ver":"1.3.0","nam":{"fn":"Müller😀","gn":"Max"},"dob":"1998","v":[{"tg":"840539006","vp":"1119349007","mp":"EU/1/20/1528","ma":"ORG-100030215","dn":1,"sd":2,"dt":"` + yesterday + `","co":"DE","is":"Robert Koch-Institut"}]}`},
		{"recovery", portalapi.StaffKindRecovery,
			map[string]string{"fn": "Ødegård", "gn": "Siri", "dob": "1990", "fr": yesterday, "df": "2021-01-01", "du": "2020-12-01", "co": "DE"},
			`{"ver":"1.3.0","nam":{"fn":"Ødegård","gn":"Siri"},"dob":"1990","r":[{"tg":"840539006","fr":"` + yesterday + `","co":"DE","is":"Robert Koch-Institut","df":"2021-01-01","du":"2020-12-01"}]}`},
		{"rapid test", portalapi.StaffKindTest,
			map[string]string{"fn": "Dąbrowski", "gn": "Łukasz", "dob": "03.11.1984", "tt": "LP217198-3", "sc": tomorrow + "T10:00", "tr": "", "co": "XX"},
			`{"ver":"1.3.0","nam":{"fn":"Dąbrowski","gn":"Łukasz"},"dob":"1984-11-03","t":[{"tg":"840539006","tt":"LP217198-3","sc":"` + tomorrow + `T10:00:00+01:00","tr":"","co":"XX","is":"Robert Koch-Institut"}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := s.get(portalapi.StaffIssuePrefix + c.kind)
			p := s.submit(f, c.kind, c.fields)
			if p.status != http.StatusBadRequest && p.status != http.StatusUnprocessableEntity {
				t.Fatalf("want a validation answer, got %d %s", p.status, p.text())
			}
			checkHeaders(t, p)
			checkLabels(t, p)
			want := apiErrors(t, env, ph, c.api)
			got := p.errors()
			if len(want) == 0 {
				t.Fatal("the API found nothing wrong")
			}
			for field, code := range want {
				if got[field] != code {
					t.Errorf("%s: page shows %q, the API says %q (page %v, API %v)", field, got[field], code, got, want)
				}
			}
			if p.hidden("key") != f.hidden("key") {
				t.Error("a refused form changed its Idempotency-Key")
			}
			for k, v := range c.fields {
				if k == "co" && v == "XX" {
					continue // not a choice of the select: a forged post, shown unselected
				}
				if p.value(k) != v {
					t.Errorf("field %s shows %q after the errors, typed %q", k, p.value(k), v)
				}
			}
			if !strings.Contains(p.body, `id="error-summary"`) || !strings.Contains(p.body, `aria-invalid="true"`) {
				t.Error("no error summary or aria-invalid")
			}
		})
	}
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("%d certificates issued from invalid forms", n)
	}
	checkLogs(t, logs, "Ødegård", "Łukasz", "Müller\U0001F600", "\U0001F600")
}

// TestResubmitIssuesOnce: the key drawn with the form makes a resubmitted
// or double-clicked form issue one certificate.
func TestResubmitIssuesOnce(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	fields := vaccination(env, "Einmal", "Erika")

	first := s.follow(s.submit(form, portalapi.StaffKindVaccination, fields))
	again := s.follow(s.submit(form, portalapi.StaffKindVaccination, fields)) // the browser's "resend"
	if first.element("uvci") == "" || first.element("uvci") != again.element("uvci") {
		t.Fatalf("resubmit: first %q, again %q", first.element("uvci"), again.element("uvci"))
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates after a resubmit, want 1", n)
	}

	// A double click: both posts in flight at once.
	form = s.get(portalapi.StaffIssuePrefix + portalapi.StaffKindVaccination)
	fields = vaccination(env, "Doppelklick", "Dora")
	var wg sync.WaitGroup
	uvcis := make([]string, 2)
	for i := range uvcis {
		wg.Go(func() {
			p := s.submit(form, portalapi.StaffKindVaccination, fields)
			if p.status != http.StatusSeeOther {
				t.Errorf("double click %d: %d %s", i, p.status, p.text())
				return
			}
			uvcis[i] = s.get(p.header.Get("Location")).element("uvci")
		})
	}
	wg.Wait()
	if uvcis[0] == "" || uvcis[0] != uvcis[1] {
		t.Fatalf("double click gave %q and %q", uvcis[0], uvcis[1])
	}
	if n := certCount(t, env, ph); n != 2 {
		t.Fatalf("%d certificates after a double click, want 2", n)
	}

	// Back, edit, send again: other entries under the used key are a new
	// request; the page says so and draws a new key.
	fields["gn"] = "Dorothea"
	p := s.submit(form, portalapi.StaffKindVaccination, fields)
	if p.status != http.StatusUnprocessableEntity || p.hidden("key") == form.hidden("key") || p.value("gn") != "Dorothea" {
		t.Fatalf("edited resubmit: %d key changed %v gn %q: %s", p.status, p.hidden("key") != form.hidden("key"), p.value("gn"), p.text())
	}
	if n := certCount(t, env, ph); n != 2 {
		t.Fatalf("the edited resubmit issued: %d certificates", n)
	}
	if p := s.follow(s.submit(p, portalapi.StaffKindVaccination, fields)); p.element("uvci") == uvcis[0] {
		t.Fatal("the corrected form replayed the old certificate")
	}
}

// holdingOptions: one issuance slot, and a request whose signer hangs
// holds it for signHold (then it is deferred), long enough for a test to
// send another one into the full portal even on a busy machine.
func holdingOptions(more func(*portalapi.Config)) portaltest.Options {
	const signHold = 3 * time.Second
	return portaltest.Options{
		Mutate: func(c *portalapi.Config) {
			c.Limits.Issue = portalapi.RouteLimit{MaxConcurrent: 1, MaxQueue: 0, MaxQueueWait: portalapi.Duration(100 * time.Millisecond)}
			c.SignCallTimeout = portalapi.Duration(signHold)
			c.IssueDeadline = portalapi.Duration(signHold + time.Second)
			if more != nil {
				more(c)
			}
		},
		SignerClient: func(c *signerclient.Config) { c.CallTimeout = signHold },
	}
}

// metric reads one sample of the portal's /metrics.
func metric(t *testing.T, env *portaltest.Env, series string) string {
	t.Helper()
	r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestOverloadIsAPage: a post the issue limiter sheds is the API's 503 as
// a page: same status and Retry-After, the form kept with its key, and
// sending it again later issues.
func TestOverloadIsAPage(t *testing.T) {
	env, _ := start(t, holdingOptions(nil))
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)

	// One request holds the only slot: its signer hangs until the sign
	// call times out, then it is deferred.
	env.SetSigners(portaltest.SignerHang)
	holder := make(chan *portaltest.Response, 1)
	go func() { holder <- env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, "v")) }()
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, env, `portal_admission_in_flight{limiter="issue"}`) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the holding request never took the slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fields := vaccination(env, "Warteschlange", "Wilma")
	p := s.submit(form, portalapi.StaffKindVaccination, fields)
	if p.status != http.StatusServiceUnavailable || p.name() != portalapi.StaffPageBusy || p.header.Get("Retry-After") == "" {
		t.Fatalf("shed post: %d page %q Retry-After %q: %s", p.status, p.name(), p.header.Get("Retry-After"), p.text())
	}
	if p.heading() != "The portal is busy right now" || p.value("fn") != "Warteschlange" || p.hidden("key") != form.hidden("key") {
		t.Fatalf("busy page: heading %q, fn %q, key kept %v", p.heading(), p.value("fn"), p.hidden("key") == form.hidden("key"))
	}
	checkHeaders(t, p)
	if r := <-holder; r.Status != http.StatusAccepted {
		t.Fatalf("holding request: %v", r)
	}
	env.SetSigners(portaltest.SignerUp)
	waitSigners(t, env)
	if cert := s.follow(s.submit(p, portalapi.StaffKindVaccination, fields)); cert.name() != portalapi.StaffPageCertificate {
		t.Fatalf("sent again: page %q %s", cert.name(), cert.text())
	}
}

func waitSigners(t *testing.T, env *portaltest.Env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for env.SignerClient.Available() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("signers never came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCSRFRefused: a post without this browser's token changes nothing.
func TestCSRFRefused(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	victim := newStaff(t, env)
	form := victim.signIn(ph)
	attacker := newStaff(t, env)
	theirs := attacker.get(portalapi.StaffSignIn).hidden("csrf")
	fields := vaccination(env, "Gefälscht", "Fritz")

	// The wrong token differs from the right one in its first character
	// (replacing it by a fixed letter would keep 1 token in 64 intact).
	own := form.hidden("csrf")
	wrong := "x" + own[1:]
	if own[0] == 'x' {
		wrong = "y" + own[1:]
	}
	for name, token := range map[string]string{"no token": "", "wrong token": wrong, "another browser's token": theirs} {
		v := url.Values{"key": {form.hidden("key")}}
		if token != "" {
			v.Set("csrf", token)
		}
		for k, val := range fields {
			v.Set(k, val)
		}
		p := victim.post(portalapi.StaffIssuePrefix+portalapi.StaffKindVaccination, v)
		if p.status != http.StatusForbidden || p.name() != portalapi.StaffPageError || p.heading() != "This form has expired" {
			t.Errorf("%s: %d %q %q", name, p.status, p.name(), p.heading())
		}
		checkHeaders(t, p)
	}
	// A cross-site post carries no cookie at all (SameSite=Strict).
	cold := newStaff(t, env)
	v := url.Values{"csrf": {form.hidden("csrf")}, "key": {form.hidden("key")}}
	for k, val := range fields {
		v.Set(k, val)
	}
	if p := cold.post(portalapi.StaffIssuePrefix+portalapi.StaffKindVaccination, v); p.status != http.StatusForbidden {
		t.Errorf("post without cookies: %d", p.status)
	}
	// Login CSRF: no token, no session.
	if p := cold.post(portalapi.StaffSignIn, url.Values{"client_id": {ph.ClientID}, "client_secret": {ph.ClientSecret}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without token: %d", p.status)
	}
	if p := cold.get(portalapi.StaffRoot); p.header.Get("Location") != portalapi.StaffSignIn {
		t.Errorf("a refused sign-in made a session: /staff/ leads to %s", p.header.Get("Location"))
	}
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("%d certificates from refused posts", n)
	}
}

// TestExpiredSessionKeepsForm: a form posted into an expired session
// comes back after signing in, with its key, and issues once.
func TestExpiredSessionKeepsForm(t *testing.T) {
	env, logs := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	fields := vaccination(env, "Langsam-Tippende", "Ottilie")

	env.Clock.Advance(31 * time.Minute) // past the idle timeout
	p := s.submit(form, portalapi.StaffKindVaccination, fields)
	if p.status != http.StatusOK || p.name() != portalapi.StaffPageSignIn || p.hidden("draft") == "" {
		t.Fatalf("post into an expired session: %d page %q draft %v: %s", p.status, p.name(), p.hidden("draft") != "", p.text())
	}
	if strings.Contains(p.body, "Langsam") || strings.Contains(p.body, "Ottilie") {
		t.Fatal("the sign-in page shows the typed names in clear")
	}
	if n := certCount(t, env, ph); n != 0 {
		t.Fatalf("an expired session issued %d certificates", n)
	}
	// A wrong secret first: the draft rides along.
	bad := s.post(portalapi.StaffSignIn, url.Values{"csrf": {p.hidden("csrf")}, "draft": {p.hidden("draft")},
		"client_id": {ph.ClientID}, "client_secret": {"nope"}})
	if bad.hidden("draft") == "" {
		t.Fatal("a failed sign-in dropped the kept form")
	}
	back := s.post(portalapi.StaffSignIn, url.Values{"csrf": {bad.hidden("csrf")}, "draft": {bad.hidden("draft")},
		"client_id": {ph.ClientID}, "client_secret": {ph.ClientSecret}})
	restored := s.follow(back)
	if restored.name() != portalapi.StaffPageIssue || restored.hidden("key") != form.hidden("key") {
		t.Fatalf("after sign-in: page %q, key kept %v", restored.name(), restored.hidden("key") == form.hidden("key"))
	}
	for k, v := range fields {
		if restored.value(k) != v {
			t.Errorf("restored %s = %q, typed %q", k, restored.value(k), v)
		}
	}
	// Shown once: a fresh form is empty again.
	if fresh := s.get(portalapi.StaffIssuePrefix + portalapi.StaffKindVaccination); fresh.value("fn") != "" {
		t.Errorf("the kept form stuck: %q", fresh.value("fn"))
	}
	cert := s.follow(s.submit(restored, portalapi.StaffKindVaccination, fields))
	if cert.element("holder") != "Ottilie Langsam-Tippende" {
		t.Fatalf("issued after sign-in: %q", cert.element("holder"))
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
	// The sealed form opens only in the browser that typed it.
	other := newStaff(t, env)
	op := other.get(portalapi.StaffSignIn)
	got := other.post(portalapi.StaffSignIn, url.Values{"csrf": {op.hidden("csrf")}, "draft": {p.hidden("draft")},
		"client_id": {ph.ClientID}, "client_secret": {ph.ClientSecret}})
	if f := other.follow(got); f.value("fn") != "" {
		t.Fatalf("another browser opened the kept form: fn %q", f.value("fn"))
	}
	checkLogs(t, logs, fields["fn"], fields["gn"], "1998-02-26")
}

// TestSignerCutOff: the banner, a ticket page that reloads itself with an
// estimate, and the certificate once the signer is back.
func TestSignerCutOff(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	if strings.Contains(form.body, `id="signer-banner"`) {
		t.Fatal("banner while the signers are up")
	}
	env.SetSigners(portaltest.SignerDown)
	deadline := time.Now().Add(10 * time.Second)
	for env.SignerClient.Available() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the signer client never noticed the cut-off")
		}
		time.Sleep(20 * time.Millisecond)
	}
	form = s.get(portalapi.StaffIssuePrefix + portalapi.StaffKindVaccination)
	if !strings.Contains(form.element(portalapi.StaffIDSignerDown), "cut off") {
		t.Fatalf("no banner during the cut-off: %s", form.text())
	}
	began := time.Now()
	res := s.submit(form, portalapi.StaffKindVaccination, vaccination(env, "Später", "Susanne"))
	if took := time.Since(began); res.status != http.StatusSeeOther || took > env.Config.IssueDeadline.D()+time.Second {
		t.Fatalf("post during the cut-off: %d after %v: %s", res.status, took, res.text())
	}
	ticket := s.follow(res)
	if ticket.name() != portalapi.StaffPageTicket || ticket.heading() != "Certificate is being signed" {
		t.Fatalf("ticket page: %q %q", ticket.name(), ticket.heading())
	}
	if !regexp.MustCompile(`<meta http-equiv="refresh" content="[1-9][0-9]*">`).MatchString(ticket.body) {
		t.Fatal("the ticket page does not reload itself")
	}
	if !regexp.MustCompile(`Ready at about [0-2][0-9]:[0-5][0-9] at the earliest`).MatchString(ticket.element(portalapi.StaffIDReady)) {
		t.Fatalf("estimate: %q", ticket.element(portalapi.StaffIDReady))
	}
	if !strings.HasPrefix(ticket.element(portalapi.StaffIDTicket), "tk_") || strings.Contains(res.header.Get("Location"), "tk_") {
		t.Fatalf("ticket %q; its page's URL %q must not carry it", ticket.element(portalapi.StaffIDTicket), res.header.Get("Location"))
	}
	env.SetSigners(portaltest.SignerUp)
	deadline = time.Now().Add(20 * time.Second)
	for {
		p := s.get(res.header.Get("Location"))
		if p.status == http.StatusSeeOther {
			cert := s.follow(p)
			if cert.name() != portalapi.StaffPageCertificate || cert.element("uvci") != ticket.element("uvci") {
				t.Fatalf("after the cut-off: %q %q, ticket's UVCI %q", cert.name(), cert.element("uvci"), ticket.element("uvci"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ticket was never signed: %s", p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTicketThatFails: a deferred request given up shows as such.
func TestTicketThatFails(t *testing.T) {
	env, _ := start(t, portaltest.Options{Mutate: func(c *portalapi.Config) { c.DeferredMaxAge = portalapi.Duration(time.Second) }})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	env.SetSigners(portaltest.SignerDown)
	res := s.submit(form, portalapi.StaffKindVaccination, vaccination(env, "Vergeblich", "Vera"))
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), "/tickets/") {
		t.Fatalf("post during the cut-off: %d %s", res.status, res.text())
	}
	time.Sleep(1100 * time.Millisecond)
	env.SetSigners(portaltest.SignerUp)
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := s.get(res.header.Get("Location"))
		if p.name() == portalapi.StaffPageFailed {
			if p.heading() != "The certificate could not be issued" || !strings.Contains(p.text(), "expired") {
				t.Fatalf("failed page: %q %s", p.heading(), p.text())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ticket never failed: %d %s", p.status, p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLanguages: Accept-Language, the switch, and German by default.
func TestLanguages(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	s := newStaff(t, env)
	for accept, want := range map[string]string{"en-GB,en;q=0.9": "Sign in", "de-DE": "Anmelden", "": "Anmelden",
		"fr-FR,fr;q=0.9": "Anmelden", "fr;q=0.9, en;q=0.5": "Sign in"} {
		s.header.Set("Accept-Language", accept)
		if got := s.get(portalapi.StaffSignIn).heading(); got != want {
			t.Errorf("Accept-Language %q: heading %q, want %q", accept, got, want)
		}
	}
	s.header.Set("Accept-Language", "en")
	p := s.get(portalapi.StaffSignIn)
	// The sign-in form carries its own switch (it keeps what was typed).
	sw := s.post(portalapi.StaffSignIn, url.Values{"csrf": {p.hidden("csrf")}, "client_id": {"apo-123"}, "lang": {"de"}})
	if sw.heading() != "Anmelden" || sw.value("client_id") != "apo-123" || !strings.Contains(sw.header.Get("Set-Cookie"), "golive_lang=de") {
		t.Fatalf("switch on the sign-in form: %q %q %q", sw.heading(), sw.value("client_id"), sw.header.Get("Set-Cookie"))
	}
	if got := s.get(portalapi.StaffSignIn).heading(); got != "Anmelden" {
		t.Fatalf("the switch did not stick over Accept-Language en: %q", got)
	}
	// The header switch of other pages returns to the page, never elsewhere.
	for next, want := range map[string]string{"/staff/signin": "/staff/signin", "//evil.example/": "/staff/", "https://evil.example/": "/staff/", "/staff/\\evil": "/staff/"} {
		r := s.post("/staff/lang", url.Values{"csrf": {p.hidden("csrf")}, "lang": {"en"}, "next": {next}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("lang next=%q: %d %q, want %q", next, r.status, r.header.Get("Location"), want)
		}
	}
	if got := s.get(portalapi.StaffSignIn).heading(); got != "Sign in" {
		t.Fatalf("switch back: %q", got)
	}
}

// TestUnknownPages: HTML pages with the headers, not the API's problems.
func TestUnknownPages(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	s.signIn(ph)
	for path, want := range map[string]int{"/staff/nope": 404, "/staff/issue/passport": 404,
		"/staff/certificates/" + strings.Repeat("A", 80): 404, "/staff/tickets/forged": 404} {
		p := s.get(path)
		if p.status != want || p.name() != portalapi.StaffPageError || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q %q", path, p.status, p.name(), p.header.Get("Content-Type"))
		}
		checkHeaders(t, p)
	}
	if p := s.do(http.MethodPut, "/staff/signin", url.Values{}); p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") == "" {
		t.Errorf("PUT /staff/signin: %d Allow %q", p.status, p.header.Get("Allow"))
	}
	// A certificate reference made for one pharmacy is nothing to another.
	form := s.get(portalapi.StaffIssuePrefix + portalapi.StaffKindVaccination)
	loc := s.submit(form, portalapi.StaffKindVaccination, vaccination(env, "Fremd", "Franz")).header.Get("Location")
	other := newStaff(t, env)
	other.signIn(env.NewPharmacy(t))
	if p := other.get(loc); p.status != http.StatusNotFound {
		t.Fatalf("another pharmacy opened the certificate page: %d", p.status)
	}
	if p := other.get(loc + "/certificate.pdf"); p.status != http.StatusNotFound || bytes.HasPrefix([]byte(p.body), []byte("%PDF")) {
		t.Fatalf("another pharmacy got the PDF: %d", p.status)
	}
}

// TestStylesheet: the one static file is cacheable and CSS.
func TestStylesheet(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	resp, err := http.Get(env.URL + "/staff/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !bytes.Contains(body, []byte("--accent")) {
		t.Fatalf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestNaive2021LosesTheForm: the 2021 profile keeps the 2021 behaviour
// a browser journey measures against: an expired session loses the form.
func TestNaive2021LosesTheForm(t *testing.T) {
	env, _ := start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	env.Clock.Advance(31 * time.Minute)
	p := s.submit(form, portalapi.StaffKindVaccination, vaccination(env, "Verloren", "Vincent"))
	if p.name() != portalapi.StaffPageSignIn || p.hidden("draft") != "" || !strings.Contains(p.element(portalapi.StaffIDNotice), "not kept") {
		t.Fatalf("naive-2021 expiry: page %q draft %v notice %q", p.name(), p.hidden("draft") != "", p.element(portalapi.StaffIDNotice))
	}
	if f := s.signIn(ph); f.value("fn") != "" {
		t.Fatalf("naive-2021 kept the form: %q", f.value("fn"))
	}
}

// TestAccessTokenRefresh: the 60 s access token lapses many times in a
// session; the pages refresh it (once, even for a double click, since a
// refresh token is single-use and a second use would revoke the family).
func TestAccessTokenRefresh(t *testing.T) {
	env, _ := start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	env.Clock.Advance(2 * time.Minute) // > access_token_ttl, < session idle
	fields := vaccination(env, "Auffrischung", "Anton")
	var wg sync.WaitGroup
	locs := make([]string, 2)
	for i := range locs {
		wg.Go(func() {
			p := s.submit(form, portalapi.StaffKindVaccination, fields)
			if p.status != http.StatusSeeOther {
				t.Errorf("post %d after the token lapsed: %d %s", i, p.status, p.text())
			}
			locs[i] = p.header.Get("Location")
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for range 3 { // and again, and again: the rotated refresh token works
		env.Clock.Advance(2 * time.Minute)
		if p := s.get(locs[0]); p.status != http.StatusOK || p.name() != portalapi.StaffPageCertificate {
			t.Fatalf("certificate page after another lapse: %d %q", p.status, p.name())
		}
	}
	if n := certCount(t, env, ph); n != 1 {
		t.Fatalf("%d certificates, want 1", n)
	}
}

// TestNaive2021WaitsForSigner: naive-2021's page does not say that no
// signer answered; it sends the form again (the same key) until one does,
// so a signer back within the wait turns the standing form into the
// certificate, issued once. The hardened page answers at the first "no
// signer" (its own test: TestOverloadIsAPage and the banner tests).
func TestNaive2021WaitsForSigner(t *testing.T) {
	env, _ := start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021, Mutate: func(c *portalapi.Config) {
		c.StaffWeb.WaitForSigner = portalapi.Duration(time.Minute)
	}})
	ph := env.NewPharmacy(t)
	s := newStaff(t, env)
	form := s.signIn(ph)
	env.SetSigners(portaltest.SignerDown)
	answered := make(chan *page, 1)
	go func() {
		answered <- s.submit(form, portalapi.StaffKindVaccination, vaccination(env, "Geduld", "Gerda"))
	}()
	// At least one send has failed for want of a signer before it comes back.
	deadline := time.Now().Add(time.Minute)
	for !signErrors(t, env) {
		select {
		case p := <-answered:
			t.Fatalf("the page answered while no signer could sign: %d %q %s", p.status, p.name(), p.text())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no send failed for want of a signer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	env.SetSigners(portaltest.SignerUp)
	p := <-answered
	if cert := s.follow(p); cert.name() != portalapi.StaffPageCertificate {
		t.Fatalf("after the signer came back: %d page %q %s", p.status, cert.name(), cert.text())
	}
}

// signErrors reports whether the portal counted a failed sign call.
func signErrors(t *testing.T, env *portaltest.Env) bool {
	t.Helper()
	r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
	return strings.Contains(string(r.Body), "\nportal_sign_errors_total{")
}
