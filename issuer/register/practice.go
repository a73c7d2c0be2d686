package register

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Kind is the kind of issuing party a register entry, an application and
// an account are: pharmacies from 14 June 2021, doctors' practices from
// mid-July 2021, each onboarded against its own register.
type Kind string

const (
	KindPharmacy Kind = "pharmacy"
	KindPractice Kind = "practice"
)

// Kinds lists the party kinds.
func Kinds() []Kind { return []Kind{KindPharmacy, KindPractice} }

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindPharmacy || k == KindPractice }

// PracticeSector is the leading digit of a doctors' practice's
// Telematik-ID (gematik's sector 1, physicians).
const PracticeSector = '1'

// Sector is the Telematik-ID sector of kind's parties.
func (k Kind) Sector() byte {
	if k == KindPractice {
		return PracticeSector
	}
	return PharmacySector
}

// PartyKind is the entry's kind; an entry without one is a pharmacy (the
// pharmacy register predates practices).
func (e Entry) PartyKind() Kind {
	if e.Kind == "" {
		return KindPharmacy
	}
	return e.Kind
}

// KindOfTelematikID is the kind of party a Telematik-ID's sector names,
// false for any other sector.
func KindOfTelematikID(id string) (Kind, bool) {
	if len(id) == 0 {
		return "", false
	}
	switch id[0] {
	case PharmacySector:
		return KindPharmacy, true
	case PracticeSector:
		return KindPractice, true
	}
	return "", false
}

// BSNRLen and LANRLen are the lengths of the KBV's practice numbers.
const (
	BSNRLen = 9
	LANRLen = 9
)

// Errors of ValidBSNR and ValidLANR, wrapped with detail.
var (
	ErrBSNRFormat   = errors.New("bsnr: not 9 ASCII digits with a regional code 01-99")
	ErrLANRFormat   = errors.New("lanr: not 9 ASCII digits")
	ErrLANRCheckSum = errors.New("lanr: check digit mismatch")
)

// ValidBSNR checks a Betriebsstättennummer (the KBV's number of a practice
// site): 9 digits, the first two the Kassenärztliche Vereinigung's
// regional code (never 00). The BSNR carries no check digit.
func ValidBSNR(s string) error {
	if len(s) != BSNRLen || !allDigits(s) {
		return fmt.Errorf("%w: %d characters", ErrBSNRFormat, len(s))
	}
	if s[:2] == "00" {
		return fmt.Errorf("%w: regional code 00", ErrBSNRFormat)
	}
	return nil
}

// ValidLANR checks a lebenslange Arztnummer: 9 digits, a 6-digit serial,
// the KBV check digit over it (LANRCheckDigit) and a 2-digit specialty
// group.
func ValidLANR(s string) error {
	if len(s) != LANRLen || !allDigits(s) {
		return fmt.Errorf("%w: %d characters", ErrLANRFormat, len(s))
	}
	if s[6] != LANRCheckDigit(s[:6]) {
		return ErrLANRCheckSum
	}
	return nil
}

// LANRCheckDigit is the KBV's check digit of a LANR's 6-digit serial: the
// digits weighted 4, 9, 4, 9, 4, 9 and summed; the digit is 10 minus the
// sum's last digit (0 when that is 0). Non-digits panic: callers validate
// first.
func LANRCheckDigit(serial string) byte {
	sum := 0
	for i := 0; i < len(serial); i++ {
		c := serial[i]
		if c < '0' || c > '9' {
			panic("register: LANRCheckDigit over non-digit")
		}
		w := 4
		if i%2 == 1 {
			w = 9
		}
		sum += int(c-'0') * w
	}
	return byte('0' + (10-sum%10)%10)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// kvRegions are the regional codes of the Kassenärztliche Vereinigungen
// that lead a BSNR.
var kvRegions = []string{"01", "02", "03", "17", "20", "38", "46", "51", "52", "60", "61", "62", "71", "72", "73", "78", "83", "88", "93", "98"}

// NewBSNR returns a valid random BSNR.
func NewBSNR(rnd *rand.Rand) string {
	b := []byte(kvRegions[rnd.IntN(len(kvRegions))] + "0000000")
	for i := 2; i < BSNRLen; i++ {
		b[i] = byte('0' + rnd.IntN(10))
	}
	return string(b)
}

// NewLANR returns a valid random LANR.
func NewLANR(rnd *rand.Rand) string {
	b := make([]byte, LANRLen)
	for i := 0; i < 6; i++ {
		b[i] = byte('0' + rnd.IntN(10))
	}
	b[6] = LANRCheckDigit(string(b[:6]))
	groups := []string{"01", "03", "23", "34", "51", "58", "60"} // general practice, internal medicine, ...
	g := groups[rnd.IntN(len(groups))]
	b[7], b[8] = g[0], g[1]
	return string(b)
}

var practiceNames = []string{
	"Hausarztpraxis Dr. %s", "Praxis Dr. med. %s", "Gemeinschaftspraxis %s & Partner",
	"Internistische Praxis Dr. %s", "Hausärztliche Praxis am %s", "MVZ %s",
}

var practiceSurnames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
	"Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
	"Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
}

// GeneratePractices returns n synthetic, valid practice register entries
// with distinct Telematik-IDs (sector 1) and BSNRs, German names and
// addresses and .example contact addresses, like Generate.
func GeneratePractices(rnd *rand.Rand, n int) []Entry {
	out := make([]Entry, 0, n)
	seenID, seenBSNR := make(map[string]bool, n), make(map[string]bool, n)
	for len(out) < n {
		id, bsnr := NewTelematikIDOf(KindPractice, rnd), NewBSNR(rnd)
		if seenID[id] || seenBSNR[bsnr] {
			continue
		}
		seenID[id], seenBSNR[bsnr] = true, true
		c := cities[rnd.IntN(len(cities))]
		form := practiceNames[rnd.IntN(len(practiceNames))]
		var name string
		if form == "Hausärztliche Praxis am %s" {
			name = fmt.Sprintf(form, []string{"Markt", "Rathaus", "Dom", "Park", "Schloss"}[rnd.IntN(5)])
		} else {
			name = fmt.Sprintf(form, practiceSurnames[rnd.IntN(len(practiceSurnames))])
		}
		out = append(out, Entry{
			Kind:        KindPractice,
			TelematikID: id,
			BSNR:        bsnr,
			LANR:        NewLANR(rnd),
			Name:        name,
			Street:      fmt.Sprintf("%s %d", streets[rnd.IntN(len(streets))], 1+rnd.IntN(180)),
			PostalCode:  fmt.Sprintf("%05d", c.from+rnd.IntN(c.to-c.from+1)),
			City:        c.name,
			Email:       fmt.Sprintf("praxis@%s-%s.example", slug(name), bsnr),
		})
	}
	return out
}

// ErrWrongKind is wrapped when a register file holds an entry of another
// kind than the one it is loaded as.
var ErrWrongKind = errors.New("register: entry of another kind")

// LoadKind is Load for a register of one kind of party: every entry must
// be of kind (a pharmacy in the practice register is an error, so one
// register can never vouch for the other's parties).
func LoadKind(path string, kind Kind) (*Register, error) {
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := r.checkKind(kind); err != nil {
		return nil, fmt.Errorf("load register %s: %w", path, err)
	}
	return r, nil
}

// NewKind is New for a register of one kind of party.
func NewKind(kind Kind, entries []Entry) (*Register, error) {
	r, err := New(entries)
	if err != nil {
		return nil, err
	}
	if err := r.checkKind(kind); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Register) checkKind(kind Kind) error {
	for _, e := range r.Entries() {
		if e.PartyKind() != kind {
			return fmt.Errorf("%w: %s is a %s, the register holds %ss", ErrWrongKind, e.TelematikID, e.PartyKind(), kind)
		}
	}
	return nil
}
