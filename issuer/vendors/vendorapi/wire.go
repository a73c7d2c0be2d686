// Package vendorapi is the contract of vendor access (package
// issuer/vendors): pharmacy-software vendors issuing for the pharmacies that
// delegated to them. It holds the routes, headers, problem codes, the
// signed client assertion a vendor authenticates with (how to make one and
// its limits) and the settings with the profile presets. It imports no
// implementation, so a vendor's client (the scenarios' vendor gateways)
// speaks to the portal without linking it.
//
// Errors are problem+json (package problem) with a stable code and the
// field at fault ("payload.dob", "X-On-Behalf-Of").
package vendorapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Routes. The vendor routes need a vendor's assertion (Authorization:
// Bearer <assertion>); the delegation routes a pharmacy's access token;
// the admin routes the admin token. Each credential is refused elsewhere.
const (
	// PathIssue: POST, a portalapi.IssueRequest for the pharmacy named in
	// OnBehalfHeader, with an Idempotency-Key; answers as the portal's
	// POST /v1/certificates does (201 Issued, 202 Deferred, problems).
	PathIssue = "/v1/vendor/certificates"
	// PathTicket: GET /v1/vendor/tickets/{id} for OnBehalfHeader's
	// pharmacy -> portalapi.TicketView.
	PathTicket = "/v1/vendor/tickets/{id}"
	// PathDelegations: a pharmacy (its own access token) POSTs a
	// Delegation to let a vendor issue for it; GET lists its delegations.
	PathDelegations = "/v1/vendor/delegations"
	// PathDelegation: DELETE /v1/vendor/delegations/{vendor} withdraws it.
	PathDelegation = "/v1/vendor/delegations/{vendor}"
	// PathAdminVendor: PUT a Registration (admin token) registers or
	// replaces a vendor's public key; DELETE removes the vendor.
	PathAdminVendor = "/v1/admin/vendors/{vendor}"
	// PathAdminVendors: GET lists the registered vendors.
	PathAdminVendors = "/v1/admin/vendors"
)

// TicketLink is the vendor path of a ticket.
func TicketLink(id string) string { return "/v1/vendor/tickets/" + id }

// OnBehalfHeader names the pharmacy a vendor request is for.
const OnBehalfHeader = "X-On-Behalf-Of"

// Problem codes of vendor access.
const (
	CodeAssertionMissing  = "assertion_missing"   // 401: no Bearer assertion
	CodeAssertionInvalid  = "assertion_invalid"   // 401: malformed, wrong alg, bad signature, unknown vendor
	CodeAssertionExpired  = "assertion_expired"   // 401: exp passed, or not yet valid
	CodeAssertionAudience = "assertion_audience"  // 401: aud is not this portal
	CodeAssertionLifetime = "assertion_lifetime"  // 401: exp - iat beyond MaxAssertionTTL
	CodeAssertionReplayed = "assertion_replayed"  // 401: jti seen before
	CodeAssertionTooLarge = "assertion_too_large" // 401: longer than MaxAssertionBytes
	CodeOnBehalfMissing   = "on_behalf_missing"   // 400: no or bad X-On-Behalf-Of
	CodeNotDelegated      = "not_delegated"       // 403: the pharmacy did not delegate to this vendor
	CodeVendorQuota       = "vendor_quota"        // 429: the vendor's own quota (Retry-After)
	CodeIncompatible      = "incompatible_format" // 422: a field in a format the portal does not take
	CodeUnknownVendor     = "unknown_vendor"      // 404: delegation to a vendor that is not registered
	CodeVendorDisabled    = "vendor_access_off"   // 404 body for every vendor route when Enabled is false (not mounted)
)

// Assertion limits.
const (
	// Audience is the aud every assertion must carry (Config.Audience).
	Audience = "golive-portal"
	// Alg is the only JWS algorithm accepted: Ed25519 ("none", HS256 and
	// the rest are refused, whatever the header says).
	Alg = "EdDSA"
	// MaxAssertionTTL bounds exp - iat.
	MaxAssertionTTL = 5 * time.Minute
	// MaxAssertionBytes bounds the compact form.
	MaxAssertionBytes = 2048
)

// Claims are an assertion's payload (JWT names).
type Claims struct {
	Issuer    string `json:"iss"` // the vendor id
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"` // Unix seconds
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"` // unique per assertion; a second use is refused
}

// Header is an assertion's JOSE header.
type Header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"` // the vendor id, when given it must equal iss
}

// vendorRE is a vendor id: it appears in metrics labels and file names.
var vendorRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidVendorID reports whether id is a vendor id: 1 to 32 lower-case
// letters, digits and '-', starting with a letter or digit.
func ValidVendorID(id string) bool { return vendorRE.MatchString(id) }

var b64 = base64.RawURLEncoding

// Sign makes a compact JWS assertion for vendor, valid for ttl from now
// (at most MaxAssertionTTL), with a fresh jti.
func Sign(key ed25519.PrivateKey, vendor string, now time.Time, ttl time.Duration) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("vendorapi: not an Ed25519 private key")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("vendorapi: jti: %w", err)
	}
	return SignClaims(key, Header{Alg: Alg, Typ: "JWT", Kid: vendor},
		Claims{Issuer: vendor, Audience: Audience, IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(), ID: hex.EncodeToString(jti)})
}

// SignClaims signs any header and claims (tests build bad assertions with it).
func SignClaims(key ed25519.PrivateKey, h Header, c Claims) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("vendorapi: header: %w", err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("vendorapi: claims: %w", err)
	}
	signing := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	return signing + "." + b64.EncodeToString(ed25519.Sign(key, []byte(signing))), nil
}

// EncodePublicKey is how a public key is written in a Registration and in
// the vendors file: base64url without padding of the 32 raw bytes.
func EncodePublicKey(k ed25519.PublicKey) string { return b64.EncodeToString(k) }

// DecodePublicKey reads EncodePublicKey's form.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public_key must be 32 bytes of Ed25519 public key, base64url without padding")
	}
	return ed25519.PublicKey(b), nil
}

// Registration is an admin's PUT of a vendor.
type Registration struct {
	// PublicKey is EncodePublicKey of the vendor's Ed25519 key.
	PublicKey string `json:"public_key"`
	// Name is a display name (optional, up to 80 characters).
	Name string `json:"name,omitempty"`
}

// Vendor is one registered vendor as the admin list shows it.
type Vendor struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"public_key"`
}

// VendorList is GET PathAdminVendors.
type VendorList struct {
	Vendors []Vendor `json:"vendors"`
}

// Delegation is a pharmacy's POST: it lets Vendor issue in its name.
type Delegation struct {
	Vendor string `json:"vendor"`
}

// Delegations is GET PathDelegations: the pharmacy's vendors.
type Delegations struct {
	Pharmacy string   `json:"pharmacy"`
	Vendors  []string `json:"vendors"`
}
