package portal_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/register"
)

// TestOnboardingCannotBeBlocked replays the lockout of issue 15: anyone
// can apply with a pharmacy's public register data, send wrong codes or
// let the code expire. None of it locks the owner out for good: wrong codes
// count against the address that sent them, a repeated application or
// POST .../resend-code sends a fresh code to the register's address only
// (earlier codes stay valid), and an admin can reset an application.
func TestOnboardingCannotBeBlocked(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) {
		// Low enough to void a code with two attacking addresses.
		c.ActivationMaxAttempts = 8
	}})
	attacker := portaltest.ClientFrom(t, "127.0.0.2")
	botnet := portaltest.ClientFrom(t, "127.0.0.3")
	const attackerMail = "squatter@attacker.example"
	interval := env.Config.ActivationResendInterval.D()
	next := 0
	entry := func() register.Entry {
		e := env.Entries[next]
		next++
		return e
	}
	apply := func(t *testing.T, c *http.Client, e register.Entry, email string) string {
		t.Helper()
		r := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/pharmacies", Body: portaltest.ApplicationFor(e, email), Client: c})
		if r.Status != http.StatusAccepted {
			t.Fatalf("apply: %v", r)
		}
		var acc portalapi.ApplicationAccepted
		r.Decode(t, &acc)
		return acc.PharmacyID
	}
	activate := func(t *testing.T, c *http.Client, id, code string) *portaltest.Response {
		t.Helper()
		return env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/pharmacies/" + url.PathEscape(id) + "/activate",
			Body: portalapi.Activation{Code: code}, Client: c})
	}
	resend := func(t *testing.T, c *http.Client, id string) *portaltest.Response {
		t.Helper()
		return env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/pharmacies/" + url.PathEscape(id) + "/resend-code", Client: c})
	}
	wrong := func(t *testing.T, c *http.Client, id string, n int) {
		t.Helper()
		for i := range n {
			if r := activate(t, c, id, "WRONGCODE"+strconv.Itoa(i)); r.Status != http.StatusUnprocessableEntity || r.Problem.Code != "activation_code_invalid" {
				t.Fatalf("wrong code %d: %v", i, r)
			}
		}
	}
	noCodeFor := func(t *testing.T, email string) {
		t.Helper()
		if _, code := env.ActivationCode(t, email); code != "" {
			t.Fatalf("a code reached %s", email)
		}
	}

	t.Run("wrong codes from elsewhere throttle only their sender", func(t *testing.T) {
		e := entry()
		id := apply(t, attacker, e, attackerMail)
		noCodeFor(t, attackerMail)
		wrong(t, attacker, id, env.Config.ActivationAttemptsPerSource)
		r := activate(t, attacker, id, "WRONGCODE")
		if r.Status != http.StatusTooManyRequests || r.Problem.Code != "activation_throttled" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the attacker's next code: %v", r)
		}
		_, code := env.ActivationCode(t, e.Email)
		if r := activate(t, nil, id, code); r.Status != http.StatusOK {
			t.Fatalf("the owner's code after the attacker's wrong ones: %v", r)
		}
	})

	t.Run("a repeated application renews instead of 409, and the owner's code stays valid", func(t *testing.T) {
		e := entry()
		id := apply(t, nil, e, "")
		_, first := env.ActivationCode(t, e.Email)
		env.Clock.Advance(interval + time.Second)
		if again := apply(t, attacker, e, attackerMail); again != id {
			t.Fatalf("the repeated application names %s, want %s", again, id)
		}
		noCodeFor(t, attackerMail)
		if _, second := env.ActivationCode(t, e.Email); second == first || second == "" {
			t.Fatal("no fresh code reached the register's address")
		}
		if r := activate(t, nil, id, first); r.Status != http.StatusOK {
			t.Fatalf("the owner's first code after a renewal: %v", r)
		}
		// Activated: applying or resending again is refused.
		r := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/pharmacies", Body: portaltest.ApplicationFor(e, ""), Client: attacker})
		if r.Status != http.StatusConflict || r.Problem.Code != "pharmacy_exists" {
			t.Fatalf("applying for an active account: %v", r)
		}
		if r := resend(t, attacker, id); r.Status != http.StatusConflict || r.Problem.Code != "already_activated" {
			t.Fatalf("resend for an active account: %v", r)
		}
	})

	t.Run("an expired code is replaced by a resend", func(t *testing.T) {
		e := entry()
		id := apply(t, attacker, e, attackerMail)
		_, old := env.ActivationCode(t, e.Email)
		if r := resend(t, nil, id); r.Status != http.StatusTooManyRequests || r.Problem.Code != "resend_too_soon" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("resend right after the application: %v", r)
		}
		env.Clock.Advance(env.Config.ActivationCodeTTL.D() + time.Minute)
		if r := activate(t, nil, id, old); r.Status != http.StatusGone || r.Problem.Code != "activation_code_expired" {
			t.Fatalf("expired code: %v", r)
		}
		if r := resend(t, nil, id); r.Status != http.StatusAccepted {
			t.Fatalf("resend: %v", r)
		}
		noCodeFor(t, attackerMail)
		_, fresh := env.ActivationCode(t, e.Email)
		if r := activate(t, nil, id, fresh); r.Status != http.StatusOK {
			t.Fatalf("the resent code: %v", r)
		}
	})

	t.Run("a voided code is replaced by a resend or an admin reset", func(t *testing.T) {
		for _, remedy := range []string{"resend", "admin reset"} {
			e := entry()
			id := apply(t, attacker, e, attackerMail)
			_, code := env.ActivationCode(t, e.Email)
			wrong(t, attacker, id, env.Config.ActivationAttemptsPerSource)
			wrong(t, botnet, id, env.Config.ActivationMaxAttempts-env.Config.ActivationAttemptsPerSource)
			if r := activate(t, nil, id, code); r.Status != http.StatusGone || r.Problem.Code != "activation_locked" {
				t.Fatalf("the right code after %d wrong ones: %v", env.Config.ActivationMaxAttempts, r)
			}
			switch remedy {
			case "resend":
				env.Clock.Advance(interval + time.Second)
				if r := resend(t, nil, id); r.Status != http.StatusAccepted {
					t.Fatalf("resend: %v", r)
				}
			default:
				if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/reset-activation", nil); r.Status != http.StatusOK {
					t.Fatalf("admin reset: %v", r)
				}
				// The reset voids every earlier code and clears the
				// attacker's throttle too.
				if r := activate(t, nil, id, code); r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("a code from before the reset: %v", r)
				}
				if r := activate(t, attacker, id, "WRONGCODE"); r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("the attacker after the reset: %v", r)
				}
			}
			noCodeFor(t, attackerMail)
			_, fresh := env.ActivationCode(t, e.Email)
			if r := activate(t, nil, id, fresh); r.Status != http.StatusOK {
				t.Fatalf("after the %s: %v", remedy, r)
			}
			if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+id+"/reset-activation", nil); r.Status != http.StatusConflict || r.Problem.Code != "invalid_state" {
				t.Fatalf("resetting an active account: %v", r)
			}
		}
	})

	t.Run("anonymous answers", func(t *testing.T) {
		if r := resend(t, attacker, "PNOSUCHPHARMA"); r.Status != http.StatusNotFound {
			t.Fatalf("resend for an unknown pharmacy: %v", r)
		}
		naive := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021})
		e := naive.Entries[0]
		if r := naive.Apply(t, portaltest.ApplicationFor(e, "")); r.Status != http.StatusAccepted {
			t.Fatalf("naive apply: %v", r)
		}
		if r := naive.Apply(t, portaltest.ApplicationFor(e, "")); r.Status != http.StatusConflict || r.Problem.Code != "pharmacy_exists" {
			t.Fatalf("naive-2021 repeated application: %v", r)
		}
	})
}
