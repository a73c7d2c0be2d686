package consistency

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

func TestCheck(t *testing.T) {
	clock := &portaltest.Clock{}
	// Opening hours today, so fraud detection stays quiet.
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	clock.Set(time.Date(y, m, d, 9, 30, 0, 0, loc))
	env := portaltest.Start(t, portaltest.Options{Clock: clock})
	honest, thief := env.NewPharmacy(t), env.NewPharmacy(t)

	issue := func(ph *portaltest.Pharmacy, typ dcc.Type) (string, portalapi.Issued) {
		key := portaltest.NewKey()
		resp := env.Issue(t, ph.Token, key, env.Payload(t, typ))
		if resp.Status != http.StatusCreated {
			t.Fatalf("issue: %v", resp)
		}
		var out portalapi.Issued
		resp.Decode(t, &out)
		return key, out
	}
	var acks []Ack
	for range 5 {
		k, iss := issue(honest, dcc.TypeVaccination)
		acks = append(acks, Ack{Class: "issue", PharmacyID: honest.ID, IdempotencyKey: k, UVCI: iss.UVCI, HC1: iss.HC1})
	}
	// The thief's certificates: two before the account is caught (revoked
	// by revoke-all), then one more after reinstatement that nobody revokes.
	for range 2 {
		k, iss := issue(thief, dcc.TypeTest)
		acks = append(acks, Ack{Class: "insider", PharmacyID: thief.ID, IdempotencyKey: k, UVCI: iss.UVCI, HC1: iss.HC1, Fraud: true})
	}
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+thief.ID+"/revoke-all", map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("revoke-all: %v", r)
	}
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+thief.ID+"/reinstate", map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("reinstate: %v", r)
	}
	k, iss := issue(thief, dcc.TypeTest)
	acks = append(acks, Ack{Class: "insider", PharmacyID: thief.ID, IdempotencyKey: k, UVCI: iss.UVCI, HC1: iss.HC1, Fraud: true})

	cfg := Config{BaseURL: env.URL, AdminToken: env.AdminToken, Batch: 3} // several pages
	ctx := context.Background()
	rep, err := Check(ctx, cfg, acks)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Acknowledged != 8 || rep.Verified != 8 {
		t.Errorf("clean run: %+v", rep)
	}
	if rep.FraudIssued != 3 || rep.FraudRevoked != 2 || rep.FraudEscaped != 1 || rep.EscapedUVCIs[0] != iss.UVCI {
		t.Errorf("fraud: %+v", rep)
	}

	// Now break things the way a faulty issuer would.
	bad := append([]Ack{}, acks...)
	bad = append(bad,
		// acknowledged, never recorded
		Ack{PharmacyID: honest.ID, IdempotencyKey: portaltest.NewKey(), UVCI: "URN:UVCI:01:DE:GL/LOST0000000000000000000#0"},
		// one key acknowledged twice with different UVCIs
		Ack{PharmacyID: honest.ID, IdempotencyKey: acks[0].IdempotencyKey, UVCI: acks[1].UVCI},
	)
	// the client got another HC1 than the one the registry holds
	bad[2].HC1 = acks[3].HC1
	rep, err = Check(ctx, cfg, bad)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 1 || rep.LostUVCIs[0] != "URN:UVCI:01:DE:GL/LOST0000000000000000000#0" {
		t.Errorf("lost: %+v", rep)
	}
	// Key 0 is acknowledged with UVCIs 0 and 1 (client side), and the
	// registry binds acks[1]'s key to UVCI 1 while we claim... one key.
	if rep.Duplicates != 1 {
		t.Errorf("duplicates %d, want 1: %v", rep.Duplicates, rep.DuplicateKeys)
	}
	if rep.Unverified != 1 || rep.UnverifiedUVCIs[0] != acks[2].UVCI {
		t.Errorf("unverified: %+v", rep)
	}
	if rep.OK() {
		t.Error("a broken run reported OK")
	}

	// A wrong admin token is an error, not an empty report.
	if _, err := Check(ctx, Config{BaseURL: env.URL, AdminToken: "nope"}, acks); err == nil {
		t.Error("bad admin token: no error")
	}
}
