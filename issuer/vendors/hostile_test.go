package vendors

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// TestHostileAssertions: over real HTTP, every bad assertion (wrong aud,
// expired, too long-lived, replayed jti, another key, alg none, HS256,
// oversized, malformed) gets 401 problem+json with its stable code and
// the Authorization field; nothing is issued; a pharmacy's token and the
// admin token are not vendor credentials; the portal keeps answering.
func TestHostileAssertions(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	now := e.Clock.Now()
	key := e.keys["apo"]
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(k ed25519.PrivateKey, h vendorapi.Header, c vendorapi.Claims) string {
		s, err := vendorapi.SignClaims(k, h, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hdr := vendorapi.Header{Alg: vendorapi.Alg, Kid: "apo"}
	claims := func(mut func(*vendorapi.Claims)) vendorapi.Claims {
		c := vendorapi.Claims{Issuer: "apo", Audience: vendorapi.Audience, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix(), ID: "jti-" + t.Name()}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	replayed := sign(key, hdr, claims(func(c *vendorapi.Claims) { c.ID = "used-once" }))
	if r := e.Do(t, e.vendorReq(replayed, e.ph1.ID, "h-0")); r.Status != http.StatusCreated {
		t.Fatalf("the first use of an assertion: %v", r)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	unsigned := b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"iss":"apo","aud":"golive-portal","iat":`+itoa(now.Unix())+`,"exp":`+itoa(now.Add(time.Minute).Unix())+`,"jti":"n1"}`)) + "."
	hs := sign(key, vendorapi.Header{Alg: "HS256"}, claims(func(c *vendorapi.Claims) { c.ID = "hs" }))
	pharmacyTok := e.Login(t, e.ph1).AccessToken

	for _, tc := range []struct {
		name, token, code string
	}{
		{"no credential", "", vendorapi.CodeAssertionMissing},
		{"wrong audience", sign(key, hdr, claims(func(c *vendorapi.Claims) { c.Audience = "another-portal"; c.ID = "aud" })), vendorapi.CodeAssertionAudience},
		{"expired", sign(key, hdr, claims(func(c *vendorapi.Claims) {
			c.IssuedAt, c.ExpiresAt, c.ID = now.Add(-10*time.Minute).Unix(), now.Add(-6*time.Minute).Unix(), "exp"
		})), vendorapi.CodeAssertionExpired},
		{"not yet valid", sign(key, hdr, claims(func(c *vendorapi.Claims) {
			c.IssuedAt, c.ExpiresAt, c.ID = now.Add(10*time.Minute).Unix(), now.Add(11*time.Minute).Unix(), "nyv"
		})), vendorapi.CodeAssertionExpired},
		{"lives an hour", sign(key, hdr, claims(func(c *vendorapi.Claims) { c.ExpiresAt, c.ID = now.Add(time.Hour).Unix(), "long" })), vendorapi.CodeAssertionLifetime},
		{"replayed jti", replayed, vendorapi.CodeAssertionReplayed},
		{"another key", sign(stranger, hdr, claims(func(c *vendorapi.Claims) { c.ID = "stranger" })), vendorapi.CodeAssertionInvalid},
		{"other vendor's name, own key", sign(key, vendorapi.Header{Alg: vendorapi.Alg}, claims(func(c *vendorapi.Claims) { c.Issuer, c.ID = "medi", "impersonate" })), vendorapi.CodeAssertionInvalid},
		{"kid and iss differ", sign(key, vendorapi.Header{Alg: vendorapi.Alg, Kid: "medi"}, claims(func(c *vendorapi.Claims) { c.ID = "kid" })), vendorapi.CodeAssertionInvalid},
		{"alg none", unsigned, vendorapi.CodeAssertionInvalid},
		{"alg HS256", hs, vendorapi.CodeAssertionInvalid},
		{"unknown vendor", sign(key, vendorapi.Header{Alg: vendorapi.Alg}, claims(func(c *vendorapi.Claims) { c.Issuer, c.ID = "ghost", "ghost" })), vendorapi.CodeAssertionInvalid},
		{"no jti", sign(key, hdr, claims(func(c *vendorapi.Claims) { c.ID = "" })), vendorapi.CodeAssertionInvalid},
		{"oversized", strings.Repeat("a", vendorapi.MaxAssertionBytes+1), vendorapi.CodeAssertionTooLarge},
		{"two parts", "abc.def", vendorapi.CodeAssertionInvalid},
		{"garbage parts", "!!.??.**", vendorapi.CodeAssertionInvalid},
		{"pharmacy token", pharmacyTok, vendorapi.CodeAssertionInvalid},
		{"admin token", e.AdminToken, vendorapi.CodeAssertionInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(t, e.vendorReq(tc.token, e.ph1.ID, "h-"+strings.ReplaceAll(tc.name, " ", "-")))
			if r.Status != http.StatusUnauthorized || r.Problem.Code != tc.code || r.Problem.Field != "Authorization" {
				t.Fatalf("%v, want 401 %s at Authorization", r, tc.code)
			}
		})
	}
	// Bad X-On-Behalf-Of with a good assertion.
	for name, h := range map[string][]string{"none": nil, "two": {e.ph1.ID, e.ph2.ID}, "odd characters": {"ph/../1"}, "long": {strings.Repeat("p", 65)}} {
		req := e.vendorReq(e.assertion(t, "apo"), "", "o-"+strings.ReplaceAll(name, " ", "-"))
		req.Header.Del(vendorapi.OnBehalfHeader)
		for _, v := range h {
			req.Header.Add(vendorapi.OnBehalfHeader, v)
		}
		if r := e.Do(t, req); r.Status != http.StatusBadRequest || r.Problem.Code != vendorapi.CodeOnBehalfMissing {
			t.Errorf("X-On-Behalf-Of %s: %v", name, r)
		}
	}
	// Oversized and malformed bodies.
	big := e.vendorReq(e.assertion(t, "apo"), e.ph1.ID, "big")
	big.Body = `{"payload":"` + strings.Repeat("x", maxIssueBody) + `"}`
	if r := e.Do(t, big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %v", r)
	}
	bad := e.vendorReq(e.assertion(t, "apo"), e.ph1.ID, "bad")
	bad.Body = `{"payload":`
	if r := e.Do(t, bad); r.Status != http.StatusBadRequest || r.Problem.Code == "" {
		t.Errorf("truncated body: %v", r)
	}
	// Admin routes refuse vendors and pharmacies.
	for name, tok := range map[string]string{"vendor": e.assertion(t, "apo"), "pharmacy": pharmacyTok} {
		r := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: vendorapi.PathAdminVendors, Token: tok})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("admin list with a %s credential: %v", name, r)
		}
	}
	if n := e.certificates(t, e.ph1.ID); n != 1 {
		t.Fatalf("%d certificates, want only the replayed assertion's first use", n)
	}
	if r := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz after hostile input: %v", r)
	}
}

func (e *env) vendorReq(token, pharmacy, key string) portaltest.Request {
	h := http.Header{"Idempotency-Key": {key}}
	if pharmacy != "" {
		h.Set(vendorapi.OnBehalfHeader, pharmacy)
	}
	return portaltest.Request{Method: http.MethodPost, Path: vendorapi.PathIssue, Token: token, Header: h,
		Body: portalapi.IssueRequest{Payload: e.payload}}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
