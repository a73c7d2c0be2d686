package hcert

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/golive-dev/golive/internal/sharedspec"
)

// TestRevocationSamples reproduces every sample of the eHealth Network's
// RevocationCalculationSampleData.json: ES256 (DE) and PS256 (LT)
// certificates, all three hash kinds.
func TestRevocationSamples(t *testing.T) {
	raw, err := os.ReadFile(sharedspec.Path(t, "dcc", "revocation", "RevocationCalculationSampleData.json"))
	if err != nil {
		t.Fatal(err)
	}
	var samples []struct {
		Description       string `json:"description"`
		BarcodeData       string `json:"barcodeData"`
		ExpUCI            string `json:"expUCI"`
		ExpCountryCodeUCI string `json:"expCOUNTRYCODEUCI"`
		ExpSignature      string `json:"expSIGNATURE"`
	}
	if err := json.Unmarshal(raw, &samples); err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range samples {
		t.Run(s.Description, func(t *testing.T) {
			d, err := Decode(s.BarcodeData)
			if err != nil {
				t.Fatal(err)
			}
			if d.PayloadErr != nil || d.Payload == nil {
				t.Fatalf("payload: %v", d.PayloadErr)
			}
			hs, err := RevocationHashes(d)
			if err != nil {
				t.Fatal(err)
			}
			want := map[HashType]string{
				HashSignature:      s.ExpSignature,
				HashUCI:            s.ExpUCI,
				HashCountryCodeUCI: s.ExpCountryCodeUCI,
			}
			for ht, w := range want {
				if got := hex.EncodeToString(hs[ht]); got != w {
					t.Errorf("%s = %s, want %s", ht, got, w)
				}
			}
			// The set finds the certificate by each hash on its own.
			for ht, w := range want {
				var set RevocationSet
				h, _ := hex.DecodeString(w)
				if err := set.Add(ht, h); err != nil {
					t.Fatal(err)
				}
				if !set.IsRevoked(d) {
					t.Errorf("set holding only %s does not revoke", ht)
				}
			}
		})
	}
}

func TestRevocationSet(t *testing.T) {
	w := testWorld(t)
	d1, err := Decode(mustEncode(t, vaccination(), w.es, defaultOpts()))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Decode(mustEncode(t, test(), w.ps, defaultOpts()))
	if err != nil {
		t.Fatal(err)
	}
	h1, err := RevocationHashes(d1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d1.Signature) != 64 {
		t.Fatalf("ES256 signature of %d bytes", len(d1.Signature))
	}
	// ES256: only r counts, so a different s must not change the hash.
	mod := *d1
	mod.Signature = append(append([]byte{}, d1.Signature[:32]...), make([]byte, 32)...)
	if h, _ := RevocationHashes(&mod); hex.EncodeToString(h[HashSignature]) != hex.EncodeToString(h1[HashSignature]) {
		t.Error("the ES256 signature hash depends on s")
	}
	// PS256: the whole signature counts.
	h2, _ := RevocationHashes(d2)
	mod2 := *d2
	mod2.Signature = append(append([]byte{}, d2.Signature[:len(d2.Signature)-1]...), d2.Signature[len(d2.Signature)-1]^1)
	if h, _ := RevocationHashes(&mod2); hex.EncodeToString(h[HashSignature]) == hex.EncodeToString(h2[HashSignature]) {
		t.Error("the PS256 signature hash ignores its last byte")
	}

	for _, ht := range HashTypes {
		t.Run(string(ht), func(t *testing.T) {
			var set RevocationSet
			if set.IsRevoked(d1) {
				t.Fatal("empty set revokes")
			}
			if err := set.Add(ht, h1[ht]); err != nil {
				t.Fatal(err)
			}
			if !set.Contains(ht, h1[ht]) || set.Len() != 1 {
				t.Error("Contains after Add is false")
			}
			if !set.IsRevoked(d1) {
				t.Error("d1 not revoked")
			}
			if set.IsRevoked(d2) {
				t.Error("d2 revoked by d1's hash")
			}
		})
	}
	// A hash filed under the wrong type does not match.
	var set RevocationSet
	_ = set.Add(HashUCI, h1[HashSignature])
	if set.IsRevoked(d1) {
		t.Error("a SIGNATURE hash filed as UCI revokes")
	}
	if err := set.Add("NOPE", h1[HashUCI]); err == nil {
		t.Error("Add accepted an unknown hash type")
	}
	if err := set.Add(HashUCI, []byte{1, 2, 3}); err == nil {
		t.Error("Add accepted a 3-byte hash")
	}
}
