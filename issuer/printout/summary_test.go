package printout_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/printout"
)

// TestSummaryOf: the rows the customer sees, per certificate type, with
// value-set display names, no row for an empty field, the transliterated
// family name when the native one is missing, and a summary WritePDF
// accepts (the portal and the CLI once had separate copies that spelled
// the type names differently).
func TestSummaryOf(t *testing.T) {
	iat := time.Date(2021, 6, 15, 10, 0, 0, 0, time.UTC)
	exp := iat.AddDate(1, 0, 0)
	const uvci = "URN:UVCI:01:DE:GL/ABC123/XYZ#K"
	type row = printout.Line
	tests := []struct {
		name       string
		cert       *dcc.Certificate
		wantType   string
		wantFamily string
		wantRows   []row
	}{
		{"vaccination", &dcc.Certificate{
			Nam: dcc.Name{Fn: "Musterfrau-Gößinger", Fnt: "MUSTERFRAU<GOESSINGER", Gn: "Gabriele"}, Dob: "1964-08-12",
			V: []dcc.Vaccination{{Tg: dcc.DiseaseCOVID19, Vp: "J07BX03", Mp: "EU/1/20/1528", Ma: "ORG-100030215",
				Dn: 2, Sd: 2, Dt: "2021-06-01", Co: "DE", Is: "Robert Koch-Institut", Ci: uvci}},
		}, printout.TypeVaccination, "Musterfrau-Gößinger", []row{
			{Label: "Disease", Value: "COVID-19"},
			{Label: "Vaccine", Value: "Comirnaty"},
			{Label: "Vaccine type", Value: "covid-19 vaccines (deprecated)"},
			{Label: "Manufacturer", Value: "Biontech Manufacturing GmbH"},
			{Label: "Dose", Value: "2/2"},
			{Label: "Date of vaccination", Value: "2021-06-01"},
			{Label: "Country", Value: "Germany"},
		}},
		{"test without name or device, family name only transliterated", &dcc.Certificate{
			Nam: dcc.Name{Fnt: "LUKASIEWICZ", Gn: "Zoë"}, Dob: "1990",
			T: []dcc.Test{{Tg: dcc.DiseaseCOVID19, Tt: dcc.TestTypeRAT, Sc: "2021-06-15T08:00:00Z",
				Tr: dcc.ResultNegative, Co: "DE", Is: "Robert Koch-Institut", Ci: uvci}},
		}, printout.TypeTest, "LUKASIEWICZ", []row{
			{Label: "Disease", Value: "COVID-19"},
			{Label: "Test type", Value: "Rapid immunoassay"},
			{Label: "Sample collected", Value: "2021-06-15T08:00:00Z"},
			{Label: "Result", Value: "Not detected"},
			{Label: "Country", Value: "Germany"},
		}},
		{"recovery", &dcc.Certificate{
			Nam: dcc.Name{Fn: "Παπαδόπουλος", Fnt: "PAPADOPOULOS", Gn: "Ægir"}, Dob: "1980-01",
			R: []dcc.Recovery{{Tg: dcc.DiseaseCOVID19, Fr: "2021-05-01", Df: "2021-05-12", Du: "2021-10-28",
				Co: "DE", Is: "Robert Koch-Institut", Ci: uvci}},
		}, printout.TypeRecovery, "Παπαδόπουλος", []row{
			{Label: "Disease", Value: "COVID-19"},
			{Label: "First positive test", Value: "2021-05-01"},
			{Label: "Valid from", Value: "2021-05-12"},
			{Label: "Valid until", Value: "2021-10-28"},
			{Label: "Country", Value: "Germany"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := printout.SummaryOf(tc.cert, "HC1:TEST", "DE", iat, exp)
			if s.Type != tc.wantType || s.FamilyName != tc.wantFamily || s.GivenName != tc.cert.Nam.Gn {
				t.Errorf("type %q, names %q %q; want %q, %q %q", s.Type, s.FamilyName, s.GivenName, tc.wantType, tc.wantFamily, tc.cert.Nam.Gn)
			}
			if s.UVCI != uvci || s.Issuer != "Robert Koch-Institut" || s.DateOfBirth != tc.cert.Dob || s.HC1 != "HC1:TEST" || s.Country != "DE" {
				t.Errorf("header fields: %+v", s)
			}
			if !s.IssuedAt.Equal(iat) || !s.ExpiresAt.Equal(exp) {
				t.Errorf("validity %v..%v, want %v..%v", s.IssuedAt, s.ExpiresAt, iat, exp)
			}
			if !reflect.DeepEqual(s.Lines, tc.wantRows) {
				t.Errorf("rows:\n got %v\nwant %v", s.Lines, tc.wantRows)
			}
			var buf bytes.Buffer
			if err := printout.WritePDF(&buf, s); err != nil || buf.Len() == 0 {
				t.Errorf("WritePDF refused the summary: %v", err)
			}
		})
	}
}
