package printout

import (
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
)

// SummaryOf turns a certificate into what the customer's printout shows:
// names as given (the transliterated family name when the native one is
// missing), the certificate's fields with their value-set display names,
// and the signed validity. Empty fields get no row. Both the portal's PDF
// route and `golive cert issue --format pdf` print through it.
func SummaryOf(c *dcc.Certificate, hc1, country string, issuedAt, expiresAt time.Time) Summary {
	vs := dcc.ValueSets()
	s := Summary{
		HC1: hc1, FamilyName: c.Nam.Fn, GivenName: c.Nam.Gn, DateOfBirth: c.Dob,
		UVCI: c.UVCI(), IssuedAt: issuedAt, ExpiresAt: expiresAt, Country: country,
	}
	if s.FamilyName == "" {
		s.FamilyName = c.Nam.Fnt
	}
	add := func(label, value string) {
		if value != "" {
			s.Lines = append(s.Lines, Line{Label: label, Value: value})
		}
	}
	switch c.Type() {
	case dcc.TypeVaccination:
		v := c.V[0]
		s.Type, s.Issuer = TypeVaccination, v.Is
		add("Disease", vs.Display(dcc.SetDisease, v.Tg))
		add("Vaccine", vs.Display(dcc.SetVaccineProduct, v.Mp))
		add("Vaccine type", vs.Display(dcc.SetVaccineProphylaxis, v.Vp))
		add("Manufacturer", vs.Display(dcc.SetVaccineManufacturer, v.Ma))
		add("Dose", fmt.Sprintf("%d/%d", v.Dn, v.Sd))
		add("Date of vaccination", v.Dt)
		add("Country", vs.Display(dcc.SetCountry, v.Co))
	case dcc.TypeTest:
		t := c.T[0]
		s.Type, s.Issuer = TypeTest, t.Is
		add("Disease", vs.Display(dcc.SetDisease, t.Tg))
		add("Test type", vs.Display(dcc.SetTestType, t.Tt))
		add("Test name", t.Nm)
		add("Test device", t.Ma)
		add("Sample collected", t.Sc)
		add("Result", vs.Display(dcc.SetTestResult, t.Tr))
		add("Testing centre", t.Tc)
		add("Country", vs.Display(dcc.SetCountry, t.Co))
	case dcc.TypeRecovery:
		r := c.R[0]
		s.Type, s.Issuer = TypeRecovery, r.Is
		add("Disease", vs.Display(dcc.SetDisease, r.Tg))
		add("First positive test", r.Fr)
		add("Valid from", r.Df)
		add("Valid until", r.Du)
		add("Country", vs.Display(dcc.SetCountry, r.Co))
	}
	return s
}
