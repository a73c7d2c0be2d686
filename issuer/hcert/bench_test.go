package hcert

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
)

// The issue and verify benchmarks are read against the bare ECDSA ones in
// the same run: the container (CBOR, COSE, zlib, Base45) should cost at
// most as much as the signature itself on issue, half of it on verify.

// BenchmarkIssue is issuing a typed payload as the acceptance of issue #2
// defines it: validation + CWT + COSE ES256 + zlib + Base45.
func BenchmarkIssue(b *testing.B) {
	w := testWorld(b)
	c, opts := vaccination(), defaultOpts()
	vopts := dcc.ValidateOptions{Now: testNow}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Validate(vopts); err != nil {
			b.Fatal(err)
		}
		if _, err := Encode(c, w.es, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	w := testWorld(b)
	hc1 := mustEncode(b, vaccination(), w.es, defaultOpts())
	opts := VerifyOptions{Now: testNow.Add(time.Hour)}
	w.trust.Lookup(nil) // index before timing
	b.ReportAllocs()
	for b.Loop() {
		res, err := Verify(hc1, w.trust, opts)
		if err != nil || !res.Valid {
			b.Fatal(err, res.Reason)
		}
	}
}

// bareMessage is about the size of a vaccination Sig_structure.
func bareMessage(b *testing.B) []byte {
	w := testWorld(b)
	d, err := Decode(mustEncode(b, vaccination(), w.es, defaultOpts()))
	if err != nil {
		b.Fatal(err)
	}
	tbs, err := toBeSigned(d.Protected, d.CWT)
	if err != nil {
		b.Fatal(err)
	}
	return tbs
}

func BenchmarkBareECDSASign(b *testing.B) {
	key := testWorld(b).es.Key.(*ecdsa.PrivateKey)
	msg := bareMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(msg)
		if _, _, err := ecdsa.Sign(rand.Reader, key, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareECDSAVerify(b *testing.B) {
	key := testWorld(b).es.Key.(*ecdsa.PrivateKey)
	msg := bareMessage(b)
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(msg)
		if !ecdsa.Verify(&key.PublicKey, h[:], r, s) {
			b.Fatal("does not verify")
		}
	}
}

// BenchmarkCompression measures what the zlib level costs and saves on a
// vaccination COSE_Sign1; the hc1-chars metric is the QR payload length.
func BenchmarkCompression(b *testing.B) {
	w := testWorld(b)
	d, err := Decode(mustEncode(b, vaccination(), w.es, defaultOpts()))
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []int{zlib.NoCompression, zlib.HuffmanOnly, zlib.BestSpeed, zlib.DefaultCompression, zlib.BestCompression} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			zw, _ := zlib.NewWriterLevel(nil, level)
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				zw.Reset(&buf)
				_, _ = zw.Write(d.COSE)
				_ = zw.Close()
			}
			b.ReportMetric(float64(len(Prefix)+base45Len(buf.Len())), "hc1-chars")
		})
	}
}

// BenchmarkEncode is the container alone, without validation.
func BenchmarkEncode(b *testing.B) {
	w := testWorld(b)
	c, opts := vaccination(), defaultOpts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(c, w.es, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullIssuance is what an issuer does per certificate: parse the
// JSON draft, normalise, assign a UVCI, validate every rule, encode and
// sign. Read against BenchmarkBareECDSASign.
func BenchmarkFullIssuance(b *testing.B) {
	w := testWorld(b)
	c := vaccination()
	c.SetUVCI("")
	draft, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	opts := defaultOpts()
	vopts := dcc.ValidateOptions{Now: testNow}
	b.ReportAllocs()
	for b.Loop() {
		cert, err := dcc.ParseDraft(draft)
		if err != nil {
			b.Fatal(err)
		}
		cert.Normalize()
		ci, err := dcc.NewUVCI("DE", "GL", rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		cert.SetUVCI(ci)
		if err := cert.Validate(vopts); err != nil {
			b.Fatal(err)
		}
		if _, err := Encode(cert, w.es, opts); err != nil {
			b.Fatal(err)
		}
	}
}
