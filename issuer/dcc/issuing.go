package dcc

import (
	"fmt"
	"strings"
	"unicode"
)

// The rules in this file are this issuer's, not the schema's: the schema
// lets a name hold any text, but a certificate is issued as an HC1, a QR
// code and a printed page, and a name must survive all three. The portal
// and the signer both apply them (ValidateOptions.Issuing), so a signer
// called directly refuses what the portal refuses. Verifying someone
// else's certificate never applies them.
//
// Messages name a refused character by its code point only ("U+1F600"),
// never the character itself, so a message can be logged without carrying
// any part of a holder's name.

// maxPrintableRune is the last code point the printout's fonts and its
// PDF text encoding handle (the Basic Multilingual Plane); characters
// above it (emoji, rare CJK ideographs) cannot be set.
const maxPrintableRune = 0xFFFF

// nameErrors lists the characters of the holder's names (fn, gn) this
// issuer refuses: control and invisible format characters (zero-width
// space and joiners, bidi controls: a name must print as it compares),
// anything beyond the Basic Multilingual Plane, and anything but letters,
// combining marks, spaces, dashes, apostrophes, full stops, commas and the
// middle dot. Field paths are "nam.fn" and "nam.gn"; codes are
// invalid_character (invisible or control) and unsupported_character.
func nameErrors(n Name) []FieldError {
	var errs []FieldError
	for _, f := range []struct{ field, v string }{{"nam.fn", n.Fn}, {"nam.gn", n.Gn}} {
		if fe := firstBadRune(f.field, f.v, nameRune); fe != nil {
			errs = append(errs, *fe)
		}
	}
	return errs
}

// NameErrors is nameErrors for callers that check names on their own
// before the rest of the payload (the portal answers them with 422).
func NameErrors(n Name) []FieldError { return nameErrors(n) }

// nameRune classifies one character of a name: "" when accepted, else
// the error code and why.
func nameRune(r rune) (code, why string) {
	if code, why := printableRune(r); code != "" {
		return code, why
	}
	switch {
	case unicode.IsLetter(r), unicode.IsMark(r), unicode.Is(unicode.Zs, r), unicode.Is(unicode.Pd, r):
		return "", ""
	case strings.ContainsRune("'’‘.,·", r):
		return "", ""
	}
	return "unsupported_character", "is not a letter, mark, space, dash or apostrophe"
}

// printableRune classifies one character of printed free text (is, nm,
// tc): anything the printout can set, nothing invisible.
func printableRune(r rune) (code, why string) {
	switch {
	case isControl(r), unicode.Is(unicode.Cf, r):
		return "invalid_character", "is an invisible or control character"
	case r > maxPrintableRune:
		return "unsupported_character", "lies beyond the Basic Multilingual Plane and cannot be printed"
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z):
		return "unsupported_character", "is unassigned or private use"
	}
	return "", ""
}

// firstBadRune reports the first character of v that class refuses.
func firstBadRune(field, v string, class func(rune) (string, string)) *FieldError {
	for _, r := range v {
		if code, why := class(r); code != "" {
			return &FieldError{Field: field, Code: code, Message: fmt.Sprintf("contains U+%04X, which %s", r, why)}
		}
	}
	return nil
}

// issuingText applies printableRune to a printed free-text field.
func (k *checker) issuingText(field, v string) {
	if !k.opts.Issuing || v == "" {
		return
	}
	if fe := firstBadRune(field, v, printableRune); fe != nil {
		k.errs = append(k.errs, *fe)
	}
}

// issuingUVCI is ci under the issuing rules: when present, a structured
// UVCI with its check character (the opaque forms other issuers used are
// accepted when verifying, never when issuing).
func (k *checker) issuingUVCI(field, v string) {
	if !k.opts.Issuing || v == "" {
		return
	}
	if !strings.HasPrefix(v, UVCIPrefix) {
		k.add(field, "format", "must be a structured UVCI starting %s", UVCIPrefix)
		return
	}
	if u, err := ParseUVCI(v); err == nil && !u.HasCheck {
		k.add(field, "check_character", "must end in #<check character>")
	}
}
