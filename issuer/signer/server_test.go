package signer

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

const testToken = "s3cret-portal-token"

// fakeClock is a settable Clock for lockout tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConfig is a hardened config with the test token and a fast HSM.
func testConfig() Config {
	cfg := HardenedConfig()
	cfg.AuthToken = testToken
	cfg.HSMLatency = time.Millisecond
	return cfg
}

// start runs a signer over real HTTP on 127.0.0.1.
func start(t *testing.T, cfg Config, logger *slog.Logger) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg, testDSC(t), logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// sample returns a valid payload of kind typ with a fresh German UVCI.
func sample(t *testing.T, typ dcc.Type, now time.Time, seed uint64) *dcc.Certificate {
	t.Helper()
	c := dcc.Sample(mrand.New(mrand.NewPCG(seed, seed+1)), typ, now)
	ci, err := dcc.NewUVCI("DE", "GOLIVE", rand.Reader)
	if err != nil {
		t.Fatalf("NewUVCI: %v", err)
	}
	c.SetUVCI(ci)
	return c
}

// body builds a sign request body around a payload.
func body(t *testing.T, typ dcc.Type, payload any, issuedAt, expiresAt time.Time) []byte {
	t.Helper()
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(signerapi.SignRequest{Type: typ, Payload: raw, IssuedAt: issuedAt, ExpiresAt: expiresAt, RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type result struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
	done    time.Time // when the answer was read
	problem struct {
		Code   string `json:"code"`
		Field  string `json:"field"`
		Status int    `json:"status"`
		Errors []struct {
			Field string `json:"field"`
			Code  string `json:"code"`
		} `json:"errors"`
	}
	resp signerapi.SignResponse
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func post(t *testing.T, url, token string, b []byte, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/sign", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("POST: %v", err)
		return result{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: raw, elapsed: time.Since(began), done: time.Now()}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("status %d with Content-Type %q, want problem+json", resp.StatusCode, ct)
		}
		if err := json.Unmarshal(raw, &r.problem); err != nil {
			t.Errorf("problem body %q: %v", raw, err)
		}
	} else if err := json.Unmarshal(raw, &r.resp); err != nil {
		t.Errorf("response body %q: %v", raw, err)
	}
	return r
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// metric reads one sample from /metrics ("name" or `name{code="201"}`).
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	_, text := get(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

func TestSignHappyPath(t *testing.T) {
	s, ts := start(t, testConfig(), nil)
	for i, typ := range []dcc.Type{dcc.TypeVaccination, dcc.TypeTest, dcc.TypeRecovery} {
		t.Run(string(typ), func(t *testing.T) {
			now := time.Now()
			c := sample(t, typ, now, uint64(i))
			issued := now.Add(-time.Minute).Truncate(time.Second)
			expires := issued.Add(48 * time.Hour)
			r := post(t, ts.URL, testToken, body(t, typ, c, issued, expires), nil)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.resp.Kid != s.Kid() || r.resp.Signer != s.Name() || r.resp.Signer == "" {
				t.Errorf("kid/signer = %q/%q, want %q/%q", r.resp.Kid, r.resp.Signer, s.Kid(), s.Name())
			}
			if !r.resp.IssuedAt.Equal(issued) || !r.resp.ExpiresAt.Equal(expires) {
				t.Errorf("times = %v..%v, want %v..%v", r.resp.IssuedAt, r.resp.ExpiresAt, issued, expires)
			}
			got := verifyHC1(t, r.resp.HC1, now)
			if got.cert.UVCI() != c.UVCI() || got.cert.Type() != typ || got.cert.Nam != c.Nam || got.cert.Dob != c.Dob {
				t.Errorf("signed payload differs: got %+v, want %+v", got.cert, c)
			}
			if got.issuer != "DE" || !got.issuedAt.Equal(issued) || !got.expiresAt.Equal(expires) {
				t.Errorf("claims iss=%q iat=%v exp=%v, want DE %v %v", got.issuer, got.issuedAt, got.expiresAt, issued, expires)
			}
		})
	}
	if got := metric(t, ts.URL, `signer_requests_total{code="201"}`); got != 3 {
		t.Errorf(`signer_requests_total{code="201"} = %v, want 3`, got)
	}
}

func TestSignRefusals(t *testing.T) {
	_, ts := start(t, testConfig(), nil)
	now := time.Now()
	issued := now.Truncate(time.Second)
	vacc := sample(t, dcc.TypeVaccination, now, 7)
	valid := body(t, dcc.TypeVaccination, vacc, issued, issued.Add(24*time.Hour))

	badDose := *vacc
	badDose.V = []dcc.Vaccination{vacc.V[0]}
	badDose.V[0].Dn = 0
	noCI := *vacc
	noCI.V = []dcc.Vaccination{vacc.V[0]}
	noCI.V[0].Ci = ""
	foreign := *vacc
	foreign.V = []dcc.Vaccination{vacc.V[0]}
	foreign.V[0].Ci = "URN:UVCI:01:NL:187/37512422923#Z"
	// What the portal refuses, sent to the signer directly: it refuses
	// them on its own (dcc's issuing rules).
	with := func(f func(c *dcc.Certificate)) *dcc.Certificate {
		c := *vacc
		c.V = []dcc.Vaccination{vacc.V[0]}
		f(&c)
		return &c
	}
	zeroWidth := with(func(c *dcc.Certificate) { c.Nam.Fn = "Mus\u200bter" })
	emoji := with(func(c *dcc.Certificate) { c.Nam.Gn = "Anna\U0001F600" })
	freeCI := with(func(c *dcc.Certificate) { c.V[0].Ci = "certificate number 7" })
	opaqueCI := with(func(c *dcc.Certificate) { c.V[0].Ci = "01:DE:1312D00" })
	noCheck := with(func(c *dcc.Certificate) { c.V[0].Ci = c.V[0].Ci[:strings.IndexByte(c.V[0].Ci, '#')] })

	tests := []struct {
		name   string
		token  string
		body   []byte
		hdr    map[string]string
		status int
		code   string
		field  string
	}{
		{"no token", "", valid, nil, 401, "unauthorized", ""},
		{"wrong token", "s3cret-portal-tokem", valid, nil, 401, "unauthorized", ""},
		{"token prefix", testToken[:5], valid, nil, 401, "unauthorized", ""},
		{"invalid payload", testToken, body(t, "v", &badDose, issued, time.Time{}), nil, 400, "invalid_payload", "v[0].dn"},
		{"type mismatch", testToken, body(t, "t", vacc, issued, time.Time{}), nil, 400, "type_mismatch", "type"},
		{"unknown type", testToken, body(t, "x", vacc, issued, time.Time{}), nil, 400, "invalid_type", "type"},
		{"no type", testToken, body(t, "", vacc, issued, time.Time{}), nil, 400, "required", "type"},
		{"no payload", testToken, []byte(`{"type":"v"}`), nil, 400, "required", "payload"},
		{"unknown field in payload", testToken, body(t, "v", json.RawMessage(`{"ver":"1.3.0","nam":{"fnt":"X"},"dob":"1990","v":[],"extra":1}`), issued, time.Time{}), nil, 400, "invalid_payload", ""},
		{"unknown request field", testToken, []byte(`{"type":"v","payload":{},"hsm":"fast"}`), nil, 400, "", ""},
		{"no UVCI", testToken, body(t, "v", &noCI, issued, time.Time{}), nil, 400, "required", "v[0].ci"},
		{"foreign UVCI", testToken, body(t, "v", &foreign, issued, time.Time{}), nil, 400, "uvci_country", "v[0].ci"},
		{"zero-width space in the name", testToken, body(t, "v", zeroWidth, issued, time.Time{}), nil, 400, "invalid_payload", "nam.fn"},
		{"emoji in the name", testToken, body(t, "v", emoji, issued, time.Time{}), nil, 400, "invalid_payload", "nam.gn"},
		{"free-form ci", testToken, body(t, "v", freeCI, issued, time.Time{}), nil, 400, "invalid_payload", "v[0].ci"},
		{"opaque ci", testToken, body(t, "v", opaqueCI, issued, time.Time{}), nil, 400, "invalid_payload", "v[0].ci"},
		{"UVCI without check character", testToken, body(t, "v", noCheck, issued, time.Time{}), nil, 400, "invalid_payload", "v[0].ci"},
		{"issued_at in the future", testToken, body(t, "v", vacc, issued.Add(10*time.Minute), time.Time{}), nil, 400, "issued_at_skew", "issued_at"},
		{"issued_at in the past", testToken, body(t, "v", vacc, issued.Add(-time.Hour), time.Time{}), nil, 400, "issued_at_skew", "issued_at"},
		{"validity too long", testToken, body(t, "v", vacc, issued, issued.Add(400*Day)), nil, 400, "validity_too_long", "expires_at"},
		{"test validity too long", testToken, body(t, "t", sample(t, dcc.TypeTest, now, 8), issued, issued.Add(4*Day)), nil, 400, "validity_too_long", "expires_at"},
		{"expires before issued", testToken, body(t, "v", vacc, issued, issued.Add(-time.Second)), nil, 400, "validity_order", "expires_at"},
		{"bad deadline header", testToken, valid, map[string]string{signerapi.DeadlineHeader: "tomorrow"}, 400, "invalid_deadline", signerapi.DeadlineHeader},
		{"wrong content type", testToken, valid, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL, tt.token, tt.body, tt.hdr)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" && r.problem.Code != tt.code {
				t.Errorf("code %q, want %q", r.problem.Code, tt.code)
			}
			if tt.field != "" && r.problem.Field != tt.field {
				t.Errorf("field %q, want %q", r.problem.Field, tt.field)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// The refusals above spent no signature: the valid body still signs.
	if r := post(t, ts.URL, testToken, valid, nil); r.status != http.StatusCreated {
		t.Fatalf("valid request: status %d: %s", r.status, r.body)
	}
	if got := metric(t, ts.URL, `signer_requests_total{code="400"}`); got < 20 {
		t.Errorf(`signer_requests_total{code="400"} = %v, want >= 20`, got)
	}
}

func TestValidityClamp(t *testing.T) {
	dsc := testDSC(t)
	cfg := testConfig()
	cfg.ClampValidity = true
	cfg.MaxValidity = map[dcc.Type]time.Duration{dcc.TypeVaccination: 365 * Day, dcc.TypeTest: 100 * 365 * Day}
	_, ts := start(t, cfg, nil)
	now := time.Now()
	issued := now.Truncate(time.Second)
	notAfter := dsc.Cert.NotAfter.Truncate(time.Second)

	tests := []struct {
		name    string
		typ     dcc.Type
		expires time.Time
		want    time.Time
		status  int
	}{
		{"within maximum", "v", issued.Add(30 * Day), issued.Add(30 * Day), 201},
		{"above maximum is clamped", "v", issued.Add(500 * Day), issued.Add(365 * Day), 201},
		{"omitted takes the maximum", "v", time.Time{}, issued.Add(365 * Day), 201},
		{"beyond the DSC is clamped to its NotAfter", "t", notAfter.Add(50 * Day), notAfter, 201},
		{"type without maximum is refused", "r", time.Time{}, time.Time{}, 400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL, testToken, body(t, tt.typ, sample(t, tt.typ, now, uint64(i)), issued, tt.expires), nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 201 {
				return
			}
			want := tt.want
			if want.After(notAfter) {
				want = notAfter
			}
			got := verifyHC1(t, r.resp.HC1, now)
			if !got.expiresAt.Equal(want) || !r.resp.ExpiresAt.Equal(want) {
				t.Errorf("exp = %v (response %v), want %v", got.expiresAt, r.resp.ExpiresAt, want)
			}
		})
	}
}

// fire sends n concurrent valid requests and returns their results.
func fire(t *testing.T, url string, n int, clock func() time.Time, hdr map[string]string) []result {
	t.Helper()
	now := clock()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = body(t, "v", sample(t, "v", now, uint64(i)), now.Truncate(time.Second), time.Time{})
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			results[i] = post(t, url, testToken, bodies[i], hdr)
		})
	}
	close(gate)
	wg.Wait()
	return results
}

// waitMetric polls /metrics until name reads want (state other goroutines
// change), failing after metricWait.
func waitMetric(t *testing.T, url, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(metricWait)
	for metric(t, url, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v", name, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// metricWait bounds waitMetric: a hang, not a slow machine.
const metricWait = 10 * time.Second

func count(rs []result, status int, code string) int {
	n := 0
	for _, r := range rs {
		if r.status == status && (code == "" || r.problem.Code == code) {
			n++
		}
	}
	return n
}

func TestHardenedSheds(t *testing.T) {
	cfg := testConfig()
	cfg.HSMSlots = 2
	cfg.HSMLatency = 300 * time.Millisecond
	_, ts := start(t, cfg, nil)
	warm(t, ts.URL)

	rs := fire(t, ts.URL, 20, time.Now, nil)
	firstSigned := time.Time{}
	for _, r := range rs {
		if r.status == 201 && (firstSigned.IsZero() || r.done.Before(firstSigned)) {
			firstSigned = r.done
		}
	}
	ok, shed := count(rs, 201, ""), count(rs, 503, "overloaded")
	if ok+shed != len(rs) {
		t.Fatalf("got %d created + %d shed of %d: %+v", ok, shed, len(rs), statuses(rs))
	}
	if ok < 2 || shed < 1 {
		t.Fatalf("created %d, shed %d: want both (2 slots, 20 requests)", ok, shed)
	}
	for _, r := range rs {
		if r.status != 503 {
			continue
		}
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("503 with Retry-After %q", r.header.Get("Retry-After"))
		}
		// At once: back before the first signature of the same burst
		// (an ordering: under -race on a busy machine every answer took
		// 150 ms, so no stopwatch figure fits both machines).
		if !r.done.Before(firstSigned) {
			t.Errorf("shed answer (after %v) came after the first signature", r.elapsed)
		}
	}
	if got := metric(t, ts.URL, `signer_requests_total{code="503"}`); got != float64(shed) {
		t.Errorf("503 counter %v, want %d", got, shed)
	}
}

// warm opens idle connections so that timing assertions measure the
// server, not TCP handshakes.
func warm(t *testing.T, url string) {
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { get(t, url+"/healthz") })
	}
	wg.Wait()
}

func statuses(rs []result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%d/%s", r.status, r.problem.Code)
	}
	return out
}

func TestNaiveQueuesWithoutBound(t *testing.T) {
	cfg := Naive2021Config()
	cfg.AuthToken = testToken
	cfg.HSMSlots = 2
	cfg.HSMLatency = 50 * time.Millisecond
	cfg.LockoutMark = 100 // not reached by 20 requests
	_, ts := start(t, cfg, nil)

	// The deepest queue seen while the burst is served (polled, so a
	// slow start on a busy machine does not miss it).
	var depth float64
	burst, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			depth = max(depth, metric(t, ts.URL, "signer_queue_depth"))
			select {
			case <-burst:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	began := time.Now()
	rs := fire(t, ts.URL, 20, time.Now, nil)
	close(burst)
	<-done
	if n := count(rs, 201, ""); n != len(rs) {
		t.Fatalf("created %d of %d: %v", n, len(rs), statuses(rs))
	}
	// 20 requests over 2 slots of 50 ms: the last waits for 9 rounds.
	if total := time.Since(began); total < 9*cfg.HSMLatency {
		t.Errorf("all served in %v, want queueing (>= %v)", total, 9*cfg.HSMLatency)
	}
	if depth < 1 {
		t.Errorf("queue depth during the burst = %v, want > 0", depth)
	}
}

func TestNaiveLockout(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	cfg := Naive2021Config()
	cfg.AuthToken = testToken
	cfg.HSMSlots = 2
	cfg.HSMLatency = 100 * time.Millisecond
	cfg.LockoutMark = 5
	cfg.LockoutFor = 5 * time.Hour
	cfg.Clock = clock.Now
	s, ts := start(t, cfg, nil)

	rs := fire(t, ts.URL, 20, clock.Now, nil)
	ok, locked := count(rs, 201, ""), count(rs, 503, "locked_out")
	if ok+locked != len(rs) || locked == 0 {
		t.Fatalf("created %d, locked out %d of %d: %v", ok, locked, len(rs), statuses(rs))
	}
	if got := metric(t, ts.URL, "signer_lockouts_total"); got != 1 {
		t.Errorf("lockouts = %v, want 1", got)
	}

	// During the lockout every request is refused, and readiness says so.
	for _, advance := range []time.Duration{0, time.Hour, 3*time.Hour + 59*time.Minute} { // cumulative: up to 4h59m
		clock.Advance(advance)
		r := fire(t, ts.URL, 1, clock.Now, nil)[0]
		if r.status != 503 || r.problem.Code != "locked_out" {
			t.Fatalf("after +%v: status %d %s, want 503 locked_out", advance, r.status, r.problem.Code)
		}
		ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if ra < 1 || ra > 5*3600 {
			t.Errorf("Retry-After %q during lockout", r.header.Get("Retry-After"))
		}
		if code, _ := get(t, ts.URL+"/readyz"); code != 503 {
			t.Errorf("readyz = %d during lockout, want 503", code)
		}
	}
	if got := metric(t, ts.URL, "signer_locked_out"); got != 1 {
		t.Errorf("signer_locked_out = %v, want 1", got)
	}

	clock.Advance(2 * time.Minute) // past the 5 hours
	if r := fire(t, ts.URL, 1, clock.Now, nil)[0]; r.status != 201 {
		t.Fatalf("after the lockout: status %d %s", r.status, r.body)
	}
	if code, _ := get(t, ts.URL+"/readyz"); code != 200 {
		t.Errorf("readyz = %d after lockout, want 200", code)
	}

	// The admin switch works both ways.
	s.Lockout(time.Minute)
	if r := fire(t, ts.URL, 1, clock.Now, nil)[0]; r.status != 503 {
		t.Errorf("after Lockout: status %d", r.status)
	}
	s.Unlock()
	if r := fire(t, ts.URL, 1, clock.Now, nil)[0]; r.status != 201 {
		t.Errorf("after Unlock: status %d %s", r.status, r.body)
	}
}

func TestDeadline(t *testing.T) {
	const hsm = 400 * time.Millisecond // one signature
	deadlineIn := func(d time.Duration) map[string]string {
		return map[string]string{signerapi.DeadlineHeader: time.Now().Add(d).UTC().Format(time.RFC3339Nano)}
	}
	tests := []struct {
		name     string
		shed     bool
		unmeet   bool
		busy     bool // one long signature holds the only slot
		deadline time.Duration
		status   int
		// The answer's time is bounded by the test's own timers (one
		// signature of hsm, the deadline, the busy slot's release), not by
		// a tolerance a busy machine can overrun.
		minTime time.Duration
		maxTime time.Duration
	}{
		// Before one signature could have finished.
		{"passed deadline", false, false, false, -time.Second, 504, 0, hsm},
		// At the deadline, before the busy slot frees (hsm after it was taken).
		{"naive waits for a slot until the deadline", false, false, true, 80 * time.Millisecond, 504, 70 * time.Millisecond, hsm},
		{"naive meets a generous deadline", false, false, false, 2 * time.Second, 201, hsm, 2 * time.Second},
		// At once: before the deadline it could not meet.
		{"hardened refuses an unmeetable deadline at once", true, true, false, 300 * time.Millisecond, 504, 0, 300 * time.Millisecond},
		{"hardened meets a sufficient deadline", true, true, false, 2 * time.Second, 201, hsm, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.HSMSlots = 1
			cfg.HSMLatency = hsm
			cfg.Shed = tt.shed
			cfg.RejectUnmeetable = tt.unmeet
			_, ts := start(t, cfg, nil)
			warm(t, ts.URL)
			var wg sync.WaitGroup
			if tt.busy {
				wg.Go(func() { fire(t, ts.URL, 1, time.Now, nil) })
				// Polled, not slept: on a busy machine the first request
				// may take a while to reach the HSM.
				waitMetric(t, ts.URL, "signer_hsm_slots_busy", 1)
			}
			r := fire(t, ts.URL, 1, time.Now, deadlineIn(tt.deadline))[0]
			wg.Wait()
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status == 504 && r.problem.Code != "deadline_exceeded" {
				t.Errorf("code %q, want deadline_exceeded", r.problem.Code)
			}
			if r.elapsed < tt.minTime || r.elapsed > tt.maxTime {
				t.Errorf("answered in %v, want %v..%v", r.elapsed, tt.minTime, tt.maxTime)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	dsc := testDSC(t)
	_, ts := start(t, testConfig(), nil)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/metrics", 200, "signer_hsm_slots 10"},
		{"/v1/nothing", 404, ""},
	}
	for _, tt := range tests {
		code, text := get(t, ts.URL+tt.path)
		if code != tt.status || !strings.Contains(text, tt.want) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, text, tt.status, tt.want)
		}
	}
	resp, err := client.Get(ts.URL + "/v1/sign")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET /v1/sign = %d, want 405", resp.StatusCode)
	}

	// A signer whose DSC has expired is not ready.
	clock := &fakeClock{t: dsc.Cert.NotAfter.Add(time.Hour)}
	cfg := testConfig()
	cfg.Clock = clock.Now
	_, late := start(t, cfg, nil)
	if code, _ := get(t, late.URL+"/readyz"); code != 503 {
		t.Errorf("readyz with an expired DSC = %d, want 503", code)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	dsc := testDSC(t)
	cfg := testConfig()
	cfg.AuthToken = ""
	if _, err := New(cfg, dsc, nil); err == nil {
		t.Error("New without AuthToken succeeded")
	}
	if _, err := New(testConfig(), nil, nil); err == nil {
		t.Error("New without DSC succeeded")
	}
}

// TestLogsHoldNoPersonalData signs and refuses payloads with a debug
// logger and checks that no name or birth date reaches the log.
func TestLogsHoldNoPersonalData(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, ts := start(t, testConfig(), logger)
	now := time.Now()
	c := sample(t, "v", now, 99)
	c.Nam.Fn, c.Nam.Fnt = "Zyxwendorf", "ZYXWENDORF"
	c.Nam.Gn, c.Nam.Gnt = "Quentalia", "QUENTALIA"
	c.Dob = "1961-07-23"
	issued := now.Truncate(time.Second)
	if r := post(t, ts.URL, testToken, body(t, "v", c, issued, time.Time{}), nil); r.status != 201 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	bad := *c
	bad.Nam.Fnt = "zyxwendorf" // fails validation, message quotes the value
	if r := post(t, ts.URL, testToken, body(t, "v", &bad, issued, time.Time{}), nil); r.status != 400 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	logged := buf.String()
	if !strings.Contains(logged, c.UVCI()) {
		t.Errorf("log lacks the UVCI; got:\n%s", logged)
	}
	for _, secret := range []string{"Zyxwendorf", "ZYXWENDORF", "zyxwendorf", "1961-07-23", "Quentalia", "QUENTALIA"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log contains %q:\n%s", secret, logged)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
