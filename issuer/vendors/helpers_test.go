package vendors

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// env is a running issuer (portaltest: portal, registry, signer replicas
// over real HTTP) with vendor access mounted among the portal's routes as
// `golive serve --vendors` mounts it, two registered vendors ("apo",
// "medi") and two pharmacies: ph1 delegated to apo, ph2 to medi.
type env struct {
	*portaltest.Env
	V        *Vendors
	keys     map[string]ed25519.PrivateKey
	ph1, ph2 *portaltest.Pharmacy
	payload  json.RawMessage // a valid vaccination payload
}

func startEnv(t testing.TB, profile string, mutate func(*vendorapi.Config)) *env {
	t.Helper()
	e := &env{keys: map[string]ed25519.PrivateKey{}}
	cfg, err := vendorapi.ConfigForProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Enabled = true
	if mutate != nil {
		mutate(&cfg)
	}
	e.Env = portaltest.Start(t, portaltest.Options{Profile: profile,
		Deps: func(pe *portaltest.Env, d *portal.Deps) {
			var err error
			e.V, err = New(cfg, Deps{AdminTokenHash: d.AdminTokenHash, Clock: pe.Clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			d.Components = append(d.Components, e.V)
		}})
	e.V.Attach(e.Portal)
	for _, id := range []string{"apo", "medi"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.keys[id] = priv
		if r := e.Admin(t, http.MethodPut, "/v1/admin/vendors/"+id, vendorapi.Registration{PublicKey: vendorapi.EncodePublicKey(pub)}); r.Status != http.StatusOK {
			t.Fatalf("registering %s: %v", id, r)
		}
	}
	e.payload = e.Payload(t, dcc.TypeVaccination)
	e.ph1, e.ph2 = e.NewPharmacy(t), e.NewPharmacy(t)
	e.delegate(t, e.ph1, "apo", http.StatusCreated)
	e.delegate(t, e.ph2, "medi", http.StatusCreated)
	return e
}

func (e *env) delegate(t testing.TB, ph *portaltest.Pharmacy, vendor string, want int) {
	t.Helper()
	tok := e.Login(t, ph).AccessToken
	r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: vendorapi.PathDelegations, Token: tok,
		Body: vendorapi.Delegation{Vendor: vendor}})
	if r.Status != want {
		t.Fatalf("delegating %s to %s: %v, want %d", ph.ID, vendor, r, want)
	}
}

// assertion is a fresh, valid assertion of vendor.
func (e *env) assertion(t testing.TB, vendor string) string {
	t.Helper()
	a, err := vendorapi.Sign(e.keys[vendor], vendor, e.Clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// issue sends a vendor's issuance for pharmacy with a fresh assertion.
func (e *env) issue(t testing.TB, vendor, pharmacy, key string, body any) *portaltest.Response {
	t.Helper()
	h := http.Header{vendorapi.OnBehalfHeader: {pharmacy}}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return e.Do(t, portaltest.Request{Method: http.MethodPost, Path: vendorapi.PathIssue,
		Token: e.assertion(t, vendor), Header: h, Body: body})
}

func (e *env) request(t testing.TB) portalapi.IssueRequest {
	t.Helper()
	return portalapi.IssueRequest{Payload: e.Payload(t, dcc.TypeVaccination)}
}

// withField returns the request's payload with field set (nil deletes it).
func withField(t testing.TB, payload json.RawMessage, set func(m map[string]any)) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	set(m)
	return map[string]any{"payload": m}
}

// certificates counts the registry's certificates of pharmacy.
func (e *env) certificates(t testing.TB, pharmacy string) int {
	t.Helper()
	cs, err := e.Store.CertificatesByPharmacy(context.Background(), pharmacy)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}
