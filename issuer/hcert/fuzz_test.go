package hcert

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/pki"
)

// fuzzSeeds are valid HC1 strings of every type and algorithm, their
// near misses, the RFC 9285 vectors and garbage.
func fuzzSeeds(tb testing.TB) []string {
	w := testWorld(tb)
	opts := defaultOpts()
	v := mustEncode(tb, vaccination(), w.es, opts)
	seeds := []string{
		v,
		mustEncode(tb, test(), w.ps, opts),
		mustEncode(tb, recovery(), w.es2, opts),
		forgery{key: w.es.Key, kid: pki.Kid(w.es.Cert), kidUnprot: true}.hc1(tb),
		forgery{key: w.es.Key, kid: pki.Kid(w.es.Cert), der: true}.hc1(tb),
		forgery{key: w.testOnlyLegacy.Key, kid: pki.Kid(w.testOnlyLegacy.Cert)}.hc1(tb),
		untaggedHC1(tb, v),
		v[:len(v)/2],
		v[4:],
		"HC1:",
		"HC1:GGW",
		"HC1::::",
		"",
		"\x00\xff",
		"HC1:6BFOXN%TSMAHN-H",
	}
	for _, vec := range rfc9285Vectors {
		seeds = append(seeds, vec.encoded, Prefix+vec.encoded)
	}
	return seeds
}

// untaggedHC1 is hc1 with its COSE_Sign1's tag 18 dropped.
func untaggedHC1(tb testing.TB, hc1 string) string {
	tb.Helper()
	d, err := Decode(hc1)
	if err != nil {
		tb.Fatal(err)
	}
	return zlibHC1(tb, d.COSE[1:])
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err != nil {
			if d != nil {
				t.Error("Decode returned both a result and an error")
			}
			if ReasonOf(err) == "" {
				t.Errorf("error without reason: %v", err)
			}
			return
		}
		if d == nil || d.Signature == nil || d.CWT == nil || len(d.COSE) > maxInflated {
			t.Fatalf("incomplete Decoded: %+v", d)
		}
		if d.PayloadErr == nil && (d.Payload == nil || d.Payload.Type() == "") {
			t.Error("PayloadErr nil without a one-type payload")
		}
		_, _ = RevocationHashes(d)
		// The payload's JSON form, what a schema check reads, is JSON.
		if js, err := d.PayloadJSON(); err == nil && !json.Valid(js) {
			t.Errorf("PayloadJSON gave invalid JSON: %q", js)
		}
	})
}

func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, int64(0), false)
		f.Add(s, int64(400*24*3600), true)
	}
	w := testWorld(f)
	var revoked RevocationSet
	_ = revoked.Add(HashUCI, make([]byte, 16))
	f.Fuzz(func(t *testing.T, s string, offset int64, atVerification bool) {
		policy := DSCValidityStrict
		if atVerification {
			policy = DSCValidityAtVerification
		}
		res, err := Verify(s, w.trust, VerifyOptions{Now: testNow.Add(time.Duration(offset%(1<<40)) * time.Second), Revoked: &revoked, DSCValidity: policy})
		if err != nil {
			t.Fatalf("Verify returned an error: %v", err)
		}
		if res.Valid != (res.Reason == "") {
			t.Errorf("Valid=%v with reason %q", res.Valid, res.Reason)
		}
		if res.Valid && (res.Signer == nil || res.Decoded == nil || res.Decoded.Payload == nil) {
			t.Error("valid result lacks signer or payload")
		}
	})
}

func FuzzBase45(f *testing.F) {
	for _, v := range rfc9285Vectors {
		f.Add([]byte(v.plain))
		f.Add([]byte(v.encoded))
	}
	for _, s := range []string{"GGW", ":::", "::", "A", "FGW", "U5", "V5", "\x00\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every byte string survives the round trip.
		enc := EncodeBase45(b)
		dec, err := DecodeBase45(enc)
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("round trip of %x: %x, %v", b, dec, err)
		}
		// Base45 is canonical: a string that decodes re-encodes to itself.
		if dec, err := DecodeBase45(string(b)); err == nil {
			if again := EncodeBase45(dec); again != string(b) {
				t.Errorf("%q decodes to %x, which encodes to %q", b, dec, again)
			}
		}
	})
}
