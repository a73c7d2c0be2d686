// Package hcert encodes, decodes and verifies EU Digital COVID Certificates
// in their transport form: DCC payload -> CBOR -> CWT claims -> COSE_Sign1 ->
// zlib -> Base45 -> "HC1:" (eHealth Network, Electronic Health Certificate
// Container Format). It also computes the revocation hashes of a
// certificate.
package hcert

import "errors"

// Reason says why a certificate is not valid. The values are stable: they
// appear in API responses, logs and metrics.
type Reason string

const (
	ReasonBadPrefix          Reason = "bad_prefix"
	ReasonBadBase45          Reason = "bad_base45"
	ReasonBadZlib            Reason = "bad_zlib"
	ReasonBadCBOR            Reason = "bad_cbor"
	ReasonNotCOSESign1       Reason = "not_cose_sign1"
	ReasonUnknownKid         Reason = "unknown_kid"
	ReasonBadSignature       Reason = "bad_signature"
	ReasonBadPayload         Reason = "bad_payload"
	ReasonSchema             Reason = "schema_violation"
	ReasonKeyUsage           Reason = "key_usage"
	ReasonOutsideDSCValidity Reason = "outside_dsc_validity"
	ReasonRevoked            Reason = "revoked"
	ReasonNotYetValid        Reason = "not_yet_valid"
	ReasonExpired            Reason = "expired"
)

// reasons are every reason in the order Verify checks them, with what
// each means; help texts and documentation are made from it.
var reasons = []struct {
	r    Reason
	text string
}{
	{ReasonBadPrefix, `no "HC1:" prefix`},
	{ReasonBadBase45, "not RFC 9285 Base45"},
	{ReasonBadZlib, "not a zlib stream, or it inflates beyond 64 KiB"},
	{ReasonBadCBOR, "not well-formed CBOR within the decoder limits"},
	{ReasonNotCOSESign1, "CBOR, but not a COSE_Sign1 (tag 18 or none, optionally inside the CWT tag 61)"},
	{ReasonUnknownKid, "no kid in either header, or no trusted DSC under it"},
	{ReasonBadSignature, "no DSC under the kid verifies the signature"},
	{ReasonBadPayload, "the signed claims are not a CWT carrying exactly one DCC"},
	{ReasonSchema, "the DCC does not conform to the official schema of its version, or none fits its version (only when a schema check is asked for)"},
	{ReasonKeyUsage, "the DSC's extended key usage (current or hcert 1.0.5 OIDs) does not cover the certificate type"},
	{ReasonOutsideDSCValidity, "the dates break the DSC validity policy (strict: iat outside the DSC's validity or exp after its end; at-verification: the DSC is not valid now, or iat before its start)"},
	{ReasonRevoked, "a revocation hash matched"},
	{ReasonNotYetValid, "iat lies in the future"},
	{ReasonExpired, "exp has passed"},
}

// Reasons lists every reason in the order Verify checks them.
func Reasons() []Reason {
	out := make([]Reason, len(reasons))
	for i, r := range reasons {
		out[i] = r.r
	}
	return out
}

// Description says in one line what the reason means; "" for a string
// that is no reason.
func (r Reason) Description() string {
	for _, e := range reasons {
		if e.r == r {
			return e.text
		}
	}
	return ""
}

// Error is a decoding or verification failure with its reason.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "hcert: " + string(e.Reason)
	}
	return "hcert: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason carried by err, or "" when err is nil or has
// none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func fail(r Reason, err error) *Error { return &Error{Reason: r, Err: err} }
