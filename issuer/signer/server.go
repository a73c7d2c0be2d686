package signer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

// Server is one signer replica.
type Server struct {
	cfg     Config
	dsc     *pki.KeyPair
	kid     string // base64 of pki.Kid
	name    string
	log     *slog.Logger
	token   [sha256.Size]byte // hash of AuthToken, compared in constant time
	slots   chan struct{}     // the HSM: one element per busy slot
	waiting atomic.Int64      // requests queued for a slot
	extra   *extraWork        // the calibration knob (Config.ExtraSignWork); nil: off
	m       *metrics
	handler http.Handler

	mu          sync.Mutex
	lockedUntil time.Time     // Clock time the lockout ends; zero: none
	lockCh      chan struct{} // closed when a lockout begins, to release waiters
}

// New builds a signer that signs with dsc. It fails when the configuration
// is incomplete (no AuthToken) or the DSC has no key.
func New(cfg Config, dsc *pki.KeyPair, logger *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if dsc == nil || dsc.Cert == nil || dsc.Key == nil {
		return nil, errors.New("signer: a DSC certificate and key are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		dsc:    dsc,
		kid:    base64.StdEncoding.EncodeToString(pki.Kid(dsc.Cert)),
		name:   cfg.Name,
		token:  sha256.Sum256([]byte(cfg.AuthToken)),
		slots:  make(chan struct{}, cfg.HSMSlots),
		lockCh: make(chan struct{}),
	}
	if s.name == "" {
		s.name = dsc.Cert.Subject.CommonName
	}
	if s.name == "" {
		s.name = s.kid
	}
	s.log = logger.With("signer", s.name, "profile", cfg.Profile)
	s.m = newMetrics(s)
	if cfg.ExtraSignWork > 0 {
		s.extra = newExtraWork(cfg.ExtraSignWork)
	}

	mux := http.NewServeMux()
	mux.HandleFunc(signerapi.PathSign, s.serveSign)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+signerapi.PathReady, s.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	s.handler = mux
	return s, nil
}

// Handler serves POST /v1/sign, GET /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Name is the replica name sent in responses.
func (s *Server) Name() string { return s.name }

// Kid is the base64 key identifier of the replica's DSC.
func (s *Server) Kid() string { return s.kid }

// Lockout locks the client out for d (Clock time) from now; requests
// waiting for a slot are refused at once. It exists for tests and operators;
// naive-2021 calls it itself past LockoutMark.
func (s *Server) Lockout(d time.Duration) {
	s.mu.Lock()
	s.lockedUntil = s.cfg.Clock().Add(d)
	close(s.lockCh)
	s.lockCh = make(chan struct{})
	s.mu.Unlock()
	s.m.lockouts.Inc()
	s.log.Warn("client locked out", "for", d, "queue_depth", s.waiting.Load())
}

// Unlock ends a lockout.
func (s *Server) Unlock() {
	s.mu.Lock()
	s.lockedUntil = time.Time{}
	s.mu.Unlock()
}

// lockedOut reports whether a lockout is on and how long it has left.
func (s *Server) lockedOut() (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := s.lockedUntil.Sub(s.cfg.Clock())
	return left > 0, left
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	now := s.cfg.Clock()
	if locked, left := s.lockedOut(); locked {
		s.writeProblem(w, &apiError{status: http.StatusServiceUnavailable, code: "locked_out",
			detail: "the signer has locked its client out", retryAfter: left})
		return
	}
	if now.Before(s.dsc.Cert.NotBefore) || !now.Before(s.dsc.Cert.NotAfter) {
		s.writeProblem(w, &apiError{status: http.StatusServiceUnavailable, code: "dsc_not_valid",
			detail: "the document signer certificate is not valid now"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

// apiError is a refusal on its way to a problem+json body.
type apiError struct {
	status     int
	code       string
	field      string
	detail     string
	errs       []problem.FieldError
	retryAfter time.Duration // > 0: send Retry-After
}

// statusClientClosed labels requests whose client went away (nginx's 499).
const statusClientClosed = 499

func (s *Server) serveSign(w http.ResponseWriter, r *http.Request) {
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	status := s.sign(w, r)
	s.m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
}

// sign handles one request and returns the status it answered.
func (s *Server) sign(w http.ResponseWriter, r *http.Request) int {
	fail := func(e *apiError) int {
		s.writeProblem(w, e)
		return e.status
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(&apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			detail: "use POST"})
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="signer"`)
		return fail(&apiError{status: http.StatusUnauthorized, code: "unauthorized",
			detail: "missing or wrong bearer credential"})
	}
	if locked, left := s.lockedOut(); locked {
		return fail(lockedOutError(left))
	}
	deadline, e := s.deadline(r)
	if e != nil {
		return fail(e)
	}
	if s.cfg.Shed && len(s.slots) == cap(s.slots) {
		// Shed before reading and validating the body: a request that
		// cannot be served should cost next to nothing. (The slot is taken
		// only after the body is read, so a slow client never holds one.)
		return fail(s.overloaded())
	}
	var req signerapi.SignRequest
	if e := s.decode(r, &req); e != nil {
		return fail(e)
	}
	cert, issuedAt, expiresAt, e := s.check(&req)
	if e != nil {
		s.log.Info("sign request refused", "request_id", req.RequestID, "type", req.Type,
			"code", e.code, "field", e.field)
		return fail(e)
	}
	typ, uvci := cert.Type(), cert.UVCI()

	queued := time.Now()
	if e := s.acquire(r.Context(), deadline); e != nil {
		if e.status != statusClientClosed {
			s.log.Info("sign request not served", "request_id", req.RequestID, "uvci", uvci, "type", typ,
				"code", e.code, "waited", time.Since(queued))
			return fail(e)
		}
		return e.status
	}
	wait := time.Since(queued)
	s.m.queueWait.Observe(wait.Seconds())

	hc1, err := s.hsmSign(r.Context(), cert, issuedAt, expiresAt)
	if err != nil {
		if r.Context().Err() != nil {
			return statusClientClosed
		}
		s.log.Error("signing failed", "request_id", req.RequestID, "uvci", uvci, "type", typ, "err", err)
		return fail(&apiError{status: http.StatusInternalServerError, code: "sign_failed",
			detail: "the signer could not sign the payload"})
	}
	s.log.Debug("signed", "request_id", req.RequestID, "uvci", uvci, "type", typ, "kid", s.kid,
		"queue_wait", wait, "total", time.Since(queued))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(signerapi.SignResponse{HC1: hc1, Kid: s.kid, Signer: s.name,
		IssuedAt: issuedAt, ExpiresAt: expiresAt})
	return http.StatusCreated
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	// Comparing hashes keeps the comparison constant-time even in length.
	got := sha256.Sum256([]byte(h[len(prefix):]))
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
}

func lockedOutError(left time.Duration) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "locked_out",
		detail: "the signer has locked its client out after overload", retryAfter: left}
}

// deadline reads X-Request-Deadline; zero time means none. A deadline
// already past, or (RejectUnmeetable) too close to fit one signature, is
// refused at once.
func (s *Server) deadline(r *http.Request) (time.Time, *apiError) {
	v := r.Header.Get(signerapi.DeadlineHeader)
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, &apiError{status: http.StatusBadRequest, code: "invalid_deadline",
			field: signerapi.DeadlineHeader, detail: "must be an RFC 3339 time"}
	}
	left := d.Sub(s.cfg.Clock())
	if left <= 0 {
		return d, &apiError{status: http.StatusGatewayTimeout, code: "deadline_exceeded",
			detail: "the request deadline has passed"}
	}
	if s.cfg.RejectUnmeetable && left < s.cfg.HSMLatency {
		return d, &apiError{status: http.StatusGatewayTimeout, code: "deadline_exceeded",
			detail: fmt.Sprintf("the deadline leaves %v, a signature takes %v", left.Round(time.Millisecond), s.cfg.HSMLatency)}
	}
	return d, nil
}

func (s *Server) decode(r *http.Request, req *signerapi.SignRequest) *apiError {
	if p := problem.DecodeJSON(r, req, s.cfg.MaxBodyBytes); p != nil {
		return &apiError{status: p.Status, code: p.Code, field: p.Field, detail: p.Detail, errs: p.Errors}
	}
	return nil
}

// check re-validates everything the portal sent: the signer trusts nothing
// it has not checked itself.
func (s *Server) check(req *signerapi.SignRequest) (*dcc.Certificate, time.Time, time.Time, *apiError) {
	bad := func(code, field, detail string) (*dcc.Certificate, time.Time, time.Time, *apiError) {
		return nil, time.Time{}, time.Time{}, &apiError{status: http.StatusBadRequest, code: code, field: field, detail: detail}
	}
	now := s.cfg.Clock()
	switch req.Type {
	case dcc.TypeVaccination, dcc.TypeTest, dcc.TypeRecovery:
	case "":
		return bad("required", "type", `type is required ("v", "t" or "r")`)
	default:
		return bad("invalid_type", "type", `type must be "v", "t" or "r"`)
	}
	maxValidity, ok := s.cfg.MaxValidity[req.Type]
	if !ok || !s.dscMaySign(req.Type) {
		return bad("type_not_signable", "type", fmt.Sprintf("this signer does not sign type %q", req.Type))
	}
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		return bad("required", "payload", "payload is required")
	}
	// Issuing: the same rules for names, printed text and the UVCI's form
	// as the portal applies, so a caller that bypasses the portal gets no
	// more signed than the portal would let through.
	cert, err := dcc.ParseAndValidate(req.Payload, dcc.ValidateOptions{Now: now, Issuing: true})
	if err != nil {
		var ve *dcc.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			return bad("invalid_payload", "payload", "payload is invalid")
		}
		first := ve.Errors[0]
		return nil, time.Time{}, time.Time{}, &apiError{status: http.StatusBadRequest, code: "invalid_payload",
			field: first.Field, detail: fmt.Sprintf("payload fails validation: %d problem(s), first: %s", len(ve.Errors), first.Message),
			errs: fieldErrors(ve.Errors)}
	}
	if got := cert.Type(); got != req.Type {
		return bad("type_mismatch", "type", fmt.Sprintf("type is %q but the payload carries %q", req.Type, got))
	}
	ciField := string(req.Type) + "[0].ci"
	ci := cert.UVCI()
	if ci == "" {
		return bad("required", ciField, "the UVCI must be assigned before signing")
	}
	// Validate (Issuing) has checked the form and the check character.
	u, err := dcc.ParseUVCI(ci)
	if err != nil || !u.HasCheck {
		return bad("format", ciField, "the UVCI is malformed")
	}
	if u.Country != s.cfg.Country {
		return bad("uvci_country", ciField, fmt.Sprintf("the UVCI names country %q, this signer issues for %q", u.Country, s.cfg.Country))
	}

	issuedAt := req.IssuedAt
	if issuedAt.IsZero() {
		issuedAt = now
	}
	issuedAt = issuedAt.Truncate(time.Second) // iat is whole seconds
	if skew := issuedAt.Sub(now); skew > s.cfg.IssuedAtSkew || skew < -s.cfg.IssuedAtSkew-time.Second {
		return bad("issued_at_skew", "issued_at", fmt.Sprintf("issued_at is %v away from the signer's clock (allowed %v)", skew.Round(time.Second), s.cfg.IssuedAtSkew))
	}
	if issuedAt.Before(s.dsc.Cert.NotBefore) || !issuedAt.Before(s.dsc.Cert.NotAfter) {
		return nil, time.Time{}, time.Time{}, &apiError{status: http.StatusServiceUnavailable, code: "dsc_not_valid",
			detail: "the signer's certificate is not valid at issued_at", retryAfter: time.Minute}
	}
	expiresAt := req.ExpiresAt
	if expiresAt.IsZero() {
		expiresAt = issuedAt.Add(maxValidity)
	}
	expiresAt = expiresAt.Truncate(time.Second)
	if !expiresAt.After(issuedAt) {
		return bad("validity_order", "expires_at", "expires_at must lie after issued_at")
	}
	if expiresAt.Sub(issuedAt) > maxValidity {
		if !s.cfg.ClampValidity {
			return bad("validity_too_long", "expires_at", fmt.Sprintf("validity above the maximum of %v for type %q", maxValidity, req.Type))
		}
		expiresAt = issuedAt.Add(maxValidity)
	}
	// The DCC must not outlive its DSC; the portal cannot know which
	// replica's DSC signs, so the signer shortens it.
	if notAfter := s.dsc.Cert.NotAfter.Truncate(time.Second); expiresAt.After(notAfter) {
		expiresAt = notAfter
	}
	return cert, issuedAt, expiresAt, nil
}

// dscMaySign applies the DSC's extended key usage with the verifiers'
// rule (both OID forms), so the signer never makes what they refuse.
func (s *Server) dscMaySign(t dcc.Type) bool { return pki.MaySign(s.dsc.Cert, t) }

// acquire takes an HSM slot. With Shed it sheds when none is free; else it
// queues without bound, bounded only by the deadline, the client leaving,
// and a lockout (which it triggers itself past LockoutMark).
func (s *Server) acquire(ctx context.Context, deadline time.Time) *apiError {
	if s.cfg.Shed {
		return s.tryAcquire()
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}

	s.mu.Lock()
	lockCh := s.lockCh
	s.mu.Unlock()
	depth := s.waiting.Add(1)
	defer s.waiting.Add(-1)
	if s.cfg.LockoutMark > 0 && s.cfg.LockoutFor > 0 && depth > int64(s.cfg.LockoutMark) {
		if locked, _ := s.lockedOut(); !locked {
			s.Lockout(s.cfg.LockoutFor)
		}
		_, left := s.lockedOut()
		return lockedOutError(left)
	}

	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(deadline.Sub(s.cfg.Clock()))
		defer t.Stop()
		expired = t.C
	}
	select {
	case s.slots <- struct{}{}:
		if locked, left := s.lockedOut(); locked {
			<-s.slots
			return lockedOutError(left)
		}
		return nil
	case <-lockCh:
		_, left := s.lockedOut()
		return lockedOutError(left)
	case <-expired:
		return &apiError{status: http.StatusGatewayTimeout, code: "deadline_exceeded",
			detail: "the deadline passed while waiting for an HSM slot"}
	case <-ctx.Done():
		return &apiError{status: statusClientClosed, code: "client_closed"}
	}
}

// tryAcquire takes a free HSM slot or sheds the request.
func (s *Server) tryAcquire() *apiError {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
		return s.overloaded()
	}
}

func (s *Server) overloaded() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "overloaded",
		detail: "all HSM slots are busy", retryAfter: s.cfg.ShedRetryAfter}
}

// hsmSign signs while holding the slot acquire took, and frees it.
func (s *Server) hsmSign(ctx context.Context, cert *dcc.Certificate, issuedAt, expiresAt time.Time) (string, error) {
	start := time.Now()
	defer func() {
		<-s.slots
		s.m.signTime.Observe(time.Since(start).Seconds())
	}()
	if s.cfg.HSMLatency > 0 {
		t := time.NewTimer(s.cfg.HSMLatency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("signer: client gone during signature: %w", ctx.Err())
		}
	}
	hc1, err := hcert.Encode(cert, s.dsc, hcert.EncodeOptions{Issuer: s.cfg.Country, IssuedAt: issuedAt, ExpiresAt: expiresAt})
	if err != nil {
		return "", fmt.Errorf("signer: encoding HCERT: %w", err)
	}
	if s.extra != nil {
		s.extra.settle()
	}
	return hc1, nil
}

func (s *Server) writeProblem(w http.ResponseWriter, e *apiError) {
	p := problem.New(e.status, e.code, e.detail)
	p.Field = e.field
	p.RetryAfter = e.retryAfter
	p.Errors = e.errs
	problem.Write(w, p)
}

func fieldErrors(errs []dcc.FieldError) []problem.FieldError {
	out := make([]problem.FieldError, len(errs))
	for i, fe := range errs {
		out[i] = problem.FieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message}
	}
	return out
}
