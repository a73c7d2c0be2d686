package register

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ErrMismatch is wrapped by every MismatchError.
var ErrMismatch = errors.New("application does not match the register")

// MismatchError names the fields (name, street, postal_code, city) in which
// an application differs from its register entry.
type MismatchError struct {
	Fields []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: %s", ErrMismatch, strings.Join(e.Fields, ", "))
}

func (e *MismatchError) Unwrap() error { return ErrMismatch }

// MatchApplication compares what an applicant typed with the register entry,
// tolerating the differences people actually make: case, spacing and
// punctuation ("Löwen Apotheke" vs "Löwen-Apotheke"), umlaut spellings
// ("Loewen"), ß/ss, composed vs decomposed Unicode, other accents, and the
// street suffix ("Hauptstr. 5", "Hauptstrasse 5", "Hauptstraße 5"). It
// returns a *MismatchError naming every field that still differs.
//
// It is deliberately not more lenient than that (no edit distance): an
// invented pharmacy must not pass by being "close" to a real one.
func MatchApplication(e Entry, name, street, postalCode, city string) error {
	var bad []string
	if fold(name) != fold(e.Name) {
		bad = append(bad, "name")
	}
	if foldStreet(street) != foldStreet(e.Street) {
		bad = append(bad, "street")
	}
	if strings.TrimSpace(postalCode) != e.PostalCode {
		bad = append(bad, "postal_code")
	}
	if fold(city) != fold(e.City) {
		bad = append(bad, "city")
	}
	if len(bad) > 0 {
		return &MismatchError{Fields: bad}
	}
	return nil
}

var umlauts = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "ẞ", "ss", "æ", "ae", "ø", "oe", "å", "aa")

// fold maps s to a comparison key: NFC, lower case, German transliteration
// of umlauts and ß, remaining accents stripped, and everything that is not a
// letter or digit removed.
func fold(s string) string {
	s = strings.ToLower(norm.NFC.String(s))
	s = umlauts.Replace(s)
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// accent left over after transliteration: drop it
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// streetAbbrev matches the abbreviation "str." or a word-final "str".
var streetAbbrev = regexp.MustCompile(`str(\.|\b)`)

// foldStreet is fold after expanding street abbreviations.
func foldStreet(s string) string {
	s = umlauts.Replace(strings.ToLower(norm.NFC.String(s)))
	s = streetAbbrev.ReplaceAllString(s, "strasse")
	return fold(s)
}
