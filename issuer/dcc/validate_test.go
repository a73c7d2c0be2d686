package dcc

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/golive-dev/golive/internal/sharedspec"
	"github.com/golive-dev/golive/issuer/dcc/dccschema"
)

// validateNow is the "now" of the rule table: 15 June 2021, 10:00 UTC,
// which is already 16 June at UTC+14.
var validateNow = time.Date(2021, 6, 15, 10, 0, 0, 0, time.UTC)

func mustParse(t *testing.T, data string) *Certificate {
	t.Helper()
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidateRules(t *testing.T) {
	type problem struct{ field, code string }
	long := strings.Repeat("ö", 81)
	tests := []struct {
		name   string
		base   string
		change func(c *Certificate)
		opts   ValidateOptions
		want   []problem
	}{
		// Bases are valid.
		{"vaccination base", vaccinationJSON, func(c *Certificate) {}, ValidateOptions{}, nil},
		{"test base", testJSON, func(c *Certificate) {}, ValidateOptions{}, nil},
		{"recovery base", recoveryJSON, func(c *Certificate) {}, ValidateOptions{}, nil},

		// ver
		{"ver empty", vaccinationJSON, func(c *Certificate) { c.Ver = "" }, ValidateOptions{}, []problem{{"ver", "required"}}},
		{"ver 2.x", vaccinationJSON, func(c *Certificate) { c.Ver = "2.0.0" }, ValidateOptions{}, []problem{{"ver", "pattern"}}},
		{"ver two parts", vaccinationJSON, func(c *Certificate) { c.Ver = "1.3" }, ValidateOptions{}, []problem{{"ver", "pattern"}}},
		{"ver leading zero", vaccinationJSON, func(c *Certificate) { c.Ver = "1.03.0" }, ValidateOptions{}, []problem{{"ver", "pattern"}}},
		{"ver dot wildcard", vaccinationJSON, func(c *Certificate) { c.Ver = "1x3x0" }, ValidateOptions{}, []problem{{"ver", "pattern"}}},
		{"ver 1.0.0", vaccinationJSON, func(c *Certificate) { c.Ver = "1.0.0" }, ValidateOptions{}, nil},

		// nam
		{"no standardised name", vaccinationJSON, func(c *Certificate) { c.Nam.Fnt, c.Nam.Gnt = "", "" }, ValidateOptions{}, []problem{{"nam", "required"}}},
		{"only gnt", vaccinationJSON, func(c *Certificate) { c.Nam.Fnt, c.Nam.Fn = "", "" }, ValidateOptions{}, nil},
		{"fnt lower case", vaccinationJSON, func(c *Certificate) { c.Nam.Fnt = "Muster" }, ValidateOptions{}, []problem{{"nam.fnt", "pattern"}}},
		{"gnt with space", vaccinationJSON, func(c *Certificate) { c.Nam.Gnt = "ANNA LENA" }, ValidateOptions{}, []problem{{"nam.gnt", "pattern"}}},
		{"gnt with digit", vaccinationJSON, func(c *Certificate) { c.Nam.Gnt = "ANNA2" }, ValidateOptions{}, []problem{{"nam.gnt", "pattern"}}},
		{"fnt 81", vaccinationJSON, func(c *Certificate) { c.Nam.Fnt = strings.Repeat("A", 81) }, ValidateOptions{}, []problem{{"nam.fnt", "max_length"}}},
		{"fnt 80", vaccinationJSON, func(c *Certificate) { c.Nam.Fnt = strings.Repeat("A", 80) }, ValidateOptions{}, nil},
		{"fn 80 runes", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = long[2:] }, ValidateOptions{}, nil},
		{"fn 81 runes", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = long }, ValidateOptions{}, []problem{{"nam.fn", "max_length"}}},
		{"gn 81", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = long }, ValidateOptions{}, []problem{{"nam.gn", "max_length"}}},
		{"fn NFD", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = norm.NFD.String(c.Nam.Fn) }, ValidateOptions{}, []problem{{"nam.fn", "not_nfc"}}},
		{"fn trailing space", vaccinationJSON, func(c *Certificate) { c.Nam.Fn += " " }, ValidateOptions{}, []problem{{"nam.fn", "whitespace"}}},
		{"gn leading nbsp", vaccinationJSON, func(c *Certificate) { c.Nam.Gn = "\u00a0" + c.Nam.Gn }, ValidateOptions{}, []problem{{"nam.gn", "whitespace"}}},
		{"fn NUL", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\x00frau" }, ValidateOptions{}, []problem{{"nam.fn", "control_character"}}},
		{"fn tab inside", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\tfrau" }, ValidateOptions{}, []problem{{"nam.fn", "control_character"}}},
		{"fn bidi override", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\u202efrau" }, ValidateOptions{}, []problem{{"nam.fn", "control_character"}}},
		{"fn replacement char", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\ufffdfrau" }, ValidateOptions{}, []problem{{"nam.fn", "invalid_character"}}},
		{"fn invalid utf-8", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = "Muster\xfffrau" }, ValidateOptions{}, []problem{{"nam.fn", "invalid_utf8"}}},
		{"several string problems", vaccinationJSON, func(c *Certificate) { c.Nam.Fn = " " + norm.NFD.String(long) }, ValidateOptions{},
			[]problem{{"nam.fn", "whitespace"}, {"nam.fn", "not_nfc"}, {"nam.fn", "max_length"}}},

		// dob
		{"dob empty", vaccinationJSON, func(c *Certificate) { c.Dob = "" }, ValidateOptions{}, nil},
		{"dob year", vaccinationJSON, func(c *Certificate) { c.Dob = "1964" }, ValidateOptions{}, nil},
		{"dob year-month", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-08" }, ValidateOptions{}, nil},
		{"dob month 13", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-13" }, ValidateOptions{}, []problem{{"dob", "format"}}},
		{"dob 30 Feb", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-02-30" }, ValidateOptions{}, []problem{{"dob", "format"}}},
		{"dob 29 Feb leap", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-02-29" }, ValidateOptions{}, nil},
		{"dob 1899", vaccinationJSON, func(c *Certificate) { c.Dob = "1899-12-31" }, ValidateOptions{}, []problem{{"dob", "pattern"}}},
		{"dob 2100", vaccinationJSON, func(c *Certificate) { c.Dob = "2100" }, ValidateOptions{}, []problem{{"dob", "pattern"}}},
		{"dob short year", vaccinationJSON, func(c *Certificate) { c.Dob = "64-08-12" }, ValidateOptions{}, []problem{{"dob", "pattern"}}},
		{"dob one-digit month", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-8-12" }, ValidateOptions{}, []problem{{"dob", "pattern"}}},
		{"dob with time", vaccinationJSON, func(c *Certificate) { c.Dob = "1964-08-12T00:00:00Z" }, ValidateOptions{}, []problem{{"dob", "pattern"}}},
		{"dob today at UTC+14", recoveryJSON, func(c *Certificate) { c.Dob = "2021-06-16" }, ValidateOptions{}, []problem{{"r[0].fr", "before_birth"}}},
		{"dob future", recoveryJSON, func(c *Certificate) { c.Dob = "2021-06-17" }, ValidateOptions{}, []problem{{"dob", "future_date"}}},
		{"dob this year", recoveryJSON, func(c *Certificate) { c.Dob = "2021" }, ValidateOptions{}, nil},
		{"dob next year", recoveryJSON, func(c *Certificate) { c.Dob = "2022" }, ValidateOptions{}, []problem{{"dob", "future_date"}}},
		{"dob next month", recoveryJSON, func(c *Certificate) { c.Dob = "2021-07" }, ValidateOptions{}, []problem{{"dob", "future_date"}}},

		// groups
		{"no group", vaccinationJSON, func(c *Certificate) { c.V = nil }, ValidateOptions{}, []problem{{"", "required"}}},
		{"empty group", vaccinationJSON, func(c *Certificate) { c.V = []Vaccination{} }, ValidateOptions{}, []problem{{"v", "exactly_one_entry"}}},
		{"two entries", vaccinationJSON, func(c *Certificate) { c.V = append(c.V, c.V[0]) }, ValidateOptions{}, []problem{{"v", "exactly_one_entry"}}},
		{"two groups", vaccinationJSON, func(c *Certificate) { c.R = mustParse(t, recoveryJSON).R }, ValidateOptions{}, []problem{{"", "exactly_one_entry"}}},

		// vaccination codes
		{"tg missing", vaccinationJSON, func(c *Certificate) { c.V[0].Tg = "" }, ValidateOptions{}, []problem{{"v[0].tg", "required"}}},
		{"tg unknown", vaccinationJSON, func(c *Certificate) { c.V[0].Tg = "12345" }, ValidateOptions{}, []problem{{"v[0].tg", "unknown_code"}}},
		{"tg padded", vaccinationJSON, func(c *Certificate) { c.V[0].Tg = " 840539006" }, ValidateOptions{}, []problem{{"v[0].tg", "whitespace"}}},
		{"vp unknown", vaccinationJSON, func(c *Certificate) { c.V[0].Vp = "999" }, ValidateOptions{}, []problem{{"v[0].vp", "unknown_code"}}},
		{"mp unknown", vaccinationJSON, func(c *Certificate) { c.V[0].Mp = "EU/1/99/9999" }, ValidateOptions{}, []problem{{"v[0].mp", "unknown_code"}}},
		{"ma unknown", vaccinationJSON, func(c *Certificate) { c.V[0].Ma = "ORG-1" }, ValidateOptions{}, []problem{{"v[0].ma", "unknown_code"}}},
		{"ma of another product", vaccinationJSON, func(c *Certificate) { c.V[0].Ma = "ORG-100031184" }, ValidateOptions{}, []problem{{"v[0].ma", "product_mismatch"}}},
		{"vp not for product", vaccinationJSON, func(c *Certificate) { c.V[0].Vp = "29061000087103" }, ValidateOptions{}, []problem{{"v[0].vp", "product_mismatch"}}},
		{"vp and ma mismatch", vaccinationJSON, func(c *Certificate) { c.V[0].Vp, c.V[0].Ma = "1157024006", "ORG-100001699" }, ValidateOptions{},
			[]problem{{"v[0].ma", "product_mismatch"}, {"v[0].vp", "product_mismatch"}}},
		{"vp generic for product", vaccinationJSON, func(c *Certificate) { c.V[0].Vp = "28531000087107" }, ValidateOptions{}, nil},
		{"vp legacy antigen", vaccinationJSON, func(c *Certificate) { c.V[0].Vp = "1119305005" }, ValidateOptions{}, nil},
		{"vp legacy ATC", vaccinationJSON, func(c *Certificate) { c.V[0].Vp = "J07BX03" }, ValidateOptions{}, nil},
		{"Jcovden", vaccinationJSON, func(c *Certificate) {
			c.V[0].Mp, c.V[0].Ma, c.V[0].Vp, c.V[0].Dn, c.V[0].Sd = "EU/1/20/1525", "ORG-100001417", "29061000087103", 2, 1
		}, ValidateOptions{}, nil},
		{"Sputnik V", vaccinationJSON, func(c *Certificate) {
			c.V[0].Mp, c.V[0].Ma, c.V[0].Vp = "Sputnik-V", "Gamaleya-Research-Institute", "29061000087103"
		}, ValidateOptions{}, nil},
		{"dn 0", vaccinationJSON, func(c *Certificate) { c.V[0].Dn = 0 }, ValidateOptions{}, []problem{{"v[0].dn", "min"}}},
		{"sd negative", vaccinationJSON, func(c *Certificate) { c.V[0].Sd = -1 }, ValidateOptions{}, []problem{{"v[0].sd", "min"}}},
		{"dn above sd", vaccinationJSON, func(c *Certificate) { c.V[0].Dn = 3 }, ValidateOptions{}, nil},
		{"dn large", vaccinationJSON, func(c *Certificate) { c.V[0].Dn, c.V[0].Sd = 12, 12 }, ValidateOptions{}, nil},

		// vaccination dates, country, issuer, ci
		{"dt missing", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "" }, ValidateOptions{}, []problem{{"v[0].dt", "required"}}},
		{"dt short", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "2021-6-14" }, ValidateOptions{}, []problem{{"v[0].dt", "format"}}},
		{"dt 29 Feb 2021", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "2021-02-29" }, ValidateOptions{}, []problem{{"v[0].dt", "format"}}},
		{"dt with time", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "2021-06-14T10:00:00Z" }, ValidateOptions{}, []problem{{"v[0].dt", "format"}}},
		{"dt today at UTC+14", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "2021-06-16" }, ValidateOptions{}, nil},
		{"dt future", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "2021-06-17" }, ValidateOptions{}, []problem{{"v[0].dt", "future_date"}}},
		{"dt before birth", vaccinationJSON, func(c *Certificate) { c.V[0].Dt = "1964-08-11" }, ValidateOptions{}, []problem{{"v[0].dt", "before_birth"}}},
		{"dt on partial birth year", vaccinationJSON, func(c *Certificate) { c.Dob, c.V[0].Dt = "1964", "1964-01-01" }, ValidateOptions{}, nil},
		{"co lower case", vaccinationJSON, func(c *Certificate) { c.V[0].Co = "de" }, ValidateOptions{}, []problem{{"v[0].co", "pattern"}}},
		{"co unknown", vaccinationJSON, func(c *Certificate) { c.V[0].Co = "XX" }, ValidateOptions{}, []problem{{"v[0].co", "unknown_code"}}},
		{"co too long", vaccinationJSON, func(c *Certificate) { c.V[0].Co = "ABCDEFGHIJK" }, ValidateOptions{}, []problem{{"v[0].co", "pattern"}}},
		{"co organisation", vaccinationJSON, func(c *Certificate) { c.V[0].Co = "UNHCR" }, ValidateOptions{}, nil},
		{"co missing", vaccinationJSON, func(c *Certificate) { c.V[0].Co = "" }, ValidateOptions{}, []problem{{"v[0].co", "required"}}},
		{"is missing", vaccinationJSON, func(c *Certificate) { c.V[0].Is = "" }, ValidateOptions{}, []problem{{"v[0].is", "required"}}},
		{"is 81", vaccinationJSON, func(c *Certificate) { c.V[0].Is = long }, ValidateOptions{}, []problem{{"v[0].is", "max_length"}}},
		{"ci empty", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "" }, ValidateOptions{}, nil},
		{"ci without check", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:187/37512422923" }, ValidateOptions{}, nil},
		{"ci wrong check", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:187/37512422923#Y" }, ValidateOptions{}, []problem{{"v[0].ci", "check_character"}}},
		{"ci bad structure", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:187 375" }, ValidateOptions{}, []problem{{"v[0].ci", "format"}}},
		{"ci opaque form", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "01:NL:1312D00" }, ValidateOptions{}, nil},
		{"ci 81", vaccinationJSON, func(c *Certificate) { c.V[0].Ci = "URN:UVCI:01:NL:" + strings.Repeat("A", 66) }, ValidateOptions{}, []problem{{"v[0].ci", "max_length"}}},
		{"ci padded", vaccinationJSON, func(c *Certificate) { c.V[0].Ci += " " }, ValidateOptions{}, []problem{{"v[0].ci", "whitespace"}}},

		// test
		{"RAT without device", testJSON, func(c *Certificate) { c.T[0].Ma = "" }, ValidateOptions{}, []problem{{"t[0].ma", "required"}}},
		{"device not digits", testJSON, func(c *Certificate) { c.T[0].Ma = "53a" }, ValidateOptions{}, []problem{{"t[0].ma", "pattern"}}},
		{"device 11 digits", testJSON, func(c *Certificate) { c.T[0].Ma = "12345678901" }, ValidateOptions{}, []problem{{"t[0].ma", "pattern"}}},
		{"device not known", testJSON, func(c *Certificate) {}, ValidateOptions{KnownTestDevices: map[string]bool{"1232": true}}, []problem{{"t[0].ma", "unknown_code"}}},
		{"device known", testJSON, func(c *Certificate) { c.T[0].Ma = "1232" }, ValidateOptions{KnownTestDevices: map[string]bool{"1232": true}}, nil},
		{"empty known list", testJSON, func(c *Certificate) {}, ValidateOptions{KnownTestDevices: map[string]bool{}}, []problem{{"t[0].ma", "unknown_code"}}},
		{"NAAT bare", testJSON, func(c *Certificate) { c.T[0].Tt, c.T[0].Ma, c.T[0].Tc = TestTypeNAAT, "", "" }, ValidateOptions{}, nil},
		{"NAAT name 81", testJSON, func(c *Certificate) { c.T[0].Tt, c.T[0].Ma, c.T[0].Nm = TestTypeNAAT, "", long }, ValidateOptions{}, []problem{{"t[0].nm", "max_length"}}},
		{"tt unknown", testJSON, func(c *Certificate) { c.T[0].Tt = "LP0000-0" }, ValidateOptions{}, []problem{{"t[0].tt", "unknown_code"}}},
		{"tr unknown", testJSON, func(c *Certificate) { c.T[0].Tr = "positive" }, ValidateOptions{}, []problem{{"t[0].tr", "unknown_code"}}},
		{"tr positive", testJSON, func(c *Certificate) { c.T[0].Tr = ResultPositive }, ValidateOptions{}, nil},
		{"tc 81", testJSON, func(c *Certificate) { c.T[0].Tc = long }, ValidateOptions{}, []problem{{"t[0].tc", "max_length"}}},
		{"sc missing", testJSON, func(c *Certificate) { c.T[0].Sc = "" }, ValidateOptions{}, []problem{{"t[0].sc", "required"}}},
		{"sc offset", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00+02:00" }, ValidateOptions{}, nil},
		{"sc fraction", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00.123Z" }, ValidateOptions{}, nil},
		{"sc lower case", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14t08:15:00z" }, ValidateOptions{}, nil},
		{"sc +0200", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00+0200" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc +02", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00+02" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc no zone", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc space", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14 08:15:00Z" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc hour 25", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T25:15:00Z" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc offset 24h", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00+24:00" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc offset minute 60", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14T08:15:00+01:60" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc date only", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-14" }, ValidateOptions{}, []problem{{"t[0].sc", "format"}}},
		{"sc one second ahead", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-15T10:00:01Z" }, ValidateOptions{}, []problem{{"t[0].sc", "future_date"}}},
		{"sc now in +02:00", testJSON, func(c *Certificate) { c.T[0].Sc = "2021-06-15T12:00:00+02:00" }, ValidateOptions{}, nil},
		{"sc before birth", testJSON, func(c *Certificate) { c.T[0].Sc = "1989-12-31T23:00:00Z" }, ValidateOptions{}, []problem{{"t[0].sc", "before_birth"}}},

		// recovery
		{"fr missing", recoveryJSON, func(c *Certificate) { c.R[0].Fr = "" }, ValidateOptions{}, []problem{{"r[0].fr", "required"}}},
		{"fr future", recoveryJSON, func(c *Certificate) { c.R[0].Fr = "2021-06-20" }, ValidateOptions{}, []problem{{"r[0].fr", "future_date"}, {"r[0].df", "date_order"}}},
		{"df and du future", recoveryJSON, func(c *Certificate) { c.R[0].Fr, c.R[0].Df, c.R[0].Du = "2021-06-10", "2021-06-21", "2021-12-07" }, ValidateOptions{}, nil},
		{"df before fr", recoveryJSON, func(c *Certificate) { c.R[0].Df = "2021-05-31" }, ValidateOptions{}, []problem{{"r[0].df", "date_order"}}},
		{"du before df", recoveryJSON, func(c *Certificate) { c.R[0].Du = "2021-06-11" }, ValidateOptions{}, []problem{{"r[0].du", "date_order"}}},
		{"df equals du", recoveryJSON, func(c *Certificate) { c.R[0].Du = c.R[0].Df }, ValidateOptions{}, nil},
		{"du not a date", recoveryJSON, func(c *Certificate) { c.R[0].Du = "2021-11-31" }, ValidateOptions{}, []problem{{"r[0].du", "format"}}},
		{"df missing", recoveryJSON, func(c *Certificate) { c.R[0].Df = "" }, ValidateOptions{}, []problem{{"r[0].df", "required"}}},
		{"fr before birth", recoveryJSON, func(c *Certificate) { c.Dob = "2021-06-02" }, ValidateOptions{}, []problem{{"r[0].fr", "before_birth"}}},
	}
	schema := optionalSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.base)
			tt.change(c)
			opts := tt.opts
			opts.Now = validateNow
			err := c.Validate(opts)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				// What we accept, the official schema must accept too.
				if data, _ := json.Marshal(c); schema != nil {
					if err := schema(data); err != nil {
						t.Fatalf("accepted but violates the official schema: %v\n%s", err, data)
					}
				}
				return
			}
			ve := asValidationError(t, err)
			var got []problem
			for _, fe := range ve.Errors {
				got = append(got, problem{fe.Field, fe.Code})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v\n%s", got, tt.want, strings.Join(ve.Lines(), "\n"))
			}
		})
	}
}

func TestValidateZeroNowMeansNow(t *testing.T) {
	c := mustParse(t, vaccinationJSON)
	c.V[0].Dt = time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if ve := asValidationError(t, c.Validate(ValidateOptions{})); !ve.Has("v[0].dt", "future_date") {
		t.Fatalf("got %v", ve)
	}
	c.V[0].Dt = time.Now().AddDate(0, 0, -1).Format(time.DateOnly)
	if err := c.Validate(ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestValidationErrorFormatting(t *testing.T) {
	ve := &ValidationError{Errors: []FieldError{
		{Field: "v[0].dn", Code: "min", Message: "dose number must be at least 1, got 0"},
		{Field: "", Code: "required", Message: "one of v, t or r is required"},
	}}
	want := []string{"v[0].dn: dose number must be at least 1, got 0 (min)", "(payload): one of v, t or r is required (required)"}
	if got := ve.Lines(); !slices.Equal(got, want) {
		t.Fatalf("Lines() = %q", got)
	}
	if got := ve.Error(); got != "dcc: invalid payload: "+strings.Join(want, "; ") {
		t.Fatalf("Error() = %q", got)
	}
	if !ve.Has("v[0].dn", "min") || ve.Has("v[0].dn", "required") {
		t.Fatal("Has")
	}
}

// optionalSchema returns the official schema check, or nil when the shared
// folder is absent (so the rule table still runs without it).
func optionalSchema(t *testing.T) func([]byte) error {
	if sharedspec.Dir() == "" {
		return nil
	}
	return dccschema.Validator(t)
}
