// Package portal is the pharmacy-facing issuer service: onboarding checked
// against the pharmacy register, activation and login, idempotent
// certificate issuance through the signer replicas (deferred to a ticket
// when none can sign in time), admission control and per-pharmacy quotas,
// fraud controls that suspend and revoke, an admin API and a verifier
// endpoint. Among its routes it serves components with their own
// admission control and metrics: the verifier apps' trust and revocation
// lists (package lists) and the pharmacy finder (package finder).
//
// Every route is in routes.go. Every behaviour that differs between the
// hardened design and the 2021 portal is a field of Config.
package portal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/lists"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/issuer/store"
)

// Signer is the portal's view of the signer replicas; *signerclient.Client
// implements it.
type Signer interface {
	Sign(ctx context.Context, req signerclient.SignRequest) (signerclient.SignResponse, error)
	// Available is how many replicas could take a call now.
	Available() int
}

// Deps are the portal's collaborators.
type Deps struct {
	// Store is the durable registry. Open it with the same Clock.
	Store *store.Store
	// TrustList holds every DSC the signer replicas use; /v1/verify checks
	// against it (and the lists publish it).
	TrustList *pki.TrustList
	// Lists serves the verifier apps' trust and revocation lists (package
	// lists) among the portal's routes; the portal reloads it after every
	// revocation and verifies against its revocation list. Nil: the portal
	// makes one from Store and TrustList with the hardened settings and a
	// signing key of its own (tests).
	Lists *lists.Lists
	// Components are further services served among the portal's routes
	// (the pharmacy finder, the centres' mail-out).
	Components []Component
	// Lanes, when set, is told of every issuance request as interactive
	// work, so background work sharing it (the mail-out's batch signing)
	// runs only in the gaps. Nil: nothing to tell.
	Lanes *overload.Lanes
	// Register is the pharmacy register onboarding checks against.
	Register *register.Register
	// Practices is the doctors' practice register practices' applications
	// are checked against (nil: none is in it, so with
	// onboarding_verify_register every practice is refused).
	Practices *register.Register
	// Mailbox delivers activation codes.
	Mailbox register.Mailbox
	// Signer signs (normally a *signerclient.Client, started by the caller).
	Signer Signer
	// AdminTokenHash is auth.HashToken of the admin bearer token.
	AdminTokenHash string
	// TokenKey is the HMAC key of access tokens (>= 32 bytes); nil draws a
	// random one, so tokens do not survive a restart.
	TokenKey []byte
	// MetricsToken, when set, is the bearer token GET /metrics asks for
	// (empty: /metrics is open, e.g. on loopback).
	MetricsToken string
	// Logger receives operational logs (never holder names or birth dates).
	Logger *slog.Logger
	// Clock is the time source (time.Now when nil); tests move it.
	Clock func() time.Time
	// Business maps Clock time to the simulated business day a scenario
	// replays (nil: the business day is real time). Fraud detection judges
	// opening hours and volume windows on it; tokens, tickets and
	// certificates stay on Clock, so what is issued verifies in real time.
	Business *simclock.Clock
	// Rand is the randomness for IDs and codes (crypto/rand when nil).
	Rand io.Reader
	// Schemas are the official DCC schemas /v1/verify checks against when
	// asked (normally a *dccschema.Set); nil: asking for a schema check is 400 schema_unavailable.
	Schemas hcert.SchemaValidator
}

// Component is a service the portal's server serves beside the portal's
// own routes (the lists, the pharmacy finder). Its handlers bring their
// own admission control, metrics and problem bodies; the portal routes to
// them and adds their metrics to GET /metrics.
type Component interface {
	// Routes are its handlers by mux pattern ("GET /v1/...").
	Routes() map[string]http.Handler
	Metrics() prometheus.Gatherer
}

// Portal is the pharmacy-facing service.
type Portal struct {
	cfg   Config
	reg   *store.Store
	trust *pki.TrustList
	// schemas check /v1/verify payloads on request; nil: not available.
	schemas hcert.SchemaValidator
	// lists publishes the trust and revocation lists; components (lists
	// among them) are served among the portal's routes.
	lists      *lists.Lists
	components []Component
	register   *register.Register
	practices  *register.Register
	mailbox    register.Mailbox
	signers    Signer
	lanes      *overload.Lanes // nil: no background work to yield to
	adminTok   string
	log        *slog.Logger
	clock      func() time.Time
	business   atomic.Pointer[simclock.Clock]
	rnd        io.Reader

	tokens       *auth.Issuer
	refresh      refreshTokens
	quota        *overload.Quota // nil: disabled
	detector     *fraud.Detector // nil: disabled
	limiters     limiterMap
	m            *metrics
	metricsToken string
	handler      http.Handler
	staff        http.Handler // the staff web portal, mounted at /staff/

	// logins throttles failed logins; activations wrong activation codes
	// per application and source (nil: no limit); failures counts failed
	// logins until Run writes them to the registry.
	logins      *loginThrottle
	activations *overload.Quota
	failures    failureCounts

	// status caches pharmacy states so every authenticated request does not
	// read the registry; changes made here update it at once, and an entry
	// older than statusCacheTTL is read again, so a change made through
	// another portal of the same registry (a suspension above all) holds
	// here within that bound.
	statusMu sync.RWMutex
	status   map[string]statusEntry

	// inFlight holds idempotency keys being worked on in this process, so a
	// concurrent duplicate gets 409 instead of a second signature.
	inFlightMu sync.Mutex
	inFlight   map[string]struct{}

	// directOff stops pharmacies' own issuance (vendor access goes on).
	directOff atomic.Bool

	backlog   atomic.Int64  // deferred tickets pending
	wakeDrain chan struct{} // a new ticket or a signer recovery
	closeOnce sync.Once
	closed    chan struct{}
}

// New builds a portal. It loads the current revocations and deferred
// backlog from the registry.
func New(cfg Config, deps Deps) (*Portal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	switch {
	case deps.Store == nil:
		return nil, errors.New("portal: Deps.Store is required")
	case deps.TrustList == nil:
		return nil, errors.New("portal: Deps.TrustList is required")
	case deps.Signer == nil:
		return nil, errors.New("portal: Deps.Signer is required")
	case deps.Mailbox == nil:
		return nil, errors.New("portal: Deps.Mailbox is required")
	case deps.Register == nil && cfg.OnboardingVerifyRegister:
		return nil, errors.New("portal: Deps.Register is required when onboarding_verify_register is on")
	}
	p := &Portal{
		cfg:          cfg,
		reg:          deps.Store,
		trust:        deps.TrustList,
		schemas:      deps.Schemas,
		register:     deps.Register,
		practices:    deps.Practices,
		mailbox:      deps.Mailbox,
		signers:      deps.Signer,
		lanes:        deps.Lanes,
		adminTok:     deps.AdminTokenHash,
		metricsToken: deps.MetricsToken,
		lists:        deps.Lists,
		log:          deps.Logger,
		clock:        deps.Clock,
		rnd:          deps.Rand,
		status:       map[string]statusEntry{},
		inFlight:     map[string]struct{}{},
		wakeDrain:    make(chan struct{}, 1),
		closed:       make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "portal", "profile", cfg.Profile)
	if p.clock == nil {
		p.clock = time.Now
	}
	p.business.Store(deps.Business)
	if p.rnd == nil {
		p.rnd = rand.Reader
	}
	var err error
	key := deps.TokenKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, fmt.Errorf("portal: token key: %w", err)
		}
	}
	if p.tokens, err = auth.NewIssuer(key, cfg.AccessTokenTTL.D(), p.clock); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	p.refresh = refreshTokens{reg: deps.Store, ttl: cfg.RefreshTokenTTL.D(), now: p.now}
	p.logins = newLoginThrottle(cfg.LoginThrottle)
	p.activations = failureThrottle(cfg.ActivationAttemptsPerSource, cfg.ActivationAttemptWindow.D(), maxActivationThrottleKeys)
	if cfg.PharmacyQuota.Enabled {
		p.quota = overload.NewQuota(cfg.PharmacyQuota.Rate, cfg.PharmacyQuota.Burst, 100000)
	}
	if cfg.Anomaly.Enabled {
		fc, err := fraud.FromAnomaly(cfg.Anomaly)
		if err != nil {
			return nil, fmt.Errorf("portal: anomaly: %w", err)
		}
		if p.detector, err = fraud.New(fc); err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
	}
	p.limiters = limiterMap{}
	for name, l := range map[string]RouteLimit{
		"issue": cfg.Limits.Issue, "login": cfg.Limits.Login, "onboarding": cfg.Limits.Onboarding,
		"read": cfg.Limits.Read, "verify": cfg.Limits.Verify, "admin": cfg.Limits.Admin,
	} {
		if l.MaxConcurrent > 0 {
			p.limiters[name] = overload.NewLimiter(name, l.MaxConcurrent, l.MaxQueue, l.MaxQueueWait.D())
		}
	}
	if p.lists == nil {
		// The lists read the revocations once as they start.
		if p.lists, err = lists.New(listsapi.HardenedConfig(), lists.Deps{Source: deps.Store,
			TrustList: deps.TrustList, Logger: deps.Logger, Clock: p.clock}); err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
	}
	p.components = append([]Component{p.lists}, deps.Components...)
	p.m = newMetrics(p)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.reg.PendingTicketCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("portal: counting deferred requests: %w", err)
	}
	p.backlog.Store(int64(n))
	if p.staff, err = p.newStaffWeb(key); err != nil {
		return nil, err
	}
	p.handler = securityHeaders(p.routes())
	return p, nil
}

// Handler serves every route (see routes.go).
func (p *Portal) Handler() http.Handler { return p.handler }

// Config returns the effective configuration.
func (p *Portal) Config() Config { return p.cfg }

// Run runs the background workers until ctx ends or Close is called: the
// deferred-queue drain and the retention purge. It returns when they have
// stopped.
func (p *Portal) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { p.drainLoop(ctx) })
	wg.Go(func() { p.cleanupLoop(ctx) })
	wg.Wait()
	// What was counted since the last tick is not lost on a clean stop.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	defer fcancel()
	if err := p.failures.flush(fctx, p.reg); err != nil {
		p.log.Error("writing login failure counts failed", "err", err)
	}
	return nil
}

// finalFlushTimeout bounds the last write of login failure counts when
// Run stops.
const finalFlushTimeout = 5 * time.Second

// Close stops Run's workers. It does not close the store (the caller owns it).
func (p *Portal) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func (p *Portal) now() time.Time { return p.clock() }

// BusinessNow is the business day's time now (the simulated clock a
// scenario set, else the portal's clock): components that keep
// appointments (the booking) live on it.
func (p *Portal) BusinessNow() time.Time { return p.businessTime(p.now()) }

// businessTime is the simulated business-day time at Clock time t.
func (p *Portal) businessTime(t time.Time) time.Time {
	b := p.business.Load()
	if b == nil {
		return t
	}
	return b.Sim(t)
}

// SetBusinessClock replaces the business-day clock (nil: real time). A
// scenario sets it when its load starts, so the portal's business day and
// the load's demand curves run on the same clock.
func (p *Portal) SetBusinessClock(c *simclock.Clock) { p.business.Store(c) }

// clockTime is the Clock time at business-day time t, rounded a
// microsecond early: the round trip through the scale truncates
// nanoseconds, and a bound that lands after the instant it came from would
// leave that certificate out.
func (p *Portal) clockTime(t time.Time) time.Time {
	b := p.business.Load()
	if b == nil || t.IsZero() {
		return t
	}
	return b.Wall(t).Add(-time.Microsecond)
}

// audit records an event the store does not record itself (refusals,
// reasons); a failure is logged, never fatal to the request.
func (p *Portal) audit(ctx context.Context, actor, action, subject string, detail map[string]any) {
	raw, err := json.Marshal(detail)
	if err != nil || detail == nil {
		raw = []byte("{}")
	}
	e := store.Event{At: p.now(), Actor: actor, Action: action, Subject: subject, Detail: raw}
	if err := p.reg.Audit(context.WithoutCancel(ctx), e); err != nil {
		p.log.Error("audit write failed", "action", action, "subject", subject, "err", err)
	}
}

func (p *Portal) cleanupLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.CleanupInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.failures.flush(ctx, p.reg); err != nil && ctx.Err() == nil {
			p.log.Error("writing login failure counts failed", "err", err)
		}
		r, err := p.reg.PurgeExpired(ctx, p.now())
		if err != nil && ctx.Err() == nil {
			p.log.Error("retention purge failed", "err", err)
		}
		if _, err := p.reg.PurgeRefreshTokens(ctx, p.now()); err != nil && ctx.Err() == nil {
			p.log.Error("purging expired refresh tokens failed", "err", err)
		}
		if r.Tickets > 0 {
			n, err := p.reg.PendingTicketCount(ctx)
			if err == nil {
				p.backlog.Store(int64(n))
			}
		}
	}
}

// pharmacyStatus returns a pharmacy's state, from the cache or the registry.
func (p *Portal) pharmacyStatus(ctx context.Context, id string) (store.PharmacyStatus, error) {
	p.statusMu.RLock()
	e, ok := p.status[id]
	p.statusMu.RUnlock()
	if ok && time.Since(e.at) < statusCacheTTL {
		return e.status, nil
	}
	rec, err := p.reg.Pharmacy(ctx, id)
	if err != nil {
		return "", err
	}
	p.setStatusCache(id, rec.Status)
	return rec.Status, nil
}

func (p *Portal) setStatusCache(id string, status store.PharmacyStatus) {
	p.statusMu.Lock()
	p.status[id] = statusEntry{status: status, at: time.Now()}
	p.statusMu.Unlock()
}

// statusEntry is a cached pharmacy state and when it was read (wall clock:
// the business clock may be simulated, freshness is real time).
type statusEntry struct {
	status store.PharmacyStatus
	at     time.Time
}

// statusCacheTTL bounds how long a pharmacy's cached state is trusted: a
// suspension made through another portal stops this one issuing for the
// pharmacy within it. One registry read per active pharmacy per TTL.
const statusCacheTTL = 2 * time.Second
