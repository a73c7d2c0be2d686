package hcert

import (
	"fmt"
	"strings"
)

// base45Alphabet is RFC 9285's 45-character set, QR alphanumeric mode.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps a byte to its Base45 value, -1 for bytes outside the set.
var base45Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

// EncodeBase45 encodes b per RFC 9285: every two bytes become three
// characters, a trailing byte two.
func EncodeBase45(b []byte) string {
	var sb strings.Builder
	sb.Grow(base45Len(len(b)))
	appendBase45(&sb, b)
	return sb.String()
}

func base45Len(n int) int { return n/2*3 + n%2*2 }

func appendBase45(sb *strings.Builder, b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		n := uint(b[i])<<8 | uint(b[i+1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[n/45%45])
		sb.WriteByte(base45Alphabet[n/2025])
	}
	if len(b)%2 == 1 {
		n := uint(b[len(b)-1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[n/45])
	}
}

// DecodeBase45 decodes an RFC 9285 string. It rejects characters outside
// the alphabet, a dangling single character, and groups whose value does
// not fit their byte count (a triple above 65535, a pair above 255).
func DecodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("base45: length %d leaves a single character", len(s))
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for i := 0; i < len(s); i += 3 {
		rest := len(s) - i
		c, d := base45Value[s[i]], base45Value[s[i+1]]
		if c < 0 || d < 0 {
			return nil, fmt.Errorf("base45: invalid character at offset %d", badAt(s, i, 2))
		}
		n := uint(c) + uint(d)*45
		if rest == 2 {
			if n > 0xff {
				return nil, fmt.Errorf("base45: final pair at offset %d has value %d > 255", i, n)
			}
			out = append(out, byte(n))
			break
		}
		e := base45Value[s[i+2]]
		if e < 0 {
			return nil, fmt.Errorf("base45: invalid character at offset %d", i+2)
		}
		n += uint(e) * 2025
		if n > 0xffff {
			return nil, fmt.Errorf("base45: triple at offset %d has value %d > 65535", i, n)
		}
		out = append(out, byte(n>>8), byte(n))
	}
	return out, nil
}

func badAt(s string, i, n int) int {
	for j := i; j < i+n; j++ {
		if base45Value[s[j]] < 0 {
			return j
		}
	}
	return i
}
