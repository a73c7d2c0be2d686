package hcert

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/pki"
)

// testNow is day 1 of pharmacy issuing.
var testNow = time.Date(2021, 6, 14, 8, 0, 0, 0, time.UTC)

// world is the key material the tests share; RSA key generation makes it
// worth building once.
type world struct {
	csca     *pki.KeyPair
	es       *pki.KeyPair // ES256, all usages, trusted
	es2      *pki.KeyPair // ES256, all usages, trusted
	ps       *pki.KeyPair // PS256, all usages, trusted
	testOnly *pki.KeyPair // ES256, may sign tests only, trusted
	// testOnlyLegacy may sign tests only, written with the hcert 1.0.5
	// OIDs; trusted.
	testOnlyLegacy *pki.KeyPair
	outsider       *pki.KeyPair // ES256, same CSCA, not in the trust list
	trust          *pki.TrustList
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func testWorld(tb testing.TB) *world {
	tb.Helper()
	worldOnce.Do(func() { theWorld, worldErr = buildWorld() })
	if worldErr != nil {
		tb.Fatal(worldErr)
	}
	return theWorld
}

func buildWorld() (*world, error) {
	w := &world{}
	var err error
	if w.csca, err = pki.NewCSCA("DE", testNow.AddDate(0, -1, 0)); err != nil {
		return nil, err
	}
	start := testNow.Add(-24 * time.Hour)
	mkForm := func(alg pki.Alg, form pki.UsageOIDForm, usages ...dcc.Type) *pki.KeyPair {
		if err != nil {
			return nil
		}
		var kp *pki.KeyPair
		kp, err = pki.NewDSC(w.csca, pki.DSCOptions{Alg: alg, NotBefore: start, Usages: usages, UsageOIDs: form})
		return kp
	}
	mk := func(alg pki.Alg, usages ...dcc.Type) *pki.KeyPair { return mkForm(alg, pki.UsageOIDCurrent, usages...) }
	w.es, w.es2, w.ps = mk(pki.ES256), mk(pki.ES256), mk(pki.PS256)
	w.testOnly, w.outsider = mk(pki.ES256, dcc.TypeTest), mk(pki.ES256)
	w.testOnlyLegacy = mkForm(pki.ES256, pki.UsageOIDLegacy, dcc.TypeTest)
	if err != nil {
		return nil, err
	}
	w.trust, err = pki.NewTrustList(w.es.Cert, w.es2.Cert, w.ps.Cert, w.testOnly.Cert, w.testOnlyLegacy.Cert)
	return w, err
}

func vaccination() *dcc.Certificate {
	return &dcc.Certificate{
		Ver: "1.3.0",
		Nam: dcc.Name{Fn: "Musterfrau-Gößinger", Fnt: "MUSTERFRAU<GOESSINGER", Gn: "Gabriele", Gnt: "GABRIELE"},
		Dob: "1998-02-26",
		V: []dcc.Vaccination{{
			Tg: "840539006", Vp: "1119349007", Mp: "EU/1/20/1528", Ma: "ORG-100030215",
			Dn: 2, Sd: 2, Dt: "2021-06-11", Co: "DE", Is: "Robert Koch-Institut",
			Ci: withCheck("URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8"),
		}},
	}
}

func test() *dcc.Certificate {
	return &dcc.Certificate{
		Ver: "1.3.0",
		Nam: dcc.Name{Fn: "Mustermann", Fnt: "MUSTERMANN", Gn: "Erika", Gnt: "ERIKA"},
		Dob: "1964-08-12",
		T: []dcc.Test{{
			Tg: "840539006", Tt: "LP6464-4", Nm: "Roche LightCycler qPCR", Sc: "2021-06-13T10:27:15Z",
			Tr: "260415000", Tc: "Testzentrum Köln Hbf", Co: "DE", Is: "Robert Koch-Institut",
			Ci: withCheck("URN:UVCI:01DE/IBMT102/18Q12HTUJ7J3C7FL3IFN3QJ7"),
		}},
	}
}

func recovery() *dcc.Certificate {
	return &dcc.Certificate{
		Ver: "1.3.0",
		Nam: dcc.Name{Fn: "Čapek", Fnt: "CAPEK", Gn: "Jan", Gnt: "JAN"},
		Dob: "1970",
		R: []dcc.Recovery{{
			Tg: "840539006", Fr: "2021-05-01", Co: "DE", Is: "Robert Koch-Institut",
			Df: "2021-05-29", Du: "2021-11-10", Ci: withCheck("URN:UVCI:01DE/5CWLU12RNOB9RXSEOP6FG8"),
		}},
	}
}

func defaultOpts() EncodeOptions {
	return EncodeOptions{Issuer: "DE", IssuedAt: testNow, ExpiresAt: testNow.AddDate(1, 0, 0)}
}

func mustEncode(tb testing.TB, c *dcc.Certificate, dsc *pki.KeyPair, opts EncodeOptions) string {
	tb.Helper()
	hc1, err := Encode(c, dsc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return hc1
}

// forgery builds containers Encode refuses to make: foreign keys under a
// trusted kid, DER signatures, odd claims.
type forgery struct {
	key       crypto.Signer
	alg       cose.Algorithm // default from the key
	kid       []byte
	kidUnprot bool
	claims    any  // default: a valid vaccination CWT
	der       bool // sign ES256 with an ASN.1 DER signature
}

func (f forgery) hc1(tb testing.TB) string {
	tb.Helper()
	if f.alg == 0 {
		a, err := pki.AlgOf(f.key.Public())
		if err != nil {
			tb.Fatal(err)
		}
		f.alg, _ = coseAlg(a)
	}
	if f.claims == nil {
		f.claims = cwtClaims(tb, vaccination(), testNow, testNow.AddDate(1, 0, 0))
	}
	cwt, err := encMode.Marshal(f.claims)
	if err != nil {
		tb.Fatal(err)
	}
	a := int64(f.alg)
	prot, unprot := header{Alg: &a, Kid: f.kid}, header{}
	if f.kidUnprot {
		prot.Kid, unprot.Kid = nil, f.kid
	}
	protected, _ := encMode.Marshal(prot)
	unprotected, _ := encMode.Marshal(unprot)
	tbs, err := toBeSigned(protected, cwt)
	if err != nil {
		tb.Fatal(err)
	}
	var sig []byte
	if f.der {
		h := sha256.Sum256(tbs)
		sig, err = f.key.Sign(rand.Reader, h[:], crypto.SHA256)
	} else {
		var s cose.Signer
		if s, err = cose.NewSigner(f.alg, f.key); err == nil {
			sig, err = s.Sign(rand.Reader, tbs)
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := marshalSign1(protected, unprotected, cwt, sig)
	if err != nil {
		tb.Fatal(err)
	}
	return packed(tb, msg)
}

func cwtClaims(tb testing.TB, c *dcc.Certificate, iat, exp time.Time) claims {
	tb.Helper()
	p, err := encMode.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return claims{Iss: "DE", Iat: iat.Unix(), Exp: exp.Unix(), HCert: hcertClaims{DCC: p}}
}

func packed(tb testing.TB, msg []byte) string {
	tb.Helper()
	s, err := pack(msg, zlib.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// zlibHC1 compresses arbitrary bytes into an HC1 string.
func zlibHC1(tb testing.TB, data []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(data)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return Prefix + EncodeBase45(buf.Bytes())
}

// withCheck appends the Luhn mod N check character, so fixtures pass the
// same validation as issued certificates.
func withCheck(ci string) string {
	c, err := dcc.CheckChar(ci)
	if err != nil {
		panic(err)
	}
	return ci + "#" + string(c)
}
