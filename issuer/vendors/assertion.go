package vendors

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// Why signed client assertions and not mutual TLS: serve's --tls-client-ca
// asks every client of the listener for a certificate (pharmacies,
// browsers and verifier apps included) and the testbeds speak plain HTTP
// behind a fault proxy that would end the TLS session; a certificate
// authority for vendors would also be one more thing to run. An assertion
// rides on any connection, the portal holds only public keys (nothing a
// copy of the data directory could issue with), a key is replaced or
// removed by one admin call, and every request carries a fresh jti, so a
// captured header is worth one request for at most five minutes.

// replayCache remembers the jti of every assertion until it expires.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // vendor+jti -> exp
	max  int
}

// fresh records key until exp and reports whether it was new. Expired
// entries are dropped as the cache fills; when it is full of live entries
// the assertion is refused (a vendor cannot flush others' jtis by flooding).
func (c *replayCache) fresh(key string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[key]; dup {
		return false
	}
	if len(c.seen) >= c.max {
		for k, e := range c.seen {
			if !e.After(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return false
		}
	}
	c.seen[key] = exp
	return true
}

func unauthorized(code, detail string) *problem.Problem {
	pr := problem.Unauthorized(code, detail)
	pr.Field = "Authorization"
	return &pr
}

// authenticate checks the request's assertion and returns the vendor.
func (v *Vendors) authenticate(r *http.Request) (string, *problem.Problem) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", unauthorized(vendorapi.CodeAssertionMissing, "send Authorization: Bearer <vendor assertion>")
	}
	tok, ok := strings.CutPrefix(h[0], "Bearer ")
	if !ok || tok == "" {
		return "", unauthorized(vendorapi.CodeAssertionMissing, "send Authorization: Bearer <vendor assertion>")
	}
	if len(tok) > vendorapi.MaxAssertionBytes {
		return "", unauthorized(vendorapi.CodeAssertionTooLarge, "the assertion is too long")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion is not a compact JWS")
	}
	var hdr vendorapi.Header
	var cl vendorapi.Claims
	if !decodePart(parts[0], &hdr) || !decodePart(parts[1], &cl) {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion's header or claims are not valid JSON")
	}
	if hdr.Alg != vendorapi.Alg {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion must be signed with EdDSA (Ed25519)")
	}
	if hdr.Kid != "" && hdr.Kid != cl.Issuer {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "kid and iss differ")
	}
	key, ok := v.store.key(cl.Issuer)
	if !ok {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion is not valid")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), sig) {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion is not valid")
	}
	// Signed by the vendor: from here on the claims can be judged.
	if cl.Audience != v.cfg.Audience {
		return "", unauthorized(vendorapi.CodeAssertionAudience, "the assertion's aud is not this portal")
	}
	now := v.clock()
	skew := v.cfg.ClockSkew.D()
	iat, exp := time.Unix(cl.IssuedAt, 0), time.Unix(cl.ExpiresAt, 0)
	if cl.IssuedAt == 0 || cl.ExpiresAt <= cl.IssuedAt || exp.Sub(iat) > vendorapi.MaxAssertionTTL {
		return "", unauthorized(vendorapi.CodeAssertionLifetime, "exp must follow iat by at most 5 minutes")
	}
	if !exp.Add(skew).After(now) || iat.After(now.Add(skew)) {
		return "", unauthorized(vendorapi.CodeAssertionExpired, "the assertion has expired or is not yet valid")
	}
	if cl.ID == "" || len(cl.ID) > 128 {
		return "", unauthorized(vendorapi.CodeAssertionInvalid, "the assertion needs a jti of 1 to 128 characters")
	}
	if !v.replays.fresh(cl.Issuer+"\x00"+cl.ID, exp.Add(skew), now) {
		return "", unauthorized(vendorapi.CodeAssertionReplayed, "this assertion was used before; sign a fresh one per request")
	}
	return cl.Issuer, nil
}

// decodePart reads one base64url JSON part strictly.
func decodePart(s string, dst any) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(dst); err != nil {
		return false
	}
	return !dec.More()
}
