package portal_test

import (
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/simclock"
)

// TestPracticeOnboardingAndIssuance: a doctors' practice onboards over
// HTTP against the practice register (code to the register's address),
// its account, tokens and admin views say practice, and the certificates
// it issues name it in the UVCI while the CWT's issuer stays the country.
func TestPracticeOnboardingAndIssuance(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	entry := env.PracticeEntries[0]
	resp := env.Apply(t, portaltest.ApplicationFor(entry, "someone@elsewhere.example"))
	if resp.Status != http.StatusAccepted {
		t.Fatalf("apply: %v", resp)
	}
	var acc portalapi.ApplicationAccepted
	resp.Decode(t, &acc)
	if acc.PartyKind != portalapi.PartyPractice || !strings.HasPrefix(acc.PharmacyID, "D") {
		t.Fatalf("accepted %+v, want a practice with a D... id", acc)
	}
	if _, code := env.ActivationCode(t, "someone@elsewhere.example"); code != "" {
		t.Fatal("the code went to the address the applicant typed")
	}
	id, code := env.ActivationCode(t, entry.Email)
	if id != acc.PharmacyID || code == "" {
		t.Fatalf("register mailbox: id %q code %q", id, code)
	}
	resp = env.Activate(t, id, code)
	if resp.Status != http.StatusOK {
		t.Fatalf("activate: %v", resp)
	}
	var creds portalapi.Credentials
	resp.Decode(t, &creds)
	if creds.PartyKind != portalapi.PartyPractice {
		t.Errorf("credentials party_kind %q", creds.PartyKind)
	}
	ph := &portaltest.Pharmacy{ID: id, Entry: entry, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
	if tr := env.Login(t, ph); tr.PartyKind != portalapi.PartyPractice || tr.PharmacyID != id {
		t.Errorf("token response %+v", tr)
	}
	iss := env.MustIssue(t, ph, dcc.TypeVaccination)
	if !strings.Contains(iss.UVCI, "/"+id+"/") {
		t.Errorf("UVCI %s does not name the practice %s", iss.UVCI, id)
	}
	v := env.Verify(t, iss.HC1)
	if !v.Valid || v.Issuer != env.Config.Country {
		t.Errorf("verify: %+v, want valid with issuer %s", v, env.Config.Country)
	}
	resp = env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/suspend", nil)
	var st portalapi.PharmacyState
	resp.Decode(t, &st)
	if resp.Status != http.StatusOK || st.PartyKind != portalapi.PartyPractice {
		t.Errorf("suspend: %v", resp)
	}
	// A pharmacy onboarded beside it stays a pharmacy.
	pharm := env.Onboard(t, env.Entries[0])
	if !strings.HasPrefix(pharm.ID, "P") || env.Login(t, pharm).PartyKind != portalapi.PartyPharmacy {
		t.Errorf("pharmacy %s", pharm.ID)
	}
}

// TestPracticeHostile: neither register vouches for the other kind's
// parties, forged practice numbers are refused, and no refused applicant
// gets a code.
func TestPracticeHostile(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	rnd := mrand.New(mrand.NewPCG(11, 12))
	pharmacy, practice, other := env.Entries[3], env.PracticeEntries[3], env.PracticeEntries[4]
	const attacker = "attacker@evil.example"
	asPractice := func(e register.Entry, f func(*portalapi.Application)) portalapi.Application {
		a := portaltest.ApplicationFor(e, attacker)
		a.PartyKind, a.BSNR, a.LANR = portalapi.PartyPractice, register.NewBSNR(rnd), register.NewLANR(rnd)
		if f != nil {
			f(&a)
		}
		return a
	}
	practiceApp := func(f func(*portalapi.Application)) portalapi.Application {
		a := portaltest.ApplicationFor(practice, attacker)
		f(&a)
		return a
	}
	tests := []struct {
		name   string
		app    portalapi.Application
		status int
		code   string // the problem's, or "" for validation_failed with field
		field  string
	}{
		{"practice with a pharmacy's register entry", asPractice(pharmacy, nil), 400, "validation_failed", "telematik_id"},
		{"pharmacy with a practice's register entry", func() portalapi.Application {
			a := portaltest.ApplicationFor(practice, attacker)
			a.PartyKind, a.BSNR, a.LANR = "", "", ""
			return a
		}(), 400, "validation_failed", "telematik_id"},
		{"pharmacy sending a practice's numbers", func() portalapi.Application {
			a := portaltest.ApplicationFor(pharmacy, attacker)
			a.BSNR = practice.BSNR
			return a
		}(), 400, "validation_failed", "bsnr"},
		{"forged practice (valid formats, in no register)", asPractice(register.Entry{
			Kind: register.KindPractice, TelematikID: register.NewTelematikIDOf(register.KindPractice, rnd),
			Name: "Praxis Dr. Erfunden", Street: "Erfundene Straße 1", PostalCode: "10115", City: "Berlin"}, nil),
			422, "telematik_id_unknown", "telematik_id"},
		{"real practice, another practice's BSNR", practiceApp(func(a *portalapi.Application) { a.BSNR = other.BSNR }), 422, "register_mismatch", "bsnr"},
		{"real practice, another practice's LANR", practiceApp(func(a *portalapi.Application) { a.LANR = other.LANR }), 422, "register_mismatch", "lanr"},
		{"real practice, another name", practiceApp(func(a *portalapi.Application) { a.Name = "Praxis Dr. Anders" }), 422, "register_mismatch", "name"},
		{"LANR with a wrong check digit", practiceApp(func(a *portalapi.Application) {
			a.LANR = a.LANR[:6] + string('0'+(a.LANR[6]-'0'+1)%10) + a.LANR[7:]
		}), 400, "validation_failed", "lanr"},
		{"BSNR with regional code 00", practiceApp(func(a *portalapi.Application) { a.BSNR = "00" + a.BSNR[2:] }), 400, "validation_failed", "bsnr"},
		{"BSNR missing", practiceApp(func(a *portalapi.Application) { a.BSNR = "" }), 400, "validation_failed", "bsnr"},
		{"LANR of 8 digits", practiceApp(func(a *portalapi.Application) { a.LANR = a.LANR[:8] }), 400, "validation_failed", "lanr"},
		{"unknown party kind", practiceApp(func(a *portalapi.Application) { a.PartyKind = "hospital" }), 400, "validation_failed", "party_kind"},
		{"party kind in another case", practiceApp(func(a *portalapi.Application) { a.PartyKind = "Practice" }), 400, "validation_failed", "party_kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := env.Apply(t, tc.app)
			if resp.Status != tc.status || resp.Problem.Code != tc.code || resp.Problem.Field != tc.field {
				t.Fatalf("got %v, want %d %s field %s", resp, tc.status, tc.code, tc.field)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type %q", ct)
			}
			if id, code := env.ActivationCode(t, attacker); code != "" {
				t.Fatalf("the applicant received a code for %s", id)
			}
		})
	}
	// The honest practice still onboards after all that.
	resp := env.Apply(t, portaltest.ApplicationFor(practice, ""))
	if resp.Status != http.StatusAccepted {
		t.Fatalf("honest practice: %v", resp)
	}
}

// TestPracticeOnboardingGate: practices may apply only from the configured
// date on the portal's business clock; before it 403 with a stable code,
// while pharmacies apply as always.
func TestPracticeOnboardingGate(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2021, 7, 11, 23, 0, 0, 0, berlin)
	business := &simclock.Clock{SimStart: sunday, WallStart: time.Now(), Scale: 1}
	env := portaltest.Start(t, portaltest.Options{Business: business})
	practice := portaltest.ApplicationFor(env.PracticeEntries[0], "")

	resp := env.Apply(t, practice)
	if resp.Status != http.StatusForbidden || resp.Problem.Code != portal.CodePracticeOnboardingNotOpen || resp.Problem.Field != "party_kind" {
		t.Fatalf("before the date: %v", resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q", ct)
	}
	if resp := env.Apply(t, portaltest.ApplicationFor(env.Entries[0], "")); resp.Status != http.StatusAccepted {
		t.Fatalf("a pharmacy before the practices' date: %v", resp)
	}
	// Monday 12 July, on the business clock the admin sets.
	monday := time.Date(2021, 7, 12, 8, 0, 0, 0, berlin)
	if resp := env.Admin(t, http.MethodPut, "/v1/admin/business-clock", portalapi.BusinessClock{SimStart: monday, Timescale: 1}); resp.Status != http.StatusOK {
		t.Fatalf("business clock: %v", resp)
	}
	if resp := env.Apply(t, practice); resp.Status != http.StatusAccepted {
		t.Fatalf("on the date: %v", resp)
	}

	// No date configured: practices never may.
	closed := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) { c.PracticeOnboardingFrom = "" }})
	if resp := closed.Apply(t, portaltest.ApplicationFor(closed.PracticeEntries[0], "")); resp.Status != http.StatusForbidden {
		t.Fatalf("no date configured: %v", resp)
	}
}

func TestPracticeOnboardingFromValidated(t *testing.T) {
	c := portalapi.HardenedConfig()
	if c.PracticeOnboardingFrom != "2021-07-12" {
		t.Errorf("default %q", c.PracticeOnboardingFrom)
	}
	c.PracticeOnboardingFrom = "12.07.2021"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "practice_onboarding_from") {
		t.Errorf("Validate = %v", err)
	}
}
