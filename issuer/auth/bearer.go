package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Bearer credential errors.
var (
	ErrNoCredential = errors.New("auth: no Authorization header")
	ErrBadHeader    = errors.New("auth: malformed Authorization header")
)

// BearerToken extracts the token from "Authorization: Bearer <token>"
// (RFC 6750). It is strict on purpose: exactly one Authorization header
// (two could be read differently by a proxy and by us), scheme "Bearer" in
// any case, exactly one space, a token of RFC 6750 token68 characters and
// nothing else: no tabs, no extra spaces, no trailing garbage, no commas
// (a second credential), no control or non-ASCII bytes.
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", ErrNoCredential
	case 1:
	default:
		return "", fmt.Errorf("%w: %d Authorization headers", ErrBadHeader, len(vals))
	}
	v := vals[0]
	if v == "" {
		return "", ErrNoCredential
	}
	if len(v) > maxTokenLen+len("Bearer ") {
		return "", fmt.Errorf("%w: too long", ErrBadHeader)
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: scheme is not Bearer", ErrBadHeader)
	}
	if !token68(tok) {
		return "", fmt.Errorf("%w: token has invalid characters or spacing", ErrBadHeader)
	}
	return tok, nil
}

// token68 checks RFC 7235's token68: 1*(ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/") *"=".
func token68(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// CheckAdmin reports whether the request carries the admin bearer token
// whose HashToken is adminTokenHash (64 hex digits; the operator configures
// the hash, so the token itself never sits in a config file). An empty or
// malformed configured hash denies everyone.
func CheckAdmin(r *http.Request, adminTokenHash string) bool {
	want := strings.ToLower(strings.TrimSpace(adminTokenHash))
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		return false
	}
	tok, err := BearerToken(r)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashToken(tok)), []byte(want)) == 1
}
