package hcert

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/pki"
)

// Prefix starts every HC1 string (context identifier, HCERT version 1).
const Prefix = "HC1:"

// EncodeOptions are the CWT claims and header choices of one certificate.
type EncodeOptions struct {
	Issuer    string    // CWT iss: the issuing country, e.g. "DE"
	IssuedAt  time.Time // CWT iat; sent as whole seconds
	ExpiresAt time.Time // CWT exp; sent as whole seconds
	// KidUnprotected puts the kid into the unprotected header instead of
	// the protected one (the spec's default). Verifiers must accept both;
	// tests use it.
	KidUnprotected bool
	// CompressionLevel is the zlib level, zlib.NoCompression (0) by
	// default: a DCC's COSE_Sign1 is a few hundred bytes of distinct
	// strings, and deflate saves 0-5% of it (0-26 bytes on the official
	// samples and ours) while costing more time than the ECDSA signature
	// (BenchmarkCompression). zlib.BestCompression gives the smallest QR
	// code where that matters more than issuing speed.
	CompressionLevel int
}

// Encode signs c with the DSC and returns the HC1 string. The algorithm
// follows the DSC key (ES256 for P-256, PS256 for RSA). It refuses
// certificates the DSC may not sign: iat before the DSC's notBefore, exp
// after its notAfter, or a type outside its key usage. It does not validate
// the payload against the schema; callers do that first.
func Encode(c *dcc.Certificate, dsc *pki.KeyPair, opts EncodeOptions) (string, error) {
	if c == nil {
		return "", errors.New("hcert: nil certificate")
	}
	if dsc == nil || dsc.Cert == nil || dsc.Key == nil {
		return "", errors.New("hcert: Encode needs a DSC certificate with its key")
	}
	if opts.Issuer == "" {
		return "", errors.New("hcert: no issuer country")
	}
	if opts.IssuedAt.IsZero() || opts.ExpiresAt.IsZero() {
		return "", errors.New("hcert: IssuedAt and ExpiresAt are required")
	}
	iat, exp := opts.IssuedAt.Unix(), opts.ExpiresAt.Unix()
	if exp <= iat {
		return "", fmt.Errorf("hcert: exp %d is not after iat %d", exp, iat)
	}
	if iat < dsc.Cert.NotBefore.Unix() {
		return "", fail(ReasonOutsideDSCValidity, fmt.Errorf("iat %s lies before the DSC's notBefore %s",
			time.Unix(iat, 0).UTC().Format(time.RFC3339), dsc.Cert.NotBefore.UTC().Format(time.RFC3339)))
	}
	if exp > dsc.Cert.NotAfter.Unix() {
		return "", fail(ReasonOutsideDSCValidity, fmt.Errorf("exp %s lies after the DSC's notAfter %s",
			time.Unix(exp, 0).UTC().Format(time.RFC3339), dsc.Cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	typ := c.Type()
	if typ == "" {
		return "", fail(ReasonBadPayload, errors.New("the certificate must carry exactly one of v, t and r"))
	}
	if !pki.MaySign(dsc.Cert, typ) {
		return "", fail(ReasonKeyUsage, fmt.Errorf("the DSC's key usage does not cover type %q", typ))
	}
	pub := dsc.Key.Public()
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(dsc.Cert.PublicKey) {
		// Verifiers would reject every certificate signed this way.
		return "", errors.New("hcert: the DSC key does not belong to the DSC certificate")
	}
	alg, err := pki.AlgOf(pub)
	if err != nil {
		return "", fmt.Errorf("hcert: %w", err)
	}
	calg, err := coseAlg(alg)
	if err != nil {
		return "", err
	}

	payload, err := encMode.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("hcert: encoding payload: %w", err)
	}
	cwt, err := encMode.Marshal(claims{Iss: opts.Issuer, Exp: exp, Iat: iat, HCert: hcertClaims{DCC: payload}})
	if err != nil {
		return "", fmt.Errorf("hcert: encoding CWT claims: %w", err)
	}

	a := int64(calg)
	prot, unprot := header{Alg: &a, Kid: pki.Kid(dsc.Cert)}, header{}
	if opts.KidUnprotected {
		prot.Kid, unprot.Kid = nil, prot.Kid
	}
	protected, err := encMode.Marshal(prot)
	if err != nil {
		return "", fmt.Errorf("hcert: encoding protected header: %w", err)
	}
	unprotected, err := encMode.Marshal(unprot)
	if err != nil {
		return "", fmt.Errorf("hcert: encoding unprotected header: %w", err)
	}

	signer, err := cose.NewSigner(calg, dsc.Key)
	if err != nil {
		return "", fmt.Errorf("hcert: %w", err)
	}
	tbs, err := toBeSigned(protected, cwt)
	if err != nil {
		return "", fmt.Errorf("hcert: encoding Sig_structure: %w", err)
	}
	sig, err := signer.Sign(rand.Reader, tbs)
	if err != nil {
		return "", fmt.Errorf("hcert: signing: %w", err)
	}
	msg, err := marshalSign1(protected, unprotected, cwt, sig)
	if err != nil {
		return "", fmt.Errorf("hcert: encoding COSE_Sign1: %w", err)
	}
	return pack(msg, opts.CompressionLevel)
}

// pack compresses a COSE_Sign1 and Base45-encodes it behind the prefix.
func pack(msg []byte, level int) (string, error) {
	if level < zlib.HuffmanOnly || level > zlib.BestCompression {
		return "", fmt.Errorf("hcert: invalid zlib level %d", level)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	pool := &zlibPools[level-zlib.HuffmanOnly]
	zw, _ := pool.Get().(*zlib.Writer)
	if zw == nil {
		var err error
		if zw, err = zlib.NewWriterLevel(buf, level); err != nil {
			return "", fmt.Errorf("hcert: %w", err)
		}
	} else {
		zw.Reset(buf)
	}
	defer pool.Put(zw)
	if _, err := zw.Write(msg); err != nil {
		return "", fmt.Errorf("hcert: compressing: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("hcert: compressing: %w", err)
	}
	z := buf.Bytes()
	var sb strings.Builder
	sb.Grow(len(Prefix) + base45Len(len(z)))
	sb.WriteString(Prefix)
	appendBase45(&sb, z)
	return sb.String(), nil
}

// A deflate writer holds several hundred KiB of tables; creating one per
// certificate would dominate issuing time, so they are pooled, one pool
// per level from HuffmanOnly (-2) to BestCompression (9).
var (
	zlibPools [zlib.BestCompression - zlib.HuffmanOnly + 1]sync.Pool
	bufPool   = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)
