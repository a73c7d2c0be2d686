// Package listsapi is the contract of what verifier apps download from the
// issuer (package issuer/lists): the trust list of document signer
// certificates, the revocation list and its delta lists, the detached
// signature every list carries, the key set that verifies it, and the
// settings with the profile presets. It imports no implementation: the
// verifier traffic class and the apps' side of tests verify lists with
// Verify here.
//
// Versions: a list's version is the identity of its content (the first 12
// bytes of the SHA-256 of the body, in hex) and its ETag is that version
// in quotes, so every replica and every restart names the same list the
// same way, and an app that kept the ETag of its list asks for the changes
// since with ?since=<version>.
package listsapi

// Routes. All are GET (and HEAD), public, cacheable, and answer 304 to an
// If-None-Match naming the current ETag.
const (
	// PathTrustList is the trust list: {"entries":[...]} in the format of
	// package pki (pki.ParseTrustList reads it). Unchanged since the portal
	// first published it.
	PathTrustList = "/v1/trustlist"
	// PathRevocations is the full revocation list (RevocationList).
	PathRevocations = "/v1/revocations"
	// PathRevocationDelta is the changes of the revocation list since a
	// version (RevocationDelta): ?since=<version>.
	PathRevocationDelta = "/v1/revocations/delta"
	// PathKeys is the key set that verifies the lists' signatures
	// (KeySet). Apps should pin it out of band (the issuer writes it to
	// its data directory as lists-signing.jwks.json); fetching it over
	// the same channel as the lists only protects against accidents.
	PathKeys = "/v1/lists/keys"
)

// ParamSince is the delta list's one query parameter: the version the app
// holds (the ETag of its list without quotes). Required.
const ParamSince = "since"

// VersionLength is the length of a version: 24 lowercase hex digits.
const VersionLength = 24

// SignatureHeader carries the detached JWS (RFC 7515 appendix F) over the
// exact bytes of the body of every list answer: BASE64URL(header) + ".." +
// BASE64URL(signature). See Verify.
const SignatureHeader = "X-JWS-Signature"

// Content types the signature's protected header names (cty), so that a
// signed list of one kind cannot be passed off as another.
const (
	CtyTrustList       = "golive.trustlist+json"
	CtyRevocations     = "golive.revocations+json"
	CtyRevocationDelta = "golive.revocation-delta+json"
)

// Hash types of revocation entries, as the EU revocation lists name them:
// each is the first 16 bytes of a SHA-256, in lowercase hex.
const (
	HashSignature      = "SIGNATURE"      // over the COSE signature (ECDSA: r only)
	HashUCI            = "UCI"            // over the UTF-8 UVCI
	HashCountryCodeUCI = "COUNTRYCODEUCI" // over issuer country + UVCI
)

// HashTypes lists them; every RevocationList has each as a key.
func HashTypes() []string { return []string{HashSignature, HashUCI, HashCountryCodeUCI} }

// RevocationList is the body of PathRevocations: per hash type, the
// hashes of revoked certificates that have not expired, sorted (the
// order must not tell when a certificate was revoked).
type RevocationList map[string][]string

// RevocationDelta is the body of PathRevocationDelta.
type RevocationDelta struct {
	// Version is the current list's version, Since the one asked about.
	Version string `json:"version"`
	Since   string `json:"since"`
	// Full: the issuer does not know Since (too old, or from before a
	// restart): Added is the whole current list and the app replaces its
	// list with it. Never wrong, only larger.
	Full bool `json:"full"`
	// Added and Removed are what changed from Since to Version: revoked
	// since, and dropped since (expired certificates leave the list).
	// Applying them to the list of version Since gives the list of
	// Version exactly.
	Added   RevocationList `json:"added"`
	Removed RevocationList `json:"removed"`
}
