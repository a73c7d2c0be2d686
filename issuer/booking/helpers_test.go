package booking

import (
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// env is a running issuer (portaltest: portal, registry, signer replicas
// over real HTTP) with the booking mounted among the portal's routes, as
// `golive serve --booking` mounts it. The follower does not run on its
// own: tests call follow, so what a request sees is the test's choice.
type env struct {
	*portaltest.Env
	B *Booking
	// up is what the booking is told of issuance.
	up bool
}

func startEnv(t testing.TB, profile string, mutate func(*bookingapi.Config)) *env {
	t.Helper()
	e := &env{up: true}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	e.Env = portaltest.Start(t, portaltest.Options{Profile: profile,
		Deps: func(pe *portaltest.Env, d *portal.Deps) {
			cfg, err := bookingapi.ConfigForProfile(profile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Enabled = true
			if mutate != nil {
				mutate(&cfg)
			}
			tokens, err := auth.NewIssuer(key, time.Minute, pe.Clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			d.TokenKey = key
			e.B, err = New(cfg, Deps{Registry: pe.Store, Tokens: tokens, Key: key, Now: pe.Clock.Now,
				IssuanceAvailable: func() bool { return e.up },
				PortalDefers:      pe.Config.DeferOnSignerUnavailable})
			if err != nil {
				t.Fatal(err)
			}
			d.Components = append(d.Components, e.B)
		}})
	return e
}

// staffToken onboards a pharmacy and returns its id and access token.
func (e *env) staffToken(t testing.TB) (string, string) {
	t.Helper()
	ph := e.NewPharmacy(t)
	return ph.ID, e.Login(t, ph).AccessToken
}

// slotsFrom makes n slots every step from the next whole hour.
// minLeadTime is how far ahead slotsFrom's first slot lies at least:
// more than an e-mail notice takes (30 min) and the clock advances in
// the tests (11 min).
const minLeadTime = 45 * time.Minute

func (e *env) slotsFrom(n int, step time.Duration, capacity int) []bookingapi.Slot {
	// On a full hour at least minLeadTime ahead: a test that advances the
	// clock or waits for an e-mail must not find its slot in the past
	// because it ran late in an hour.
	now := e.Clock.Now()
	start := now.Truncate(time.Hour).Add(time.Hour)
	if start.Sub(now) < minLeadTime {
		start = start.Add(time.Hour)
	}
	out := make([]bookingapi.Slot, n)
	for i := range out {
		out[i] = bookingapi.Slot{Start: start.Add(time.Duration(i) * step), Capacity: capacity}
	}
	return out
}

func (e *env) publish(t testing.TB, token string, slots []bookingapi.Slot) {
	t.Helper()
	r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.PathSlots, Token: token,
		Body: bookingapi.SlotsRequest{Slots: slots}})
	if r.Status != http.StatusOK {
		t.Fatalf("publish: %v", r)
	}
}

func (e *env) setChannel(t testing.TB, token string, ch bookingapi.Channel) {
	t.Helper()
	r := e.Do(t, portaltest.Request{Method: http.MethodPut, Path: bookingapi.PathSettings, Token: token,
		Body: bookingapi.Settings{Channel: ch}})
	if r.Status != http.StatusOK {
		t.Fatalf("settings: %v", r)
	}
}

func (e *env) book(t testing.TB, key, pharmacy string, start time.Time) *portaltest.Response {
	t.Helper()
	return e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.PathBookings,
		Header: http.Header{bookingapi.IdempotencyHeader: {key}},
		Body:   bookingapi.BookRequest{PharmacyID: pharmacy, Start: start, Contact: "citizen@example.invalid"}})
}

func (e *env) mustBook(t testing.TB, key, pharmacy string, start time.Time) bookingapi.Booked {
	t.Helper()
	r := e.book(t, key, pharmacy, start)
	if r.Status != http.StatusCreated {
		t.Fatalf("book: %v", r)
	}
	var b bookingapi.Booked
	r.Decode(t, &b)
	return b
}

func (e *env) get(t testing.TB, ref, token string) *portaltest.Response {
	t.Helper()
	return e.Do(t, portaltest.Request{Method: http.MethodGet, Path: bookingapi.BookingLink(ref),
		Header: http.Header{bookingapi.TokenHeader: {token}}})
}

func (e *env) visit(t testing.TB, staff, ref, outcome string) bookingapi.Booking {
	t.Helper()
	r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.VisitLink(ref), Token: staff,
		Body: bookingapi.VisitRequest{Outcome: outcome}})
	if r.Status != http.StatusOK {
		t.Fatalf("visit: %v", r)
	}
	var b bookingapi.Booking
	r.Decode(t, &b)
	return b
}

var _ = portalapi.ProfileHardened
