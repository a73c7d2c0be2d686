package register

import (
	"errors"
	"reflect"
	"testing"
)

func TestMatchApplication(t *testing.T) {
	e := Entry{
		TelematikID: "3000000000000000000",
		Name:        "Löwen-Apotheke am Schloß",
		Street:      "Friedrich-Ebert-Straße 12a",
		PostalCode:  "01067",
		City:        "Görlitz",
		Email:       "info@loewen.example",
	}
	tests := []struct {
		name                 string
		pname, street, plz   string
		city                 string
		wantMismatchedFields []string
	}{
		{"identical", e.Name, e.Street, e.PostalCode, e.City, nil},
		{"case and spacing", "  LÖWEN-apotheke   AM schloß ", "friedrich-ebert-straße 12A", " 01067 ", "GÖRLITZ", nil},
		{"umlaut spelled out", "Loewen-Apotheke am Schloss", e.Street, e.PostalCode, "Goerlitz", nil},
		{"hyphen vs space", "Löwen Apotheke am Schloß", "Friedrich Ebert Straße 12 a", e.PostalCode, e.City, nil},
		{"decomposed unicode", "Lo\u0308wen-Apotheke am Schlo\u00df", e.Street, e.PostalCode, "Go\u0308rlitz", nil},
		{"Str. abbreviation", e.Name, "Friedrich-Ebert-Str. 12a", e.PostalCode, e.City, nil},
		{"Str without dot", e.Name, "Friedrich-Ebert-Str 12a", e.PostalCode, e.City, nil},
		{"Strasse spelling", e.Name, "Friedrich-Ebert-Strasse 12a", e.PostalCode, e.City, nil},
		{"STRASSE upper", e.Name, "FRIEDRICH-EBERT-STRASSE 12A", e.PostalCode, e.City, nil},
		{"capital sharp s", "LÖWEN-APOTHEKE AM SCHLOẞ", e.Street, e.PostalCode, e.City, nil},
		{"other name", "Adler-Apotheke am Schloß", e.Street, e.PostalCode, e.City, []string{"name"}},
		{"dropped word", "Löwen-Apotheke", e.Street, e.PostalCode, e.City, []string{"name"}},
		{"other house number", e.Name, "Friedrich-Ebert-Straße 13a", e.PostalCode, e.City, []string{"street"}},
		{"umlaut dropped not spelled out", "Lowen-Apotheke am Schloß", e.Street, e.PostalCode, e.City, []string{"name"}},
		{"postal code leading zero lost", e.Name, e.Street, "1067", e.City, []string{"postal_code"}},
		{"postal code other", e.Name, e.Street, "01069", e.City, []string{"postal_code"}},
		{"city", e.Name, e.Street, e.PostalCode, "Dresden", []string{"city"}},
		{"everything", "Erfundene Apotheke", "Nirgendwo 1", "99999", "Atlantis", []string{"name", "street", "postal_code", "city"}},
		{"empty application", "", "", "", "", []string{"name", "street", "postal_code", "city"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := MatchApplication(e, tc.pname, tc.street, tc.plz, tc.city)
			if tc.wantMismatchedFields == nil {
				if err != nil {
					t.Fatalf("want match, got %v", err)
				}
				return
			}
			var me *MismatchError
			if !errors.As(err, &me) || !errors.Is(err, ErrMismatch) {
				t.Fatalf("want MismatchError, got %v", err)
			}
			if !reflect.DeepEqual(me.Fields, tc.wantMismatchedFields) {
				t.Fatalf("fields %v, want %v", me.Fields, tc.wantMismatchedFields)
			}
		})
	}
}

func TestStreetAbbreviationDoesNotEatWords(t *testing.T) {
	// "Strand" and "Straßburger" start with "str" but are not abbreviations.
	if foldStreet("Strandweg 1") == foldStreet("Strasseandweg 1") {
		t.Fatal("Strand expanded")
	}
	if foldStreet("Straßburger Platz 3") != "strassburgerplatz3" {
		t.Fatalf("got %q", foldStreet("Straßburger Platz 3"))
	}
}
