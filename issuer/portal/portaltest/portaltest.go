// Package portaltest starts a complete issuer for tests over real HTTP on
// 127.0.0.1: a fresh PKI, a synthetic pharmacy register, a store in a temp
// directory, N real signer replicas (each switchable up, down or hanging)
// behind a real signer client, and the portal. Helpers onboard, activate
// and log in pharmacies and issue certificates the way a pharmacy's
// software would.
package portaltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/signer"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/issuer/store"
)

// Options tune Start. The zero value is a hardened portal with two signers.
type Options struct {
	// Profile is the portal preset (default hardened).
	Profile string
	// Config, when set, replaces the preset entirely.
	Config *portalapi.Config
	// Mutate adjusts the config after the preset (and test speed-ups).
	Mutate func(*portalapi.Config)
	// Signers is the number of signer replicas (default 2).
	Signers int
	// SignerConfig adjusts each replica's config (hardened preset with a
	// 1 ms HSM latency by default).
	SignerConfig func(*signer.Config)
	// SignerClient adjusts the portal's signer client config.
	SignerClient func(*signerclient.Config)
	// RegisterSize is the number of synthetic register entries (default 50).
	RegisterSize int
	// Clock is shared by portal, store and signers (default: real time).
	Clock *Clock
	// Logger for every component (default: discard; GOLIVE_TEST_LOG=1 in
	// the environment logs to stderr).
	Logger *slog.Logger
	// Seed makes the register reproducible (default 1).
	Seed uint64
	// Business is the simulated business day (nil: real time).
	Business *simclock.Clock
	// Schemas are the DCC schemas /v1/verify checks on request (nil:
	// none; such requests get 400 schema_unavailable).
	Schemas hcert.SchemaValidator
	// MetricsToken guards GET /metrics (empty: open).
	MetricsToken string
	// Deps adjusts the portal's collaborators before it starts, with the
	// store, PKI and signer client of e in place: a test mounts a
	// component (the finder) or passes lists of its own.
	Deps func(e *Env, d *portal.Deps)
	// Registry is the registry DSN (store.OpenRegistry): "" is SQLite in
	// the test's directory; postgres://... a PostgreSQL database.
	Registry string
}

// Clock is real time shifted by a settable offset: time flows, and tests
// can jump to 22:00 or past a token's expiry. Safe for concurrent use.
type Clock struct {
	offset atomic.Int64
}

// Now is the shifted time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Set jumps to t (time keeps flowing from there).
func (c *Clock) Set(t time.Time) { c.offset.Store(int64(time.Until(t))) }

func (c *Clock) offsetDuration() time.Duration { return time.Duration(c.offset.Load()) }

// SignerMode is how a replica behaves.
type SignerMode int32

const (
	SignerUp   SignerMode = iota // serves normally
	SignerDown                   // resets every connection (a crashed process)
	SignerHang                   // accepts and never answers (the 2021 "create PDF")
)

// SignerServer is one signer replica on 127.0.0.1.
type SignerServer struct {
	Server  *signer.Server
	HTTP    *httptest.Server
	URL     string
	mode    atomic.Int32
	closing chan struct{} // releases hanging requests at shutdown
	clock   *Clock
}

// SetMode switches the replica.
func (s *SignerServer) SetMode(m SignerMode) { s.mode.Store(int32(m)) }

func (s *SignerServer) serve(w http.ResponseWriter, r *http.Request) {
	switch SignerMode(s.mode.Load()) {
	case SignerDown:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case SignerHang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	// The signer client writes absolute deadlines in real time; the signer
	// reads them on the shared test clock, so shift them by its offset.
	if v := r.Header.Get(signerapi.DeadlineHeader); v != "" {
		if d, err := time.Parse(time.RFC3339Nano, v); err == nil {
			r.Header.Set(signerapi.DeadlineHeader, d.Add(s.clock.offsetDuration()).Format(time.RFC3339Nano))
		}
	}
	s.Server.Handler().ServeHTTP(w, r)
}

// Env is a running issuer.
type Env struct {
	URL      string
	Portal   *portal.Portal
	Config   portalapi.Config
	Store    *store.Store
	PKI      *pki.Set
	Register *register.Register
	Entries  []register.Entry
	// Practices is the doctors' practice register, PracticeEntries its
	// entries (20, from the seed).
	Practices       *register.Register
	PracticeEntries []register.Entry
	Mailbox         *register.DirMailbox
	AdminToken      string
	Signers         []*SignerServer
	SignerClient    *signerclient.Client
	Clock           *Clock
	HTTP            *http.Client
	Dir             string

	mu      sync.Mutex
	nextReg int // next unused register entry for NewPharmacy
	seq     atomic.Uint64
}

// TestConfig is the preset for profile with the signer-facing timeouts
// shortened for tests (so an outage test does not take seconds per request).
func TestConfig(profile string) (portalapi.Config, error) {
	cfg, err := portalapi.ConfigForProfile(profile)
	if err != nil {
		return cfg, err
	}
	if cfg.IssueDeadline > 0 {
		cfg.IssueDeadline = portalapi.Duration(1500 * time.Millisecond)
	}
	cfg.SignCallTimeout = portalapi.Duration(700 * time.Millisecond)
	cfg.DeferredRetryAfter = portalapi.Duration(time.Second)
	return cfg, nil
}

// Start builds and starts an Env; everything stops at the end of the test.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Profile == "" {
		opts.Profile = portalapi.ProfileHardened
	}
	if opts.Signers <= 0 {
		opts.Signers = 2
	}
	if opts.RegisterSize <= 0 {
		opts.RegisterSize = 50
	}
	if opts.Clock == nil {
		opts.Clock = &Clock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("GOLIVE_TEST_LOG") != "" {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	clock := opts.Clock
	dir := t.TempDir()
	e := &Env{Clock: clock, Dir: dir,
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(e.HTTP.CloseIdleConnections)

	cfg, err := TestConfig(opts.Profile)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.Mutate != nil {
		opts.Mutate(&cfg)
	}
	e.Config = cfg

	// The PKI starts 30 days back, so tests can move the clock around.
	e.PKI, err = pki.Init(filepath.Join(dir, "pki"), pki.InitOptions{Country: cfg.Country, Signers: opts.Signers,
		Now: clock.Now().Add(-30 * 24 * time.Hour)})
	if err != nil {
		t.Fatalf("pki: %v", err)
	}
	e.Entries = register.Generate(mrand.New(mrand.NewPCG(opts.Seed, opts.Seed+1)), opts.RegisterSize)
	if e.Register, err = register.New(e.Entries); err != nil {
		t.Fatalf("register: %v", err)
	}
	e.PracticeEntries = register.GeneratePractices(mrand.New(mrand.NewPCG(opts.Seed, opts.Seed+2)), 20)
	if e.Practices, err = register.NewKind(register.KindPractice, e.PracticeEntries); err != nil {
		t.Fatalf("practice register: %v", err)
	}
	if e.Mailbox, err = register.NewDirMailbox(filepath.Join(dir, "mail")); err != nil {
		t.Fatal(err)
	}
	e.Mailbox.Log = opts.Logger

	// One cleanup stops everything in order: portal, its workers and the
	// signer client, the signers, the store.
	ctx, cancel := context.WithCancel(context.Background())
	stops := []func(){cancel}
	t.Cleanup(func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	})
	e.Store, err = store.OpenRegistry(ctx, opts.Registry, filepath.Join(dir, "data"), store.Options{Clock: clock.Now, Logger: opts.Logger})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	stops = append(stops, func() { _ = e.Store.Close() })

	secret := auth.NewSecret()
	endpoints := make([]string, 0, opts.Signers)
	for i, dsc := range e.PKI.DSCs {
		sc := signer.HardenedConfig()
		sc.Name = fmt.Sprintf("dsc-%d", i+1)
		sc.AuthToken = secret
		sc.HSMLatency = time.Millisecond
		sc.Country = cfg.Country
		sc.Clock = clock.Now
		if opts.SignerConfig != nil {
			opts.SignerConfig(&sc)
		}
		srv, err := signer.New(sc, dsc, opts.Logger)
		if err != nil {
			t.Fatalf("signer %d: %v", i+1, err)
		}
		ss := &SignerServer{Server: srv, closing: make(chan struct{}), clock: clock}
		ss.HTTP = httptest.NewServer(http.HandlerFunc(ss.serve))
		ss.URL = ss.HTTP.URL
		stops = append(stops, func() {
			close(ss.closing)
			ss.HTTP.Close()
		})
		e.Signers = append(e.Signers, ss)
		endpoints = append(endpoints, ss.URL)
	}
	scfg := signerclient.Config{
		Endpoints: endpoints, AuthToken: secret,
		CallTimeout: 500 * time.Millisecond, HealthInterval: 100 * time.Millisecond,
		Breaker: signerclient.BreakerConfig{FailureThreshold: 2, OpenFor: 300 * time.Millisecond},
	}
	if opts.SignerClient != nil {
		opts.SignerClient(&scfg)
	}
	e.SignerClient = signerclient.New(scfg, opts.Logger)
	e.SignerClient.Start(ctx)
	stops = append(stops, cancel)

	e.AdminToken = auth.NewSecret()
	deps := portal.Deps{
		Store: e.Store, TrustList: e.PKI.Trust, Register: e.Register, Practices: e.Practices, Mailbox: e.Mailbox,
		Signer: e.SignerClient, AdminTokenHash: auth.HashToken(e.AdminToken),
		Logger: opts.Logger, Clock: clock.Now, Business: opts.Business, Schemas: opts.Schemas,
		MetricsToken: opts.MetricsToken,
	}
	if opts.Deps != nil {
		opts.Deps(e, &deps)
	}
	e.Portal, err = portal.New(cfg, deps)
	if err != nil {
		t.Fatalf("portal: %v", err)
	}
	// The portal's own server bounds (header and idle deadlines), as
	// golive serve runs it.
	srv := httptest.NewUnstartedServer(e.Portal.Handler())
	cfg.HTTP.Apply(srv.Config)
	srv.Start()
	e.URL = srv.URL
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = e.Portal.Run(ctx)
	}()
	stops = append(stops, func() {
		srv.Close()
		_ = e.Portal.Close()
		<-runDone
	})
	return e
}

// SetSigners switches every replica.
func (e *Env) SetSigners(m SignerMode) {
	for _, s := range e.Signers {
		s.SetMode(m)
	}
}

// Request is one call to the portal.
type Request struct {
	Method string
	Path   string
	// Token is sent as Authorization: Bearer (empty: none).
	Token string
	// Header adds headers (after Token and Content-Type).
	Header http.Header
	// Body: []byte or string is sent as is, anything else as JSON; nil
	// sends no body. ContentType defaults to application/json with a body.
	Body        any
	ContentType string
	// Client sends the request (nil: Env.HTTP); ClientFrom gives one
	// that connects from another loopback address.
	Client *http.Client
}

// ClientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.2, ...): another source to the portal's throttles,
// as a second machine would be.
func ClientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	addr := net.ParseIP(ip)
	if addr == nil || !addr.IsLoopback() {
		t.Fatalf("ClientFrom(%q): want a loopback address", ip)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: addr}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// Response is the portal's answer.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Problem problem.Problem // filled for problem+json bodies
	Elapsed time.Duration
}

// Decode unmarshals the body into v or fails the test.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %d body %q: %v", r.Status, truncate(r.Body), err)
	}
}

func (r *Response) String() string {
	return fmt.Sprintf("%d %s", r.Status, truncate(r.Body))
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// Do sends a request. Transport errors fail the test.
func (e *Env) Do(t testing.TB, req Request) *Response {
	t.Helper()
	var body io.Reader
	ct := req.ContentType
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	if body != nil && ct == "" {
		ct = "application/json"
	}
	hreq, err := http.NewRequest(req.Method, e.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		hreq.Header.Set("Content-Type", ct)
	}
	if req.Token != "" {
		hreq.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, vs := range req.Header {
		hreq.Header.Del(k)
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	client := e.HTTP
	if req.Client != nil {
		client = req.Client
	}
	began := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.Path, err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw, Elapsed: time.Since(began)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), problem.ContentType) {
		if err := json.Unmarshal(raw, &r.Problem); err != nil {
			t.Errorf("%s %s: problem body %q: %v", req.Method, req.Path, truncate(raw), err)
		}
	}
	return r
}

// Admin sends a request with the admin token.
func (e *Env) Admin(t testing.TB, method, path string, body any) *Response {
	t.Helper()
	return e.Do(t, Request{Method: method, Path: path, Token: e.AdminToken, Body: body})
}

// FakePDF is portalclient.FakePDF.
func FakePDF(title string) []byte { return portalclient.FakePDF(title) }

// ApplicationFor is an honest application for a register entry; the
// application's own e-mail is the register's unless email is given.
func ApplicationFor(entry register.Entry, email string) portalapi.Application {
	return portalclient.Application(entry, email)
}

// ForgedApplication is portalclient.ForgedApplication.
func ForgedApplication(rnd *mrand.Rand) portalapi.Application {
	return portalclient.ForgedApplication(rnd)
}

var codeLine = regexp.MustCompile(`(?m)^activation_code: (\S+)$`)
var idLine = regexp.MustCompile(`(?m)^pharmacy_id: (\S+)$`)

// ActivationCode reads the newest activation message delivered to email
// and returns the pharmacy ID and code it carries ("" when none came).
func (e *Env) ActivationCode(t testing.TB, email string) (pharmacyID, code string) {
	t.Helper()
	msgs, err := e.Mailbox.Messages(email)
	if err != nil {
		t.Fatalf("mailbox %s: %v", email, err)
	}
	if len(msgs) == 0 {
		return "", ""
	}
	body := msgs[len(msgs)-1].Body
	m, id := codeLine.FindStringSubmatch(body), idLine.FindStringSubmatch(body)
	if m == nil || id == nil {
		t.Fatalf("mailbox %s: message without code: %q", email, body)
	}
	return id[1], m[1]
}

// Pharmacy is an onboarded pharmacy and its current tokens.
type Pharmacy struct {
	ID           string
	Entry        register.Entry
	ClientID     string
	ClientSecret string
	Token        string // access token
	Refresh      string // refresh token
}

// Apply posts an application.
func (e *Env) Apply(t testing.TB, a portalapi.Application) *Response {
	t.Helper()
	return e.Do(t, Request{Method: http.MethodPost, Path: "/v1/pharmacies", Body: a})
}

// Activate posts an activation code.
func (e *Env) Activate(t testing.TB, pharmacyID, code string) *Response {
	t.Helper()
	return e.Do(t, Request{Method: http.MethodPost, Path: "/v1/pharmacies/" + url.PathEscape(pharmacyID) + "/activate",
		Body: portalapi.Activation{Code: code}})
}

// Onboard applies for entry, reads the code from the register's mailbox
// and activates; it fails the test on any refusal.
func (e *Env) Onboard(t testing.TB, entry register.Entry) *Pharmacy {
	t.Helper()
	resp := e.Apply(t, ApplicationFor(entry, ""))
	if resp.Status != http.StatusAccepted {
		t.Fatalf("apply: %v", resp)
	}
	var acc portalapi.ApplicationAccepted
	resp.Decode(t, &acc)
	id, code := e.ActivationCode(t, entry.Email)
	if id != acc.PharmacyID || code == "" {
		t.Fatalf("mailbox %s: got pharmacy %q code %q, applied as %q", entry.Email, id, code, acc.PharmacyID)
	}
	resp = e.Activate(t, id, code)
	if resp.Status != http.StatusOK {
		t.Fatalf("activate: %v", resp)
	}
	var creds portalapi.Credentials
	resp.Decode(t, &creds)
	return &Pharmacy{ID: id, Entry: entry, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
}

// Login gets tokens with the client credentials and stores them in ph.
func (e *Env) Login(t testing.TB, ph *Pharmacy) portalapi.TokenResponse {
	t.Helper()
	resp := e.Do(t, Request{Method: http.MethodPost, Path: "/v1/token", Body: portalapi.TokenRequest{
		GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: ph.ClientSecret}})
	if resp.Status != http.StatusOK {
		t.Fatalf("login: %v", resp)
	}
	var tr portalapi.TokenResponse
	resp.Decode(t, &tr)
	ph.Token, ph.Refresh = tr.AccessToken, tr.RefreshToken
	return tr
}

// NewPharmacy onboards the next unused register entry and logs it in.
func (e *Env) NewPharmacy(t testing.TB) *Pharmacy {
	t.Helper()
	e.mu.Lock()
	if e.nextReg >= len(e.Entries) {
		e.mu.Unlock()
		t.Fatal("register exhausted: raise Options.RegisterSize")
	}
	entry := e.Entries[e.nextReg]
	e.nextReg++
	e.mu.Unlock()
	ph := e.Onboard(t, entry)
	e.Login(t, ph)
	return ph
}

// Payload is a valid DCC payload without ci, dated before the clock's now.
func (e *Env) Payload(t testing.TB, typ dcc.Type) json.RawMessage {
	t.Helper()
	n := e.seq.Add(1)
	c := dcc.Sample(mrand.New(mrand.NewPCG(n, n*7919)), typ, e.Clock.Now().Add(-time.Hour))
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// NewKey returns a fresh Idempotency-Key.
func NewKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "k-" + base64.RawURLEncoding.EncodeToString(b)
}

// Issue posts a certificate request; key "" sends no Idempotency-Key.
func (e *Env) Issue(t testing.TB, token, key string, payload json.RawMessage) *Response {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return e.Do(t, Request{Method: http.MethodPost, Path: "/v1/certificates", Token: token, Header: h,
		Body: portalapi.IssueRequest{Payload: payload}})
}

// MustIssue issues a fresh payload of type typ and expects a 201.
func (e *Env) MustIssue(t testing.TB, ph *Pharmacy, typ dcc.Type) portalapi.Issued {
	t.Helper()
	resp := e.Issue(t, ph.Token, NewKey(), e.Payload(t, typ))
	if resp.Status != http.StatusCreated {
		t.Fatalf("issue: %v", resp)
	}
	var out portalapi.Issued
	resp.Decode(t, &out)
	return out
}

// Verify asks POST /v1/verify about an HC1.
func (e *Env) Verify(t testing.TB, hc1 string) portalapi.VerifyResult {
	t.Helper()
	resp := e.Do(t, Request{Method: http.MethodPost, Path: "/v1/verify", Body: portalapi.VerifyRequest{HC1: hc1}})
	if resp.Status != http.StatusOK {
		t.Fatalf("verify: %v", resp)
	}
	var out portalapi.VerifyResult
	resp.Decode(t, &out)
	return out
}

// Revocations fetches GET /v1/revocations.
func (e *Env) Revocations(t testing.TB) map[string][]string {
	t.Helper()
	resp := e.Do(t, Request{Method: http.MethodGet, Path: "/v1/revocations"})
	if resp.Status != http.StatusOK {
		t.Fatalf("revocations: %v", resp)
	}
	var out map[string][]string
	resp.Decode(t, &out)
	return out
}

// CertPath is the path of a certificate resource (suffix "", ".png" or ".pdf").
func CertPath(uvci, suffix string) string {
	return "/v1/certificates/" + url.PathEscape(uvci) + suffix
}
