package dcc

import (
	"reflect"
	"strings"
	"testing"
)

const vaccinationJSON = `{
  "ver": "1.3.0",
  "nam": {"fn": "Musterfrau-Gößinger", "fnt": "MUSTERFRAU<GOESSINGER", "gn": "Gabriele", "gnt": "GABRIELE"},
  "dob": "1964-08-12",
  "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
         "dn": 2, "sd": 2, "dt": "2021-06-14", "co": "DE", "is": "Robert Koch-Institut",
         "ci": "URN:UVCI:01:NL:187/37512422923#Z"}]
}`

const testJSON = `{"ver":"1.3.0","nam":{"fnt":"MUSTER"},"dob":"1990","t":[{"tg":"840539006","tt":"LP217198-3","ma":"532",
"sc":"2021-06-14T08:15:00Z","tr":"260415000","tc":"Testzentrum","co":"DE","is":"Robert Koch-Institut","ci":""}]}`

const recoveryJSON = `{"ver":"1.3.0","nam":{"gnt":"ANNA"},"dob":"","r":[{"tg":"840539006","fr":"2021-06-01","co":"DE",
"is":"Robert Koch-Institut","df":"2021-06-12","du":"2021-11-28","ci":""}]}`

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(vaccinationJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := &Certificate{
		Ver: "1.3.0",
		Nam: Name{Fn: "Musterfrau-Gößinger", Fnt: "MUSTERFRAU<GOESSINGER", Gn: "Gabriele", Gnt: "GABRIELE"},
		Dob: "1964-08-12",
		V: []Vaccination{{Tg: "840539006", Vp: "1119349007", Mp: "EU/1/20/1528", Ma: "ORG-100030215",
			Dn: 2, Sd: 2, Dt: "2021-06-14", Co: "DE", Is: "Robert Koch-Institut", Ci: "URN:UVCI:01:NL:187/37512422923#Z"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	for _, data := range []string{testJSON, recoveryJSON, " \n" + vaccinationJSON + "\n\t "} {
		if _, err := ParseAndValidate([]byte(data), ValidateOptions{Now: sharedNow}); err != nil {
			t.Errorf("rejected: %v", err)
		}
	}
}

func TestParseStrict(t *testing.T) {
	type problem struct{ field, code string }
	tests := []struct {
		name string
		data string
		want []problem
	}{
		{"empty input", ``, []problem{{"", "syntax"}}},
		{"syntax", `{"ver": "1.3.0",}`, []problem{{"", "syntax"}}},
		{"truncated", vaccinationJSON[:40], []problem{{"", "syntax"}}},
		{"trailing object", vaccinationJSON + `{}`, []problem{{"", "syntax"}}},
		{"trailing garbage", vaccinationJSON + ` x`, []problem{{"", "syntax"}}},
		{"invalid utf-8", strings.Replace(vaccinationJSON, "Gabriele", "Gabri\xffle", 1), []problem{{"", "invalid_utf8"}}},
		{"top-level array", `[` + vaccinationJSON + `]`, []problem{{"", "type"}}},
		{"top-level string", `"HC1:..."`, []problem{{"", "type"}}},
		{"top-level null", `null`, []problem{{"", "null"}}},
		{"too deep", `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, []problem{{"", "syntax"}}},
		{"unknown top field", strings.Replace(vaccinationJSON, `"ver"`, `"extra": 1, "ver"`, 1), []problem{{"extra", "unknown_field"}}},
		{"unknown name field", strings.Replace(vaccinationJSON, `"gn":`, `"mn": "X", "gn":`, 1), []problem{{"nam.mn", "unknown_field"}}},
		{"unknown entry field", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": 2, "lot": "A1"`, 1), []problem{{"v[0].lot", "unknown_field"}}},
		{"case matters", strings.Replace(vaccinationJSON, `"dob"`, `"DOB"`, 1), []problem{{"DOB", "unknown_field"}, {"dob", "required"}}},
		{"duplicate top key", strings.Replace(vaccinationJSON, `"dob": "1964-08-12"`, `"dob": "1964-08-12", "dob": "1965"`, 1), []problem{{"dob", "duplicate_key"}}},
		{"duplicate name key", strings.Replace(vaccinationJSON, `"gnt": "GABRIELE"`, `"gnt": "GABRIELE", "gnt": "X"`, 1), []problem{{"nam.gnt", "duplicate_key"}}},
		{"duplicate entry key", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": 2, "dn": 1`, 1), []problem{{"v[0].dn", "duplicate_key"}}},
		{"null string", strings.Replace(vaccinationJSON, `"dob": "1964-08-12"`, `"dob": null`, 1), []problem{{"dob", "null"}}},
		{"null name", strings.Replace(vaccinationJSON, `"fn": "Musterfrau-Gößinger"`, `"fn": null`, 1), []problem{{"nam.fn", "null"}}},
		{"null group", strings.Replace(vaccinationJSON, `"dob": "1964-08-12",`, `"dob": "1964-08-12", "t": null,`, 1), []problem{{"t", "null"}}},
		{"null int", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": null`, 1), []problem{{"v[0].dn", "null"}}},
		{"dn as string", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": "2"`, 1), []problem{{"v[0].dn", "type"}}},
		{"dn fraction", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": 1.5`, 1), []problem{{"v[0].dn", "not_integer"}}},
		{"dn 2.0", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": 2.0`, 1), []problem{{"v[0].dn", "not_integer"}}},
		{"dn exponent", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": 2e0`, 1), []problem{{"v[0].dn", "not_integer"}}},
		{"dn bool", strings.Replace(vaccinationJSON, `"dn": 2`, `"dn": true`, 1), []problem{{"v[0].dn", "type"}}},
		{"sd huge", strings.Replace(vaccinationJSON, `"sd": 2`, `"sd": 99999999999999999999`, 1), []problem{{"v[0].sd", "out_of_range"}}},
		{"ver as number", strings.Replace(vaccinationJSON, `"ver": "1.3.0"`, `"ver": 1.3`, 1), []problem{{"ver", "type"}}},
		{"nam as string", strings.Replace(vaccinationJSON, `"nam": {"fn": "Musterfrau-Gößinger", "fnt": "MUSTERFRAU<GOESSINGER", "gn": "Gabriele", "gnt": "GABRIELE"}`, `"nam": "Gabriele"`, 1), []problem{{"nam", "type"}}},
		{"v as object", strings.Replace(strings.Replace(vaccinationJSON, `"v": [{`, `"v": {`, 1), `}]`, `}`, 1), []problem{{"v", "type"}}},
		{"entry not object", `{"ver":"1.3.0","nam":{"fnt":"A"},"dob":"","v":["x"]}`, []problem{{"v[0]", "type"}}},
		{"missing ver", strings.Replace(vaccinationJSON, `"ver": "1.3.0",`, ``, 1), []problem{{"ver", "required"}}},
		{"missing nam", `{"ver":"1.3.0","dob":"","r":[]}`, []problem{{"nam", "required"}}},
		{"missing entry keys", `{"ver":"1.3.0","nam":{"fnt":"A"},"dob":"","r":[{"tg":"840539006","fr":"2021-06-01","co":"DE","is":"X","df":"2021-06-12"}]}`,
			[]problem{{"r[0].du", "required"}, {"r[0].ci", "required"}}},
		{"several problems", `{"ver":1,"nam":{"fnt":null},"dob":"","v":[{"dn":"1","dn":2,"x":0}]}`,
			[]problem{{"ver", "type"}, {"nam.fnt", "null"}, {"v[0].dn", "type"}, {"v[0].dn", "duplicate_key"}, {"v[0].x", "unknown_field"},
				{"v[0].tg", "required"}, {"v[0].vp", "required"}, {"v[0].mp", "required"}, {"v[0].ma", "required"},
				{"v[0].sd", "required"}, {"v[0].dt", "required"}, {"v[0].co", "required"}, {"v[0].is", "required"}, {"v[0].ci", "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.data))
			if c != nil {
				t.Errorf("Parse returned a certificate with its error")
			}
			ve := asValidationError(t, err)
			var got []problem
			for _, fe := range ve.Errors {
				got = append(got, problem{fe.Field, fe.Code})
				if fe.Message == "" {
					t.Errorf("%s (%s) has no message", fe.Field, fe.Code)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v\n%s", got, tt.want, strings.Join(ve.Lines(), "\n"))
			}
		})
	}
}

func TestParseAndValidateMergesProblems(t *testing.T) {
	// Parse finds the missing dob and the string dn; Validate adds the bad
	// country but does not repeat dn as "min" nor dob.
	data := strings.Replace(strings.Replace(strings.Replace(vaccinationJSON,
		`"dob": "1964-08-12",`, ``, 1), `"dn": 2`, `"dn": "2"`, 1), `"co": "DE"`, `"co": "XX"`, 1)
	c, err := ParseAndValidate([]byte(data), ValidateOptions{Now: sharedNow})
	if c != nil {
		t.Error("certificate returned with error")
	}
	ve := asValidationError(t, err)
	want := []string{
		"v[0].dn: must be an integer, got string (type)",
		"dob: is required (required)",
		`v[0].co: "XX" is not in value set country-2-codes (unknown_code)`,
	}
	if got := ve.Lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if msg := ve.Error(); !strings.HasPrefix(msg, "dcc: invalid payload: v[0].dn: must be an integer, got string (type); dob: is required (required); v[0].co") {
		t.Errorf("Error() = %q", msg)
	}
}
