package hcert

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
	"github.com/golive-dev/golive/issuer/pki"
)

// TestKeyUsageOIDForms signs every certificate type with DSCs restricted
// to one type, the restriction written with the current OIDs, with hcert
// 1.0.5's and with both: each validates its own type only.
func TestKeyUsageOIDForms(t *testing.T) {
	w := testWorld(t)
	forms := []pki.UsageOIDForm{pki.UsageOIDCurrent, pki.UsageOIDLegacy, pki.UsageOIDBoth}
	payloads := map[dcc.Type]func() *dcc.Certificate{dcc.TypeVaccination: vaccination, dcc.TypeTest: test, dcc.TypeRecovery: recovery}
	type dsc struct {
		form pki.UsageOIDForm
		typ  dcc.Type
		kp   *pki.KeyPair
	}
	var dscs []dsc
	trust, _ := pki.NewTrustList()
	for _, form := range forms {
		for _, typ := range pki.AllTypes {
			kp, err := pki.NewDSC(w.csca, pki.DSCOptions{NotBefore: testNow.Add(-time.Hour), Usages: []dcc.Type{typ}, UsageOIDs: form})
			if err != nil {
				t.Fatal(err)
			}
			if err := trust.Add(kp.Cert); err != nil {
				t.Fatal(err)
			}
			dscs = append(dscs, dsc{form, typ, kp})
		}
	}
	for _, d := range dscs {
		for _, typ := range pki.AllTypes {
			name := string(d.form)
			if name == "" {
				name = "current"
			}
			t.Run(fmt.Sprintf("%s %s-only DSC signs %s", name, d.typ, typ), func(t *testing.T) {
				// The forgery helper signs what Encode would refuse.
				hc1 := forgery{key: d.kp.Key, kid: pki.Kid(d.kp.Cert),
					claims: cwtClaims(t, payloads[typ](), testNow, testNow.AddDate(0, 0, 3))}.hc1(t)
				res, err := Verify(hc1, trust, VerifyOptions{Now: testNow.Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				want := Reason("")
				if typ != d.typ {
					want = ReasonKeyUsage
				}
				if res.Reason != want || res.Valid != (want == "") {
					t.Errorf("valid=%v reason=%q (%v), want %q", res.Valid, res.Reason, res.Err, want)
				}
				_, err = Encode(payloads[typ](), d.kp, EncodeOptions{Issuer: "DE", IssuedAt: testNow, ExpiresAt: testNow.AddDate(0, 0, 3)})
				if (err == nil) != (typ == d.typ) || (err != nil && ReasonOf(err) != ReasonKeyUsage) {
					t.Errorf("Encode: %v", err)
				}
			})
		}
	}
}

// TestUntaggedCOSE reads COSE_Sign1 messages as other issuers write them:
// made by go-cose (tagged and untagged), without tag 18, inside the CWT
// tag. The tags are not signed, so each verifies; tags that are not
// COSE_Sign1's do not.
func TestUntaggedCOSE(t *testing.T) {
	w := testWorld(t)
	cwt, err := encMode.Marshal(cwtClaims(t, vaccination(), testNow, testNow.AddDate(1, 0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	goCOSE := func(kp *pki.KeyPair, tagged bool) []byte {
		t.Helper()
		a, _ := pki.AlgOf(kp.Key)
		alg, _ := coseAlg(a)
		signer, err := cose.NewSigner(alg, kp.Key)
		if err != nil {
			t.Fatal(err)
		}
		hdr := cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: alg, cose.HeaderLabelKeyID: pki.Kid(kp.Cert)}}
		var msg []byte
		if tagged {
			m := cose.Sign1Message{Headers: hdr, Payload: cwt}
			if err = m.Sign(rand.Reader, nil, signer); err == nil {
				msg, err = m.MarshalCBOR()
			}
		} else {
			m := cose.UntaggedSign1Message{Headers: hdr, Payload: cwt}
			if err = m.Sign(rand.Reader, nil, signer); err == nil {
				msg, err = m.MarshalCBOR()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	own, err := Decode(mustEncode(t, vaccination(), w.es, defaultOpts()))
	if err != nil {
		t.Fatal(err)
	}
	tagged := own.COSE
	untagged := tagged[1:]
	if tagged[0] != 0xd2 || untagged[0] != 0x84 {
		t.Fatalf("COSE starts %x", tagged[:2])
	}
	wrap := func(n uint64, content []byte) []byte {
		b, err := encMode.Marshal(cbor.RawTag{Number: n, Content: content})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		msg  []byte
		want Reason
	}{
		{"go-cose untagged ES256", goCOSE(w.es, false), ""},
		{"go-cose untagged PS256", goCOSE(w.ps, false), ""},
		{"go-cose tagged ES256", goCOSE(w.es, true), ""},
		{"tag 18 dropped", untagged, ""},
		{"CWT tag around tag 18", wrap(tagCWT, tagged), ""},
		{"CWT tag around the bare array", wrap(tagCWT, untagged), ""},
		{"CWT tag twice", wrap(tagCWT, wrap(tagCWT, tagged)), ReasonNotCOSESign1},
		{"tag 18 twice", wrap(tagCOSESign1, tagged), ReasonNotCOSESign1},
		{"COSE_Sign (98)", wrap(98, untagged), ReasonNotCOSESign1},
		{"CWT tag around tag 98", wrap(tagCWT, wrap(98, untagged)), ReasonNotCOSESign1},
		{"a bare map", []byte{0xa0}, ReasonNotCOSESign1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc1 := packed(t, tt.msg)
			res, err := Verify(hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != tt.want || res.Valid != (tt.want == "") {
				t.Fatalf("valid=%v reason=%q (%v), want %q", res.Valid, res.Reason, res.Err, tt.want)
			}
			if tt.want != "" {
				return
			}
			// Revocation hashes need the signature and UVCI, not the tag.
			hs, err := RevocationHashes(res.Decoded)
			if err != nil || len(hs[HashSignature]) != 16 {
				t.Errorf("revocation hashes: %v %v", hs, err)
			}
		})
	}
}

// TestVerifySchema checks payloads against the official schema of their
// version, with the schemas from the shared specification folder.
func TestVerifySchema(t *testing.T) {
	w := testWorld(t)
	set, err := dccschema.LoadDir(sharedspec.Path(t, "dcc", "schema-versions"))
	if err != nil {
		t.Fatal(err)
	}
	esKid := pki.Kid(w.es.Cert)
	signed := func(payload any) string {
		p, err := encMode.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return forgery{key: w.es.Key, kid: esKid, claims: claims{Iss: "DE", Iat: testNow.Unix(), Exp: testNow.AddDate(1, 0, 0).Unix(),
			HCert: hcertClaims{DCC: p}}}.hc1(t)
	}
	lower := vaccination()
	lower.Nam.Fnt = "Musterfrau" // the schema wants ICAO 9303 characters
	oldVer := recovery()
	oldVer.Ver = "1.0.0" // its dob "1970" is not a 1.0.0 date
	newVer := recovery()
	newVer.Ver = "1.2.1"
	futureVer := vaccination()
	futureVer.Ver = "2.0.0"
	withBytes := map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "MUSTER"}, "dob": "1964",
		"t": []any{map[string]any{"tg": "840539006", "tt": "LP6464-4", "sc": "2021-06-13T10:27:15Z", "tr": "260415000",
			"tc": "X", "co": "DE", "is": "RKI", "ci": "URN:UVCI:01DE/X"}}, "x": []byte("extra")}

	tests := []struct {
		name string
		hc1  string
		want Reason // with the schema check; without it every case is valid but withBytes
	}{
		{"our vaccination", mustEncode(t, vaccination(), w.es, defaultOpts()), ""},
		{"our test", mustEncode(t, test(), w.ps, defaultOpts()), ""},
		{"our recovery", mustEncode(t, recovery(), w.es2, defaultOpts()), ""},
		{"lower-case fnt", signed(lower), ReasonSchema},
		{"ver 1.0.0 with a year-only dob", signed(oldVer), ReasonSchema},
		{"ver 1.2.1 with a year-only dob", signed(newVer), ""},
		{"ver 2.0.0", signed(futureVer), ReasonSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(tt.hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Minute), Schema: set})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != tt.want || res.Valid != (tt.want == "") {
				t.Fatalf("with schema: valid=%v reason=%q (%v), want %q", res.Valid, res.Reason, res.Err, tt.want)
			}
			var v *dccschema.Violation
			if tt.want == ReasonSchema && !errors.As(res.Err, &v) && !errors.Is(res.Err, dccschema.ErrNoSchema) {
				t.Errorf("error %v is neither a violation nor ErrNoSchema", res.Err)
			}
			res, _ = Verify(tt.hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Minute)})
			if !res.Valid {
				t.Errorf("without schema: %s: %v", res.Reason, res.Err)
			}
		})
	}
	// A byte string in a field dcc.Certificate does not know has no JSON
	// form; base64 would hide it from the schema.
	hc1 := signed(withBytes)
	if res, _ := Verify(hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Minute)}); !res.Valid {
		t.Fatalf("byte-string extra field without schema: %s: %v", res.Reason, res.Err)
	}
	res, _ := Verify(hc1, w.trust, VerifyOptions{Now: testNow.Add(time.Minute), Schema: set})
	if res.Reason != ReasonSchema {
		t.Errorf("byte-string extra field: %q (%v), want %s", res.Reason, res.Err, ReasonSchema)
	}
}

// TestDSCValidityPolicies verifies one certificate that outlives its DSC
// and one that does not, under both policies and at several times.
func TestDSCValidityPolicies(t *testing.T) {
	w := testWorld(t)
	dscStart, dscEnd := testNow.Add(-24*time.Hour), testNow.AddDate(0, 0, 30)
	short, err := pki.NewDSC(w.csca, pki.DSCOptions{NotBefore: dscStart, NotAfter: dscEnd})
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := pki.NewTrustList(short.Cert)
	kid := pki.Kid(short.Cert)
	sign := func(iat, exp time.Time) string {
		return forgery{key: short.Key, kid: kid, claims: cwtClaims(t, vaccination(), iat, exp)}.hc1(t)
	}
	outlives := sign(testNow, testNow.AddDate(0, 0, 60))
	within := sign(testNow, testNow.AddDate(0, 0, 20))
	early := sign(dscStart.Add(-time.Hour), testNow.AddDate(0, 0, 20))

	tests := []struct {
		name   string
		hc1    string
		policy DSCValidity
		at     time.Time
		leeway time.Duration
		want   Reason
	}{
		{"outlives, strict", outlives, DSCValidityStrict, testNow.Add(time.Hour), 0, ReasonOutsideDSCValidity},
		{"outlives, default is strict", outlives, "", testNow.Add(time.Hour), 0, ReasonOutsideDSCValidity},
		{"outlives, at-verification, DSC valid", outlives, DSCValidityAtVerification, testNow.Add(time.Hour), 0, ""},
		{"outlives, at-verification, DSC expired", outlives, DSCValidityAtVerification, dscEnd.Add(time.Hour), 0, ReasonOutsideDSCValidity},
		{"outlives, at-verification, DSC expired within leeway", outlives, DSCValidityAtVerification, dscEnd.Add(time.Minute), time.Hour, ""},
		{"within, strict", within, DSCValidityStrict, testNow.Add(time.Hour), 0, ""},
		{"within, at-verification", within, DSCValidityAtVerification, testNow.Add(time.Hour), 0, ""},
		{"within, after exp, strict", within, DSCValidityStrict, testNow.AddDate(0, 0, 21), 0, ReasonExpired},
		{"signed before the DSC, strict", early, DSCValidityStrict, testNow, 0, ReasonOutsideDSCValidity},
		{"signed before the DSC, at-verification", early, DSCValidityAtVerification, testNow, 0, ReasonOutsideDSCValidity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(tt.hc1, trust, VerifyOptions{Now: tt.at, DSCValidity: tt.policy, Leeway: tt.leeway})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != tt.want || res.Valid != (tt.want == "") {
				t.Fatalf("valid=%v reason=%q (%v), want %q", res.Valid, res.Reason, res.Err, tt.want)
			}
		})
	}
	if _, err := Verify(within, trust, VerifyOptions{DSCValidity: "lenient"}); err == nil {
		t.Error("Verify accepted an unknown policy")
	}
	for _, s := range []string{"", "strict", "at-verification"} {
		if _, err := ParseDSCValidity(s); err != nil {
			t.Errorf("ParseDSCValidity(%q): %v", s, err)
		}
	}
	if _, err := ParseDSCValidity("Strict"); err == nil {
		t.Error("ParseDSCValidity accepted Strict")
	}
}
