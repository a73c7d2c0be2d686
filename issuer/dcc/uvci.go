package dcc

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// UVCIPrefix starts every structured unique vaccination certificate identifier.
const UVCIPrefix = "URN:UVCI:"

// uvciCharset is the alphabet of the UVCI check character, in the order the
// eHN guidelines (UVCI FAQ) define for Luhn mod N: A-Z, then 0-9, '/' and
// ':'. The order matters: it is what makes "URN:UVCI:01:NL:187/37512422923"
// check to 'Z' (digits first would give 'K').
const uvciCharset = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"

// uvciRandomLength is the length of the random part NewUVCI draws: 24
// characters of A-Z0-9 carry about 124 bits, so collisions among billions of
// certificates stay negligible.
const uvciRandomLength = 24

var uvciCode [256]int8

func init() {
	for i := range uvciCode {
		uvciCode[i] = -1
	}
	for i := 0; i < len(uvciCharset); i++ {
		uvciCode[uvciCharset[i]] = int8(i)
	}
}

// ErrUVCICheck reports a UVCI whose check character does not match.
var ErrUVCICheck = errors.New("dcc: UVCI check character does not match")

// CheckChar computes the UVCI check character of s (the whole identifier
// before '#', prefix included) with the Luhn mod N algorithm over
// A-Z0-9/: (N = 38): from the right, code points are weighted 2, 1, 2, ...,
// each product is added as its base-N digit sum, and the check character is
// the one that brings the sum to a multiple of N.
func CheckChar(s string) (byte, error) {
	if s == "" {
		return 0, errors.New("dcc: UVCI check character of an empty string")
	}
	const n = len(uvciCharset)
	factor, sum := 2, 0
	for i := len(s) - 1; i >= 0; i-- {
		cp := int(uvciCode[s[i]])
		if cp < 0 {
			return 0, fmt.Errorf("dcc: UVCI check character: byte %d (%q) is not one of A-Z, 0-9, / and the colon", i, s[i])
		}
		addend := factor * cp
		sum += addend/n + addend%n
		factor = 3 - factor
	}
	return uvciCharset[(n-sum%n)%n], nil
}

// UVCI is a parsed structured identifier, e.g.
// URN:UVCI:01:DE:RKI/ABC123#K -> Version "01", Country "DE",
// Opaque "RKI/ABC123", Check 'K'.
type UVCI struct {
	Version  string
	Country  string
	Opaque   string
	Check    byte
	HasCheck bool
}

// uvciPattern accepts "URN:UVCI:01:NL:opaque" as the guidelines write it and
// "URN:UVCI:01DE/opaque" as Germany issues it; the opaque part is blocks of
// A-Z0-9 separated by '/' or ':'.
var uvciPattern = regexp.MustCompile(`^URN:UVCI:([0-9]{2})(?::([A-Z]{2,10}):|([A-Z]{2})/)([A-Z0-9]+(?:[/:][A-Z0-9]+)*)(?:#(.*))?$`)

// ParseUVCI checks a structured identifier's form, length and, when it has
// one, its check character.
func ParseUVCI(s string) (UVCI, error) {
	if len(s) > MaxNameLength {
		return UVCI{}, fmt.Errorf("dcc: UVCI longer than %d characters", MaxNameLength)
	}
	m := uvciPattern.FindStringSubmatch(s)
	if m == nil {
		return UVCI{}, fmt.Errorf("dcc: UVCI %q is not URN:UVCI:<2-digit version>:<country>:<A-Z0-9 blocks separated by / or :>[#<check>]", s)
	}
	u := UVCI{Version: m[1], Country: m[2] + m[3], Opaque: m[4]}
	if !strings.Contains(s, "#") {
		return u, nil
	}
	if len(m[5]) != 1 || uvciCode[m[5][0]] < 0 {
		return UVCI{}, fmt.Errorf("dcc: UVCI %q: check character must be one of A-Z, 0-9, / and the colon", s)
	}
	want, err := CheckChar(s[:strings.IndexByte(s, '#')])
	if err != nil {
		return UVCI{}, err
	}
	if m[5][0] != want {
		return UVCI{}, fmt.Errorf("%w: %q has %q, want %q", ErrUVCICheck, s, m[5][0], want)
	}
	u.Check, u.HasCheck = want, true
	return u, nil
}

var (
	uvciCountryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
	uvciIssuerPattern  = regexp.MustCompile(`^[A-Z0-9]+(?:/[A-Z0-9]+)*$`)
)

// NewUVCI draws a fresh identifier URN:UVCI:01:<country>:<issuer>/<random>#<check>
// with 24 random characters of A-Z0-9 read from rnd (crypto/rand.Reader in
// production). issuer is one or more A-Z0-9 blocks separated by '/'.
func NewUVCI(country, issuer string, rnd io.Reader) (string, error) {
	if !uvciCountryPattern.MatchString(country) {
		return "", fmt.Errorf("dcc: UVCI country %q is not two letters A-Z", country)
	}
	if !uvciIssuerPattern.MatchString(issuer) {
		return "", fmt.Errorf("dcc: UVCI issuer %q is not A-Z0-9 blocks separated by '/'", issuer)
	}
	base := UVCIPrefix + "01:" + country + ":" + issuer + "/"
	if len(base)+uvciRandomLength+2 > MaxNameLength {
		return "", fmt.Errorf("dcc: UVCI issuer %q too long for %d characters", issuer, MaxNameLength)
	}
	random := make([]byte, 0, uvciRandomLength)
	buf := make([]byte, 2*uvciRandomLength)
	const alphabet = 36 // A-Z0-9: the first 36 characters of uvciCharset
	for len(random) < uvciRandomLength {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("dcc: reading UVCI randomness: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling keeps every character equally likely.
			if b < 252 && len(random) < uvciRandomLength {
				random = append(random, uvciCharset[int(b)%alphabet])
			}
		}
	}
	s := base + string(random)
	check, err := CheckChar(s)
	if err != nil {
		return "", err
	}
	return s + "#" + string(check), nil
}
