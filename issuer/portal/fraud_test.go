package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/simclock"
	"github.com/golive-dev/golive/issuer/store"
)

// TestInsiderNightBurst replays the 2021 insider abuse: a pharmacy's access
// passed on and used for a burst of certificates after closing time. The
// hardened portal suspends the pharmacy within 20 certificates, records a
// fraud event and an audit entry, and revokes what the burst issued: those
// certificates are on the revocation list and fail verification as revoked,
// while the pharmacy's daytime certificates stay valid. naive-2021 notices
// nothing.
func TestInsiderNightBurst(t *testing.T) {
	t.Run("hardened", func(t *testing.T) {
		clock := morningClock(t)
		env := portaltest.Start(t, portaltest.Options{Clock: clock})
		ph := env.NewPharmacy(t)
		day := env.MustIssue(t, ph, dcc.TypeVaccination)

		clock.Set(night(t).Add(24 * time.Hour)) // 21:30 today
		var burst []portalapi.Issued
		suspendedAt := 0
		for i := 1; i <= 40; i++ {
			env.Login(t, ph) // 60 s tokens: the thief's software logs in again
			r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination))
			if r.Status == http.StatusForbidden && r.Problem.Code == "pharmacy_suspended" {
				suspendedAt = i
				break
			}
			if r.Status != http.StatusCreated {
				t.Fatalf("night request %d: %v", i, r)
			}
			var iss portalapi.Issued
			r.Decode(t, &iss)
			burst = append(burst, iss)
			clock.Advance(2 * time.Minute)
		}
		if suspendedAt == 0 || len(burst) >= 20 {
			t.Fatalf("suspended after %d certificates (request %d), want within 20", len(burst), suspendedAt)
		}
		if len(burst) == 0 {
			t.Fatal("the very first night certificate was refused: no room for night duty")
		}

		revs := env.Revocations(t)
		for _, iss := range burst {
			if !contains(revs["UCI"], uciHash(iss.UVCI)) {
				t.Errorf("burst certificate %s not on the revocation list", iss.UVCI)
			}
			if v := env.Verify(t, iss.HC1); v.Valid || !v.Revoked || v.Reason != "revoked" {
				t.Errorf("burst certificate verifies as %+v", v)
			}
		}
		if contains(revs["UCI"], uciHash(day.UVCI)) {
			t.Error("the daytime certificate was revoked too")
		}
		if v := env.Verify(t, day.HC1); !v.Valid {
			t.Errorf("daytime certificate: %+v", v)
		}
		if n := len(revs["SIGNATURE"]); n != len(burst) || len(revs["COUNTRYCODEUCI"]) != len(burst) {
			t.Errorf("revocation list sizes %d/%d, want %d", n, len(revs["COUNTRYCODEUCI"]), len(burst))
		}

		// The account is blocked: tokens and logins are refused.
		if r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeTest)); r.Status != http.StatusForbidden {
			t.Errorf("issue after suspension: %v", r)
		}
		r := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Body: portalapi.TokenRequest{
			GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: ph.ClientSecret}})
		if r.Status != http.StatusForbidden || r.Problem.Code != "pharmacy_suspended" {
			t.Errorf("login after suspension: %v", r)
		}
		r = env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Body: portalapi.TokenRequest{
			GrantType: "refresh_token", RefreshToken: ph.Refresh}})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("refresh after suspension: %v", r)
		}

		// Recorded for the operator.
		var events portalapi.EventPage
		env.Admin(t, http.MethodGet, "/v1/admin/fraud-events", nil).Decode(t, &events)
		if len(events.Entries) != 1 || events.Entries[0].PharmacyID != ph.ID || events.Entries[0].Kind != "off_hours" {
			t.Fatalf("fraud events %+v", events)
		}
		var detail struct {
			Revoked   int  `json:"revoked"`
			Suspended bool `json:"suspended"`
		}
		if err := json.Unmarshal(events.Entries[0].Detail, &detail); err != nil || detail.Revoked != len(burst) || !detail.Suspended {
			t.Errorf("fraud event detail %s (%v)", events.Entries[0].Detail, err)
		}
		var audit portalapi.EventPage
		env.Admin(t, http.MethodGet, "/v1/admin/audit?subject="+ph.ID+"&action=fraud.anomaly", nil).Decode(t, &audit)
		if len(audit.Entries) != 1 || audit.Entries[0].Actor != "system" {
			t.Errorf("audit %+v", audit)
		}
		if m := metrics(t, env); !containsLine(m, `portal_fraud_events_total{kind="off_hours"} 1`) {
			t.Error("fraud metric not counted")
		}
	})

	t.Run("naive-2021", func(t *testing.T) {
		clock := &portaltest.Clock{}
		clock.Set(night(t).Add(24 * time.Hour))
		env := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021, Clock: clock})
		ph := env.NewPharmacy(t)
		for i := range 30 {
			if r := env.Issue(t, ph.Token, "", env.Payload(t, dcc.TypeVaccination)); r.Status != http.StatusCreated {
				t.Fatalf("night request %d: %v", i, r)
			}
			clock.Advance(time.Minute)
		}
		if revs := env.Revocations(t); len(revs["UCI"]) != 0 {
			t.Errorf("naive portal revoked %d", len(revs["UCI"]))
		}
	})
}

func TestAdmin(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	a, b := env.MustIssue(t, ph, dcc.TypeVaccination), env.MustIssue(t, ph, dcc.TypeTest)
	admin := func(method, path string, body any) *portaltest.Response {
		return env.Admin(t, method, path, body)
	}

	r := admin(http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/suspend", portalapi.AdminRequest{Reason: "access passed on"})
	var st portalapi.PharmacyState
	r.Decode(t, &st)
	if r.Status != http.StatusOK || st.Status != "suspended" {
		t.Fatalf("suspend: %v", r)
	}
	if r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeTest)); r.Status != http.StatusForbidden {
		t.Errorf("issue while suspended: %v", r)
	}
	r = admin(http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/revoke-all", nil)
	r.Decode(t, &st)
	if r.Status != http.StatusOK || st.Revoked == nil || *st.Revoked != 2 {
		t.Fatalf("revoke-all: %v", r)
	}
	for _, iss := range []portalapi.Issued{a, b} {
		if v := env.Verify(t, iss.HC1); !v.Revoked || v.Valid {
			t.Errorf("after revoke-all: %+v", v)
		}
		var view portalapi.CertificateView
		admin(http.MethodGet, iss.Links.Self, nil).Decode(t, &view)
		if view.Status != "revoked" || view.RevokedAt == nil {
			t.Errorf("metadata after revoke-all: %+v", view)
		}
	}
	if r := admin(http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/revoke-all", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"revoked":0`) {
		t.Errorf("second revoke-all: %v", r)
	}
	r = admin(http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/reinstate", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("reinstate: %v", r)
	}
	env.Login(t, ph)
	env.MustIssue(t, ph, dcc.TypeRecovery)

	if r := admin(http.MethodPost, "/v1/admin/pharmacies/PNOSUCH/suspend", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown pharmacy: %v", r)
	}
	var page portalapi.EventPage
	r = admin(http.MethodGet, "/v1/admin/audit?limit=2", nil)
	r.Decode(t, &page)
	if r.Status != 200 || len(page.Entries) != 2 || page.Next == 0 {
		t.Fatalf("audit page: %v", r)
	}
	var next portalapi.EventPage
	admin(http.MethodGet, "/v1/admin/audit?limit=1000&after="+strconv.FormatInt(page.Next, 10), nil).Decode(t, &next)
	if len(next.Entries) == 0 || next.Entries[0].ID <= page.Next {
		t.Errorf("next page %+v", next.Entries[:min(1, len(next.Entries))])
	}
	actions := map[string]bool{}
	for _, e := range append(page.Entries, next.Entries...) {
		actions[e.Action] = true
	}
	for _, want := range []string{"pharmacy.created", "pharmacy.activated", "certificate.issued", "pharmacy.suspended", "certificate.revoked_by_pharmacy"} {
		if !actions[want] {
			t.Errorf("audit log lacks %s (has %v)", want, actions)
		}
	}
}

func TestOperations(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Signers: 3, Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	env.MustIssue(t, ph, dcc.TypeVaccination)
	get := func(path string) *portaltest.Response {
		return env.Do(t, portaltest.Request{Method: http.MethodGet, Path: path})
	}
	if r := get("/healthz"); r.Status != 200 {
		t.Errorf("healthz: %v", r)
	}
	var ready portalapi.Readiness
	r := get("/readyz")
	r.Decode(t, &ready)
	if r.Status != 200 || ready.SignersAvailable != 3 {
		t.Errorf("readyz: %v", r)
	}
	var tl struct {
		Entries []struct {
			Kid []byte `json:"kid"`
		} `json:"entries"`
	}
	r = get("/v1/trustlist")
	r.Decode(t, &tl)
	if r.Status != 200 || len(tl.Entries) != 3 {
		t.Errorf("trust list: %v", r)
	}
	m := metrics(t, env)
	for _, want := range []string{
		`portal_requests_total{code="201",route="POST /v1/certificates"} 1`,
		`portal_signers_available 3`,
		`portal_deferred_backlog 0`,
		`portal_certificates_issued_total{path="direct",type="v"} 1`,
		`portal_admission_queue_depth{limiter="issue"} 0`,
	} {
		if !containsLine(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !containsLine(m, `portal_request_duration_seconds_count{route="POST /v1/token"} 1`) {
		t.Error("no latency histogram for the token route")
	}
	r = env.Do(t, portaltest.Request{Method: http.MethodDelete, Path: "/v1/revocations"})
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") == "" {
		t.Errorf("DELETE: %v", r)
	}
	r = get("/v1/revocations")
	if r.Status != 200 || r.Header.Get("ETag") == "" {
		t.Fatalf("revocations: %v", r)
	}
	r2 := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/v1/revocations", Header: http.Header{"If-None-Match": {r.Header.Get("ETag")}}})
	if r2.Status != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r2.Status)
	}
	for _, tc := range []struct{ hc1, reason string }{
		{"not a certificate", "bad_prefix"},
		{"HC1:::::", "bad_base45"},
	} {
		if v := env.Verify(t, tc.hc1); v.Valid || v.Reason != tc.reason {
			t.Errorf("verify %q: %+v", tc.hc1, v)
		}
	}
}

// containsLine reports whether text has line as a whole line.
func containsLine(text, line string) bool {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(text)
}

// TestBusinessClock: a scenario compresses the business day. Its clock,
// not the wall clock, says whether a burst is after hours, and the
// certificates revoked are those issued since the burst began on the wall
// clock the registry records.
func TestBusinessClock(t *testing.T) {
	clock := morningClock(t) // wall: working hours
	loc, _ := time.LoadLocation("Europe/Berlin")
	// Business day: 21:00, 600 simulated seconds per wall second.
	bc := simclock.Clock{SimStart: time.Date(2021, 6, 20, 21, 0, 0, 0, loc), WallStart: clock.Now(), Scale: 600}
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Business: &bc})
	ph := env.NewPharmacy(t)
	issued := 0
	for i := 1; i <= 40; i++ {
		env.Login(t, ph)
		r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination))
		if r.Status == http.StatusForbidden && r.Problem.Code == "pharmacy_suspended" {
			break
		}
		if r.Status != http.StatusCreated {
			t.Fatalf("request %d: %v", i, r)
		}
		issued++
	}
	if issued == 0 || issued >= 20 {
		t.Fatalf("suspended after %d certificates in the business night, want 1..19", issued)
	}
	if revs := env.Revocations(t); len(revs["UCI"]) != issued {
		t.Errorf("revoked %d, want the %d burst certificates", len(revs["UCI"]), issued)
	}
}

// TestBusinessClockAdmin: a scenario engine sets the business day through
// the admin API when its load starts; only the admin may.
func TestBusinessClockAdmin(t *testing.T) {
	clock := morningClock(t)
	env := portaltest.Start(t, portaltest.Options{Clock: clock})
	ph := env.NewPharmacy(t)
	night := time.Date(2021, 6, 20, 21, 30, 0, 0, time.UTC)
	body := portalapi.BusinessClock{SimStart: night, Timescale: 60}
	if r := env.Do(t, portaltest.Request{Method: http.MethodPut, Path: "/v1/admin/business-clock", Token: ph.Token, Body: body}); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		t.Fatalf("a pharmacy set the business clock: %v", r)
	}
	if r := env.Admin(t, http.MethodPut, "/v1/admin/business-clock", portalapi.BusinessClock{SimStart: night, Timescale: -1}); r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest {
		t.Fatalf("negative timescale: %v", r)
	}
	var got portalapi.BusinessClock
	env.Admin(t, http.MethodPut, "/v1/admin/business-clock", body).Decode(t, &got)
	if got.Now.Sub(night) < 0 || got.Now.Sub(night) > time.Hour {
		t.Fatalf("business now %v, want just after %v", got.Now, night)
	}
	issued := 0
	for range 30 {
		r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeTest))
		if r.Status != http.StatusCreated {
			break
		}
		issued++
	}
	if issued == 0 || issued >= 20 {
		t.Fatalf("%d certificates before suspension in the business night, want 1..19", issued)
	}
}

// TestSuspensionElsewhereHolds: a suspension written to the registry by
// another portal (several portals share one registry) stops this portal
// serving the pharmacy within the status cache's bound, although this
// portal had the pharmacy cached as active.
func TestSuspensionElsewhereHolds(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	iss := env.MustIssue(t, ph, dcc.TypeVaccination) // cached active here
	if err := env.Store.SetPharmacyStatus(context.Background(), ph.ID, store.PharmacySuspended, "portal-2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(suspensionSeenWithin)
	for {
		r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.Self, Token: ph.Token})
		if r.Status == http.StatusForbidden && r.Problem.Code == "pharmacy_suspended" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v %d after %v: a suspension made through another portal is not seen here", r.Problem.Code, r.Status, suspensionSeenWithin)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeTest)); r.Status != http.StatusForbidden {
		t.Errorf("issue after the suspension was seen: %v", r)
	}
}

// suspensionSeenWithin is far above the portal's status cache bound (2 s):
// it catches a cache that never refreshes, not a slow machine.
const suspensionSeenWithin = 30 * time.Second
