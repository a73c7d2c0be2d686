package dcc

import (
	"reflect"
	"strings"
	"testing"
)

// TestIssuingRules checks the issuer's own rules: each case is valid under
// the schema (Validate without Issuing accepts it) and refused, or
// accepted, with Issuing.
func TestIssuingRules(t *testing.T) {
	type problem struct{ field, code string }
	issuing := ValidateOptions{Now: validateNow, Issuing: true}
	tests := []struct {
		name   string
		base   string
		change func(c *Certificate)
		want   []problem
	}{
		{"vaccination base", vaccinationJSON, func(c *Certificate) {}, nil},
		{"apostrophes, dashes, accents, middle dot", vaccinationJSON, func(c *Certificate) {
			c.Nam.Fn, c.Nam.Gn = "d’Červenková-O'Brien Ll·Ull", "Jean–Luc St. Ș."
		}, nil},
		{"Cyrillic, Greek, Arabic, CJK in the BMP", vaccinationJSON, func(c *Certificate) {
			c.Nam.Fn, c.Nam.Gn = "Иванова Παπαδοπούλου", "محمد 张伟"
		}, nil},
		{"emoji in fn", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\U0001F600frau" },
			[]problem{{"nam.fn", "unsupported_character"}}},
		{"CJK extension B in gn", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "\U00020BB7野" },
			[]problem{{"nam.gn", "unsupported_character"}}},
		{"symbol in the BMP", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "Anna☺" },
			[]problem{{"nam.gn", "unsupported_character"}}},
		{"digit", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "Anna2" },
			[]problem{{"nam.gn", "unsupported_character"}}},
		{"zero-width space", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Mus\u200bter" },
			[]problem{{"nam.fn", "invalid_character"}}},
		{"zero-width joiner", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "Ga\u200dbriele" },
			[]problem{{"nam.gn", "invalid_character"}}},
		{"private use", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "Ga\ue000briele" },
			[]problem{{"nam.gn", "unsupported_character"}}},
		{"emoji in the issuer", vaccinationJSON, func(c *Certificate) { c.V[0].Is = "RKI \U0001F489" },
			[]problem{{"v[0].is", "unsupported_character"}}},
		{"zero-width space in the testing centre", testJSON, func(c *Certificate) { c.T[0].Tc = "Test\u200bzentrum" },
			[]problem{{"t[0].tc", "invalid_character"}}},
		{"symbols and digits in the test name", testJSON, func(c *Certificate) { c.T[0].Nm = "Test® 2 (nasal)" }, nil},
		{"opaque ci", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "01:NL:1312D00" },
			[]problem{{"v[0].ci", "format"}}},
		{"free-form ci", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "anything at all" },
			[]problem{{"v[0].ci", "format"}}},
		{"UVCI without check character", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:187/37512422923" },
			[]problem{{"v[0].ci", "check_character"}}},
		{"UVCI with a wrong check character", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:187/37512422923#A" },
			[]problem{{"v[0].ci", "check_character"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.base)
			tt.change(c)
			schemaOnly := c.Validate(ValidateOptions{Now: validateNow})
			wrongCheck := strings.HasSuffix(tt.name, "wrong check character")
			if schemaOnly != nil && !wrongCheck {
				t.Fatalf("the case must be valid without the issuing rules: %v", schemaOnly)
			}
			err := c.Validate(issuing)
			var got []problem
			if err != nil {
				for _, fe := range asValidationError(t, err).Errors {
					got = append(got, problem{fe.Field, fe.Code})
					// A message must be loggable: no character of the value.
					if strings.ContainsAny(fe.Message, "\U0001F600\U00020BB7☺\u200b\u200d\ue000\U0001F489") {
						t.Errorf("message %q carries the refused character", fe.Message)
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

func TestNameErrorsNamesTheCodePoint(t *testing.T) {
	errs := NameErrors(Name{Fn: "Muster\U0001F600", Gn: "Anna"})
	if len(errs) != 1 || errs[0].Field != "nam.fn" || !strings.Contains(errs[0].Message, "U+1F600") {
		t.Fatalf("got %+v", errs)
	}
}
