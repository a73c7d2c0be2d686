package portal_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

func TestToken(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	login := func(req portalapi.TokenRequest) *portaltest.Response {
		return env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/token", Body: req})
	}

	t.Run("client credentials", func(t *testing.T) {
		resp := login(portalapi.TokenRequest{GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: ph.ClientSecret})
		if resp.Status != http.StatusOK {
			t.Fatalf("login: %v", resp)
		}
		var tr portalapi.TokenResponse
		resp.Decode(t, &tr)
		if tr.ExpiresIn < 59 || tr.ExpiresIn > 60 || tr.TokenType != "Bearer" || tr.RefreshToken == "" {
			t.Errorf("token response %+v, want a 60 s bearer token with a refresh token", tr)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	})

	tests := []struct {
		name   string
		req    portalapi.TokenRequest
		status int
		code   string
	}{
		{"wrong secret", portalapi.TokenRequest{GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: "x" + ph.ClientSecret}, 401, "invalid_client"},
		{"unknown client", portalapi.TokenRequest{GrantType: "client_credentials", ClientID: "cl_nobody", ClientSecret: ph.ClientSecret}, 401, "invalid_client"},
		{"missing secret", portalapi.TokenRequest{GrantType: "client_credentials", ClientID: ph.ClientID}, 400, "invalid_request"},
		{"password grant", portalapi.TokenRequest{GrantType: "password", ClientID: ph.ClientID, ClientSecret: ph.ClientSecret}, 400, "unsupported_grant_type"},
		{"unknown refresh token", portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: "rt_nothing"}, 401, "invalid_grant"},
		{"oversized secret", portalapi.TokenRequest{GrantType: "client_credentials", ClientID: ph.ClientID, ClientSecret: strings.Repeat("a", 300)}, 400, "max_length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := login(tc.req)
			if resp.Status != tc.status || resp.Problem.Code != tc.code {
				t.Errorf("got %v, want %d %s", resp, tc.status, tc.code)
			}
		})
	}

	t.Run("refresh rotates and a replay revokes the family", func(t *testing.T) {
		env.Login(t, ph)
		first := ph.Refresh
		resp := login(portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: first})
		if resp.Status != http.StatusOK {
			t.Fatalf("refresh: %v", resp)
		}
		var tr portalapi.TokenResponse
		resp.Decode(t, &tr)
		if tr.RefreshToken == first || tr.AccessToken == "" {
			t.Fatalf("refresh did not rotate: %+v", tr)
		}
		if r := env.Issue(t, tr.AccessToken, portaltest.NewKey(), env.Payload(t, dcc.TypeTest)); r.Status != http.StatusCreated {
			t.Fatalf("refreshed token does not work: %v", r)
		}
		// A thief replays the first token: the whole family dies.
		if r := login(portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: first}); r.Status != http.StatusUnauthorized || r.Problem.Code != "refresh_token_replayed" {
			t.Fatalf("replay: %v", r)
		}
		if r := login(portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: tr.RefreshToken}); r.Status != http.StatusUnauthorized || r.Problem.Code != "refresh_token_revoked" {
			t.Fatalf("the successor of a replayed token still works: %v", r)
		}
	})
}

// TestAuthFailures: every protected route refuses missing, malformed,
// forged, expired and wrong-kind credentials with 401/403 problems.
func TestAuthFailures(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	ph := env.NewPharmacy(t)
	other := env.NewPharmacy(t)
	iss := env.MustIssue(t, ph, dcc.TypeVaccination)
	suspended := env.NewPharmacy(t)
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+suspended.ID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %v", r)
	}
	forged := ph.Token[:len(ph.Token)-4] + "AAAA"

	type route struct{ method, path string }
	issue := route{http.MethodPost, "/v1/certificates"}
	cert := route{http.MethodGet, portaltest.CertPath(iss.UVCI, "")}
	png := route{http.MethodGet, portaltest.CertPath(iss.UVCI, ".png")}
	audit := route{http.MethodGet, "/v1/admin/audit"}
	suspend := route{http.MethodPost, "/v1/admin/pharmacies/" + ph.ID + "/suspend"}
	tests := []struct {
		name   string
		route  route
		header string // Authorization value; "" none
		status int
		code   string
	}{
		{"issue without token", issue, "", 401, "unauthorized"},
		{"issue with Basic auth", issue, "Basic dXNlcjpwdw==", 401, "invalid_authorization"},
		{"issue with two spaces", issue, "Bearer  " + ph.Token, 401, "invalid_authorization"},
		{"issue with forged token", issue, "Bearer " + forged, 401, "invalid_token"},
		{"issue with the admin token", issue, "Bearer " + env.AdminToken, 401, "invalid_token"},
		{"issue while suspended", issue, "Bearer " + suspended.Token, 403, "pharmacy_suspended"},
		{"certificate without token", cert, "", 401, "unauthorized"},
		{"another pharmacy's certificate", cert, "Bearer " + other.Token, 404, "not_found"},
		{"another pharmacy's QR code", png, "Bearer " + other.Token, 404, "not_found"},
		{"admin route without token", audit, "", 401, "admin_unauthorized"},
		{"admin route with a pharmacy token", audit, "Bearer " + ph.Token, 403, "admin_only"},
		{"admin route with a wrong admin token", audit, "Bearer " + env.AdminToken + "x", 401, "admin_unauthorized"},
		{"admin POST with a pharmacy token", suspend, "Bearer " + ph.Token, 403, "admin_only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			h.Set("Idempotency-Key", portaltest.NewKey())
			var body any
			if tc.route == issue {
				body = portalapi.IssueRequest{Payload: env.Payload(t, dcc.TypeVaccination)}
			}
			resp := env.Do(t, portaltest.Request{Method: tc.route.method, Path: tc.route.path, Header: h, Body: body})
			if resp.Status != tc.status || resp.Problem.Code != tc.code {
				t.Errorf("got %v, want %d %s", resp, tc.status, tc.code)
			}
			if resp.Status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// The owner and the admin may read it.
	for _, tok := range []string{ph.Token, env.AdminToken} {
		if r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: cert.path, Token: tok}); r.Status != http.StatusOK {
			t.Errorf("allowed reader refused: %v", r)
		}
	}
}

// TestTokenExpiry: 60 s access tokens in hardened, a working day in
// naive-2021 (measured on the injected clock).
func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		profile string
		advance time.Duration
		status  int
		code    string
	}{
		{portalapi.ProfileHardened, 59 * time.Second, http.StatusCreated, ""},
		{portalapi.ProfileHardened, 61 * time.Second, http.StatusUnauthorized, "token_expired"},
		{portalapi.ProfileNaive2021, 8 * time.Hour, http.StatusCreated, ""},
		{portalapi.ProfileNaive2021, 13 * time.Hour, http.StatusUnauthorized, "token_expired"},
	}
	for _, tc := range tests {
		t.Run(tc.profile+" after "+tc.advance.String(), func(t *testing.T) {
			// Start in the morning so the anomaly rules stay quiet.
			clock := &portaltest.Clock{}
			clock.Set(morning(t))
			env := portaltest.Start(t, portaltest.Options{Profile: tc.profile, Clock: clock})
			ph := env.NewPharmacy(t)
			env.Clock.Advance(tc.advance)
			resp := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination))
			if resp.Status != tc.status || resp.Problem.Code != tc.code {
				t.Errorf("got %v, want %d %s", resp, tc.status, tc.code)
			}
		})
	}
}

// morning is 09:00 in Berlin today: inside the default opening hours.
func morning(t *testing.T) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, loc)
}

// night is 21:30 in Berlin on the day before today.
func night(t *testing.T) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d-1, 21, 30, 0, 0, loc)
}
