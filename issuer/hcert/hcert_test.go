package hcert

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/pki"
)

func TestRoundTrip(t *testing.T) {
	w := testWorld(t)
	payloads := map[dcc.Type]func() *dcc.Certificate{
		dcc.TypeVaccination: vaccination, dcc.TypeTest: test, dcc.TypeRecovery: recovery,
	}
	dscs := []struct {
		name   string
		kp     *pki.KeyPair
		alg    int64
		sigLen int
	}{
		{"ES256", w.es, -7, 64},
		{"PS256", w.ps, -37, 256},
	}
	for _, k := range dscs {
		for typ, mk := range payloads {
			t.Run(k.name+"/"+string(typ), func(t *testing.T) {
				in := mk()
				opts := EncodeOptions{Issuer: "DE", IssuedAt: testNow.Add(1500 * time.Millisecond), ExpiresAt: testNow.AddDate(0, 0, 3)}
				hc1 := mustEncode(t, in, k.kp, opts)
				if !strings.HasPrefix(hc1, "HC1:") {
					t.Fatalf("no prefix: %.10q", hc1)
				}
				for _, r := range hc1[4:] {
					if !strings.ContainsRune(base45Alphabet, r) {
						t.Fatalf("character %q is not QR alphanumeric", r)
					}
				}
				res, err := Verify(hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Valid || res.Reason != "" || res.Err != nil {
					t.Fatalf("not valid: %s: %v", res.Reason, res.Err)
				}
				if !res.Signer.Equal(k.kp.Cert) {
					t.Error("wrong signer")
				}
				d := res.Decoded
				if !reflect.DeepEqual(d.Payload, in) {
					t.Errorf("payload changed:\n got %+v\nwant %+v", d.Payload, in)
				}
				if d.Issuer != "DE" || !d.IssuedAt.Equal(testNow.Add(time.Second)) || !d.ExpiresAt.Equal(testNow.AddDate(0, 0, 3)) {
					t.Errorf("claims iss %q iat %v exp %v", d.Issuer, d.IssuedAt, d.ExpiresAt)
				}
				if d.Alg != k.alg || len(d.Signature) != k.sigLen {
					t.Errorf("alg %d with %d-byte signature, want %d with %d", d.Alg, len(d.Signature), k.alg, k.sigLen)
				}
				if !bytes.Equal(d.Kid, pki.Kid(k.kp.Cert)) || !d.KidInProtected {
					t.Errorf("kid %x (protected %v), want %x protected", d.Kid, d.KidInProtected, pki.Kid(k.kp.Cert))
				}
				if !bytes.HasPrefix(d.COSE, []byte{0xd2, 0x84}) {
					t.Errorf("COSE_Sign1 starts %x, want tag 18 and a 4-array", d.COSE[:2])
				}
				// Protected header is exactly {1: alg, 4: kid}.
				var prot map[int64]any
				if err := cbor.Unmarshal(d.Protected, &prot); err != nil {
					t.Fatal(err)
				}
				if len(prot) != 2 || prot[1] != k.alg || !bytes.Equal(prot[4].([]byte), d.Kid) {
					t.Errorf("protected header %v", prot)
				}
				// The CWT: integer iat/exp, claim keys 1, 4, 6, -260.
				var cl map[int64]cbor.RawMessage
				if err := cbor.Unmarshal(d.CWT, &cl); err != nil {
					t.Fatal(err)
				}
				if len(cl) != 4 || cl[6][0]>>5 != 0 || cl[4][0]>>5 != 0 || cl[claimHCert] == nil {
					t.Errorf("CWT claims %x", d.CWT)
				}
				// The CBOR payload is the JSON payload: same keys, same
				// values, optional fields left out alike.
				js, _ := json.Marshal(in)
				var fromJSON, fromCBOR map[string]any
				_ = json.Unmarshal(js, &fromJSON)
				if err := jsonMaps.Unmarshal(d.RawPayload, &fromCBOR); err != nil {
					t.Fatal(err)
				}
				if again, _ := json.Marshal(fromCBOR); !bytes.Equal(again, mustJSON(t, fromJSON)) {
					t.Errorf("CBOR payload differs from JSON:\n%s\n%s", again, js)
				}
				// Payload and claims are core deterministic: re-encoding
				// the generic decoding reproduces the bytes.
				for name, b := range map[string][]byte{"payload": d.RawPayload, "CWT": d.CWT} {
					var generic any
					if err := cbor.Unmarshal(b, &generic); err != nil {
						t.Fatal(err)
					}
					again, err := encMode.Marshal(generic)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(again, b) {
						t.Errorf("%s is not deterministic CBOR:\n%x\n%x", name, b, again)
					}
				}
			})
		}
	}
}

// jsonMaps decodes CBOR maps as JSON objects.
var jsonMaps, _ = cbor.DecOptions{DefaultMapType: reflect.TypeOf(map[string]any(nil))}.DecMode()

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKidOnlyUnprotected(t *testing.T) {
	w := testWorld(t)
	opts := defaultOpts()
	opts.KidUnprotected = true
	res, err := Verify(mustEncode(t, vaccination(), w.es, opts), w.trust, VerifyOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("kid in the unprotected header: %s: %v", res.Reason, res.Err)
	}
	if res.Decoded.KidInProtected || !bytes.Equal(res.Decoded.Kid, pki.Kid(w.es.Cert)) {
		t.Errorf("kid %x protected=%v", res.Decoded.Kid, res.Decoded.KidInProtected)
	}
	var prot map[int64]any
	_ = cbor.Unmarshal(res.Decoded.Protected, &prot)
	if _, ok := prot[headerKid]; ok {
		t.Error("kid also in the protected header")
	}
}

func TestProtectedKidWins(t *testing.T) {
	w := testWorld(t)
	// Build a message with the right kid protected and a wrong one unprotected.
	f := forgery{key: w.es.Key, kid: pki.Kid(w.es.Cert)}
	d, err := Decode(f.hc1(t))
	if err != nil {
		t.Fatal(err)
	}
	unprot, _ := encMode.Marshal(header{Kid: []byte("wrongkid")})
	msg, _ := marshalSign1(d.Protected, unprot, d.CWT, d.Signature)
	res, err := Verify(packed(t, msg), w.trust, VerifyOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || !bytes.Equal(res.Decoded.Kid, pki.Kid(w.es.Cert)) {
		t.Errorf("valid=%v reason=%s kid=%x", res.Valid, res.Reason, res.Decoded.Kid)
	}
}

func TestSharedKid(t *testing.T) {
	w := testWorld(t)
	shared := pki.Kid(w.es2.Cert)
	trust := &pki.TrustList{Entries: []pki.TrustEntry{
		{Kid: shared, Certificate: w.es.Cert.Raw},
		{Kid: shared, Certificate: w.es2.Cert.Raw},
		{Kid: shared, Certificate: w.ps.Cert.Raw},
	}}
	tests := []struct {
		name string
		key  *pki.KeyPair
	}{
		{"second of three verifies", w.es2},
		{"first of three verifies", w.es},
		{"third, an RSA key, verifies", w.ps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(forgery{key: tt.key.Key, kid: shared}.hc1(t), trust, VerifyOptions{Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid {
				t.Fatalf("%s: %v", res.Reason, res.Err)
			}
			if !res.Signer.Equal(tt.key.Cert) {
				t.Errorf("signer %s, want %s", res.Signer.Subject.SerialNumber, tt.key.Cert.Subject.SerialNumber)
			}
		})
	}
}

// TestReasons gives every failure its own input and checks it yields its
// own reason code.
func TestReasons(t *testing.T) {
	w := testWorld(t)
	valid := mustEncode(t, vaccination(), w.es, defaultOpts())
	d, err := Decode(valid)
	if err != nil {
		t.Fatal(err)
	}
	esKid := pki.Kid(w.es.Cert)

	tampered := bytes.Replace(d.CWT, []byte("Gabriele"), []byte("Gabriela"), 1)
	if bytes.Equal(tampered, d.CWT) {
		t.Fatal("tampering found nothing to change")
	}
	tamperedMsg, _ := marshalSign1(d.Protected, nil, tampered, d.Signature)

	untagged := d.COSE[1:] // drop tag 18, keep the array
	threeArray, _ := encMode.Marshal(cbor.Tag{Number: tagCOSESign1, Content: []any{d.Protected, map[int]any{}, d.CWT}})
	wrongTag, _ := encMode.Marshal(cbor.Tag{Number: 98, Content: []any{d.Protected, map[int]any{}, d.CWT, d.Signature}})
	notArray, _ := encMode.Marshal(map[int]string{1: "DE"})
	nested := append(bytes.Repeat([]byte{0x81}, 40), 0x01)
	hugeArray := append([]byte{0x99, 0x08, 0x00}, bytes.Repeat([]byte{0x01}, 2048)...) // array of 2048

	var bomb bytes.Buffer
	zw := zlib.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, maxInflated+1))
	_ = zw.Close()
	z, _ := DecodeBase45(valid[4:])
	truncatedZ := Prefix + EncodeBase45(z[:len(z)-6])
	badAdler := append([]byte{}, z...)
	badAdler[len(badAdler)-1] ^= 0xff

	validV := cwtClaims(t, vaccination(), testNow, testNow.AddDate(1, 0, 0))
	noHCert := map[int]any{claimIss: "DE", claimIat: testNow.Unix(), claimExp: testNow.AddDate(1, 0, 0).Unix()}
	twoTypes := vaccination()
	twoTypes.R = recovery().R
	withStringDn := map[int]any{claimIss: "DE", claimIat: testNow.Unix(), claimExp: testNow.AddDate(1, 0, 0).Unix(),
		claimHCert: map[int]any{1: map[string]any{"ver": "1.3.0", "v": []any{map[string]any{"dn": "two"}}}}}

	revoked := func() RevocationChecker {
		var s RevocationSet
		hs, err := RevocationHashes(d)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Add(HashUCI, hs[HashUCI])
		return &s
	}()
	var unrelated RevocationSet
	_ = unrelated.Add(HashUCI, make([]byte, 16))

	tests := []struct {
		name string
		hc1  string
		opts VerifyOptions
		want Reason
	}{
		{"valid", valid, VerifyOptions{Now: testNow.Add(time.Hour)}, ""},
		{"valid with unrelated revocations", valid, VerifyOptions{Now: testNow, Revoked: &unrelated}, ""},
		{"tampered payload", packed(t, tamperedMsg), VerifyOptions{}, ReasonBadSignature},
		{"signed by an untrusted DSC under a trusted kid", forgery{key: w.outsider.Key, kid: esKid}.hc1(t), VerifyOptions{}, ReasonBadSignature},
		{"DER-encoded ECDSA signature", forgery{key: w.es.Key, kid: esKid, der: true}.hc1(t), VerifyOptions{}, ReasonBadSignature},
		{"header says PS256, key is ES256", forgery{key: w.ps.Key, kid: esKid}.hc1(t), VerifyOptions{}, ReasonBadSignature},
		{"unsupported algorithm", forgery{key: w.es.Key, kid: esKid, alg: cose.AlgorithmES384}.hc1(t), VerifyOptions{}, ReasonBadSignature},
		{"expired", valid, VerifyOptions{Now: testNow.AddDate(1, 0, 0).Add(time.Second)}, ReasonExpired},
		{"expired, within leeway", valid, VerifyOptions{Now: testNow.AddDate(1, 0, 0).Add(time.Second), Leeway: time.Minute}, ""},
		{"not yet valid", valid, VerifyOptions{Now: testNow.Add(-time.Second)}, ReasonNotYetValid},
		{"unknown kid", mustEncode(t, vaccination(), w.outsider, defaultOpts()), VerifyOptions{}, ReasonUnknownKid},
		{"no kid at all", forgery{key: w.es.Key}.hc1(t), VerifyOptions{}, ReasonUnknownKid},
		{"missing prefix", valid[4:], VerifyOptions{}, ReasonBadPrefix},
		{"other prefix", "HC2:" + valid[4:], VerifyOptions{}, ReasonBadPrefix},
		{"empty", "", VerifyOptions{}, ReasonBadPrefix},
		{"garbage Base45", "HC1:this is not base45!", VerifyOptions{}, ReasonBadBase45},
		{"Base45 triple overflow", "HC1:GGW", VerifyOptions{}, ReasonBadBase45},
		{"not zlib", Prefix + EncodeBase45([]byte("plain bytes, no zlib header")), VerifyOptions{}, ReasonBadZlib},
		{"truncated zlib", truncatedZ, VerifyOptions{}, ReasonBadZlib},
		{"zlib checksum", Prefix + EncodeBase45(badAdler), VerifyOptions{}, ReasonBadZlib},
		{"zlib bomb", Prefix + EncodeBase45(bomb.Bytes()), VerifyOptions{}, ReasonBadZlib},
		{"bad CBOR", zlibHC1(t, []byte{0xff, 0x00}), VerifyOptions{}, ReasonBadCBOR},
		{"truncated CBOR", zlibHC1(t, d.COSE[:len(d.COSE)-10]), VerifyOptions{}, ReasonBadCBOR},
		{"trailing bytes after CBOR", zlibHC1(t, append(append([]byte{}, d.COSE...), 0x00)), VerifyOptions{}, ReasonBadCBOR},
		{"CBOR nested too deep", zlibHC1(t, nested), VerifyOptions{}, ReasonBadCBOR},
		{"CBOR array too long", zlibHC1(t, hugeArray), VerifyOptions{}, ReasonBadCBOR},
		{"COSE_Sign1 without tag", zlibHC1(t, untagged), VerifyOptions{}, ""},
		{"COSE_Sign1 without tag, tampered", zlibHC1(t, tamperedMsg[1:]), VerifyOptions{}, ReasonBadSignature},
		{"COSE_Sign1 with three elements", zlibHC1(t, threeArray), VerifyOptions{}, ReasonNotCOSESign1},
		{"other tag", zlibHC1(t, wrongTag), VerifyOptions{}, ReasonNotCOSESign1},
		{"a map, not COSE", zlibHC1(t, notArray), VerifyOptions{}, ReasonNotCOSESign1},
		{"iat before the DSC's notBefore", forgery{key: w.es.Key, kid: esKid,
			claims: cwtClaims(t, vaccination(), w.es.Cert.NotBefore.Add(-time.Hour), testNow.AddDate(0, 1, 0))}.hc1(t), VerifyOptions{}, ReasonOutsideDSCValidity},
		{"exp after the DSC's notAfter", forgery{key: w.es.Key, kid: esKid,
			claims: cwtClaims(t, vaccination(), testNow, w.es.Cert.NotAfter.Add(time.Hour))}.hc1(t), VerifyOptions{}, ReasonOutsideDSCValidity},
		{"key usage forbids vaccination", forgery{key: w.testOnly.Key, kid: pki.Kid(w.testOnly.Cert)}.hc1(t), VerifyOptions{}, ReasonKeyUsage},
		{"legacy key usage forbids vaccination", forgery{key: w.testOnlyLegacy.Key, kid: pki.Kid(w.testOnlyLegacy.Cert)}.hc1(t), VerifyOptions{}, ReasonKeyUsage},
		{"key usage allows test", forgery{key: w.testOnly.Key, kid: pki.Kid(w.testOnly.Cert),
			claims: cwtClaims(t, test(), testNow, testNow.AddDate(0, 0, 3))}.hc1(t), VerifyOptions{}, ""},
		{"revoked", valid, VerifyOptions{Revoked: revoked}, ReasonRevoked},
		{"claims without hcert", forgery{key: w.es.Key, kid: esKid, claims: noHCert}.hc1(t), VerifyOptions{}, ReasonBadPayload},
		{"claims not a map", forgery{key: w.es.Key, kid: esKid, claims: []int{1, 2}}.hc1(t), VerifyOptions{}, ReasonBadPayload},
		{"DCC with two types", forgery{key: w.es.Key, kid: esKid, claims: cwtClaims(t, twoTypes, testNow, testNow.AddDate(1, 0, 0))}.hc1(t), VerifyOptions{}, ReasonBadPayload},
		{"DCC not mapping", forgery{key: w.es.Key, kid: esKid, claims: withStringDn}.hc1(t), VerifyOptions{}, ReasonBadPayload},
		{"forged but correct", forgery{key: w.es.Key, kid: esKid, claims: validV}.hc1(t), VerifyOptions{}, ""},
	}
	seen := map[Reason]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Now.IsZero() {
				tt.opts.Now = testNow.Add(time.Minute)
			}
			res, err := Verify(tt.hc1, w.trust, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != tt.want || res.Valid != (tt.want == "") {
				t.Fatalf("valid=%v reason=%q (%v), want %q", res.Valid, res.Reason, res.Err, tt.want)
			}
			if !res.Valid && ReasonOf(res.Err) != tt.want {
				t.Errorf("ReasonOf(Err) = %q", ReasonOf(res.Err))
			}
			seen[tt.want] = true
		})
	}
	for _, r := range Reasons() {
		if r == ReasonSchema {
			continue // needs the official schemas: TestVerifySchema
		}
		if !seen[r] {
			t.Errorf("no case yields %s", r)
		}
	}
}

func TestVerifyNeedsTrustList(t *testing.T) {
	if _, err := Verify("HC1:", nil, VerifyOptions{}); err == nil {
		t.Error("Verify without trust list succeeded")
	}
}

func TestDSCValidityJudgedAtIssuance(t *testing.T) {
	// A DCC stays valid after its DSC's end as long as it was issued
	// within the DSC's validity and does not outlive it: checked at iat.
	w := testWorld(t)
	iat := w.es.Cert.NotAfter.Add(-48 * time.Hour)
	hc1 := mustEncode(t, test(), w.es, EncodeOptions{Issuer: "DE", IssuedAt: iat, ExpiresAt: w.es.Cert.NotAfter})
	res, err := Verify(hc1, w.trust, VerifyOptions{Now: iat.Add(time.Hour)})
	if err != nil || !res.Valid {
		t.Fatalf("%v %s %v", err, res.Reason, res.Err)
	}
	res, _ = Verify(hc1, w.trust, VerifyOptions{Now: w.es.Cert.NotAfter.Add(time.Hour)})
	if res.Reason != ReasonExpired {
		t.Errorf("after the DSC's end: %q, want expired (not %s)", res.Reason, ReasonOutsideDSCValidity)
	}
}

func TestEncodeRefuses(t *testing.T) {
	w := testWorld(t)
	twoTypes := vaccination()
	twoTypes.T = test().T
	tests := []struct {
		name string
		cert *dcc.Certificate
		dsc  *pki.KeyPair
		opts EncodeOptions
		want Reason // "" when the error carries no reason
	}{
		{"iat before the DSC", vaccination(), w.es, EncodeOptions{Issuer: "DE", IssuedAt: w.es.Cert.NotBefore.Add(-time.Second), ExpiresAt: testNow}, ReasonOutsideDSCValidity},
		{"exp after the DSC", vaccination(), w.es, EncodeOptions{Issuer: "DE", IssuedAt: testNow, ExpiresAt: w.es.Cert.NotAfter.Add(time.Second)}, ReasonOutsideDSCValidity},
		{"key usage", vaccination(), w.testOnly, defaultOpts(), ReasonKeyUsage},
		{"recovery with a test-only DSC", recovery(), w.testOnly, defaultOpts(), ReasonKeyUsage},
		{"two types", twoTypes, w.es, defaultOpts(), ReasonBadPayload},
		{"exp not after iat", vaccination(), w.es, EncodeOptions{Issuer: "DE", IssuedAt: testNow, ExpiresAt: testNow}, ""},
		{"no issuer", vaccination(), w.es, EncodeOptions{IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}, ""},
		{"no times", vaccination(), w.es, EncodeOptions{Issuer: "DE"}, ""},
		{"nil certificate", nil, w.es, defaultOpts(), ""},
		{"DSC without key", vaccination(), &pki.KeyPair{Cert: w.es.Cert}, defaultOpts(), ""},
		{"key of another DSC", vaccination(), &pki.KeyPair{Cert: w.es.Cert, Key: w.es2.Key}, defaultOpts(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc1, err := Encode(tt.cert, tt.dsc, tt.opts)
			if err == nil {
				t.Fatalf("Encode succeeded: %.20s", hc1)
			}
			if got := ReasonOf(err); got != tt.want {
				t.Errorf("reason %q, want %q (%v)", got, tt.want, err)
			}
		})
	}
	// The boundaries are allowed.
	if _, err := Encode(test(), w.es, EncodeOptions{Issuer: "DE", IssuedAt: w.es.Cert.NotBefore, ExpiresAt: w.es.Cert.NotAfter}); err != nil {
		t.Errorf("iat = notBefore, exp = notAfter: %v", err)
	}
}

func TestDecodeKeepsPartsOnBadClaims(t *testing.T) {
	w := testWorld(t)
	d, err := Decode(forgery{key: w.es.Key, kid: pki.Kid(w.es.Cert), claims: map[int]any{claimIss: 5}}.hc1(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.PayloadErr == nil || d.Payload != nil {
		t.Errorf("PayloadErr %v, Payload %v", d.PayloadErr, d.Payload)
	}
	if len(d.Signature) != 64 || !bytes.Equal(d.Kid, pki.Kid(w.es.Cert)) {
		t.Error("container parts lost")
	}
}

func TestDecodeFloatNumericDate(t *testing.T) {
	w := testWorld(t)
	p, _ := encMode.Marshal(vaccination())
	cl := map[int]any{claimIss: "NL", claimIat: float64(testNow.Unix()) + 0.5, claimExp: float64(testNow.AddDate(0, 6, 0).Unix()),
		claimHCert: map[int]cbor.RawMessage{1: p}}
	res, err := Verify(forgery{key: w.es.Key, kid: pki.Kid(w.es.Cert), claims: cl}.hc1(t), w.trust, VerifyOptions{Now: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("%s: %v", res.Reason, res.Err)
	}
	if !res.Decoded.IssuedAt.Equal(testNow.Add(500*time.Millisecond)) || res.Decoded.Issuer != "NL" {
		t.Errorf("iat %v iss %s", res.Decoded.IssuedAt, res.Decoded.Issuer)
	}
}

func TestErrorType(t *testing.T) {
	inner := errors.New("boom")
	err := error(fail(ReasonBadCBOR, inner))
	if !errors.Is(err, inner) || ReasonOf(err) != ReasonBadCBOR {
		t.Errorf("Unwrap/ReasonOf broken: %v", err)
	}
	if !strings.Contains(err.Error(), "bad_cbor") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("message %q", err)
	}
	wrapped := errors.Join(errors.New("ctx"), err)
	if ReasonOf(wrapped) != ReasonBadCBOR {
		t.Error("ReasonOf does not see through wrapping")
	}
	if ReasonOf(nil) != "" || ReasonOf(inner) != "" {
		t.Error("ReasonOf invents reasons")
	}
}

func TestCompressionLevels(t *testing.T) {
	w := testWorld(t)
	sizes := map[int]int{}
	for _, level := range []int{zlib.NoCompression, zlib.HuffmanOnly, zlib.BestSpeed, zlib.DefaultCompression, zlib.BestCompression} {
		opts := defaultOpts()
		opts.CompressionLevel = level
		hc1 := mustEncode(t, recovery(), w.es, opts)
		res, err := Verify(hc1, w.trust, VerifyOptions{Now: testNow})
		if err != nil || !res.Valid {
			t.Fatalf("level %d: %v %s %v", level, err, res.Reason, res.Err)
		}
		sizes[level] = len(hc1)
	}
	// Stored blocks carry the COSE_Sign1 as is; deflate must not be larger.
	if sizes[zlib.BestCompression] > sizes[zlib.NoCompression] {
		t.Errorf("BestCompression %d chars > NoCompression %d", sizes[zlib.BestCompression], sizes[zlib.NoCompression])
	}
	for _, bad := range []int{-3, 10} {
		opts := defaultOpts()
		opts.CompressionLevel = bad
		if _, err := Encode(recovery(), w.es, opts); err == nil {
			t.Errorf("level %d accepted", bad)
		}
	}
}
