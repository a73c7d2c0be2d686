package listsapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// The lists are signed with a key of their own (ES256, ECDSA P-256), not
// with a document signer: a DSC signs certificates and nothing else, and
// the lists must stay verifiable while every DSC is being replaced.
//
// The signature is a detached JWS over the body's exact bytes, so the
// bodies keep the format apps already parse and nothing needs
// canonicalising: the signing input is
// BASE64URL(protected) || '.' || BASE64URL(body), the header value is
// BASE64URL(protected) || '..' || BASE64URL(r || s).

// JWSHeader is the protected header of a list signature.
type JWSHeader struct {
	Alg string `json:"alg"` // always ES256
	Kid string `json:"kid"` // KidOf the signing key
	Cty string `json:"cty"` // which list (CtyTrustList, ...)
	// Iat is when the issuer first published this version (Unix
	// seconds): an app that sees it go backwards is being fed an old list.
	Iat int64 `json:"iat"`
}

// JWK is a public key (RFC 7517), EC P-256 only.
type JWK struct {
	Kty string `json:"kty"` // EC
	Crv string `json:"crv"` // P-256
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"` // ES256
	Use string `json:"use"` // sig
}

// KeySet is the body of PathKeys (a JWK set).
type KeySet struct {
	Keys []JWK `json:"keys"`
}

var b64 = base64.RawURLEncoding

// Errors Verify wraps.
var (
	ErrMalformed    = errors.New("listsapi: malformed signature")
	ErrUnknownKey   = errors.New("listsapi: signature by an unknown key")
	ErrWrongList    = errors.New("listsapi: signature is for another kind of list")
	ErrBadSignature = errors.New("listsapi: signature does not verify")
)

// KidOf is a key's identifier: BASE64URL of the first 8 bytes of the
// SHA-256 of its SubjectPublicKeyInfo (as DCC kids are formed from a
// certificate).
func KidOf(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("listsapi: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return b64.EncodeToString(sum[:8]), nil
}

// JWKOf is pub as a JWK.
func JWKOf(pub *ecdsa.PublicKey) (JWK, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return JWK{}, errors.New("listsapi: the list signing key must be ECDSA P-256")
	}
	kid, err := KidOf(pub)
	if err != nil {
		return JWK{}, err
	}
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return JWK{}, fmt.Errorf("listsapi: encoding the key: %w", err)
	}
	return JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:]),
		Kid: kid, Alg: "ES256", Use: "sig"}, nil
}

// PublicKey decodes the JWK.
func (k JWK) PublicKey() (*ecdsa.PublicKey, error) {
	if k.Kty != "EC" || k.Crv != "P-256" {
		return nil, fmt.Errorf("%w: key %q is %s %s, want EC P-256", ErrMalformed, k.Kid, k.Kty, k.Crv)
	}
	x, err1 := b64.DecodeString(k.X)
	y, err2 := b64.DecodeString(k.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("%w: key %q coordinates", ErrMalformed, k.Kid)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: %v", ErrMalformed, k.Kid, err)
	}
	return pub, nil
}

// Sign makes the detached JWS of body as list kind cty.
func Sign(key *ecdsa.PrivateKey, cty string, iat time.Time, body []byte) (string, error) {
	kid, err := KidOf(&key.PublicKey)
	if err != nil {
		return "", err
	}
	hdr, err := json.Marshal(JWSHeader{Alg: "ES256", Kid: kid, Cty: cty, Iat: iat.Unix()})
	if err != nil {
		return "", fmt.Errorf("listsapi: signature header: %w", err)
	}
	protected := b64.EncodeToString(hdr)
	digest := signingDigest(protected, body)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("listsapi: signing: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return protected + ".." + b64.EncodeToString(sig), nil
}

func signingDigest(protected string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(protected))
	h.Write([]byte{'.'})
	enc := base64.NewEncoder(b64, h)
	_, _ = enc.Write(body)
	_ = enc.Close()
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Verify checks the detached JWS jws over body: ES256 by a key of keys,
// for list kind cty. It returns the protected header.
func Verify(jws string, body []byte, keys KeySet, cty string) (JWSHeader, error) {
	protected, sigPart, ok := strings.Cut(jws, "..")
	if !ok || protected == "" || strings.Contains(sigPart, ".") {
		return JWSHeader{}, fmt.Errorf("%w: want BASE64URL(header)..BASE64URL(signature)", ErrMalformed)
	}
	raw, err := b64.DecodeString(protected)
	if err != nil {
		return JWSHeader{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h JWSHeader
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // an unknown (perhaps critical) parameter is not ignored
	if err := dec.Decode(&h); err != nil {
		return JWSHeader{}, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != "ES256" {
		return h, fmt.Errorf("%w: alg %q, want ES256", ErrMalformed, h.Alg)
	}
	if h.Cty != cty {
		return h, fmt.Errorf("%w: signed as %q, expected %q", ErrWrongList, h.Cty, cty)
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil || len(sig) != 64 {
		return h, fmt.Errorf("%w: signature is not 64 bytes of base64url", ErrMalformed)
	}
	var pub *ecdsa.PublicKey
	for _, k := range keys.Keys {
		if k.Kid == h.Kid {
			if pub, err = k.PublicKey(); err != nil {
				return h, err
			}
			// The set's kid is a claim: it must be this key's.
			if kid, err := KidOf(pub); err != nil || kid != k.Kid {
				return h, fmt.Errorf("%w: key %q does not have that kid", ErrMalformed, k.Kid)
			}
			break
		}
	}
	if pub == nil {
		return h, fmt.Errorf("%w: kid %q", ErrUnknownKey, h.Kid)
	}
	digest := signingDigest(protected, body)
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return h, ErrBadSignature
	}
	return h, nil
}
