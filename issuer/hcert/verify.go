package hcert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/pki"
)

// RevocationChecker says whether a certificate is revoked.
type RevocationChecker interface {
	IsRevoked(d *Decoded) bool
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Now     time.Time         // default time.Now()
	Revoked RevocationChecker // nil: no revocation check
	// Leeway tolerates clock skew between issuer and verifier for the iat
	// and exp checks against Now. Default 0.
	Leeway time.Duration
	// Schema, when set, checks the payload against the official schema of
	// its version (ReasonSchema when it does not conform).
	Schema SchemaValidator
	// DSCValidity is the policy for the DSC's validity period; "" is
	// DSCValidityStrict.
	DSCValidity DSCValidity
}

// SchemaValidator checks a DCC payload, as JSON, against the official
// schema of the version its "ver" names (package dccschema's Set).
type SchemaValidator interface {
	ValidatePayload(payloadJSON []byte) error
}

// DSCValidity is a policy for how a DCC's dates relate to its DSC's
// validity period. The hcert specification states the issuer's rule;
// verifier apps differ in what they enforce.
type DSCValidity string

const (
	// DSCValidityStrict is the hcert specification's rule: the DSC was
	// valid when the DCC was issued (notBefore <= iat <= notAfter) and the
	// DCC does not outlive it (exp <= notAfter). A DCC signed by a
	// since-expired DSC stays valid until its own exp.
	DSCValidityStrict DSCValidity = "strict"
	// DSCValidityAtVerification is what several national apps check: the
	// DSC is valid at the verification time (notBefore <= now <= notAfter,
	// within Leeway) and was not used before its notBefore (iat >=
	// notBefore); exp may lie beyond notAfter.
	DSCValidityAtVerification DSCValidity = "at-verification"
)

// DSCValidityPolicies lists the policies in the order they are documented.
func DSCValidityPolicies() []DSCValidity {
	return []DSCValidity{DSCValidityStrict, DSCValidityAtVerification}
}

// ParseDSCValidity reads a policy name; "" is DSCValidityStrict.
func ParseDSCValidity(s string) (DSCValidity, error) {
	switch p := DSCValidity(s); p {
	case "":
		return DSCValidityStrict, nil
	case DSCValidityStrict, DSCValidityAtVerification:
		return p, nil
	}
	return "", fmt.Errorf("DSC validity policy %q is not %q or %q", s, DSCValidityStrict, DSCValidityAtVerification)
}

// Result is the outcome of Verify.
type Result struct {
	Valid   bool
	Reason  Reason   // "" when valid
	Err     error    // details of Reason, nil when valid
	Decoded *Decoded // nil when the container could not be taken apart
	Signer  *x509.Certificate
}

// Verify decodes hc1 and decides whether to trust it. A certificate that
// fails is not an error: it yields Result{Valid: false, Reason: ...}. The
// error is only for misuse (no trust list, an unknown policy).
//
// Checks, in order, each with its own reason: the container (prefix,
// Base45, zlib, CBOR, COSE_Sign1); a kid with at least one DSC in the trust
// list; the signature, trying every DSC under the kid whose key fits the
// header's algorithm (the first that verifies is the Signer); the claims
// carry one DCC (bad_payload); with opts.Schema, the payload conforms to
// the official schema of its version (schema); the DSC's key usage covers
// the DCC type; the dates against the DSC's validity under
// opts.DSCValidity (outside_dsc_validity); revocation; iat not in the
// future; exp not passed.
func Verify(hc1 string, trust *pki.TrustList, opts VerifyOptions) (*Result, error) {
	if trust == nil {
		return nil, errors.New("hcert: Verify needs a trust list")
	}
	policy, err := ParseDSCValidity(string(opts.DSCValidity))
	if err != nil {
		return nil, fmt.Errorf("hcert: %w", err)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	d, err := Decode(hc1)
	if err != nil {
		return invalid(nil, nil, err), nil
	}
	if len(d.Kid) == 0 {
		return invalid(d, nil, fail(ReasonUnknownKid, errors.New("no kid in either header"))), nil
	}
	certs := trust.Lookup(d.Kid)
	if len(certs) == 0 {
		return invalid(d, nil, fail(ReasonUnknownKid, fmt.Errorf("kid %x is not in the trust list", d.Kid))), nil
	}
	signer, err := verifySignature(d, certs)
	if err != nil {
		return invalid(d, nil, err), nil
	}
	if d.PayloadErr != nil {
		return invalid(d, signer, fail(ReasonBadPayload, d.PayloadErr)), nil
	}
	if opts.Schema != nil {
		js, err := d.PayloadJSON()
		if err == nil {
			err = opts.Schema.ValidatePayload(js)
		}
		if err != nil {
			return invalid(d, signer, fail(ReasonSchema, err)), nil
		}
	}
	typ := d.Payload.Type()
	if !pki.MaySign(signer, typ) {
		return invalid(d, signer, fail(ReasonKeyUsage, fmt.Errorf("the DSC may sign only %v, not type %q", pki.UsagesOf(signer), typ))), nil
	}
	if err := checkDSCValidity(d, signer, policy, opts); err != nil {
		return invalid(d, signer, err), nil
	}
	iat, exp := d.IssuedAt, d.ExpiresAt
	if opts.Revoked != nil && opts.Revoked.IsRevoked(d) {
		return invalid(d, signer, fail(ReasonRevoked, nil)), nil
	}
	if iat.After(opts.Now.Add(opts.Leeway)) {
		return invalid(d, signer, fail(ReasonNotYetValid, fmt.Errorf("iat %s lies in the future", iat.Format(time.RFC3339)))), nil
	}
	if opts.Now.Add(-opts.Leeway).After(exp) {
		return invalid(d, signer, fail(ReasonExpired, fmt.Errorf("exp %s has passed", exp.Format(time.RFC3339)))), nil
	}
	return &Result{Valid: true, Decoded: d, Signer: signer}, nil
}

// checkDSCValidity applies policy to the DCC's dates and the DSC's
// validity period.
func checkDSCValidity(d *Decoded, dsc *x509.Certificate, policy DSCValidity, opts VerifyOptions) error {
	nb, na := dsc.NotBefore, dsc.NotAfter
	outside := func(format string, args ...any) error {
		return fail(ReasonOutsideDSCValidity, fmt.Errorf(format, args...))
	}
	if d.IssuedAt.Before(nb) {
		return outside("iat %s lies before the DSC's notBefore %s", stamp(d.IssuedAt), stamp(nb))
	}
	switch policy {
	case DSCValidityAtVerification:
		switch {
		case opts.Now.Add(opts.Leeway).Before(nb):
			return outside("the DSC is not valid yet at %s: notBefore %s", stamp(opts.Now), stamp(nb))
		case opts.Now.Add(-opts.Leeway).After(na):
			return outside("the DSC is no longer valid at %s: notAfter %s", stamp(opts.Now), stamp(na))
		}
	default:
		switch {
		case d.IssuedAt.After(na):
			return outside("iat %s lies after the DSC's notAfter %s", stamp(d.IssuedAt), stamp(na))
		case d.ExpiresAt.After(na):
			return outside("exp %s lies after the DSC's notAfter %s", stamp(d.ExpiresAt), stamp(na))
		}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func invalid(d *Decoded, signer *x509.Certificate, err error) *Result {
	return &Result{Reason: ReasonOf(err), Err: err, Decoded: d, Signer: signer}
}

// verifySignature returns the first certificate whose key verifies d.
func verifySignature(d *Decoded, certs []*x509.Certificate) (*x509.Certificate, error) {
	alg := cose.Algorithm(d.Alg)
	if alg != cose.AlgorithmES256 && alg != cose.AlgorithmPS256 {
		return nil, fail(ReasonBadSignature, fmt.Errorf("unsupported algorithm %d", d.Alg))
	}
	tbs, err := toBeSigned(d.Protected, d.CWT)
	if err != nil {
		return nil, fail(ReasonBadSignature, fmt.Errorf("encoding Sig_structure: %w", err))
	}
	tried := 0
	for _, c := range certs {
		keyAlg, err := pki.AlgOf(c.PublicKey)
		if err != nil {
			continue
		}
		if ca, _ := coseAlg(keyAlg); ca != alg {
			continue // an ES256 header never verifies with an RSA key
		}
		v, err := cose.NewVerifier(alg, c.PublicKey)
		if err != nil {
			continue
		}
		tried++
		if v.Verify(tbs, d.Signature) == nil {
			return c, nil
		}
	}
	if tried == 0 {
		return nil, fail(ReasonBadSignature, fmt.Errorf("no DSC under kid %x has a key for algorithm %v", d.Kid, alg))
	}
	return nil, fail(ReasonBadSignature, fmt.Errorf("none of %d DSCs under kid %x verifies the signature", tried, d.Kid))
}
