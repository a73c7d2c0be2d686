// Package register models the pharmacy register the operator supplies (the
// role the ABDA/gematik directory plays in Germany): which pharmacies exist,
// their Telematik-ID, address and the contact address activation codes are
// sent to. The 2021 guest-account fraud worked because a typed-in random
// Telematik-ID was never checked against any register; with this package the
// portal checks format, check digit and register entry, and sends the code to
// the address the register holds, never to one the applicant supplies.
package register

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// TelematikIDLen is the length of a Telematik-ID in this model.
const TelematikIDLen = 19

// PharmacySector is the leading digit of every pharmacy Telematik-ID here.
//
// Real Telematik-IDs start with a sector number ("3-..." for pharmacies in
// gematik's scheme: 1 physicians, 2 dentists, 3 pharmacies, 5 hospitals);
// the 2021 reports speak of a 19-digit ID. We model both facts: 19 ASCII
// digits, the first one the pharmacy sector 3, the last a Luhn check digit
// over the first 18. A random 19-digit string therefore fails the format
// check 9 times in 10 on the check digit alone (and 9 in 10 on the sector),
// and always fails the register lookup.
const PharmacySector = '3'

// Errors returned by ValidTelematikID, wrapped with detail.
var (
	ErrTelematikFormat   = errors.New("telematik-id: not 19 ASCII digits")
	ErrTelematikCheckSum = errors.New("telematik-id: check digit mismatch")
	// ErrTelematikSector: 19 digits, but the sector is another kind of
	// party's (a pharmacy's ID in a practice's application).
	ErrTelematikSector = errors.New("telematik-id: wrong sector")
)

// ValidTelematikID checks a pharmacy Telematik-ID's format, sector and
// Luhn check digit.
func ValidTelematikID(s string) error { return ValidTelematikIDOf(KindPharmacy, s) }

// ValidTelematikIDOf checks the Telematik-ID of a party of kind: its
// sector must be the kind's (PharmacySector, PracticeSector), so a
// pharmacy's ID never passes for a practice's or the other way round.
func ValidTelematikIDOf(kind Kind, s string) error {
	if len(s) != TelematikIDLen {
		return fmt.Errorf("%w: length %d", ErrTelematikFormat, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w: non-digit at position %d", ErrTelematikFormat, i+1)
		}
	}
	if want := kind.Sector(); s[0] != want {
		return fmt.Errorf("%w (%w): sector %c, a %s's is %c", ErrTelematikFormat, ErrTelematikSector, s[0], kind, want)
	}
	if want := LuhnDigit(s[:TelematikIDLen-1]); s[TelematikIDLen-1] != want {
		return ErrTelematikCheckSum
	}
	return nil
}

// LuhnDigit returns the Luhn (mod 10) check digit for a string of ASCII
// digits: the digit that, appended, makes the whole number pass Luhn.
// Non-digits panic: callers validate first.
func LuhnDigit(digits string) byte {
	sum := 0
	// Walking from the right, the digit next to the (future) check digit is
	// doubled, then every second one.
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			panic("register: LuhnDigit over non-digit")
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// NewTelematikID returns a valid random pharmacy Telematik-ID.
func NewTelematikID(rnd *rand.Rand) string { return NewTelematikIDOf(KindPharmacy, rnd) }

// NewTelematikIDOf returns a valid random Telematik-ID of a party of kind.
func NewTelematikIDOf(kind Kind, rnd *rand.Rand) string {
	b := make([]byte, TelematikIDLen)
	b[0] = kind.Sector()
	for i := 1; i < TelematikIDLen-1; i++ {
		b[i] = byte('0' + rnd.IntN(10))
	}
	b[TelematikIDLen-1] = LuhnDigit(string(b[:TelematikIDLen-1]))
	return string(b)
}
