package finder

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// TestSearchNearestFirst checks a search against a brute-force answer
// computed from the contract's geography over every activated pharmacy.
func TestSearchNearestFirst(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	var phs []*portaltest.Pharmacy
	for range 30 {
		phs = append(phs, e.NewPharmacy(t))
	}
	// An application never activated is not a pharmacy that issues.
	pending := e.Entries[len(e.Entries)-1]
	if r := e.Apply(t, portaltest.ApplicationFor(pending, "")); r.Status != http.StatusAccepted {
		t.Fatalf("apply: %v", r)
	}
	e.refresh(t)

	for _, tc := range []struct {
		postcode string
		radius   float64
		limit    int
	}{
		{phs[0].Entry.PostalCode, 50, 100},
		{phs[1].Entry.PostalCode, 5, 20},
		{phs[2].Entry.PostalCode, 12.5, 3},
		{phs[3].Entry.PostalCode, 0.1, 20},
		{"10115", 50, 1},
	} {
		q := url.Values{"postcode": {tc.postcode}, "radius_km": {strconv.FormatFloat(tc.radius, 'f', -1, 64)}, "limit": {strconv.Itoa(tc.limit)}}.Encode()
		got := e.list(t, q)
		origin, _ := finderapi.Locate(tc.postcode)
		type cand struct {
			id string
			d  float64
		}
		var want []cand
		for _, ph := range phs {
			pc, _ := finderapi.Locate(ph.Entry.PostalCode)
			if d := finderapi.DistanceKm(origin, finderapi.Jitter(pc, ph.ID)); d <= tc.radius {
				want = append(want, cand{ph.ID, d})
			}
		}
		slices.SortFunc(want, func(a, b cand) int { return cmp.Or(cmp.Compare(a.d, b.d), strings.Compare(a.id, b.id)) })
		if got.Total != len(want) || got.Postcode != tc.postcode || got.RadiusKm != tc.radius || got.Limit != tc.limit || got.Origin != origin {
			t.Errorf("%s: total %d (want %d), echo %+v", q, got.Total, len(want), got)
		}
		if n := min(len(want), tc.limit); len(got.Pharmacies) != n {
			t.Fatalf("%s: %d listed, want %d", q, len(got.Pharmacies), n)
		}
		for i, p := range got.Pharmacies {
			if p.ID != want[i].id || math.Abs(p.DistanceKm-want[i].d) > 0.05 || p.ID == pending.TelematikID {
				t.Errorf("%s: #%d is %s at %.1f km, want %s at %.2f km", q, i, p.ID, p.DistanceKm, want[i].id, want[i].d)
			}
			if p.Status != finderapi.StatusIssuing || p.Name == "" || p.PostalCode == "" {
				t.Errorf("%s: listing %+v", q, p)
			}
		}
	}
	// A pharmacy is found around its own postcode, within the jitter.
	for _, ph := range phs[:5] {
		if p := e.listed(t, ph); p.DistanceKm > 0.7 {
			t.Errorf("%s is %.1f km from its own postcode", ph.ID, p.DistanceKm)
		}
	}
	// The status filter keeps only that status.
	if err := e.Store.SetPharmacyStatus(context.Background(), phs[0].ID, store.PharmacySuspended, "admin"); err != nil {
		t.Fatal(err)
	}
	e.refresh(t)
	all := e.list(t, near(phs[0]))
	issuing := e.list(t, near(phs[0])+"&status=issuing")
	suspended := e.list(t, near(phs[0])+"&status=suspended")
	if issuing.Total+suspended.Total != all.Total || suspended.Total != 1 || suspended.Pharmacies[0].ID != phs[0].ID {
		t.Errorf("status filter: all %d, issuing %d, suspended %+v", all.Total, issuing.Total, suspended.Pharmacies)
	}
}

// TestCaching: a weak content ETag that survives refreshes and restarts
// while nothing changes, 304 for a client that holds it, a new tag when a
// listed pharmacy changes, and the profile's Cache-Control.
func TestCaching(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	a := e.NewPharmacy(t)
	e.NewPharmacy(t)
	e.refresh(t)
	q := near(a)
	r := e.search(t, q, nil)
	etag := r.Header.Get("ETag")
	if r.Status != http.StatusOK || !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("first search: %v, ETag %q", r, etag)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=30, stale-while-revalidate=30, stale-if-error=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	nm := e.search(t, q, http.Header{"If-None-Match": {etag}})
	if nm.Status != http.StatusNotModified || len(nm.Body) != 0 || nm.Header.Get("ETag") != etag || nm.Header.Get("Cache-Control") == "" {
		t.Errorf("revalidation: %d %q %v", nm.Status, nm.Body, nm.Header)
	}
	// A refresh that finds nothing new, and a second finder reading the
	// same registry (a restart, a replica), give the same tag.
	e.refresh(t)
	if got := e.search(t, q, nil).Header.Get("ETag"); got != etag {
		t.Errorf("ETag changed without a change: %s -> %s", etag, got)
	}
	other, err := New(finderapi.HardenedConfig(), Deps{Source: e.Store, Clock: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, finderapi.PathPharmacies+"?"+q, nil)
	rec := &recorder{header: http.Header{}}
	other.Routes()["GET "+finderapi.PathPharmacies].ServeHTTP(rec, req)
	if rec.header.Get("ETag") != etag {
		t.Errorf("another finder over the same registry tags %s, this one %s", rec.header.Get("ETag"), etag)
	}
	// A change to a listed pharmacy changes the answer and its tag.
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+a.ID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %v", r)
	}
	e.refresh(t)
	changed := e.search(t, q, http.Header{"If-None-Match": {etag}})
	if changed.Status != http.StatusOK || changed.Header.Get("ETag") == etag {
		t.Errorf("after a suspension: %d, ETag %s (was %s)", changed.Status, changed.Header.Get("ETag"), etag)
	}
	// HEAD answers like GET without a body.
	head := e.Do(t, portaltest.Request{Method: http.MethodHead, Path: finderapi.PathPharmacies + "?" + q})
	if head.Status != http.StatusOK || len(head.Body) != 0 || head.Header.Get("ETag") != changed.Header.Get("ETag") {
		t.Errorf("HEAD: %d %q %v", head.Status, head.Body, head.Header)
	}

	// The naive finder sends no-cache: every use asks again.
	n := startEnv(t, portalapi.ProfileNaive2021, nil)
	ph := n.NewPharmacy(t)
	n.refresh(t)
	if cc := n.search(t, near(ph), nil).Header.Get("Cache-Control"); cc != "public, no-cache" {
		t.Errorf("naive Cache-Control %q", cc)
	}
}

// recorder is a minimal ResponseWriter for calling a handler directly.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(c int) {
	if r.status == 0 {
		r.status = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.body = append(r.body, b...)
	return len(b), nil
}

// TestStatusFollowsTheRegistry: suspension, deferred requests, a signer
// outage and a failed deferred request each mark a pharmacy, with the
// time of its last success, and recovery unmarks it.
func TestStatusFollowsTheRegistry(t *testing.T) {
	ctx := context.Background()
	e := startEnv(t, portalapi.ProfileHardened, nil)
	issuer, cut, waiting, failed, idle := e.NewPharmacy(t), e.NewPharmacy(t), e.NewPharmacy(t), e.NewPharmacy(t), e.NewPharmacy(t)
	// The last success: the newest certificate's issuance, or, for a
	// deferred one, when its ticket completed (milliseconds later, when the
	// certificate was recorded).
	var doneTickets []string
	lastIssued := func(ph *portaltest.Pharmacy) *time.Time {
		t.Helper()
		certs, err := e.Store.CertificatesByPharmacy(ctx, ph.ID)
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for _, c := range certs {
			if c.IssuedAt.After(last) {
				last = c.IssuedAt
			}
		}
		for _, id := range doneTickets {
			tk, err := e.Store.Ticket(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tk.PharmacyID == ph.ID && tk.CompletedAt.After(last) {
				last = tk.CompletedAt
			}
		}
		last = last.Truncate(time.Minute)
		return &last
	}
	for _, ph := range []*portaltest.Pharmacy{issuer, waiting, failed} {
		e.MustIssue(t, ph, dcc.TypeVaccination)
	}
	e.refresh(t)
	for _, ph := range []*portaltest.Pharmacy{issuer, waiting, failed} {
		p := e.listed(t, ph)
		if p.Status != finderapi.StatusIssuing || p.Reason != "" || p.Since != nil || p.LastSuccessAt == nil || !p.LastSuccessAt.Equal(*lastIssued(ph)) {
			t.Errorf("%s after issuing: %+v, want issuing with last success %v", ph.ID, p, lastIssued(ph))
		}
	}
	if p := e.listed(t, idle); p.Status != finderapi.StatusIssuing || p.LastSuccessAt != nil {
		t.Errorf("a pharmacy that has not issued yet: %+v", p)
	}

	// Suspended through the admin API.
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+cut.ID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %v", r)
	}
	// A deferred request of failed's that failed after its last success
	// (written through the store, as the drain worker would).
	if _, err := e.Store.CreateTicket(ctx, store.Ticket{ID: "tk_failed", PharmacyID: failed.ID, UVCI: "URN:UVCI:01:DE:GL/X/FAILED#1",
		Type: store.Vaccination}, store.IdemBinding{}, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	if err := e.Store.FailTicket(ctx, "tk_failed", "expired"); err != nil {
		t.Fatal(err)
	}
	failedAt := e.Clock.Now().UTC().Truncate(time.Second)
	e.refresh(t)
	if p := e.listed(t, cut); p.Status != finderapi.StatusSuspended || p.Reason != finderapi.ReasonAccountSuspended || p.Since == nil {
		t.Errorf("suspended: %+v", p)
	}
	p := e.listed(t, failed)
	if p.Status != finderapi.StatusNotIssuing || p.Reason != finderapi.ReasonRequestFailed || p.Since == nil ||
		p.Since.Sub(failedAt).Abs() > time.Second || p.LastSuccessAt == nil || !p.LastSuccessAt.Equal(*lastIssued(failed)) {
		t.Errorf("failed deferred request: %+v, want not_issuing since %v, last success %v", p, failedAt, lastIssued(failed))
	}

	// The signers go down: a request is deferred, and once the signer
	// client sees no replica every active pharmacy is delayed.
	e.SetSigners(portaltest.SignerDown)
	e.Login(t, waiting) // the clock moved past the access token's minute
	r := e.Issue(t, waiting.Token, portaltest.NewKey(), e.Payload(t, dcc.TypeVaccination))
	if r.Status != http.StatusAccepted {
		t.Fatalf("issue during the outage: %v", r)
	}
	var deferred portalapi.Deferred
	r.Decode(t, &deferred)
	doneTickets = append(doneTickets, deferred.Ticket)
	waitFor(t, "the signer client to see no replica", func() bool { return e.SignerClient.Available() == 0 })
	e.refresh(t)
	p = e.listed(t, waiting)
	if p.Status != finderapi.StatusDelayed || p.Reason != finderapi.ReasonRequestsDeferred || p.Since == nil ||
		p.LastSuccessAt == nil || !p.LastSuccessAt.Equal(*lastIssued(waiting)) {
		t.Errorf("deferred: %+v, want delayed with last success %v", p, lastIssued(waiting))
	}
	for _, ph := range []*portaltest.Pharmacy{issuer, idle} {
		if p := e.listed(t, ph); p.Status != finderapi.StatusDelayed || p.Reason != finderapi.ReasonSignerUnavailable || p.Since == nil {
			t.Errorf("%s with no signer: %+v", ph.ID, p)
		}
	}
	if p := e.listed(t, cut); p.Status != finderapi.StatusSuspended {
		t.Errorf("suspension outranks the outage: %+v", p)
	}

	// Recovery: the backlog drains and the pharmacy issues again.
	e.SetSigners(portaltest.SignerUp)
	waitFor(t, "the deferred request to be signed", func() bool {
		n, err := e.Store.PendingTicketCount(ctx)
		return err == nil && n == 0 && e.SignerClient.Available() > 0
	})
	e.refresh(t)
	for _, ph := range []*portaltest.Pharmacy{waiting, issuer, idle} {
		if p := e.listed(t, ph); p.Status != finderapi.StatusIssuing || p.Reason != "" {
			t.Errorf("%s after recovery: %+v", ph.ID, p)
		}
	}
	if p := e.listed(t, waiting); p.LastSuccessAt == nil || !p.LastSuccessAt.Equal(*lastIssued(waiting)) {
		t.Errorf("last success after the drain: %+v, want %v", p, lastIssued(waiting))
	}
	// A new success after the failure clears it.
	e.Login(t, failed)
	e.MustIssue(t, failed, dcc.TypeVaccination)
	e.refresh(t)
	if p := e.listed(t, failed); p.Status != finderapi.StatusIssuing {
		t.Errorf("issued again after the failure: %+v", p)
	}
	// Reinstated, the account issues again.
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+cut.ID+"/reinstate", nil); r.Status != http.StatusOK {
		t.Fatalf("reinstate: %v", r)
	}
	e.refresh(t)
	if p := e.listed(t, cut); p.Status != finderapi.StatusIssuing {
		t.Errorf("reinstated: %+v", p)
	}
}

// TestNaive2021ListsRegardless: the 2021 finder lists a suspended
// pharmacy, one with deferred requests and one whose request failed, all
// as issuing, and knows no last success; the hardened finder over the same
// facts marks all three.
func TestNaive2021ListsRegardless(t *testing.T) {
	ctx := context.Background()
	naive := startEnv(t, portalapi.ProfileNaive2021, nil)
	cut, waiting, failed := naive.NewPharmacy(t), naive.NewPharmacy(t), naive.NewPharmacy(t)
	naive.MustIssue(t, failed, dcc.TypeVaccination)
	if r := naive.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+cut.ID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %v", r)
	}
	for id, ph := range map[string]*portaltest.Pharmacy{"tk_w": waiting, "tk_f": failed} {
		if _, err := naive.Store.CreateTicket(ctx, store.Ticket{ID: id, PharmacyID: ph.ID, UVCI: "URN:UVCI:01:DE:GL/X/" + id + "#1",
			Type: store.Vaccination}, store.IdemBinding{}, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	naive.Clock.Advance(time.Minute)
	if err := naive.Store.FailTicket(ctx, "tk_f", "expired"); err != nil {
		t.Fatal(err)
	}
	naive.refresh(t)
	for _, ph := range []*portaltest.Pharmacy{cut, waiting, failed} {
		if p := naive.listed(t, ph); p.Status != finderapi.StatusIssuing || p.Reason != "" || p.Since != nil || p.LastSuccessAt != nil {
			t.Errorf("naive-2021 lists %s as %+v, want issuing and nothing else", ph.ID, p)
		}
	}
	// The same registry through a hardened finder.
	hard, err := New(finderapi.HardenedConfig(), Deps{Source: naive.Store, Clock: naive.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	snap := hard.snap.Load()
	want := map[string]finderapi.Status{cut.ID: finderapi.StatusSuspended, waiting.ID: finderapi.StatusDelayed, failed.ID: finderapi.StatusNotIssuing}
	for _, en := range snap.entries {
		if st, ok := want[en.view.ID]; ok && en.view.Status != st {
			t.Errorf("hardened over the same registry: %s is %s, want %s", en.view.ID, en.view.Status, st)
		}
	}
}

// TestStaleIfError: while the registry fails, searches get the last good
// snapshot marked stale (same tag, same Cache-Control) until
// stale_if_error has passed, then 503 registry_unavailable; the naive
// finder fails at once.
func TestStaleIfError(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	ph := e.NewPharmacy(t)
	e.refresh(t)
	q := near(ph)
	fresh := e.search(t, q, nil)
	var before finderapi.Pharmacies
	fresh.Decode(t, &before)

	e.src.fail.Store(true)
	if err := e.F.Refresh(context.Background()); err == nil {
		t.Fatal("refresh succeeded with the registry down")
	}
	for _, query := range []string{q, nearLimit(ph, 7)} { // cached, and computed from the snapshot
		r := e.search(t, query, nil)
		var got finderapi.Pharmacies
		r.Decode(t, &got)
		if r.Status != http.StatusOK || !got.Stale || got.Total != before.Total || len(got.Pharmacies) == 0 || got.Pharmacies[0].ID != before.Pharmacies[0].ID {
			t.Errorf("%s with the registry down: %v", query, r)
		}
		if query == q && (r.Header.Get("ETag") != fresh.Header.Get("ETag") || r.Header.Get("Cache-Control") != fresh.Header.Get("Cache-Control")) {
			t.Errorf("stale answer tagged %s / %q, fresh %s / %q", r.Header.Get("ETag"), r.Header.Get("Cache-Control"),
				fresh.Header.Get("ETag"), fresh.Header.Get("Cache-Control"))
		}
	}
	if r := e.search(t, q, http.Header{"If-None-Match": {fresh.Header.Get("ETag")}}); r.Status != http.StatusNotModified {
		t.Errorf("revalidation while stale: %v", r)
	}
	e.Clock.Advance(61 * time.Minute) // past stale_if_error (1h) since the last good snapshot
	r := e.search(t, q, nil)
	if r.Status != http.StatusServiceUnavailable || r.Problem.Code != "registry_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Errorf("past stale_if_error: %v", r)
	}
	e.src.fail.Store(false)
	e.refresh(t)
	var after finderapi.Pharmacies
	e.search(t, q, nil).Decode(t, &after)
	if after.Stale || after.Total != before.Total {
		t.Errorf("after recovery: %+v", after)
	}
	m := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
	for _, want := range []string{`finder_stale_answers_total{reason="registry"}`, `finder_snapshot_refreshes_total{result="error"} 1`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	n := startEnv(t, portalapi.ProfileNaive2021, nil)
	nph := n.NewPharmacy(t)
	n.refresh(t)
	n.src.fail.Store(true)
	_ = n.F.Refresh(context.Background())
	if r := n.search(t, near(nph), nil); r.Status != http.StatusServiceUnavailable || r.Problem.Code != "registry_unavailable" {
		t.Errorf("naive finder with the registry down: %v", r)
	}
}

// TestOverloadServesThePreviousSnapshot: a search that must be computed
// while admission is full gets the previous snapshot's answer to the same
// query (stale), or 503 with Retry-After when there is none; a cached
// answer needs no admission at all.
func TestOverloadServesThePreviousSnapshot(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, func(c *finderapi.Config) {
		c.Limit = finderapi.RouteLimit{MaxConcurrent: 1, MaxQueue: 0}
	})
	a, b := e.NewPharmacy(t), e.NewPharmacy(t)
	e.refresh(t)
	asked := near(a)
	before := e.list(t, asked) // cached in this snapshot
	// A change makes a new snapshot; the old one becomes the previous.
	if err := e.Store.SetPharmacyStatus(context.Background(), b.ID, store.PharmacySuspended, "admin"); err != nil {
		t.Fatal(err)
	}
	e.refresh(t)

	release, err := e.F.limiter.Acquire(context.Background()) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	r := e.search(t, asked, nil)
	var got finderapi.Pharmacies
	r.Decode(t, &got)
	if r.Status != http.StatusOK || !got.Stale || got.Total != before.Total {
		t.Errorf("overloaded, asked before: %v", r)
	}
	if r := e.search(t, nearLimit(a, 3), nil); r.Status != http.StatusServiceUnavailable || r.Problem.Code != "overloaded" || r.Header.Get("Retry-After") == "" {
		t.Errorf("overloaded, never asked: %v", r)
	}
	release()
	fresh := e.list(t, asked) // computed now, cached
	if fresh.Stale {
		t.Errorf("with a free slot: %+v", fresh)
	}
	release, err = e.F.limiter.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got := e.list(t, asked); got.Stale {
		t.Error("a cached answer went through admission")
	}
}

// TestMetricsAreServed: the finder's metrics are on the portal's /metrics.
func TestMetricsAreServed(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	ph := e.NewPharmacy(t)
	e.refresh(t)
	e.list(t, near(ph))
	e.list(t, near(ph))
	e.search(t, "postcode=1", nil)
	m := string(e.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"}).Body)
	for _, want := range []string{
		`finder_requests_total{code="200",route="GET /v1/finder/pharmacies"} 2`,
		`finder_requests_total{code="400",route="GET /v1/finder/pharmacies"} 1`,
		`finder_cache_lookups_total{result="hit"} 1`,
		`finder_cache_lookups_total{result="miss"} 1`,
		`finder_pharmacies{status="issuing"} 1`,
		`finder_admission_in_flight 0`,
		`lists_revocation_entries{type="UCI"} 0`,
		`portal_requests_total`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
