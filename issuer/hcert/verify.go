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
// error is only for misuse (no trust list).
//
// Checks, in order, each with its own reason: the container (prefix,
// Base45, zlib, CBOR, COSE_Sign1); a kid with at least one DSC in the trust
// list; the signature, trying every DSC under the kid whose key fits the
// header's algorithm (the first that verifies is the Signer); the claims
// carry one DCC (bad_payload); the DSC's key usage covers the DCC type;
// the DSC was valid when the DCC was issued (notBefore <= iat <= notAfter)
// and the DCC does not outlive it (exp <= notAfter), both per the hcert
// specification's issuer rules; revocation; iat not in the future; exp not
// passed. The DSC's validity is judged at iat, not at Now: a DCC signed by a
// since-expired DSC stays valid until its own exp.
func Verify(hc1 string, trust *pki.TrustList, opts VerifyOptions) (*Result, error) {
	if trust == nil {
		return nil, errors.New("hcert: Verify needs a trust list")
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
	typ := d.Payload.Type()
	if !pki.MaySign(signer, typ) {
		return invalid(d, signer, fail(ReasonKeyUsage, fmt.Errorf("the DSC may not sign type %q", typ))), nil
	}
	iat, exp := d.IssuedAt, d.ExpiresAt
	switch {
	case iat.Before(signer.NotBefore):
		return invalid(d, signer, fail(ReasonOutsideDSCValidity, fmt.Errorf("iat %s lies before the DSC's notBefore %s",
			iat.Format(time.RFC3339), signer.NotBefore.UTC().Format(time.RFC3339)))), nil
	case iat.After(signer.NotAfter):
		return invalid(d, signer, fail(ReasonOutsideDSCValidity, fmt.Errorf("iat %s lies after the DSC's notAfter %s",
			iat.Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339)))), nil
	case exp.After(signer.NotAfter):
		return invalid(d, signer, fail(ReasonOutsideDSCValidity, fmt.Errorf("exp %s lies after the DSC's notAfter %s",
			exp.Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339)))), nil
	}
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
