package listsapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	key, other := newKey(t), newKey(t)
	jwk, err := JWKOf(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	set := KeySet{Keys: []JWK{jwk}}
	body := []byte(`{"entries":[]}` + "\n")
	iat := time.Unix(1623657600, 0)
	sig, err := Sign(key, CtyTrustList, iat, body)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Verify(sig, body, set, CtyTrustList)
	if err != nil || h.Iat != iat.Unix() || h.Kid != jwk.Kid || h.Alg != "ES256" {
		t.Fatalf("verify: %+v %v", h, err)
	}
	pub, err := jwk.PublicKey()
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("JWK round trip: %v", err)
	}

	otherJWK, _ := JWKOf(&other.PublicKey)
	protected, sigPart, _ := strings.Cut(sig, "..")
	forgedKid := otherJWK
	forgedKid.Kid = jwk.Kid // another key claiming our kid
	unknownHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"` + jwk.Kid + `","cty":"` + CtyTrustList + `","iat":1,"crit":["x"]}`))
	alteredHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"` + jwk.Kid + `","cty":"` + CtyTrustList + `","iat":2}`))
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + jwk.Kid + `","cty":"` + CtyTrustList + `","iat":1}`))
	for _, tc := range []struct {
		name string
		sig  string
		body []byte
		keys KeySet
		cty  string
		want error
	}{
		{"tampered body", sig, []byte(`{"entries":[1]}` + "\n"), set, CtyTrustList, ErrBadSignature},
		{"body without its newline", sig, body[:len(body)-1], set, CtyTrustList, ErrBadSignature},
		{"another list kind", sig, body, set, CtyRevocations, ErrWrongList},
		{"unknown key", sig, body, KeySet{Keys: []JWK{otherJWK}}, CtyTrustList, ErrUnknownKey},
		{"a key claiming our kid", sig, body, KeySet{Keys: []JWK{forgedKid}}, CtyTrustList, ErrMalformed},
		{"attached, not detached", protected + "." + base64.RawURLEncoding.EncodeToString(body) + "." + sigPart, body, set, CtyTrustList, ErrMalformed},
		{"no signature", protected + "..", body, set, CtyTrustList, ErrMalformed},
		{"garbage", "not a jws", body, set, CtyTrustList, ErrMalformed},
		{"unknown header parameter", unknownHeader + ".." + sigPart, body, set, CtyTrustList, ErrMalformed},
		{"alg none", noneHeader + "..", body, set, CtyTrustList, ErrMalformed},
		{"header altered (iat)", alteredHeader + ".." + sigPart, body, set, CtyTrustList, ErrBadSignature},
	} {
		if _, err := Verify(tc.sig, tc.body, tc.keys, tc.cty); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Signatures are fresh each time (ECDSA), and each verifies.
	sig2, _ := Sign(key, CtyTrustList, iat, body)
	if sig2 == sig {
		t.Error("two signatures are identical")
	}
	if _, err := Verify(sig2, body, set, CtyTrustList); err != nil {
		t.Error(err)
	}
}

func TestConfigPresets(t *testing.T) {
	for _, name := range []string{"hardened", "naive-2021"} {
		c, err := ConfigForProfile(name)
		if err != nil || c.Validate() != nil {
			t.Errorf("%s: %v %v", name, err, c.Validate())
		}
	}
	c := HardenedConfig()
	c.DeltaHistory = 0
	if c.Validate() == nil {
		t.Error("delta_history 0 accepted")
	}
}
