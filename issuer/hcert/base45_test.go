package hcert

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// RFC 9285 section 4.3 and 4.4 examples.
var rfc9285Vectors = []struct{ plain, encoded string }{
	{"AB", "BB8"},
	{"Hello!!", "%69 VD92EX0"},
	{"base-45", "UJCLQE7W581"},
	{"ietf!", "QED8WEX0"},
	{"", ""},
}

func TestBase45RFCVectors(t *testing.T) {
	for _, v := range rfc9285Vectors {
		t.Run(v.plain, func(t *testing.T) {
			if got := EncodeBase45([]byte(v.plain)); got != v.encoded {
				t.Errorf("EncodeBase45(%q) = %q, want %q", v.plain, got, v.encoded)
			}
			got, err := DecodeBase45(v.encoded)
			if err != nil {
				t.Fatalf("DecodeBase45(%q): %v", v.encoded, err)
			}
			if string(got) != v.plain {
				t.Errorf("DecodeBase45(%q) = %q, want %q", v.encoded, got, v.plain)
			}
		})
	}
}

func TestBase45Invalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"RFC: GGW exceeds 65535", "GGW"},
		{"RFC: ::: exceeds 65535", ":::"},
		{"pair exceeds 255", "::"},
		{"pair 256", "V5"}, // 31 + 5*45
		{"dangling single character", "A"},
		{"dangling after a triple", "BB8A"},
		{"lowercase", "bb8"},
		{"character outside the set", "BB#"},
		{"non-ASCII", "BBé"},
		{"NUL", "BB\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := DecodeBase45(tt.in); err == nil {
				t.Errorf("DecodeBase45(%q) = %x, want an error", tt.in, got)
			}
		})
	}
	// The boundaries themselves are valid.
	for _, ok := range []string{"FGW" /* 15 + 16*45 + 32*2025 = 65535 */, "U5" /* 30 + 5*45 = 255 */} {
		if _, err := DecodeBase45(ok); err != nil {
			t.Errorf("DecodeBase45(%q): %v", ok, err)
		}
	}
}

func TestBase45RoundTrip(t *testing.T) {
	for n := range 40 {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		s := EncodeBase45(b)
		if len(s) != base45Len(n) {
			t.Errorf("len %d encodes to %d characters, want %d", n, len(s), base45Len(n))
		}
		got, err := DecodeBase45(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("round trip of %x: %x, %v", b, got, err)
		}
	}
	all := []byte{0x00, 0x00, 0xff, 0xff, 0xff}
	got, err := DecodeBase45(EncodeBase45(all))
	if err != nil || !bytes.Equal(got, all) {
		t.Errorf("extremes: %x, %v", got, err)
	}
}
