package register

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLuhnDigitKnownValues(t *testing.T) {
	tests := []struct{ in, want string }{
		{"7992739871", "3"}, // the textbook example
		{"0", "0"},
		{"1", "8"},
		{"37828224631000", "5"}, // AmEx test number 378282246310005
		{"411111111111111", "1"},
		{"31234567890123456", "3"}, // worked by hand: digit sum 77
	}
	for _, tc := range tests {
		if got := string(LuhnDigit(tc.in)); got != tc.want {
			t.Errorf("LuhnDigit(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestValidTelematikID(t *testing.T) {
	valid := "3" + "00000000000000000"
	valid += string(LuhnDigit(valid))
	flip := []byte(valid)
	flip[5] = '1'
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", valid, nil},
		{"short", valid[:18], ErrTelematikFormat},
		{"long", valid + "0", ErrTelematikFormat},
		{"letter", "3A" + valid[2:], ErrTelematikFormat},
		{"dash", "3-" + valid[2:], ErrTelematikFormat},
		{"arabic-indic digit", "3" + valid[1:18] + "٣", ErrTelematikFormat},
		{"wrong sector", "1" + valid[1:], ErrTelematikFormat},
		{"changed digit", string(flip), ErrTelematikCheckSum},
		{"leading space", " " + valid[1:], ErrTelematikFormat},
		{"empty", "", ErrTelematikFormat},
	}
	for _, tc := range tests {
		err := ValidTelematikID(tc.in)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: ValidTelematikID(%q) = %v, want %v", tc.name, tc.in, err, tc.want)
		}
	}
}

func TestTelematikIDDetectsSingleDigitErrorsAndSwaps(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		id := NewTelematikID(rnd)
		if err := ValidTelematikID(id); err != nil {
			t.Fatalf("generated %s invalid: %v", id, err)
		}
		// Every single-digit change (outside the sector) must fail.
		for pos := 1; pos < len(id); pos++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == id[pos] {
					continue
				}
				b := []byte(id)
				b[pos] = d
				if ValidTelematikID(string(b)) == nil {
					t.Fatalf("%s with position %d set to %c still valid", id, pos, d)
				}
			}
		}
		// Adjacent swaps are caught unless the pair is 09/90 (Luhn's blind spot) or equal.
		for pos := 1; pos < len(id)-1; pos++ {
			a, c := id[pos], id[pos+1]
			if a == c || (a == '0' && c == '9') || (a == '9' && c == '0') {
				continue
			}
			b := []byte(id)
			b[pos], b[pos+1] = c, a
			if ValidTelematikID(string(b)) == nil {
				t.Fatalf("%s with swap at %d still valid", id, pos)
			}
		}
	}
}

func TestRandomNineteenDigitStringsMostlyFail(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	reg, err := New(Generate(rand.New(rand.NewPCG(3, 4)), 500))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	formatOK, checksumFail, inRegister := 0, 0, 0
	for range n {
		// What the 2021 researchers did: type 19 random digits, here at
		// least with the right sector so only the check digit protects.
		b := make([]byte, 19)
		b[0] = '3'
		for i := 1; i < 19; i++ {
			b[i] = byte('0' + rnd.IntN(10))
		}
		id := string(b)
		switch err := ValidTelematikID(id); {
		case err == nil:
			formatOK++
		case errors.Is(err, ErrTelematikCheckSum):
			checksumFail++
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if _, ok := reg.Lookup(id); ok {
			inRegister++
		}
	}
	// Expect ~10% to pass the check digit; allow a wide binomial margin.
	if formatOK < n*8/100 || formatOK > n*12/100 {
		t.Fatalf("%d of %d random IDs passed the check digit, want about 10%%", formatOK, n)
	}
	if checksumFail+formatOK != n {
		t.Fatal("counts do not add up")
	}
	if inRegister != 0 {
		t.Fatalf("%d random IDs found in the register", inRegister)
	}
}

func TestGenerateIsValidDistinctAndRealistic(t *testing.T) {
	entries := Generate(rand.New(rand.NewPCG(11, 12)), 2000)
	if len(entries) != 2000 {
		t.Fatalf("got %d entries", len(entries))
	}
	plz := regexp.MustCompile(`^[0-9]{5}$`)
	ids := map[string]bool{}
	emails := map[string]bool{}
	members := 0
	umlautNames := 0
	for _, e := range entries {
		if err := e.Validate(); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if ids[e.TelematikID] || emails[e.Email] {
			t.Fatalf("duplicate id or email: %+v", e)
		}
		ids[e.TelematikID], emails[e.Email] = true, true
		if !strings.Contains(e.Name, "Apotheke") {
			t.Fatalf("name %q is not a pharmacy name", e.Name)
		}
		if !plz.MatchString(e.PostalCode) || !strings.HasSuffix(e.Email, ".example") {
			t.Fatalf("bad entry %+v", e)
		}
		if e.Member {
			members++
		}
		if strings.ContainsAny(e.Name+e.Street+e.City, "äöüß") {
			umlautNames++
		}
	}
	if members < 1500 || members > 1900 {
		t.Errorf("%d of 2000 members, want about 85%%", members)
	}
	if umlautNames == 0 {
		t.Error("no umlauts anywhere: not realistic German data")
	}
	// Same seed, same register: scenarios rely on reproducibility.
	again := Generate(rand.New(rand.NewPCG(11, 12)), 2000)
	if again[1999] != entries[1999] {
		t.Error("Generate is not deterministic for a seed")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	entries := Generate(rand.New(rand.NewPCG(5, 6)), 300)
	entries[0].Name = `Apotheke "Zum Löwen", Inh. Müller`
	path := filepath.Join(t.TempDir(), "register.jsonl")
	if err := Save(path, entries); err != nil {
		t.Fatal(err)
	}
	reg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != len(entries) {
		t.Fatalf("Len %d, want %d", reg.Len(), len(entries))
	}
	for _, e := range entries {
		got, ok := reg.Lookup(e.TelematikID)
		if !ok || got != e {
			t.Fatalf("Lookup(%s) = %+v, %v; want %+v", e.TelematikID, got, ok, e)
		}
	}
	all := reg.Entries()
	for i := 1; i < len(all); i++ {
		if all[i-1].TelematikID >= all[i].TelematikID {
			t.Fatal("Entries not sorted")
		}
	}
	if _, ok := reg.Lookup(NewTelematikID(rand.New(rand.NewPCG(99, 99)))); ok {
		t.Fatal("unknown ID found")
	}
}

func TestLoadErrorsNameTheLine(t *testing.T) {
	good := Generate(rand.New(rand.NewPCG(8, 9)), 3)
	line := func(e Entry) string {
		path := filepath.Join(t.TempDir(), "one.jsonl")
		if err := Save(path, []Entry{e}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	badID := good[1]
	badID.TelematikID = badID.TelematikID[:18] + string('0'+(badID.TelematikID[18]-'0'+1)%10)
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"bad check digit on line 3", line(good[0]) + "\n\n" + strings.Replace(line(good[1]), good[1].TelematikID, badID.TelematikID, 1) + "\n", ":3: telematik-id: check digit"},
		{"duplicate", line(good[0]) + "\n" + line(good[1]) + "\n" + line(good[0]) + "\n", ":3: duplicate telematik_id " + good[0].TelematikID + " (first on line 1)"},
		{"unknown field", strings.Replace(line(good[0]), `"name"`, `"nmae"`, 1) + "\n", `:1: parse entry: json: unknown field "nmae"`},
		{"broken json", line(good[0]) + "\n{\"telematik_id\":\n", ":2: parse entry"},
		{"two values", line(good[0]) + " {}\n", ":1: parse entry: more than one"},
		{"bad plz", strings.Replace(line(good[2]), `"postal_code":"`+good[2].PostalCode+`"`, `"postal_code":"1234"`, 1) + "\n", `:1: postal_code "1234"`},
		{"bad email", strings.Replace(line(good[2]), good[2].Email, "Apotheke <a@b.example>", 1) + "\n", ":1: email"},
		{"empty name", strings.Replace(line(good[2]), `"name":"`+good[2].Name+`"`, `"name":" "`, 1) + "\n", ":1: name is empty"},
		{"too long line", line(good[0]) + "\n" + strings.Repeat("x", maxLine+10) + "\n", ":2: line longer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reg.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), path+tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, path+tc.want)
			}
		})
	}
}

func TestLoadAcceptsBOMAndBlankLines(t *testing.T) {
	good := Generate(rand.New(rand.NewPCG(8, 9)), 2)
	path := filepath.Join(t.TempDir(), "reg.jsonl")
	if err := Save(path, good); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte("\ufeff\n"), append(b, "\n\n"...)...), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := Load(path)
	if err != nil || reg.Len() != 2 {
		t.Fatalf("%v, %v", reg, err)
	}
}

func TestNewRejectsInvalidAndDuplicates(t *testing.T) {
	good := Generate(rand.New(rand.NewPCG(1, 1)), 2)
	if _, err := New([]Entry{good[0], good[1], good[0]}); err == nil || !strings.Contains(err.Error(), "entry 3: duplicate") {
		t.Fatalf("got %v", err)
	}
	bad := good[1]
	bad.Email = "not-an-address"
	if _, err := New([]Entry{good[0], bad}); err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Fatalf("got %v", err)
	}
	if err := Save(filepath.Join(t.TempDir(), "x.jsonl"), []Entry{bad}); err == nil {
		t.Fatal("Save wrote an invalid entry")
	}
}
