package portal_test

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
	"github.com/golive-dev/golive/issuer/hcert/hcerttest"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// verifyWith posts /v1/verify with options and returns the status, the
// result (on 200) and the problem (otherwise).
func verifyWith(t *testing.T, env *portaltest.Env, req portal.VerifyRequest) (int, portal.VerifyResult, *portaltest.Response) {
	t.Helper()
	resp := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/verify", Body: req})
	var out portal.VerifyResult
	if resp.Status == http.StatusOK {
		resp.Decode(t, &out)
	}
	return resp.Status, out, resp
}

// TestVerifyOptionsOverHTTP asks the portal's verifier, over HTTP, with
// and without the schema check and under both DSC validity policies,
// about certificates the portal issued and ones signed with its DSCs
// outside the portal (as a foreign issuer or a misbehaving one would).
func TestVerifyOptionsOverHTTP(t *testing.T) {
	schemas, err := dccschema.LoadDir(sharedspec.Path(t, "dcc", "schema-versions"))
	if err != nil {
		t.Fatal(err)
	}
	env := portaltest.Start(t, portaltest.Options{Schemas: schemas, Signers: 1})
	ph := env.NewPharmacy(t)
	issued := env.MustIssue(t, ph, dcc.TypeVaccination)
	dsc := env.PKI.DSCs[0]
	now := env.Clock.Now()
	sign := func(c *dcc.Certificate, exp time.Time) string {
		hc1, err := hcerttest.Sign(dsc, c, hcerttest.Options{IssuedAt: now.Add(-time.Minute), ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		return hc1
	}
	payload := func() *dcc.Certificate {
		c := dcc.Sample(mrand.New(mrand.NewPCG(3, 5)), dcc.TypeTest, now)
		ci, err := dcc.NewUVCI("DE", "GL", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c.SetUVCI(ci)
		return c
	}
	lower := payload()
	lower.Nam.Fnt = strings.ToLower(lower.Nam.Fnt) + "x" // not ICAO 9303
	badSchema := sign(lower, now.Add(48*time.Hour))
	outlives := sign(payload(), dsc.Cert.NotAfter.Add(30*24*time.Hour))
	untagged, err := hcerttest.Sign(dsc, payload(), hcerttest.Options{IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(48 * time.Hour), Untagged: true})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  portal.VerifyRequest
		want string
	}{
		{"issued", portal.VerifyRequest{HC1: issued.HC1}, ""},
		{"issued, schema", portal.VerifyRequest{HC1: issued.HC1, Schema: true}, ""},
		{"issued, at-verification", portal.VerifyRequest{HC1: issued.HC1, DSCValidity: "at-verification"}, ""},
		{"untagged COSE", portal.VerifyRequest{HC1: untagged}, ""},
		{"bad schema, unchecked", portal.VerifyRequest{HC1: badSchema}, ""},
		{"bad schema, checked", portal.VerifyRequest{HC1: badSchema, Schema: true}, "schema_violation"},
		{"outlives the DSC, default", portal.VerifyRequest{HC1: outlives}, "outside_dsc_validity"},
		{"outlives the DSC, strict", portal.VerifyRequest{HC1: outlives, DSCValidity: "strict"}, "outside_dsc_validity"},
		{"outlives the DSC, at-verification", portal.VerifyRequest{HC1: outlives, DSCValidity: "at-verification"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, res, resp := verifyWith(t, env, tt.req)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, resp)
			}
			if res.Reason != tt.want || res.Valid != (tt.want == "") {
				t.Errorf("valid=%v reason=%q, want %q", res.Valid, res.Reason, tt.want)
			}
		})
	}

	// A policy the portal does not know is the client's mistake.
	status, _, resp := verifyWith(t, env, portal.VerifyRequest{HC1: issued.HC1, DSCValidity: "lenient"})
	if status != http.StatusBadRequest || resp.Problem.Code != "invalid_value" || resp.Problem.Field != "dsc_validity" {
		t.Errorf("unknown policy: %d %+v", status, resp.Problem)
	}
	// The schema option as raw JSON, the way another client sends it.
	resp = env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/verify",
		Body: `{"hc1":"` + badSchema + `","schema":true,"dsc_validity":"strict"}`})
	if !strings.Contains(string(resp.Body), `"reason":"schema_violation"`) {
		t.Errorf("raw JSON request: %d %s", resp.Status, resp.Body)
	}
	// The verdict carries no holder data, whatever the schema complained about.
	if strings.Contains(strings.ToLower(string(resp.Body)), strings.ToLower(lower.Nam.Fnt)) {
		t.Errorf("the answer quotes the holder's name: %s", resp.Body)
	}
}

// A portal started without schemas says so instead of skipping the check.
func TestVerifySchemaUnavailable(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Signers: 1})
	ph := env.NewPharmacy(t)
	issued := env.MustIssue(t, ph, dcc.TypeRecovery)
	status, _, resp := verifyWith(t, env, portal.VerifyRequest{HC1: issued.HC1, Schema: true})
	if status != http.StatusBadRequest || resp.Problem.Code != "schema_unavailable" || resp.Problem.Field != "schema" {
		t.Errorf("schema without schemas: %d %+v", status, resp.Problem)
	}
	if status, res, _ := verifyWith(t, env, portal.VerifyRequest{HC1: issued.HC1}); status != http.StatusOK || !res.Valid {
		t.Errorf("plain verify: %d %+v", status, res)
	}
}
