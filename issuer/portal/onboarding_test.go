package portal_test

import (
	mrand "math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/register"
)

// TestForgedApplication replays July 2021: an invented pharmacy with an
// edited licence copy and a random Telematik-ID. Hardened refuses it and no
// code reaches the forger; naive-2021 mails the code to the forger, whose
// certificates then verify as valid.
func TestForgedApplication(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(7, 8))
	forged := portaltest.ForgedApplication(rnd)

	t.Run("hardened refuses", func(t *testing.T) {
		env := portaltest.Start(t, portaltest.Options{})
		resp := env.Apply(t, forged)
		if resp.Status != http.StatusUnprocessableEntity || resp.Problem.Code != "telematik_id_unknown" || resp.Problem.Field != "telematik_id" {
			t.Fatalf("forged application: %v", resp)
		}
		if id, code := env.ActivationCode(t, forged.Email); code != "" {
			t.Fatalf("the forger received a code for %s", id)
		}
	})

	t.Run("naive-2021 accepts and the forger issues valid certificates", func(t *testing.T) {
		env := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021})
		resp := env.Apply(t, forged)
		if resp.Status != http.StatusAccepted {
			t.Fatalf("forged application: %v", resp)
		}
		id, code := env.ActivationCode(t, forged.Email)
		if code == "" {
			t.Fatal("naive-2021 sent no code to the address in the application")
		}
		resp = env.Activate(t, id, code)
		if resp.Status != http.StatusOK {
			t.Fatalf("activate: %v", resp)
		}
		var creds portalapi.Credentials
		resp.Decode(t, &creds)
		ph := &portaltest.Pharmacy{ID: id, ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
		env.Login(t, ph)
		for range 2 {
			iss := env.MustIssue(t, ph, dcc.TypeVaccination)
			if v := env.Verify(t, iss.HC1); !v.Valid {
				t.Errorf("the forger's certificate does not verify: %+v", v)
			}
		}
	})
}

func TestApplication(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	naive := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021})
	honest := env.Entries[0]
	badCheck := honest.TelematikID[:18] + string('0'+(honest.TelematikID[18]-'0'+1)%10)
	mutate := func(f func(*portalapi.Application)) portalapi.Application {
		a := portaltest.ApplicationFor(env.Entries[1], "")
		f(&a)
		return a
	}
	tests := []struct {
		name      string
		env       *portaltest.Env
		app       portalapi.Application
		status    int
		code      string
		field     string
		mailTo    string // who must receive the code ("" none)
		notMailTo string
	}{
		{name: "honest, code to the register's address", env: env, app: portaltest.ApplicationFor(honest, "someone@else.example"),
			status: http.StatusAccepted, mailTo: honest.Email, notMailTo: "someone@else.example"},
		// Pending: whoever applied first does not block the pharmacy
		// (TestOnboardingCannotBeBlocked); the same application answers.
		{name: "same Telematik-ID again while pending", env: env, app: portaltest.ApplicationFor(honest, ""),
			status: http.StatusAccepted, mailTo: honest.Email},
		{name: "padded name", env: env, app: mutate(func(a *portalapi.Application) {
			a.Name = "  " + a.Name
		}), status: http.StatusBadRequest, code: "validation_failed", field: "name"},
		{name: "wrong check digit", env: env, app: mutate(func(a *portalapi.Application) { a.TelematikID = badCheck }),
			status: http.StatusBadRequest, code: "validation_failed", field: "telematik_id"},
		{name: "name differs from the register", env: env, app: mutate(func(a *portalapi.Application) { a.Name = "Ganz Andere Apotheke" }),
			status: http.StatusUnprocessableEntity, code: "register_mismatch", field: "name"},
		{name: "city differs from the register", env: env, app: mutate(func(a *portalapi.Application) { a.City = "Atlantis" }),
			status: http.StatusUnprocessableEntity, code: "register_mismatch", field: "city"},
		{name: "licence is not a document", env: env, app: mutate(func(a *portalapi.Application) { a.LicenceDocument = "aGVsbG8=" }),
			status: http.StatusBadRequest, code: "validation_failed", field: "licence_document"},
		{name: "notice is not base64", env: env, app: mutate(func(a *portalapi.Application) { a.NightDutyNotice = "%%%" }),
			status: http.StatusBadRequest, code: "validation_failed", field: "night_duty_notice"},
		{name: "postal code", env: env, app: mutate(func(a *portalapi.Application) { a.PostalCode = "1234" }),
			status: http.StatusBadRequest, code: "validation_failed", field: "postal_code"},
		{name: "e-mail with display name", env: env, app: mutate(func(a *portalapi.Application) { a.Email = "Eve <eve@x.example>" }),
			status: http.StatusBadRequest, code: "validation_failed", field: "email"},
		{name: "right-to-left override in the name", env: env, app: mutate(func(a *portalapi.Application) { a.Name += "\u202e" }),
			status: http.StatusBadRequest, code: "validation_failed", field: "name"},
		{name: "naive: wrong check digit is well-formed enough", env: naive, app: func() portalapi.Application {
			a := portaltest.ApplicationFor(naive.Entries[0], "naive@x.example")
			a.TelematikID = badCheck
			return a
		}(), status: http.StatusAccepted, mailTo: "naive@x.example"},
		{name: "naive: still needs 19 digits", env: naive, app: func() portalapi.Application {
			a := portaltest.ApplicationFor(naive.Entries[1], "")
			a.TelematikID = "12345"
			return a
		}(), status: http.StatusBadRequest, code: "validation_failed", field: "telematik_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.env.Apply(t, tc.app)
			if resp.Status != tc.status || resp.Problem.Code != tc.code || resp.Problem.Field != tc.field {
				t.Fatalf("got %v, want %d %q field %q", resp, tc.status, tc.code, tc.field)
			}
			if tc.mailTo != "" {
				var acc portalapi.ApplicationAccepted
				resp.Decode(t, &acc)
				if id, code := tc.env.ActivationCode(t, tc.mailTo); id != acc.PharmacyID || code == "" {
					t.Errorf("no code for %s at %s", acc.PharmacyID, tc.mailTo)
				}
				if acc.Status != "pending" {
					t.Errorf("status %q, want pending", acc.Status)
				}
			}
			if tc.notMailTo != "" {
				if _, code := tc.env.ActivationCode(t, tc.notMailTo); code != "" {
					t.Errorf("a code went to %s", tc.notMailTo)
				}
			}
		})
	}
}

func TestActivation(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) { c.ActivationMaxAttempts = 3 }})
	apply := func(e register.Entry) (string, string) {
		resp := env.Apply(t, portaltest.ApplicationFor(e, ""))
		if resp.Status != http.StatusAccepted {
			t.Fatalf("apply: %v", resp)
		}
		return env.ActivationCode(t, e.Email)
	}

	t.Run("once, then never again", func(t *testing.T) {
		id, code := apply(env.Entries[0])
		resp := env.Activate(t, id, code)
		if resp.Status != http.StatusOK {
			t.Fatalf("activate: %v", resp)
		}
		var creds portalapi.Credentials
		resp.Decode(t, &creds)
		if creds.ClientID == "" || len(creds.ClientSecret) < 40 || creds.PharmacyID != id {
			t.Errorf("credentials %+v", creds)
		}
		if resp := env.Activate(t, id, code); resp.Status != http.StatusConflict || resp.Problem.Code != "already_activated" {
			t.Errorf("second activation: %v", resp)
		}
	})

	t.Run("wrong codes lock the code", func(t *testing.T) {
		id, code := apply(env.Entries[1])
		for i := range 3 {
			resp := env.Activate(t, id, "WRONGCODE"+string(rune('A'+i)))
			if resp.Status != http.StatusUnprocessableEntity || resp.Problem.Code != "activation_code_invalid" || resp.Problem.Field != "code" {
				t.Fatalf("wrong code %d: %v", i, resp)
			}
		}
		if resp := env.Activate(t, id, code); resp.Status != http.StatusGone || resp.Problem.Code != "activation_locked" {
			t.Errorf("right code after 3 wrong ones: %v", resp)
		}
	})

	t.Run("codes expire", func(t *testing.T) {
		id, code := apply(env.Entries[2])
		env.Clock.Advance(env.Config.ActivationCodeTTL.D() + time.Minute)
		defer env.Clock.Advance(-env.Config.ActivationCodeTTL.D() - time.Minute)
		if resp := env.Activate(t, id, code); resp.Status != http.StatusGone || resp.Problem.Code != "activation_code_expired" {
			t.Errorf("expired code: %v", resp)
		}
	})

	t.Run("unknown pharmacy", func(t *testing.T) {
		if resp := env.Activate(t, "PNOSUCHPHARMA", "X"); resp.Status != http.StatusNotFound {
			t.Errorf("unknown pharmacy: %v", resp)
		}
	})
}
