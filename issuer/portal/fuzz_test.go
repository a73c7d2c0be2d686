package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// Bounds of one fuzz input, so the harness tests the portal rather than
// net/http's own header limits (which answer in plain text).
const (
	fuzzMaxBody   = 256 << 10
	fuzzMaxPath   = 4 << 10
	fuzzMaxHeader = 1 << 10
)

// fuzzMethods is the small set of methods sent; any other input method
// string picks one of them, so every input exercises a route.
var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodHead, http.MethodOptions}

// Auth modes of a fuzz input (authMode % 4).
const (
	authNone    = 0 // no Authorization header
	authValid   = 1 // the pharmacy's valid access token
	authGarbage = 2 // that token with its signature altered
	authAdmin   = 3 // the admin token
)

// fuzzEnv is the issuer every fuzz input of one process runs against, and
// the per-environment values seeds refer to by placeholder (pharmacy and
// certificate IDs differ between processes, and fuzz workers are separate
// processes with their own environment).
type fuzzEnv struct {
	env     *portaltest.Env
	ph      *portaltest.Pharmacy // the pharmacy that issues
	victim  *portaltest.Pharmacy // the target of admin calls
	uvci    string               // a certificate issued by ph
	hc1     string               // its HC1
	garbage string               // ph's token, altered
	client  *http.Client
}

// startFuzzEnv starts the issuer on registry (portaltest.Options.Registry:
// "" is SQLite).
func startFuzzEnv(tb testing.TB, registry string) *fuzzEnv {
	tb.Helper()
	clock := &portaltest.Clock{}
	clock.Set(fuzzMorning(tb))
	env := portaltest.Start(tb, portaltest.Options{Clock: clock, Registry: registry, Mutate: func(c *portalapi.Config) {
		// The quota, anomaly detection and 60 s tokens have their own tests;
		// here they would turn every issuance after the first minute or
		// burst into the same 429/403/401 and hide the deep path.
		c.PharmacyQuota.Enabled = false
		c.Anomaly.Enabled = false
		c.AccessTokenTTL = portalapi.Duration(24 * time.Hour)
	}})
	fe := &fuzzEnv{env: env, ph: env.NewPharmacy(tb), victim: env.NewPharmacy(tb)}
	iss := env.MustIssue(tb, fe.ph, dcc.TypeVaccination)
	fe.uvci, fe.hc1 = iss.UVCI, iss.HC1
	// Flip a character in the signature part: well-formed, wrongly signed.
	tok := []byte(fe.ph.Token)
	i := len(tok) - 2
	if tok[i] == 'A' {
		tok[i] = 'B'
	} else {
		tok[i] = 'A'
	}
	fe.garbage = string(tok)
	fe.client = &http.Client{
		Timeout: fuzzAnswerTimeout,
		// A redirect (the mux cleaning "//x" or "/a/../b") is an answer to
		// check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
	}
	tb.Cleanup(fe.client.CloseIdleConnections)
	return fe
}

// fuzzAnswerTimeout catches a handler that hangs, not a slow one: a PDF
// printout under -race on a busy 2-core machine took over 5 s.
const fuzzAnswerTimeout = time.Minute

// fuzzMorning is 09:00 in Berlin today: business hours, whatever the time
// the fuzzer runs.
func fuzzMorning(tb testing.TB) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		tb.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, loc)
}

// expand replaces the placeholders seeds use with this environment's
// values: {ph} and {victim} pharmacy IDs, {uvci} (path-escaped in paths),
// {hc1}, {client_id}/{client_secret} of the victim, {payload} a fresh
// valid vaccination payload and {key} a fresh Idempotency-Key.
func (fe *fuzzEnv) expand(t *testing.T, s string, inPath bool) string {
	if !strings.Contains(s, "{") {
		return s
	}
	uvci := fe.uvci
	if inPath {
		uvci = url.PathEscape(uvci)
	}
	pairs := []string{"{ph}", fe.ph.ID, "{victim}", fe.victim.ID, "{uvci}", uvci, "{hc1}", fe.hc1,
		"{client_id}", fe.victim.ClientID, "{client_secret}", fe.victim.ClientSecret, "{key}", portaltest.NewKey()}
	if strings.Contains(s, "{payload}") {
		pairs = append(pairs, "{payload}", string(fe.env.Payload(t, dcc.TypeVaccination)))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// fuzzURL turns an arbitrary path string into a URL on base that any
// HTTP client can send: a leading '/', valid escapes kept as written (so
// %2F in a UVCI segment survives), invalid ones escaped literally, no
// fragment, and a query re-encoded from whatever parses.
func fuzzURL(base, p string) *url.URL {
	u, err := url.Parse(base)
	if err != nil {
		panic(err) // the env's own URL
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	p, _, _ = strings.Cut(p, "#")
	rawPath, rawQuery, _ := strings.Cut(p, "?")
	if dec, err := url.PathUnescape(rawPath); err == nil {
		u.Path, u.RawPath = dec, rawPath // RawPath is used only if it is a valid encoding
	} else {
		u.Path = rawPath
	}
	q, _ := url.ParseQuery(rawQuery) // keeps what parses
	u.RawQuery = q.Encode()
	return u
}

// headerValue drops the bytes a client may not send in a header value
// (controls other than tab), so the harness never fails on its own.
func headerValue(s string) string {
	if len(s) > fuzzMaxHeader {
		s = s[:fuzzMaxHeader]
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ { // bytes, not runes: invalid UTF-8 stays as sent
		if c := s[i]; (c >= ' ' || c == '\t') && c != 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// fuzzResponse is what the harness keeps of one answer.
type fuzzResponse struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request; a reused keep-alive connection the server has
// just closed is retried once on a fresh one (that is the client's race,
// not the server's answer).
func (fe *fuzzEnv) send(method string, u *url.URL, header http.Header, body []byte) (*fuzzResponse, error) {
	for attempt := 0; ; attempt++ {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return nil, fmt.Errorf("building request: %w", err)
		}
		req.URL = u
		req.Header = header.Clone()
		resp, err := fe.client.Do(req)
		if err != nil {
			if reused && attempt == 0 {
				fe.client.CloseIdleConnections()
				continue
			}
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading body: %w", err)
		}
		return &fuzzResponse{status: resp.StatusCode, header: resp.Header, body: raw}, nil
	}
}

// registryState is what a failed issuance must not change: the issuing
// pharmacy's certificates and the binding of the request's key.
type registryState struct {
	certs    int
	pending  int
	keyFound bool
	keyUVCI  string
}

func (fe *fuzzEnv) registryState(t *testing.T, key string) registryState {
	t.Helper()
	ctx := context.Background()
	cs, err := fe.env.Store.CertificatesByPharmacy(ctx, fe.ph.ID)
	if err != nil {
		t.Fatalf("counting certificates: %v", err)
	}
	st := registryState{certs: len(cs)}
	if st.pending, err = fe.env.Store.PendingTicketCount(ctx); err != nil {
		t.Fatalf("counting tickets: %v", err)
	}
	if key != "" {
		b, err := fe.env.Store.LookupIdempotency(ctx, fe.ph.ID, key)
		switch {
		case err == nil:
			st.keyFound, st.keyUVCI = true, b.UVCI
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("looking up key: %v", err)
		}
	}
	return st
}

// FuzzAPI sends arbitrary requests to a complete issuer (portal, store,
// two signers over real HTTP) and checks what must hold for every one:
// no 5xx but 503 with Retry-After, every 4xx a problem+json body with a
// code, a POST that failed left nothing in the registry, and the portal
// still answers /healthz.
func FuzzAPI(f *testing.F) {
	fe := startFuzzEnv(f, "")
	for _, s := range fe.seeds(f) {
		f.Add(s.method, s.path, s.ctype, s.key, s.auth, []byte(s.body))
	}
	f.Fuzz(fe.run)
}

// TestAPISeedsOnPostgres sends FuzzAPI's seeds (every route, valid and
// hostile input) to a portal whose registry is PostgreSQL: the same
// answers hold (problem+json for bad input, no 500, no change to the
// registry on a refusal).
func TestAPISeedsOnPostgres(t *testing.T) {
	fe := startFuzzEnv(t, pgtest.NewDatabase(t))
	for i, s := range fe.seeds(t) {
		t.Run(fmt.Sprintf("%02d_%s", i, s.method), func(t *testing.T) {
			fe.run(t, s.method, s.path, s.ctype, s.key, s.auth, []byte(s.body))
		})
	}
}

// apiSeed is one FuzzAPI input; paths, keys and bodies may hold the
// placeholders expand replaces.
type apiSeed struct {
	method, path, ctype, key string
	auth                     uint8
	body                     string
}

func (fe *fuzzEnv) seeds(tb testing.TB) []apiSeed {
	issue := func(payload string) []byte { return []byte(`{"payload":` + payload + `}`) }
	app, _ := json.Marshal(portaltest.ApplicationFor(fe.env.Entries[10], ""))
	appSQL := bytes.Replace(app, []byte(`"name":"`), []byte(`"name":"x'); DROP TABLE pharmacies;-- `), 1)
	// Doctors' practices: an honest application, and one with a
	// pharmacy's Telematik-ID and over-long practice numbers.
	practice, _ := json.Marshal(portaltest.ApplicationFor(fe.env.PracticeEntries[5], ""))
	practiceBad := bytes.Replace(practice, []byte(`"telematik_id":"1`), []byte(`"telematik_id":"3`), 1)
	practiceBad = bytes.Replace(practiceBad, []byte(`"bsnr":"`), []byte(`"bsnr":"99999999999999999999`), 1)
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	deepArr := strings.Repeat("[", 60000)
	const js, none = "application/json", ""
	type seed = apiSeed
	return []seed{
		// Issuance: valid, replayed key, every type, and hostile payloads.
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue("{payload}"))},
		{"POST", "/v1/certificates", js, "fuzz-fixed-key", authValid, string(issue("{payload}"))},
		{"POST", "/v1/certificates", "application/json; charset=utf-8", "{key}", authValid,
			`{"type":"v","payload":` + string(fe.env.Payload(tb, dcc.TypeVaccination)) + `}`},
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue(string(fe.env.Payload(tb, dcc.TypeTest))))},
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue(string(fe.env.Payload(tb, dcc.TypeRecovery))))},
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue(deep))},
		{"POST", "/v1/certificates", js, "{key}", authValid, deepArr},
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue(
			`{"ver":"1.3.0","nam":{"fn":"A","fnt":"A"},"dob":"1e400","v":[{"tg":"840539006","vp":"1119349007","mp":"EU/1/20/1528","ma":"ORG-100030215","dn":1e400,"sd":99999999999999999999999,"dt":"2021-06-01","co":"DE","is":"X"}]}`))},
		{"POST", "/v1/certificates", js, "{key}", authValid, "{\"payload\":{\"ver\":\"\xff\xfe\",\"nam\":{\"fn\":\"\xc3\x28\"}}}"},
		{"POST", "/v1/certificates", js, "{key}", authValid, string(issue(
			`{"ver":"1.3.0","nam":{"fn":"Robert'); DROP TABLE certificates;--","fnt":"X' OR '1'='1"},"dob":"1980-01-01","v":[]}`))},
		{"POST", "/v1/certificates", js, "{key}", authGarbage, string(issue("{payload}"))},
		{"POST", "/v1/certificates", js, "{key}", authNone, string(issue("{payload}"))},
		{"POST", "/v1/certificates", js, "{key}", authAdmin, string(issue("{payload}"))},
		{"POST", "/v1/certificates", "text/plain", "schlüssel mit leerzeichen", authValid, "payload=1"},
		{"POST", "/v1/certificates", "multipart/form-data; boundary=x", strings.Repeat("k", 200), authValid, "--x\r\n\r\n--x--"},
		{"PUT", "/v1/certificates", js, "{key}", authValid, string(issue("{payload}"))},
		// Reads of certificates and tickets.
		{"GET", "/v1/certificates/{uvci}", none, "", authValid, ""},
		{"GET", "/v1/certificates/{uvci}.png", none, "", authAdmin, ""},
		{"HEAD", "/v1/certificates/{uvci}.pdf", none, "", authValid, ""},
		{"GET", "/v1/certificates/..%2f..%2fetc%2fpasswd", none, "", authValid, ""},
		{"GET", "/v1/tickets/' OR 1=1 --", none, "", authGarbage, ""},
		// Onboarding and login.
		{"POST", "/v1/pharmacies", js, "", authNone, string(app)},
		{"POST", "/v1/pharmacies", js, "", authNone, string(appSQL)},
		{"POST", "/v1/pharmacies", js, "", authNone, string(practice)},
		{"POST", "/v1/pharmacies", js, "", authNone, string(practiceBad)},
		{"POST", "/v1/pharmacies", js, "", authNone, `{"party_kind":["practice"],"bsnr":1}`},
		{"POST", "/v1/pharmacies/{victim}/activate", js, "", authNone, `{"code":"000000"}`},
		{"POST", "/v1/pharmacies/%00/activate", js, "", authNone, `{"code":{}}`},
		{"POST", "/v1/token", js, "", authNone, `{"grant_type":"client_credentials","client_id":"{client_id}","client_secret":"{client_secret}"}`},
		{"POST", "/v1/token", js, "", authNone, `{"grant_type":"refresh_token","refresh_token":"\u0000"}`},
		{"POST", "/v1/token", "application/x-www-form-urlencoded", "", authNone, "grant_type=client_credentials"},
		// Public routes.
		{"POST", "/v1/verify", js, "", authNone, `{"hc1":"{hc1}"}`},
		{"POST", "/v1/verify", js, "", authNone, `{"hc1":"HC1:::::"}`},
		{"POST", "/v1/verify", js, "", authNone, `{"hc1":42}`},
		{"POST", "/v1/verify", js, "", authNone, `{"hc1":"{hc1}","schema":true,"dsc_validity":"at-verification"}`},
		{"POST", "/v1/verify", js, "", authNone, `{"hc1":"{hc1}","dsc_validity":"lenient"}`},
		{"GET", "/v1/revocations", none, "", authNone, ""},
		{"GET", "/v1/trustlist?x=%zz&y=1", none, "", authNone, ""},
		{"GET", "/v1/revocations/delta?since=000000000000000000000000", none, "", authNone, ""},
		{"GET", "/v1/revocations/delta?since=%zz&since=1", none, "", authNone, ""},
		{"HEAD", "/v1/lists/keys", none, "", authNone, ""},
		{"GET", "/readyz", none, "", authNone, ""},
		{"GET", "//v1/../metrics", none, "", authNone, ""},
		// Admin.
		{"GET", "/v1/admin/audit?limit=5&subject={victim}", none, "", authAdmin, ""},
		{"GET", "/v1/admin/fraud-events?after=-1&limit=99999999999999999999", none, "", authAdmin, ""},
		{"POST", "/v1/admin/registry/lookup", js, "", authAdmin,
			`{"items":[{"uvci":"{uvci}","pharmacy_id":"{ph}","idempotency_key":"fuzz-fixed-key"},{"uvci":"x"}]}`},
		{"POST", "/v1/admin/registry/lookup", js, "", authValid, `{"items":[{}]}`},
		{"POST", "/v1/admin/pharmacies/{victim}/suspend", js, "", authAdmin, `{"reason":"fuzz"}`},
		{"POST", "/v1/admin/pharmacies/{victim}/reinstate", none, "", authAdmin, ""},
		{"POST", "/v1/admin/pharmacies/{victim}/revoke-all", js, "", authAdmin, `{"since":"2021-07-01T00:00:00Z","reason":"\u202e"}`},
		{"DELETE", "/v1/admin/pharmacies/{victim}", none, "", authAdmin, ""},
		// The staff web pages (HTML; a post without the browser's CSRF token is refused).
		{"POST", "/staff/issue/vaccination", "application/x-www-form-urlencoded", "", authValid, "fn=x&csrf=forged&key=web-1"},
		{"GET", "/staff/certificates/{uvci}", none, "", authValid, ""},
	}
}

// run sends one input and checks what holds for every answer.
func (fe *fuzzEnv) run(t *testing.T, method, path, contentType, idemKey string, authMode uint8, body []byte) {
	if i := indexOf(fuzzMethods, method); i >= 0 {
		method = fuzzMethods[i]
	} else {
		method = fuzzMethods[len(method)%len(fuzzMethods)]
	}
	if len(path) > fuzzMaxPath {
		path = path[:fuzzMaxPath]
	}
	if len(body) > fuzzMaxBody {
		body = body[:fuzzMaxBody]
	}
	u := fuzzURL(fe.env.URL, fe.expand(t, path, true))
	contentType = headerValue(contentType)
	idemKey = headerValue(fe.expand(t, idemKey, false))
	if len(body) > 0 {
		body = []byte(fe.expand(t, string(body), false))
	}

	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if idemKey != "" {
		h.Set("Idempotency-Key", idemKey)
	}
	switch authMode % 4 {
	case authValid:
		h.Set("Authorization", "Bearer "+fe.ph.Token)
	case authGarbage:
		h.Set("Authorization", "Bearer "+fe.garbage)
	case authAdmin:
		h.Set("Authorization", "Bearer "+fe.env.AdminToken)
	}
	var sendBody []byte
	if len(body) > 0 {
		sendBody = body
	}

	input := fmt.Sprintf("%s %s (Content-Type %q, Idempotency-Key %q, auth %d, body %q)",
		method, u.RequestURI(), contentType, idemKey, authMode%4, truncateFuzz(body))
	// The server sees the key with surrounding blanks trimmed.
	storedKey := strings.Trim(idemKey, " \t")
	checkRegistry := method == http.MethodPost
	var before registryState
	if checkRegistry {
		before = fe.registryState(t, storedKey)
	}

	resp, err := fe.send(method, u, h, sendBody)
	if err != nil {
		t.Fatalf("%s: no answer: %v", input, err)
	}
	if testing.Verbose() { // shows what each seed reaches: go test -v -run FuzzAPI
		t.Logf("%d %s", resp.status, truncateFuzz(resp.body))
	}
	if strings.HasPrefix(u.Path, "/staff/") {
		checkPage(t, input, resp)
	} else {
		checkAnswer(t, input, method, resp)
	}

	if checkRegistry && (resp.status < 200 || resp.status > 299) {
		after := fe.registryState(t, storedKey)
		// A deferred request finishing in the background adds a
		// certificate at any moment; only compare counts when none is
		// outstanding.
		if before.pending == 0 && after.pending == 0 && after.certs != before.certs {
			t.Fatalf("%s: answered %d but the registry went from %d to %d certificates: %s",
				input, resp.status, before.certs, after.certs, truncateFuzz(resp.body))
		}
		if storedKey != "" && (after.keyFound != before.keyFound || after.keyUVCI != before.keyUVCI) {
			t.Fatalf("%s: answered %d but the key binding changed from (%v %q) to (%v %q)",
				input, resp.status, before.keyFound, before.keyUVCI, after.keyFound, after.keyUVCI)
		}
	}

	hz, err := fe.send(http.MethodGet, fuzzURL(fe.env.URL, "/healthz"), http.Header{}, nil)
	if err != nil || hz.status != http.StatusOK {
		t.Fatalf("after %s: /healthz answered %v %v", input, hz, err)
	}
	fe.keepIssuerActive(t)
}

// checkAnswer asserts what holds for every answer.
func checkAnswer(t *testing.T, input, method string, resp *fuzzResponse) {
	t.Helper()
	switch {
	case resp.status == http.StatusServiceUnavailable:
		if resp.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After: %s", input, truncateFuzz(resp.body))
		}
	case resp.status >= 500:
		t.Fatalf("%s: server error %d: %s", input, resp.status, truncateFuzz(resp.body))
	}
	if resp.status < 400 {
		return
	}
	if mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type")); err != nil || mt != problem.ContentType {
		t.Fatalf("%s: %d with Content-Type %q, want %s: %s", input, resp.status,
			resp.header.Get("Content-Type"), problem.ContentType, truncateFuzz(resp.body))
	}
	if method == http.MethodHead {
		return // no body to read
	}
	var pr struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(resp.body, &pr); err != nil || pr.Code == "" || pr.Status != resp.status {
		t.Fatalf("%s: %d with problem body %q (code %q, status %d, err %v)", input, resp.status,
			truncateFuzz(resp.body), pr.Code, pr.Status, err)
	}
}

// checkPage asserts what holds for every answer of the staff web pages:
// no 5xx but 503 with Retry-After, and every HTML page under the strict CSP.
func checkPage(t *testing.T, input string, resp *fuzzResponse) {
	t.Helper()
	switch {
	case resp.status == http.StatusServiceUnavailable:
		if resp.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After: %s", input, truncateFuzz(resp.body))
		}
	case resp.status >= 500:
		t.Fatalf("%s: server error %d: %s", input, resp.status, truncateFuzz(resp.body))
	}
	if csp := resp.header.Get("Content-Security-Policy"); strings.HasPrefix(resp.header.Get("Content-Type"), "text/html") &&
		!strings.HasPrefix(csp, "default-src 'none'") {
		t.Fatalf("%s: %d without the pages' CSP (%q)", input, resp.status, csp)
	}
}

// keepIssuerActive undoes an admin input that suspended the issuing
// pharmacy (a seed's {ph} can land in a suspend path), so later inputs
// still reach issuance.
func (fe *fuzzEnv) keepIssuerActive(t *testing.T) {
	t.Helper()
	rec, err := fe.env.Store.Pharmacy(context.Background(), fe.ph.ID)
	if err != nil {
		t.Fatalf("reading the issuing pharmacy: %v", err)
	}
	if rec.Status == store.PharmacyActive {
		return
	}
	u := fuzzURL(fe.env.URL, "/v1/admin/pharmacies/"+url.PathEscape(fe.ph.ID)+"/reinstate")
	h := http.Header{"Authorization": {"Bearer " + fe.env.AdminToken}}
	if r, err := fe.send(http.MethodPost, u, h, nil); err != nil || r.status != http.StatusOK {
		t.Fatalf("reinstating the issuing pharmacy: %v %v", r, err)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func truncateFuzz(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
