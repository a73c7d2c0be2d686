package dcc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCheckChar(t *testing.T) {
	tests := []struct {
		in   string
		want byte
	}{
		// The eHN guidelines' vector.
		{"URN:UVCI:01:NL:187/37512422923", 'Z'},
		// The identifier of the eHN schema examples ("...#1").
		{"URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7", '1'},
		// Hand-computed: A=0 -> sum 0 -> 'A'; B=1 weighted 2 -> 2 -> 38-2=36 -> '/'.
		{"A", 'A'},
		{"B", '/'},
		// ':' = 37, weighted 2 = 74 = 1*38+36 -> digit sum 37 -> 38-37=1 -> 'B'.
		{":", 'B'},
	}
	for _, tt := range tests {
		got, err := CheckChar(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("CheckChar(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "urn:uvci:01", "URN:UVCI:01:NL:187#Z", "ÄB", "A B"} {
		if _, err := CheckChar(bad); err == nil {
			t.Errorf("CheckChar(%q) accepted", bad)
		}
	}
}

// Luhn mod N catches every single-character substitution.
func TestCheckCharDetectsSubstitutions(t *testing.T) {
	s := "URN:UVCI:01:DE:RKI/5CWLU12RNOB9RXSEOP6FG8"
	want, _ := CheckChar(s)
	for i := range len(s) {
		for j := range len(uvciCharset) {
			c := uvciCharset[j]
			if c == s[i] {
				continue
			}
			mutated := s[:i] + string(c) + s[i+1:]
			if got, _ := CheckChar(mutated); got == want {
				t.Fatalf("substituting %q at %d keeps check %q", c, i, want)
			}
		}
	}
}

func TestParseUVCI(t *testing.T) {
	tests := []struct {
		in      string
		want    UVCI
		wantErr error // nil: any error when ok is false
		ok      bool
	}{
		{"URN:UVCI:01:NL:187/37512422923#Z", UVCI{"01", "NL", "187/37512422923", 'Z', true}, nil, true},
		{"URN:UVCI:01:NL:187/37512422923", UVCI{"01", "NL", "187/37512422923", 0, false}, nil, true},
		{"URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7#1", UVCI{"01", "NL", "DADFCC47C7334E45A906DB12FD859FB7", '1', true}, nil, true},
		{"URN:UVCI:01:UNHCR:ABC", UVCI{"01", "UNHCR", "ABC", 0, false}, nil, true},
		{"URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8", UVCI{"01", "DE", "IZ12345A/5CWLU12RNOB9RXSEOP6FG8", 0, false}, nil, true},
		{"URN:UVCI:01:NL:187/37512422923#Y", UVCI{}, ErrUVCICheck, false},
		{"URN:UVCI:01:NL:187/37512422923#", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:187/37512422923#ZZ", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:187/37512422923#z", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:abc", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:A//B", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:AB/", UVCI{}, nil, false},
		{"URN:UVCI:1:NL:AB", UVCI{}, nil, false},
		{"URN:UVCI:01:N:AB", UVCI{}, nil, false},
		{"URN:UVCI:01NL:AB", UVCI{}, nil, false},
		{"URN/UVCI/01/NL/AB", UVCI{}, nil, false},
		{"01:NL:1312D00", UVCI{}, nil, false},
		{"URN:UVCI:01:NL:" + strings.Repeat("A", 66), UVCI{}, nil, false}, // 81 characters
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUVCI(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("accepted as %+v", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNewUVCI(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := NewUVCI("DE", "RKI/PHARM", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) > MaxNameLength || !strings.HasPrefix(s, "URN:UVCI:01:DE:RKI/PHARM/") {
			t.Fatalf("bad UVCI %q", s)
		}
		u, err := ParseUVCI(s)
		if err != nil || !u.HasCheck || u.Country != "DE" {
			t.Fatalf("ParseUVCI(%q) = %+v, %v", s, u, err)
		}
		random := strings.TrimPrefix(u.Opaque, "RKI/PHARM/")
		if len(random) != uvciRandomLength {
			t.Fatalf("random part %q", random)
		}
		if seen[s] {
			t.Fatalf("duplicate %q", s)
		}
		seen[s] = true
	}
	// Same randomness, same identifier.
	fixed := bytes.Repeat([]byte{7, 200, 251, 252, 255, 35}, 100)
	a, err1 := NewUVCI("DE", "X", bytes.NewReader(fixed))
	b, err2 := NewUVCI("DE", "X", bytes.NewReader(fixed))
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("not deterministic: %q %q %v %v", a, b, err1, err2)
	}
	// 252 and 255 are rejected, the rest map to charset[b%36]: 7->H, 200->U, 251->9, 35->9.
	if want := "URN:UVCI:01:DE:X/HU99HU99"; !strings.HasPrefix(a, want) {
		t.Fatalf("%q does not start with %q", a, want)
	}

	errCases := []struct {
		country, issuer string
		rnd             io.Reader
	}{
		{"de", "RKI", rand.Reader},
		{"DEU", "RKI", rand.Reader},
		{"DE", "", rand.Reader},
		{"DE", "rki", rand.Reader},
		{"DE", "RKI/", rand.Reader},
		{"DE", "RKI#1", rand.Reader},
		{"DE", strings.Repeat("A", 40), rand.Reader},
		{"DE", "RKI", bytes.NewReader([]byte{1, 2, 3})},
	}
	for _, tt := range errCases {
		if s, err := NewUVCI(tt.country, tt.issuer, tt.rnd); err == nil {
			t.Errorf("NewUVCI(%q, %q) = %q, want error", tt.country, tt.issuer, s)
		}
	}
}
