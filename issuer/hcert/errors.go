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
	ReasonBadPrefix          Reason = "bad_prefix"           // no "HC1:" prefix
	ReasonBadBase45          Reason = "bad_base45"           // not RFC 9285 Base45
	ReasonBadZlib            Reason = "bad_zlib"             // not a zlib stream, or inflates beyond the limit
	ReasonBadCBOR            Reason = "bad_cbor"             // not well-formed CBOR within the decoder limits
	ReasonNotCOSESign1       Reason = "not_cose_sign1"       // CBOR, but not a COSE_Sign1 (tagged 18 or not)
	ReasonBadPayload         Reason = "bad_payload"          // the signed claims are not a CWT carrying one DCC
	ReasonSchema             Reason = "schema_violation"     // the DCC does not conform to the official schema of its version (only when asked)
	ReasonUnknownKid         Reason = "unknown_kid"          // no kid, or no trusted DSC under it
	ReasonBadSignature       Reason = "bad_signature"        // no DSC under the kid verifies the signature
	ReasonExpired            Reason = "expired"              // exp has passed
	ReasonNotYetValid        Reason = "not_yet_valid"        // iat lies in the future
	ReasonOutsideDSCValidity Reason = "outside_dsc_validity" // signed while the DSC was not valid, or outlives it
	ReasonKeyUsage           Reason = "key_usage"            // the DSC may not sign this certificate type
	ReasonRevoked            Reason = "revoked"              // a revocation hash matched
)

// Reasons lists every reason in the order Verify checks them.
func Reasons() []Reason {
	return []Reason{ReasonBadPrefix, ReasonBadBase45, ReasonBadZlib, ReasonBadCBOR, ReasonNotCOSESign1,
		ReasonUnknownKid, ReasonBadSignature, ReasonBadPayload, ReasonSchema, ReasonKeyUsage,
		ReasonOutsideDSCValidity, ReasonRevoked, ReasonNotYetValid, ReasonExpired}
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
