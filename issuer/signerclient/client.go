// Package signerclient is the portal's client of the signer replicas: it
// balances over the healthy ones (least in flight, ties in turn), checks
// their readiness in the background, propagates the caller's deadline,
// retries a failed call on another replica, honours Retry-After and keeps a
// circuit breaker per replica.
package signerclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoSigner: no replica can sign now (all down, breakers open, busy or
	// locked out, or every attempt failed). The portal defers the request.
	ErrNoSigner = errors.New("signerclient: no signer available")
	// ErrRejected: a signer refused the request (4xx other than 401/403);
	// the error is a *RejectedError carrying the problem's code and field.
	ErrRejected = errors.New("signerclient: request rejected by signer")
	// ErrUnauthorized: a signer refused the shared secret (401/403), a
	// configuration fault; also a *RejectedError.
	ErrUnauthorized = errors.New("signerclient: signer refused the credential")
	// ErrDeadline: the caller's deadline passed before a signature came.
	ErrDeadline = errors.New("signerclient: deadline exceeded")
)

// RejectedError is a final refusal by a signer. errors.Is matches
// ErrUnauthorized for 401/403 and ErrRejected otherwise.
type RejectedError struct {
	Endpoint string
	Problem  problem.Problem // Status, Code, Field, Errors
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("signerclient: %s refused the request: %v", e.Endpoint, e.Problem)
}

func (e *RejectedError) Unwrap() error {
	if e.Problem.Status == http.StatusUnauthorized || e.Problem.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return ErrRejected
}

// Config tunes a Client.
type Config struct {
	// Endpoints are the replicas' base URLs ("http://10.0.0.5:8443").
	Endpoints []string
	// AuthToken is the portal-to-signer shared secret.
	AuthToken string
	// CallTimeout bounds one attempt (default 4 s, the 2021 signing client's).
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one Sign, each on another replica
	// (default 3).
	MaxAttempts int
	// HealthInterval is the period of the readiness checks (default 2 s).
	HealthInterval time.Duration
	// Breaker tunes the per-replica circuit breakers.
	Breaker BreakerConfig
	// HTTPClient sends the calls; nil builds one with a pooled transport.
	// Its Timeout should be zero: attempts carry their own deadlines.
	HTTPClient *http.Client
	// TLS is that pooled transport's client TLS: the CAs https://
	// endpoints are verified against (nil: the system's). An HTTPClient
	// brings its own.
	TLS *tls.Config
}

// SignRequest is what the portal asks a signer to sign.
type SignRequest struct {
	// Type is "v", "t" or "r"; empty takes the type of a *dcc.Certificate
	// payload.
	Type dcc.Type
	// Payload is a *dcc.Certificate, dcc.Certificate, json.RawMessage or
	// []byte of JSON.
	Payload   any
	IssuedAt  time.Time // zero: the signer's clock
	ExpiresAt time.Time // zero: the signer's maximum validity for the type
	RequestID string
}

// SignResponse is a signature and who made it.
type SignResponse struct {
	HC1       string
	Kid       string // base64
	Signer    string // the replica's name, e.g. "dsc-1"
	Endpoint  string // the base URL that answered
	IssuedAt  time.Time
	ExpiresAt time.Time // may be earlier than asked (clamped by the signer)
	Attempts  int
}

// ReplicaStatus is one replica's state, for metrics and admin pages.
type ReplicaStatus struct {
	Endpoint  string
	Healthy   bool
	Breaker   string // BreakerClosed, BreakerOpen or BreakerHalfOpen
	InFlight  int
	BusyUntil time.Time // set from Retry-After; zero when not busy
}

// Client calls signer replicas. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger

	mu       sync.Mutex // guards every replica's mutable state and next
	replicas []*replica
	next     int // rotates the tie-break between equally loaded replicas
}

type replica struct {
	endpoint  string
	signURL   string
	readyURL  string
	healthy   bool
	br        breaker
	inFlight  int
	busyUntil time.Time
}

// New builds a client; replicas start healthy with closed breakers until
// checks or calls say otherwise.
func New(cfg Config, logger *slog.Logger) *Client {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 4 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	if cfg.Breaker.FailureThreshold <= 0 {
		cfg.Breaker.FailureThreshold = 3
	}
	if cfg.Breaker.OpenFor <= 0 {
		cfg.Breaker.OpenFor = 5 * time.Second
	}
	if cfg.Breaker.HalfOpenProbes <= 0 {
		cfg.Breaker.HalfOpenProbes = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		if cfg.TLS != nil {
			t.TLSClientConfig = cfg.TLS.Clone()
		}
		hc = &http.Client{Transport: t}
	}
	c := &Client{cfg: cfg, http: hc, log: logger}
	for _, ep := range cfg.Endpoints {
		base := strings.TrimRight(ep, "/")
		c.replicas = append(c.replicas, &replica{
			endpoint: ep,
			signURL:  base + signerapi.PathSign,
			readyURL: base + signerapi.PathReady,
			healthy:  true,
			br:       newBreaker(cfg.Breaker),
		})
	}
	return c
}

// Start runs the readiness checks (GET /readyz on every replica each
// HealthInterval) in the background until ctx ends. It returns at once.
func (c *Client) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(c.cfg.HealthInterval)
		defer t.Stop()
		for {
			c.CheckNow(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// CheckNow checks every replica's readiness once and waits for the answers.
func (c *Client) CheckNow(ctx context.Context) {
	timeout := min(c.cfg.HealthInterval, c.cfg.CallTimeout)
	var wg sync.WaitGroup
	for _, r := range c.replicas {
		wg.Go(func() {
			ok := c.ready(ctx, r, timeout)
			if ctx.Err() != nil {
				return // shutting down: say nothing about the replica
			}
			c.mu.Lock()
			changed := r.healthy != ok
			r.healthy = ok
			c.mu.Unlock()
			if changed {
				c.log.Info("signer replica health changed", "endpoint", r.endpoint, "healthy", ok)
			}
		})
	}
	wg.Wait()
}

func (c *Client) ready(ctx context.Context, r *replica, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.readyURL, nil)
	if err != nil {
		return false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK
}

// Available is how many replicas could take a call now.
func (c *Client) Available() int {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.replicas {
		if r.eligible(now) {
			n++
		}
	}
	return n
}

// Status reports every replica's state, in Endpoints order.
func (c *Client) Status() []ReplicaStatus {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ReplicaStatus, len(c.replicas))
	for i, r := range c.replicas {
		out[i] = ReplicaStatus{Endpoint: r.endpoint, Healthy: r.healthy, Breaker: r.br.current(now), InFlight: r.inFlight}
		if now.Before(r.busyUntil) {
			out[i].BusyUntil = r.busyUntil
		}
	}
	return out
}

func (r *replica) eligible(now time.Time) bool {
	return r.healthy && !now.Before(r.busyUntil) && r.br.allows(now)
}

// pick chooses the eligible, untried replica with the fewest calls in
// flight (ties taken in turn) and counts the call in. It returns nil when
// none is eligible.
func (c *Client) pick(tried map[*replica]bool) (*replica, bool) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.replicas)
	if n == 0 {
		return nil, false
	}
	start := c.next % n
	c.next++
	var best *replica
	for i := range n {
		r := c.replicas[(start+i)%n]
		if tried[r] || !r.eligible(now) {
			continue
		}
		if best == nil || r.inFlight < best.inFlight {
			best = r
		}
	}
	if best == nil {
		return nil, false
	}
	best.inFlight++
	return best, best.br.start(now)
}

// outcome of one attempt for the breaker.
type outcome int

const (
	success outcome = iota // the replica answered sensibly (2xx, 4xx)
	failure                // connection error, timeout, 5xx
	neutral                // busy with Retry-After: not broken, just full
)

// finish counts a call out and feeds its outcome to the breaker.
func (c *Client) finish(r *replica, probe bool, o outcome, busyFor time.Duration) {
	now := time.Now()
	c.mu.Lock()
	r.inFlight--
	var changed bool
	if o == neutral {
		if probe && r.br.probes > 0 {
			r.br.probes--
		}
	} else {
		changed = r.br.done(now, probe, o == success)
	}
	if busyFor > 0 {
		if until := now.Add(busyFor); until.After(r.busyUntil) {
			r.busyUntil = until
		}
	}
	state := r.br.state
	c.mu.Unlock()
	if changed {
		c.log.Warn("signer replica breaker changed", "endpoint", r.endpoint, "breaker", state)
	}
}

func encodeRequest(req SignRequest) ([]byte, error) {
	w := signerapi.SignRequest{Type: req.Type, IssuedAt: req.IssuedAt.UTC(), ExpiresAt: req.ExpiresAt.UTC(), RequestID: req.RequestID}
	if req.IssuedAt.IsZero() {
		w.IssuedAt = time.Time{}
	}
	if req.ExpiresAt.IsZero() {
		w.ExpiresAt = time.Time{}
	}
	switch p := req.Payload.(type) {
	case nil:
		return nil, errors.New("signerclient: no payload")
	case json.RawMessage:
		w.Payload = p
	case []byte:
		w.Payload = p
	case *dcc.Certificate:
		if p == nil {
			return nil, errors.New("signerclient: no payload")
		}
		if w.Type == "" {
			w.Type = p.Type()
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("signerclient: encoding payload: %w", err)
		}
		w.Payload = raw
	default:
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("signerclient: encoding payload: %w", err)
		}
		w.Payload = raw
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("signerclient: encoding request: %w", err)
	}
	return body, nil
}

// Sign asks a replica to sign, retrying on other replicas after connection
// errors, timeouts and 5xx, never past ctx's deadline. Errors match
// ErrNoSigner, ErrRejected, ErrUnauthorized or ErrDeadline (errors.Is), or
// are ctx's error when it was cancelled.
func (c *Client) Sign(ctx context.Context, req SignRequest) (SignResponse, error) {
	body, err := encodeRequest(req)
	if err != nil {
		return SignResponse{}, err
	}
	tried := make(map[*replica]bool, c.cfg.MaxAttempts)
	var last error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if err := callerDone(ctx); err != nil {
			return SignResponse{}, ctxError(err, last)
		}
		r, probe := c.pick(tried)
		if r == nil {
			if last == nil {
				return SignResponse{}, fmt.Errorf("%w: every replica is down, open, busy or locked out", ErrNoSigner)
			}
			return SignResponse{}, fmt.Errorf("%w: no other replica to try after: %w", ErrNoSigner, last)
		}
		tried[r] = true
		resp, retry, err := c.attempt(ctx, r, probe, body, req.RequestID)
		if err == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		last = err
		if !retry {
			return SignResponse{}, err
		}
		c.log.Debug("sign attempt failed, trying another replica", "endpoint", r.endpoint,
			"request_id", req.RequestID, "attempt", attempt, "err", err)
	}
	return SignResponse{}, fmt.Errorf("%w: %d attempts failed, last: %w", ErrNoSigner, c.cfg.MaxAttempts, last)
}

// callerDone reports the caller's context error, counting a deadline that
// has passed but whose timer has not fired yet: the per-attempt context
// shares that deadline and may expire a moment before ctx itself does.
func callerDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func ctxError(err, last error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		if last != nil {
			return fmt.Errorf("%w (last attempt: %v): %w", ErrDeadline, last, err)
		}
		return fmt.Errorf("%w: %w", ErrDeadline, err)
	}
	return fmt.Errorf("signerclient: %w", err)
}

// attempt makes one call; retry says whether another replica may help.
func (c *Client) attempt(ctx context.Context, r *replica, probe bool, body []byte, requestID string) (SignResponse, bool, error) {
	deadline := time.Now().Add(c.cfg.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, r.signURL, bytes.NewReader(body))
	if err != nil {
		c.finish(r, probe, neutral, 0)
		return SignResponse{}, false, fmt.Errorf("signerclient: building request for %s: %w", r.endpoint, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+c.cfg.AuthToken)
	hreq.Header.Set(signerapi.DeadlineHeader, deadline.UTC().Format(time.RFC3339Nano))
	if requestID != "" {
		hreq.Header.Set("X-Request-ID", requestID)
	}

	resp, err := c.http.Do(hreq)
	if err != nil {
		c.finish(r, probe, failure, 0)
		if cerr := callerDone(ctx); cerr != nil {
			return SignResponse{}, false, ctxError(cerr, err)
		}
		return SignResponse{}, true, fmt.Errorf("signerclient: calling %s: %w", r.endpoint, err)
	}
	defer drain(resp)

	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusCreated:
		var w signerapi.SignResponse
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&w); err != nil || w.HC1 == "" {
			c.finish(r, probe, failure, 0)
			if callerDone(ctx) != nil {
				return SignResponse{}, false, ctxError(callerDone(ctx), err)
			}
			return SignResponse{}, true, fmt.Errorf("signerclient: %s sent an unreadable signature (err %v)", r.endpoint, err)
		}
		c.finish(r, probe, success, 0)
		return SignResponse{HC1: w.HC1, Kid: w.Kid, Signer: w.Signer, Endpoint: r.endpoint,
			IssuedAt: w.IssuedAt, ExpiresAt: w.ExpiresAt}, false, nil

	case (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) && resp.Header.Get("Retry-After") != "":
		p, _ := problem.Read(resp)
		// Full or locked out, not broken: leave it alone for that long.
		c.finish(r, probe, neutral, max(p.RetryAfter, time.Second))
		return SignResponse{}, true, fmt.Errorf("signerclient: %s busy (%s), retry after %v", r.endpoint, p.Code, p.RetryAfter)

	case code >= 400 && code < 500:
		p, _ := problem.Read(resp)
		c.finish(r, probe, success, 0) // it answered: the replica works
		return SignResponse{}, false, &RejectedError{Endpoint: r.endpoint, Problem: p}

	default: // 5xx (504 included: the replica could not sign in time) or odd codes
		p, _ := problem.Read(resp)
		c.finish(r, probe, failure, 0)
		if callerDone(ctx) != nil {
			return SignResponse{}, false, ctxError(callerDone(ctx), p)
		}
		return SignResponse{}, true, fmt.Errorf("signerclient: %s answered %w", r.endpoint, p)
	}
}

// drain reads a little of what is left so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
