// Package mailout is the vaccination centres' mail-out: batch issuance
// through an authenticated API, thousands of certificates per job, for
// the QR codes centres sent to everyone vaccinated there by post.
//
// A centre POSTs a job (its items, each with a key of its own and a DCC
// payload); the job and every item, with the UVCI each will carry, are
// in the registry before the 202 goes out, so an accepted job survives a
// restart and resumes where it stood. Item keys are unique per centre
// across jobs, the UVCI of an item is fixed at acceptance and an item is
// recorded issued at most once, so a retried job, item or signature never
// makes a second certificate.
//
// Priority: workers sign items through the portal's signer client, below
// the pharmacies' interactive issuance: with Config.Yield, each item
// waits for a gap in interactive traffic (overload.Lanes), and signed
// items are recorded in few, larger writes, so the registry's writer
// stays free for pharmacies. The naive-2021 preset signs beside them.
//
// The component runs in the portal's process (golive serve, behind the
// mailout.enabled setting) and mounts its routes among the portal's, like
// the finder and the lists; see docs/mailout.md.
package mailout

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/store"
)

// Registry is what the mail-out keeps in the durable registry;
// *store.Store implements it.
type Registry interface {
	CreateMailoutJob(ctx context.Context, job store.MailoutJob, items []store.MailoutItem, maxPending int) (*store.MailoutJob, error)
	MailoutJob(ctx context.Context, id string) (store.MailoutJob, error)
	MailoutItems(ctx context.Context, jobID, after string, limit int) ([]store.MailoutItem, error)
	FinishAndClaimMailoutItems(ctx context.Context, outs []store.MailoutOutcome, limit int, now, leaseUntil time.Time) (int, []store.MailoutItem, error)
	FinishMailoutItems(ctx context.Context, outs []store.MailoutOutcome) (int, error)
	MailoutUnfinished(ctx context.Context) (int, error)
}

// Signer signs; the portal's *signerclient.Client implements it.
type Signer interface {
	Sign(ctx context.Context, req signerclient.SignRequest) (signerclient.SignResponse, error)
}

// Deps are the mail-out's collaborators.
type Deps struct {
	Registry Registry
	Signer   Signer
	// Lanes is shared with the portal, which marks its issuance
	// interactive; nil with Config.Yield makes lanes of its own (nothing
	// interactive marks them: batch signing never waits).
	Lanes *overload.Lanes
	// Centres maps auth.HashToken of each centre's token to the centre's
	// id (A-Z0-9, up to 16 characters: it goes into the UVCIs).
	Centres map[string]string
	// Country and UVCIIssuer make the UVCIs:
	// URN:UVCI:01:<Country>:<UVCIIssuer>/<centre>/<random>#<check>.
	Country, UVCIIssuer string
	Logger              *slog.Logger
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
	// Rand is the randomness of job ids and UVCIs (crypto/rand when nil).
	Rand io.Reader
}

// Mailout serves the batch API and runs its workers. Safe for
// concurrent use.
type Mailout struct {
	cfg     mailoutapi.Config
	reg     Registry
	signer  Signer
	lanes   *overload.Lanes
	centres map[string]string
	country string
	issuer  string
	log     *slog.Logger
	clock   func() time.Time
	rnd     io.Reader
	limiter *overload.Limiter // nil: no admission control
	m       *metrics

	paceMu   sync.Mutex
	nextSlot time.Time // MaxRate's next free slot

	wake       chan struct{} // a new job
	unfinished atomic.Int64  // items not finished, as last counted
	routes     map[string]http.Handler
}

// New builds the mail-out.
func New(cfg mailoutapi.Config, deps Deps) (*Mailout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mailout: %w", err)
	}
	switch {
	case deps.Registry == nil:
		return nil, errors.New("mailout: Deps.Registry is required")
	case deps.Signer == nil:
		return nil, errors.New("mailout: Deps.Signer is required")
	case deps.Country == "" || deps.UVCIIssuer == "":
		return nil, errors.New("mailout: Deps.Country and Deps.UVCIIssuer are required")
	}
	for _, id := range deps.Centres {
		if !ValidCentreID(id) {
			return nil, fmt.Errorf("mailout: centre id %q must be 1 to 16 characters A-Z0-9", id)
		}
	}
	m := &Mailout{cfg: cfg, reg: deps.Registry, signer: deps.Signer, lanes: deps.Lanes, centres: deps.Centres,
		country: deps.Country, issuer: deps.UVCIIssuer, log: deps.Logger, clock: deps.Clock, rnd: deps.Rand,
		wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "mailout", "profile", cfg.Profile)
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.rnd == nil {
		m.rnd = rand.Reader
	}
	if !cfg.Yield {
		m.lanes = nil
	} else if m.lanes == nil {
		m.lanes = overload.NewLanes(cfg.Quiet.D())
	}
	if l := cfg.Limit; l.MaxConcurrent > 0 {
		m.limiter = overload.NewLimiter("mailout", l.MaxConcurrent, l.MaxQueue, l.MaxQueueWait.D())
	}
	m.m = newMetrics(m)
	m.routes = map[string]http.Handler{}
	for pattern, h := range map[string]http.HandlerFunc{
		"POST " + mailoutapi.PathJobs: m.handleSubmit,
		"GET " + mailoutapi.PathJob:   m.handleJob,
		"GET " + mailoutapi.PathItems: m.handleItems,
	} {
		m.routes[pattern] = m.m.Wrap(pattern, h)
	}
	return m, nil
}

// ValidCentreID: 1 to 16 characters A-Z0-9 (a block of the UVCI).
func ValidCentreID(id string) bool {
	if id == "" || len(id) > 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// NewCentreToken returns a new centre token (mailoutapi.TokenPrefix and
// a random secret); keep only auth.HashToken of it on the server.
func NewCentreToken() string { return mailoutapi.TokenPrefix + auth.NewSecret() }

// Routes are the mail-out's routes by mux pattern.
func (m *Mailout) Routes() map[string]http.Handler { return m.routes }

// Metrics is the mail-out's Prometheus registry.
func (m *Mailout) Metrics() prometheus.Gatherer { return m.m.Registry }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (m *Mailout) newJobID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(m.rnd, b); err != nil {
		return "", fmt.Errorf("job id: %w", err)
	}
	return "mj_" + strings.ToLower(idEncoding.EncodeToString(b)), nil
}

// validJobID: "mj_" and 26 base32 characters; anything else is unknown
// without a registry read.
func validJobID(id string) bool {
	rest, ok := strings.CutPrefix(id, "mj_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

func (m *Mailout) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
