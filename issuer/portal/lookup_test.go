package portal_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

func TestRegistryLookup(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	key := portaltest.NewKey()
	resp := env.Issue(t, ph.Token, key, env.Payload(t, dcc.TypeVaccination))
	if resp.Status != http.StatusCreated {
		t.Fatalf("issue: %v", resp)
	}
	var iss portalapi.Issued
	resp.Decode(t, &iss)
	revoked := env.MustIssue(t, ph, dcc.TypeTest)
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/revoke-all", map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("revoke-all: %v", r)
	}

	body := portalapi.RegistryLookup{Items: []portalapi.LookupItem{
		{UVCI: iss.UVCI, PharmacyID: ph.ID, IdempotencyKey: key},
		{UVCI: "URN:UVCI:01:DE:GL/NEVERISSUED#0"},
		{UVCI: revoked.UVCI},
		{PharmacyID: ph.ID, IdempotencyKey: "k-unknown"},
	}}
	r := env.Admin(t, http.MethodPost, "/v1/admin/registry/lookup", body)
	if r.Status != http.StatusOK {
		t.Fatalf("lookup: %v", r)
	}
	var out portalapi.RegistryLookupResult
	r.Decode(t, &out)
	if len(out.Items) != 4 {
		t.Fatalf("%d results", len(out.Items))
	}
	got := out.Items[0]
	if !got.Found || got.PharmacyID != ph.ID || got.HC1 != iss.HC1 || !got.KeyFound || got.KeyUVCI != iss.UVCI || !got.Revoked {
		// revoke-all above revoked it too
		t.Errorf("issued certificate: %+v", got)
	}
	if out.Items[1].Found || out.Items[1].HC1 != "" {
		t.Errorf("unknown UVCI reported found: %+v", out.Items[1])
	}
	if !out.Items[2].Found || !out.Items[2].Revoked || out.Items[2].Status != "revoked" {
		t.Errorf("revoked certificate: %+v", out.Items[2])
	}
	if out.Items[3].KeyFound {
		t.Errorf("unknown key reported bound: %+v", out.Items[3])
	}

	// Pharmacies may not read the registry this way.
	pr := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/admin/registry/lookup", Token: ph.Token, Body: body})
	if pr.Status != http.StatusUnauthorized && pr.Status != http.StatusForbidden {
		t.Errorf("pharmacy token: %v", pr)
	}
	// Too many items in one call.
	big := portalapi.RegistryLookup{Items: make([]portalapi.LookupItem, 501)}
	for i := range big.Items {
		big.Items[i].UVCI = "x"
	}
	if r := env.Admin(t, http.MethodPost, "/v1/admin/registry/lookup", big); r.Status != http.StatusBadRequest || r.Problem.Field != "items" {
		t.Errorf("501 items: %v", r)
	}
	// An empty item names its field.
	r = env.Admin(t, http.MethodPost, "/v1/admin/registry/lookup", portalapi.RegistryLookup{Items: []portalapi.LookupItem{{}}})
	if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Problem.Field, "items[0]") {
		t.Errorf("empty item: %v", r)
	}
}

// TestRegistryLookupLargeBatch: a batch of maxLookupItems items, far above
// the 64 KiB of ordinary bodies, is read in full before admission (the
// consistency check after a run sends such batches).
func TestRegistryLookupLargeBatch(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	var body portalapi.RegistryLookup
	for i := range 500 {
		body.Items = append(body.Items, portalapi.LookupItem{UVCI: "URN:UVCI:01:DE:GL/PABCDEFGHIJKL/" + strings.Repeat("X", 20) + strconv.Itoa(1000+i) + "#A",
			PharmacyID: "PABCDEFGHIJKL", IdempotencyKey: "run-key-" + strings.Repeat("k", 60) + strconv.Itoa(i)})
	}
	r := env.Admin(t, http.MethodPost, "/v1/admin/registry/lookup", body)
	if r.Status != http.StatusOK {
		t.Fatalf("lookup of 500 items: %v", r)
	}
	var out portalapi.RegistryLookupResult
	r.Decode(t, &out)
	if len(out.Items) != 500 {
		t.Fatalf("%d results", len(out.Items))
	}
}
