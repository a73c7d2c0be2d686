package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token errors. Verify wraps them with detail; test with errors.Is.
var (
	ErrInvalid  = errors.New("auth: invalid token")
	ErrExpired  = errors.New("auth: token expired")
	ErrReplayed = errors.New("auth: refresh token replayed")
	ErrRevoked  = errors.New("auth: token revoked")
)

// Claims are the contents of an access token.
type Claims struct {
	Subject   string
	Scope     string // space-separated
	IssuedAt  time.Time
	ExpiresAt time.Time
	ID        string
}

// HasScope reports whether the space-separated Scope contains s.
func (c Claims) HasScope(s string) bool {
	for _, f := range strings.Fields(c.Scope) {
		if f == s {
			return true
		}
	}
	return false
}

// wire is the JSON payload. Times are integer Unix seconds, as in JWT.
type wire struct {
	Sub   string `json:"sub"`
	Scope string `json:"scope,omitempty"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Jti   string `json:"jti"`
}

// macContext separates access-token MACs from any other use of the key.
const macContext = "golive-access-token-v1\x00"

// maxTokenLen bounds what Verify will even look at.
const maxTokenLen = 2048

// clockSkew tolerates an iat slightly in the future (replicas' clocks).
const clockSkew = 5 * time.Second

// Issuer issues and verifies access tokens: base64url(JSON claims) "."
// base64url(HMAC-SHA256). Stateless to verify, so any portal replica with
// the key can check a token; short-lived (the 2021 fix used 60 s), so a
// leaked token is worth little and revocation can wait for expiry.
type Issuer struct {
	key   []byte
	ttl   time.Duration
	clock func() time.Time
}

// NewIssuer needs a key of at least 32 bytes and a TTL of at least one
// second (claims carry whole seconds). A nil clock means time.Now.
func NewIssuer(key []byte, ttl time.Duration, clock func() time.Time) (*Issuer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: token key has %d bytes, need at least 32", len(key))
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("auth: token ttl %v below 1s", ttl)
	}
	if clock == nil {
		clock = time.Now
	}
	return &Issuer{key: bytes.Clone(key), ttl: ttl, clock: clock}, nil
}

// TTL is the configured lifetime.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue returns a token for subject with the given scope, and its expiry.
// Expiry is truncated to the second, so a token lives at most TTL.
func (i *Issuer) Issue(subject, scope string) (string, time.Time) {
	now := i.clock()
	exp := now.Add(i.ttl).Truncate(time.Second)
	payload, _ := json.Marshal(wire{Sub: subject, Scope: scope, Iat: now.Unix(), Exp: exp.Unix(), Jti: randomString(16)})
	p64 := base64.RawURLEncoding.EncodeToString(payload)
	return p64 + "." + base64.RawURLEncoding.EncodeToString(i.mac(p64)), exp
}

func (i *Issuer) mac(p64 string) []byte {
	m := hmac.New(sha256.New, i.key)
	m.Write([]byte(macContext))
	m.Write([]byte(p64))
	return m.Sum(nil)
}

// Verify checks the MAC first (nothing in an unauthenticated payload is
// parsed), then the claims. An expired token returns its claims with an
// error wrapping ErrExpired, so the caller can log whose it was; every other
// failure wraps ErrInvalid and returns zero claims.
func (i *Issuer) Verify(token string) (Claims, error) {
	if len(token) == 0 || len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: length", ErrInvalid)
	}
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(m64, ".") {
		return Claims{}, fmt.Errorf("%w: format", ErrInvalid)
	}
	b64 := base64.RawURLEncoding.Strict()
	mac, err := b64.DecodeString(m64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: mac encoding", ErrInvalid)
	}
	if !hmac.Equal(mac, i.mac(p64)) {
		return Claims{}, fmt.Errorf("%w: mac mismatch", ErrInvalid)
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload encoding", ErrInvalid)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil || dec.More() {
		return Claims{}, fmt.Errorf("%w: payload", ErrInvalid)
	}
	if w.Sub == "" || w.Jti == "" || w.Exp <= w.Iat {
		return Claims{}, fmt.Errorf("%w: claims", ErrInvalid)
	}
	c := Claims{Subject: w.Sub, Scope: w.Scope, IssuedAt: time.Unix(w.Iat, 0), ExpiresAt: time.Unix(w.Exp, 0), ID: w.Jti}
	now := i.clock()
	if c.IssuedAt.After(now.Add(clockSkew)) {
		return Claims{}, fmt.Errorf("%w: issued in the future", ErrInvalid)
	}
	if !now.Before(c.ExpiresAt) {
		return c, fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return c, nil
}
