// Package hcerttest makes HC1 strings for tests the way another country's
// issuer might: with go-cose instead of package hcert, tagged or untagged,
// and without Encode's checks, so tests can hand verifiers what Encode
// refuses to make (a type outside the DSC's key usage, an exp beyond the
// DSC, a payload that breaks the schema).
package hcerttest

import (
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
)

// Options are the claims and the container form.
type Options struct {
	Issuer    string // CWT iss, default "DE"
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Untagged leaves CBOR tag 18 off the COSE_Sign1.
	Untagged bool
}

// Sign signs payload (a *dcc.Certificate or any CBOR-encodable value) with
// the DSC's key, the kid in the protected header.
func Sign(dsc *pki.KeyPair, payload any, opts Options) (string, error) {
	if opts.Issuer == "" {
		opts.Issuer = "DE"
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return "", err
	}
	p, err := enc.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("hcerttest: payload: %w", err)
	}
	cwt, err := enc.Marshal(map[int]any{1: opts.Issuer, 4: opts.ExpiresAt.Unix(), 6: opts.IssuedAt.Unix(),
		-260: map[int]cbor.RawMessage{1: p}})
	if err != nil {
		return "", fmt.Errorf("hcerttest: claims: %w", err)
	}
	alg := cose.AlgorithmES256
	if a, err := pki.AlgOf(dsc.Key); err != nil {
		return "", err
	} else if a == pki.PS256 {
		alg = cose.AlgorithmPS256
	}
	signer, err := cose.NewSigner(alg, dsc.Key)
	if err != nil {
		return "", err
	}
	hdr := cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: alg, cose.HeaderLabelKeyID: pki.Kid(dsc.Cert)}}
	var msg []byte
	if opts.Untagged {
		m := cose.UntaggedSign1Message{Headers: hdr, Payload: cwt}
		if err = m.Sign(rand.Reader, nil, signer); err == nil {
			msg, err = m.MarshalCBOR()
		}
	} else {
		m := cose.Sign1Message{Headers: hdr, Payload: cwt}
		if err = m.Sign(rand.Reader, nil, signer); err == nil {
			msg, err = m.MarshalCBOR()
		}
	}
	if err != nil {
		return "", fmt.Errorf("hcerttest: COSE_Sign1: %w", err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(msg); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return hcert.Prefix + hcert.EncodeBase45(z.Bytes()), nil
}
