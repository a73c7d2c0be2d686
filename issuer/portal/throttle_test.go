package portal_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// TestLoginThrottle: after N failed logins for a client (or from a source)
// the next attempt is 429 login_throttled with Retry-After, whatever its
// secret, until the window has drained; the pharmacy's own address, where
// it logged in before, is never throttled; and failures are counted in one
// row per subject and day, not audited one row each.
func TestLoginThrottle(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Mutate: func(c *portalapi.Config) {
		c.CleanupInterval = portalapi.Duration(50 * time.Millisecond) // flushes the counts
	}})
	lt := env.Config.LoginThrottle
	ph := env.NewPharmacy(t) // logged in from 127.0.0.1: its own address
	attacker := portaltest.ClientFrom(t, "127.0.0.2")
	newDevice := portaltest.ClientFrom(t, "127.0.0.3")
	botnet := portaltest.ClientFrom(t, "127.0.0.4")
	login := func(c *http.Client, clientID, secret string) *portaltest.Response {
		return env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Client: c,
			Body: portalapi.TokenRequest{GrantType: "client_credentials", ClientID: clientID, ClientSecret: secret}})
	}
	auditRows := func() int {
		es, err := env.Store.AuditLog(context.Background(), store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	throttled := func(r *portaltest.Response) time.Duration {
		t.Helper()
		if r.Status != http.StatusTooManyRequests || r.Problem.Code != "login_throttled" {
			t.Fatalf("want 429 login_throttled, got %v", r)
		}
		s, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || s < 1 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		return time.Duration(s) * time.Second
	}
	before := auditRows()

	// Per client: N wrong secrets from elsewhere, then even the right one
	// from there waits.
	for i := range lt.FailuresPerClient {
		if r := login(attacker, ph.ClientID, "guess-"+strconv.Itoa(i)); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %v", i, r)
		}
	}
	throttled(login(attacker, ph.ClientID, "guess-next"))
	throttled(login(attacker, ph.ClientID, ph.ClientSecret))
	// The pharmacy's own address is not locked out.
	if r := login(nil, ph.ClientID, ph.ClientSecret); r.Status != http.StatusOK {
		t.Fatalf("the owner's own address: %v", r)
	}
	// A new address of the owner waits like anyone else, then gets in.
	wait := throttled(login(newDevice, ph.ClientID, ph.ClientSecret))
	env.Clock.Advance(wait)
	if r := login(newDevice, ph.ClientID, ph.ClientSecret); r.Status != http.StatusOK {
		t.Fatalf("after Retry-After: %v", r)
	}

	// Per source: N failures with any client IDs, then the source waits.
	for i := range lt.FailuresPerSource {
		if r := login(botnet, "cl_guess"+strconv.Itoa(i), "x"); r.Status != http.StatusUnauthorized {
			t.Fatalf("unknown client %d: %v", i, r)
		}
	}
	for range 50 {
		throttled(login(botnet, "cl_another", "x"))
	}

	if after := auditRows(); after != before {
		t.Errorf("%d failed and 52 throttled logins wrote %d audit rows", lt.FailuresPerClient+lt.FailuresPerSource, after-before)
	}
	// The counts arrive with the next flush.
	want := map[string][2]int64{ph.ID: {int64(lt.FailuresPerClient), 0}, "unknown": {int64(lt.FailuresPerSource), 53}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page portalapi.LoginFailurePage
		r := env.Admin(t, http.MethodGet, "/v1/admin/login-failures", nil)
		r.Decode(t, &page)
		got := map[string][2]int64{}
		for _, e := range page.Entries {
			got[e.Subject] = [2]int64{e.Failures, e.Throttled}
		}
		if len(page.Entries) == 2 && got[ph.ID] == want[ph.ID] && got["unknown"] == want["unknown"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login failure rows %+v, want %v (failures, throttled)", page.Entries, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("naive-2021 does not throttle", func(t *testing.T) {
		naive := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021})
		for i := range 3 * lt.FailuresPerSource {
			r := naive.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Client: attacker,
				Body: portalapi.TokenRequest{GrantType: "client_credentials", ClientID: "cl_x", ClientSecret: strconv.Itoa(i)}})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %v", i, r)
			}
		}
	})
}
