// Package booking is the pharmacies' appointment booking: staff publish
// slots and choose how they reach booked customers (none, e-mail, SMS);
// citizens list a pharmacy's free slots, book one and cancel; staff can
// cancel a window ("issuance is down, don't come"), which notifies each
// citizen through the pharmacy's channel, and record how a visit ended.
//
// In June 2021, when the signing backend cut pharmacies off, customers had
// booked in their pharmacy's booking portal; pharmacies tried to cancel
// by e-mail (they had no phone numbers) and some customers came in vain.
// The notice's delivery is simulated, but honestly: an SMS reaches
// everyone, an e-mail a fraction of them after a delay, none nobody; each
// booking records whether and when its citizen was warned, and a visit
// that failed without a warning in time counts as one that came in vain.
//
// The hardened preset follows issuance (Config.FollowIssuance): when no
// signer has answered for a while and the portal cannot defer, it warns
// the customers of the next hours itself. When the portal defers, a visit
// is not in vain anyway: the customer leaves with a ticket.
//
// Bookings live in the registry (schema 5), so any portal of a shared
// PostgreSQL registry serves them and an accepted booking survives a
// restart. The component runs in the portal's process (golive serve
// --booking) and mounts its routes among the portal's; see
// docs/booking.md.
package booking

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/store"
)

// Registry is what the booking keeps in the durable registry;
// *store.Store implements it.
type Registry interface {
	Pharmacy(ctx context.Context, id string) (store.Pharmacy, error)
	BookingChannel(ctx context.Context, pharmacy string) (string, error)
	SetBookingChannel(ctx context.Context, pharmacy, channel string, now time.Time) error
	PublishBookingSlots(ctx context.Context, pharmacy string, slots []store.BookingSlot) (int, error)
	BookingSlots(ctx context.Context, pharmacy string, from, until time.Time, onlyFree bool, limit int) ([]store.BookingSlot, error)
	CreateBooking(ctx context.Context, b store.Booking, contact []byte) (*store.Booking, error)
	GetBooking(ctx context.Context, ref string) (store.Booking, error)
	Bookings(ctx context.Context, pharmacy string, from, until time.Time, limit int) ([]store.Booking, error)
	CancelBooking(ctx context.Context, ref string, now time.Time) (store.Booking, error)
	CancelBookings(ctx context.Context, pharmacy string, from, until, now time.Time, by, defaultChannel string, notify store.Notifier) ([]store.Booking, error)
	RecordBookingVisit(ctx context.Context, ref, pharmacy, outcome string, now time.Time) (store.Booking, bool, error)
}

// TokenVerifier checks a pharmacy's access token (the portal's
// *auth.Issuer over the same key).
type TokenVerifier interface {
	Verify(token string) (auth.Claims, error)
}

// Deps are the booking's collaborators.
type Deps struct {
	Registry Registry
	Tokens   TokenVerifier
	// Key makes the booking tokens (HMAC-SHA256 of the ref), so a
	// repeated booking answers with the same token and none is stored;
	// at least 32 bytes.
	Key []byte
	// Now is the business clock (the portal's, which a scenario
	// compresses); time.Now when nil.
	Now func() time.Time
	// IssuanceAvailable says whether any signer answers now; nil: always.
	IssuanceAvailable func() bool
	// PortalDefers says whether the portal defers a request no signer can
	// sign to a ticket (then a visit is not in vain).
	PortalDefers bool
	Logger       *slog.Logger
	// Rand is the randomness of refs (crypto/rand when nil).
	Rand io.Reader
}

// Booking serves the booking routes and follows issuance. Safe for
// concurrent use.
type Booking struct {
	cfg       bookingapi.Config
	reg       Registry
	tokens    TokenVerifier
	key       []byte
	now       func() time.Time
	available func() bool
	defers    bool
	log       *slog.Logger
	rnd       io.Reader
	limiter   *overload.Limiter // nil: no admission control
	citizens  *overload.Quota
	m         *metrics

	issuanceDown atomic.Bool
	routes       map[string]http.Handler
}

// New builds the booking component.
func New(cfg bookingapi.Config, deps Deps) (*Booking, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	switch {
	case deps.Registry == nil:
		return nil, errors.New("booking: Deps.Registry is required")
	case deps.Tokens == nil:
		return nil, errors.New("booking: Deps.Tokens is required")
	case len(deps.Key) < 32:
		return nil, errors.New("booking: Deps.Key needs at least 32 bytes")
	}
	b := &Booking{cfg: cfg, reg: deps.Registry, tokens: deps.Tokens, key: deps.Key, now: deps.Now,
		available: deps.IssuanceAvailable, defers: deps.PortalDefers, log: deps.Logger, rnd: deps.Rand}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("component", "booking", "profile", cfg.Profile)
	if b.now == nil {
		b.now = time.Now
	}
	if b.available == nil {
		b.available = func() bool { return true }
	}
	if b.rnd == nil {
		b.rnd = rand.Reader
	}
	if l := cfg.Limit; l.MaxConcurrent > 0 {
		b.limiter = overload.NewLimiter("booking", l.MaxConcurrent, l.MaxQueue, l.MaxQueueWait.D())
	}
	b.citizens = overload.NewQuota(cfg.CitizenRate, cfg.CitizenBurst, citizenSources)
	b.m = newMetrics(b)
	b.routes = map[string]http.Handler{}
	for pattern, h := range map[string]http.HandlerFunc{
		"GET " + bookingapi.PathSettings:       b.staff(b.handleGetSettings),
		"PUT " + bookingapi.PathSettings:       b.staff(b.handlePutSettings),
		"POST " + bookingapi.PathSlots:         b.staff(b.handlePublish),
		"GET " + bookingapi.PathAppointments:   b.staff(b.handleAppointments),
		"POST " + bookingapi.PathCancellations: b.staff(b.handleCancelWindow),
		"POST " + bookingapi.PathVisit:         b.staff(b.handleVisit),
		"GET " + bookingapi.PathFreeSlots:      b.citizen(b.handleFreeSlots),
		"POST " + bookingapi.PathBookings:      b.citizen(b.handleBook),
		"GET " + bookingapi.PathBooking:        b.citizen(b.handleGetBooking),
		"DELETE " + bookingapi.PathBooking:     b.citizen(b.handleCancelBooking),
	} {
		b.routes[pattern] = b.m.Wrap(pattern, b.admit(h))
	}
	return b, nil
}

// citizenSources bounds the per-address buckets kept in memory.
const citizenSources = 100000

// Routes are the booking's routes by mux pattern.
func (b *Booking) Routes() map[string]http.Handler { return b.routes }

// Metrics is the booking's Prometheus registry.
func (b *Booking) Metrics() prometheus.Gatherer { return b.m.Registry }

var refEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// refPrefix starts every booking reference; tokenPrefix every booking
// token.
const (
	refPrefix   = "bk_"
	tokenPrefix = "bt_"
)

func (b *Booking) newRef() (string, error) {
	r := make([]byte, 16)
	if _, err := io.ReadFull(b.rnd, r); err != nil {
		return "", fmt.Errorf("booking ref: %w", err)
	}
	return refPrefix + strings.ToLower(refEncoding.EncodeToString(r)), nil
}

// validRef: "bk_" and 26 base32 characters; anything else is unknown
// without a registry read.
func validRef(ref string) bool {
	rest, ok := strings.CutPrefix(ref, refPrefix)
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

// tokenMAC separates booking-token MACs from any other use of the key.
const tokenMAC = "golive-booking-token-v1\x00"

// tokenFor is the booking token of ref: derived, so a repeated booking
// answers with it again and nothing secret is stored.
func (b *Booking) tokenFor(ref string) string {
	h := hmac.New(sha256.New, b.key)
	h.Write([]byte(tokenMAC + ref))
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func (b *Booking) tokenOK(ref, tok string) bool {
	return hmac.Equal([]byte(b.tokenFor(ref)), []byte(tok))
}

// reachedAt is when a notice sent at sent through channel reaches the
// citizen of ref (zero: never). Whether an e-mail is read is decided by
// the ref's hash against EmailReadFraction: every reader of the run sees
// the same answer, and the fraction holds over many bookings.
func (b *Booking) reachedAt(ref, channel string, _, sent time.Time) time.Time {
	switch bookingapi.Channel(channel) {
	case bookingapi.ChannelSMS:
		return sent.Add(b.cfg.SMSDelay.D())
	case bookingapi.ChannelEmail:
		if readsMail(ref, b.cfg.EmailReadFraction) {
			return sent.Add(b.cfg.EmailReadDelay.D())
		}
	}
	return time.Time{}
}

// readsMail maps ref to [0, 1) and compares it with fraction.
func readsMail(ref string, fraction float64) bool {
	h := sha256.Sum256([]byte("golive-booking-mail\x00" + ref))
	u := float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
	return u < fraction
}

// IssuanceDown reports whether the follower sees issuance down now.
func (b *Booking) IssuanceDown() bool { return b.issuanceDown.Load() }

// Run follows issuance until ctx ends (Config.FollowIssuance): while no
// signer answers for IssuanceDownAfter and the portal cannot defer, the
// booked appointments of the next WarnHorizon are cancelled and their
// citizens notified through each pharmacy's channel. Without
// FollowIssuance it returns at once.
func (b *Booking) Run(ctx context.Context) error {
	if !b.cfg.FollowIssuance {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(b.cfg.FollowInterval.D())
	defer t.Stop()
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		downSince = b.follow(ctx, downSince)
	}
}

// followTimeout bounds one follower step's registry write.
const followTimeout = 10 * time.Second

// follow is one step of Run: it returns when issuance went down (zero
// while it is up).
func (b *Booking) follow(ctx context.Context, downSince time.Time) time.Time {
	now := b.now()
	if b.available() {
		if !downSince.IsZero() {
			b.log.Info("issuance is back", "down_for", now.Sub(downSince).String())
		}
		b.issuanceDown.Store(false)
		return time.Time{}
	}
	if downSince.IsZero() {
		downSince = now
	}
	if now.Sub(downSince) < b.cfg.IssuanceDownAfter.D() {
		return downSince
	}
	if !b.issuanceDown.Swap(true) {
		b.log.Warn("issuance is down", "since", downSince, "portal_defers", b.defers)
	}
	if b.defers {
		// Visits get tickets: nobody comes in vain, nobody is sent home.
		return downSince
	}
	cctx, cancel := context.WithTimeout(ctx, followTimeout)
	defer cancel()
	out, err := b.reg.CancelBookings(cctx, "", now, now.Add(b.cfg.WarnHorizon.D()), now,
		bookingapi.CancelledByIssuance, string(b.cfg.DefaultChannel), b.reachedAt)
	if err != nil {
		b.log.Error("warning booked customers failed", "err", err)
		return downSince
	}
	if len(out) > 0 {
		b.countNotices(bookingapi.CancelledByIssuance, out)
		b.log.Info("issuance is down: booked customers warned", "bookings", len(out))
	}
	return downSince
}

// countNotices counts cancelled bookings and their notices.
func (b *Booking) countNotices(by string, out []store.Booking) (reached int) {
	b.m.cancelled.WithLabelValues(by).Add(float64(len(out)))
	for _, bk := range out {
		inTime := !bk.ReachedAt.IsZero() && !bk.ReachedAt.After(bk.Start)
		if inTime {
			reached++
		}
		b.m.notices.WithLabelValues(bk.NoticeChannel, yesNo(inTime)).Inc()
	}
	return reached
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
