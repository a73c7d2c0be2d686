package vendors

import (
	"net/http"
	"testing"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// TestVendorIssues: a vendor issues for a pharmacy that delegated to it
// through the portal's own issuance: the certificate is the pharmacy's,
// the pharmacy reads it with its own token, and a retry with the same
// Idempotency-Key (and a fresh assertion) answers the same UVCI.
func TestVendorIssues(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	req := e.request(t)
	first := e.issue(t, "apo", e.ph1.ID, "k-1", req)
	if first.Status != http.StatusCreated {
		t.Fatalf("vendor issue: %v", first)
	}
	var iss portalapi.Issued
	first.Decode(t, &iss)
	again := e.issue(t, "apo", e.ph1.ID, "k-1", req)
	var iss2 portalapi.Issued
	again.Decode(t, &iss2)
	if again.Status != http.StatusCreated || iss2.UVCI != iss.UVCI {
		t.Fatalf("retry with the same key: %v, want 201 with %s", again, iss.UVCI)
	}
	if n := e.certificates(t, e.ph1.ID); n != 1 {
		t.Fatalf("pharmacy has %d certificates, want 1", n)
	}
	r := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.Self, Token: e.Login(t, e.ph1).AccessToken})
	if r.Status != http.StatusOK {
		t.Fatalf("the pharmacy reads its certificate: %v", r)
	}
	if v := e.Verify(t, iss.HC1); !v.Valid {
		t.Fatalf("the vendor's certificate does not verify: %+v", v)
	}
}

// TestDelegationScope: a vendor is refused (403 not_delegated, nothing
// issued) for a pharmacy that delegated to another vendor, for one that
// withdrew its delegation and for one that does not exist; the naive-2021
// preset, without scoping, issues for the other vendor's pharmacy.
func TestDelegationScope(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	for name, ph := range map[string]string{"other vendor's pharmacy": e.ph2.ID, "unknown pharmacy": "PH-NOPE"} {
		r := e.issue(t, "apo", ph, "k-"+name[:3], e.request(t))
		if r.Status != http.StatusForbidden || r.Problem.Code != vendorapi.CodeNotDelegated || r.Problem.Field != vendorapi.OnBehalfHeader {
			t.Errorf("%s: %v, want 403 %s", name, r, vendorapi.CodeNotDelegated)
		}
	}
	if n := e.certificates(t, e.ph2.ID); n != 0 {
		t.Fatalf("ph2 has %d certificates after refusals", n)
	}
	tok := e.Login(t, e.ph1).AccessToken
	if r := e.Do(t, portaltest.Request{Method: http.MethodDelete, Path: "/v1/vendor/delegations/apo", Token: tok}); r.Status != http.StatusNoContent {
		t.Fatalf("withdraw: %v", r)
	}
	if r := e.issue(t, "apo", e.ph1.ID, "k-w", e.request(t)); r.Status != http.StatusForbidden {
		t.Fatalf("after withdrawal: %v, want 403", r)
	}
	// A vendor's credential is not a pharmacy's: it cannot delegate.
	r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: vendorapi.PathDelegations, Token: e.assertion(t, "apo"),
		Body: vendorapi.Delegation{Vendor: "apo"}})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("a vendor delegating to itself: %v, want 401", r)
	}
	// Delegating to an unregistered vendor.
	r = e.Do(t, portaltest.Request{Method: http.MethodPost, Path: vendorapi.PathDelegations, Token: tok,
		Body: vendorapi.Delegation{Vendor: "ghost"}})
	if r.Status != http.StatusNotFound || r.Problem.Code != vendorapi.CodeUnknownVendor {
		t.Fatalf("delegating to an unknown vendor: %v", r)
	}

	naive := startEnv(t, portalapi.ProfileNaive2021, nil)
	if r := naive.issue(t, "apo", naive.ph2.ID, "k-n", naive.request(t)); r.Status != http.StatusCreated {
		t.Fatalf("naive-2021 has no scoping: %v, want 201", r)
	}
}

// TestVendorQuota: a vendor past its bucket gets 429 vendor_quota with a
// Retry-After while another vendor still issues; one vendor's burst does
// not use up the other's share.
func TestVendorQuota(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, func(c *vendorapi.Config) {
		c.Quota.Rate, c.Quota.Burst = 0.01, 3
	})
	var limited *portaltest.Response
	for i := range 6 {
		r := e.issue(t, "apo", e.ph1.ID, "q-"+string(rune('a'+i)), e.request(t))
		if r.Status == http.StatusTooManyRequests {
			limited = r
			break
		}
		if r.Status != http.StatusCreated {
			t.Fatalf("apo request %d: %v", i, r)
		}
	}
	if limited == nil {
		t.Fatal("apo was never limited")
	}
	if limited.Problem.Code != vendorapi.CodeVendorQuota || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("limited: %v (Retry-After %q), want 429 %s with Retry-After", limited, limited.Header.Get("Retry-After"), vendorapi.CodeVendorQuota)
	}
	if r := e.issue(t, "medi", e.ph2.ID, "m-1", e.request(t)); r.Status != http.StatusCreated {
		t.Fatalf("medi while apo is limited: %v, want 201", r)
	}
}

// TestIncompatibleFormat: a date as DD.MM.YYYY, a field name of the
// vendor's own and a dose number as a string each get 422
// incompatible_format naming the field; nothing is issued, and the
// corrected request with the same key issues.
func TestIncompatibleFormat(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	req := e.request(t)
	for _, tc := range []struct {
		name, field string
		set         func(m map[string]any)
	}{
		{"german date", "payload.dob", func(m map[string]any) { m["dob"] = "14.06.1980" }},
		{"own field name", "payload.geburtsdatum", func(m map[string]any) { m["geburtsdatum"] = m["dob"]; delete(m, "dob") }},
		{"vaccination date", "payload.v[0].dt", func(m map[string]any) { m["v"].([]any)[0].(map[string]any)["dt"] = "29/07/2021" }},
		{"dose as string", "payload.v[0].dn", func(m map[string]any) { m["v"].([]any)[0].(map[string]any)["dn"] = "2" }},
	} {
		r := e.issue(t, "apo", e.ph1.ID, "fmt-1", withField(t, req.Payload, tc.set))
		if r.Status != http.StatusUnprocessableEntity || r.Problem.Code != vendorapi.CodeIncompatible || r.Problem.Field != tc.field {
			t.Errorf("%s: %v, want 422 %s at %s", tc.name, r, vendorapi.CodeIncompatible, tc.field)
		}
	}
	if n := e.certificates(t, e.ph1.ID); n != 0 {
		t.Fatalf("%d certificates issued from incompatible requests", n)
	}
	if r := e.issue(t, "apo", e.ph1.ID, "fmt-1", req); r.Status != http.StatusCreated {
		t.Fatalf("corrected request with the same key: %v", r)
	}
}

// TestDirectAccessStop: with direct access switched off (21 July 2021) a
// pharmacy's own issuance gets 403 direct_access_stopped and its vendor's
// goes on; switched on again, the pharmacy issues itself. The switch is
// the admin's alone.
func TestDirectAccessStop(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	tok := e.Login(t, e.ph1).AccessToken
	r := e.Do(t, portaltest.Request{Method: http.MethodPut, Path: "/v1/admin/direct-access", Token: tok, Body: portalapi.DirectAccess{}})
	if r.Status != http.StatusForbidden {
		t.Fatalf("a pharmacy switching direct access: %v, want 403", r)
	}
	if r := e.Admin(t, http.MethodPut, "/v1/admin/direct-access", portalapi.DirectAccess{Enabled: false}); r.Status != http.StatusOK {
		t.Fatalf("switch off: %v", r)
	}
	if r := e.Issue(t, tok, "d-1", e.request(t).Payload); r.Status != http.StatusForbidden || r.Problem.Code != "direct_access_stopped" {
		t.Fatalf("direct issuance while stopped: %v", r)
	}
	if r := e.issue(t, "apo", e.ph1.ID, "d-2", e.request(t)); r.Status != http.StatusCreated {
		t.Fatalf("vendor issuance while direct access is stopped: %v", r)
	}
	if r := e.Admin(t, http.MethodPut, "/v1/admin/direct-access", portalapi.DirectAccess{Enabled: true}); r.Status != http.StatusOK {
		t.Fatalf("switch on: %v", r)
	}
	if r := e.Issue(t, tok, "d-1", e.request(t).Payload); r.Status != http.StatusCreated {
		t.Fatalf("direct issuance after the restart: %v", r)
	}
}

// TestSuspendedPharmacyThroughVendor: suspending a pharmacy stops its
// vendor too.
func TestSuspendedPharmacyThroughVendor(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+e.ph1.ID+"/suspend", map[string]string{"reason": "test"}); r.Status >= 300 {
		t.Fatalf("suspend: %v", r)
	}
	if r := e.issue(t, "apo", e.ph1.ID, "s-1", e.request(t)); r.Status != http.StatusForbidden || r.Problem.Code != "pharmacy_suspended" {
		t.Fatalf("vendor for a suspended pharmacy: %v", r)
	}
}
