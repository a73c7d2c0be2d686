package finder

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// flakySource is the registry, switchable to failing.
type flakySource struct {
	st   *store.Store
	fail atomic.Bool
}

var errRegistryDown = errors.New("registry down (test)")

func (s *flakySource) PharmacyActivity(ctx context.Context) ([]store.PharmacyActivity, error) {
	if s.fail.Load() {
		return nil, errRegistryDown
	}
	return s.st.PharmacyActivity(ctx)
}

// env is a running issuer (portaltest) with a finder mounted among the
// portal's routes, as `golive serve` mounts it. The finder's refresh loop
// does not run: tests call refresh, so what a search sees is decided by
// the test, not by a timer.
type env struct {
	*portaltest.Env
	F   *Finder
	src *flakySource
}

func startEnv(t *testing.T, profile string, mutate func(*finderapi.Config)) *env {
	t.Helper()
	e := &env{src: &flakySource{}}
	clock := &portaltest.Clock{}
	clock.Set(morning(t)) // within opening hours: the fraud rules stay quiet
	e.Env = portaltest.Start(t, portaltest.Options{Profile: profile, Clock: clock, RegisterSize: 80,
		Deps: func(pe *portaltest.Env, d *portal.Deps) {
			e.src.st = pe.Store
			cfg, err := finderapi.ConfigForProfile(profile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.RefreshInterval = finderapi.Duration(time.Hour)
			if mutate != nil {
				mutate(&cfg)
			}
			e.F, err = New(cfg, Deps{Source: e.src, Clock: pe.Clock.Now,
				IssuanceAvailable: func() bool { return pe.SignerClient.Available() > 0 }})
			if err != nil {
				t.Fatal(err)
			}
			d.Components = append(d.Components, e.F)
		}})
	return e
}

func morning(t *testing.T) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, loc)
}

func (e *env) refresh(t *testing.T) {
	t.Helper()
	if err := e.F.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// search sends GET /v1/finder/pharmacies?query with optional headers.
func (e *env) search(t *testing.T, query string, h http.Header) *portaltest.Response {
	t.Helper()
	return e.Do(t, portaltest.Request{Method: http.MethodGet, Path: finderapi.PathPharmacies + "?" + query, Header: h})
}

// list searches and decodes a 200.
func (e *env) list(t *testing.T, query string) finderapi.Pharmacies {
	t.Helper()
	r := e.search(t, query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("search %s: %v", query, r)
	}
	var out finderapi.Pharmacies
	r.Decode(t, &out)
	return out
}

// near is the query that finds ph: its own postcode, the widest radius.
func near(ph *portaltest.Pharmacy) string { return nearLimit(ph, finderapi.MaxLimit) }

// nearLimit is near with another limit.
func nearLimit(ph *portaltest.Pharmacy, limit int) string {
	return url.Values{"postcode": {ph.Entry.PostalCode}, "radius_km": {"50"}, "limit": {strconv.Itoa(limit)}}.Encode()
}

// listed is ph's listing in a search around it (fails when absent).
func (e *env) listed(t *testing.T, ph *portaltest.Pharmacy) finderapi.Pharmacy {
	t.Helper()
	for _, p := range e.list(t, near(ph)).Pharmacies {
		if p.ID == ph.ID {
			return p
		}
	}
	t.Fatalf("pharmacy %s (%s) is not listed around its own postcode", ph.ID, ph.Entry.PostalCode)
	return finderapi.Pharmacy{}
}

// waitFor polls cond for up to 20 s (signer health checks and the
// deferred drain run on their own timers).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
