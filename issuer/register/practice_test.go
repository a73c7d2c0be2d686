package register

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

func TestLANRCheckDigit(t *testing.T) {
	// 4*1+9*2+4*3+9*4+4*5+9*6 = 144 -> 10-4 = 6
	if got := LANRCheckDigit("123456"); got != '6' {
		t.Fatalf("LANRCheckDigit(123456) = %c, want 6", got)
	}
	for _, tc := range []struct {
		lanr string
		want error
	}{
		{"123456601", nil},
		{"123456501", ErrLANRCheckSum},
		{"12345660", ErrLANRFormat},
		{"12345660a", ErrLANRFormat},
		{"", ErrLANRFormat},
	} {
		if err := ValidLANR(tc.lanr); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("ValidLANR(%q) = %v, want %v", tc.lanr, err, tc.want)
		}
	}
}

func TestValidBSNR(t *testing.T) {
	for _, tc := range []struct {
		bsnr string
		ok   bool
	}{
		{"021234567", true}, {"001234567", false}, {"02123456", false}, {"0212345678", false}, {"02123456x", false},
	} {
		if err := ValidBSNR(tc.bsnr); (err == nil) != tc.ok {
			t.Errorf("ValidBSNR(%q) = %v, want ok=%v", tc.bsnr, err, tc.ok)
		}
	}
}

// A pharmacy's Telematik-ID never validates as a practice's, nor the
// other way round: the sector is the party's.
func TestTelematikSectorByKind(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	ph, pr := NewTelematikIDOf(KindPharmacy, rnd), NewTelematikIDOf(KindPractice, rnd)
	if err := ValidTelematikIDOf(KindPharmacy, ph); err != nil {
		t.Fatal(err)
	}
	if err := ValidTelematikIDOf(KindPractice, pr); err != nil {
		t.Fatal(err)
	}
	if err := ValidTelematikIDOf(KindPractice, ph); !errors.Is(err, ErrTelematikSector) {
		t.Errorf("pharmacy ID as practice: %v, want ErrTelematikSector", err)
	}
	if err := ValidTelematikIDOf(KindPharmacy, pr); !errors.Is(err, ErrTelematikSector) {
		t.Errorf("practice ID as pharmacy: %v, want ErrTelematikSector", err)
	}
	if k, ok := KindOfTelematikID(pr); !ok || k != KindPractice {
		t.Errorf("KindOfTelematikID(%s) = %s %v", pr, k, ok)
	}
}

func TestGeneratePracticesValidAndDistinct(t *testing.T) {
	es := GeneratePractices(rand.New(rand.NewPCG(3, 4)), 300)
	bsnrs := map[string]bool{}
	for _, e := range es {
		if err := e.Validate(); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if bsnrs[e.BSNR] {
			t.Fatalf("duplicate BSNR %s", e.BSNR)
		}
		bsnrs[e.BSNR] = true
	}
	if _, err := NewKind(KindPractice, es); err != nil {
		t.Fatal(err)
	}
}

// One register never vouches for the other kind's parties: a pharmacy in
// a practice register file (or a practice in the pharmacy register) is an
// error on load, and entries mixing the kinds' fields are invalid.
func TestRegisterKindsDoNotMix(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	mixed := append(GeneratePractices(rnd, 3), Generate(rnd, 2)...)
	path := filepath.Join(dir, "practices.jsonl")
	if err := Save(path, mixed); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKind(path, KindPractice); !errors.Is(err, ErrWrongKind) {
		t.Errorf("practice register with pharmacies: %v, want ErrWrongKind", err)
	}
	if _, err := LoadKind(path, KindPharmacy); !errors.Is(err, ErrWrongKind) {
		t.Errorf("pharmacy register with practices: %v, want ErrWrongKind", err)
	}
	bad := []struct {
		name string
		e    Entry
	}{
		{"pharmacy with a bsnr", func() Entry { e := Generate(rnd, 1)[0]; e.BSNR = "021234567"; return e }()},
		{"practice with a pharmacy's ID", func() Entry { e := GeneratePractices(rnd, 1)[0]; e.TelematikID = NewTelematikID(rnd); return e }()},
		{"practice without LANR", func() Entry { e := GeneratePractices(rnd, 1)[0]; e.LANR = ""; return e }()},
		{"practice with a forged LANR", func() Entry { e := GeneratePractices(rnd, 1)[0]; e.LANR = "000000101"; return e }()},
		{"unknown kind", func() Entry { e := Generate(rnd, 1)[0]; e.Kind = "hospital"; return e }()},
	}
	for _, b := range bad {
		if err := b.e.Validate(); err == nil {
			t.Errorf("%s: valid", b.name)
		}
	}
}
