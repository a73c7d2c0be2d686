package portal_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// TestNamesTheCertificateCannotCarry: a name with a character beyond the
// Basic Multilingual Plane (U+1F600) is refused with a 422 that names the
// code point; a certificate with such a name that is already stored (signed
// before the rule, or by another path) still gives its PDF and PNG, never
// a 500; and no character of the name reaches the logs on either path.
func TestNamesTheCertificateCannotCarry(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t), Logger: logger})
	ph := env.NewPharmacy(t)
	const grin = "\U0001F600"

	c := dcc.Sample(mrand.New(mrand.NewPCG(5, 6)), dcc.TypeVaccination, env.Clock.Now().Add(-time.Hour))
	c.Nam = dcc.Name{Fn: "Grinsekatze" + grin, Gn: "Hedwig"}
	c.V[0].Ci = ""
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	r := env.Issue(t, ph.Token, portaltest.NewKey(), payload)
	if r.Status != http.StatusUnprocessableEntity || r.Problem.Code != "unsupported_name" || r.Problem.Field != "payload.nam.fn" {
		t.Fatalf("issuing a U+1F600 name: %v", r)
	}
	if len(r.Problem.Errors) != 1 || r.Problem.Errors[0].Code != "unsupported_character" ||
		!strings.Contains(r.Problem.Errors[0].Message, "U+1F600") {
		t.Fatalf("the problem does not say which character: %+v", r.Problem.Errors)
	}

	// A stored certificate with that name, signed with one of the
	// issuer's own DSCs and recorded as the portal records its own.
	uvci, err := dcc.NewUVCI("DE", "GL/"+ph.ID, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.Normalize()
	c.SetUVCI(uvci)
	now := env.Clock.Now().Truncate(time.Second)
	hc1, err := hcert.Encode(c, env.PKI.DSCs[0], hcert.EncodeOptions{Issuer: "DE", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hcert.Decode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hcert.RevocationHashes(d)
	if err != nil {
		t.Fatal(err)
	}
	rec := store.CertRecord{UVCI: uvci, PharmacyID: ph.ID, Type: store.CertType(dcc.TypeVaccination),
		KID: "test", Signer: "test", RequestedAt: now, IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		HashSignature: hs[hcert.HashSignature], HashUCI: hs[hcert.HashUCI], HashCountryCodeUCI: hs[hcert.HashCountryCodeUCI]}
	if _, err := env.Store.IssueRecord(context.Background(), rec, store.IdemBinding{}, []byte(hc1)); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{".pdf", ".png", ""} {
		r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: portaltest.CertPath(uvci, suffix), Token: ph.Token})
		if r.Status != http.StatusOK {
			t.Errorf("GET %s of the stored certificate: %v", suffix, r)
		}
	}
	if !strings.Contains(logs.String(), ph.ID) {
		t.Fatal("nothing was logged: is logging on?")
	}
	for _, part := range []string{grin, "Grinsekatze", "GRINSEKATZE", "Hedwig", "HEDWIG", `\ud83d`, "U+1F600"} {
		if strings.Contains(strings.ToLower(logs.String()), strings.ToLower(part)) {
			t.Errorf("the logs carry %q", part)
		}
	}
}
