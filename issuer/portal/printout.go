package portal

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/printout"
	"github.com/golive-dev/golive/issuer/store"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// renderPDF draws the customer's printout from the retained HC1: the
// payload (name, birth date) is read from the HC1 itself, so the registry
// never needs to hold it.
func renderPDF(c store.CertRecord, hc1, country string) ([]byte, error) {
	d, err := hcert.Decode(hc1)
	if err != nil {
		return nil, fmt.Errorf("decode HC1: %w", err)
	}
	if d.Payload == nil {
		return nil, fmt.Errorf("HC1 of %s has no payload", c.UVCI)
	}
	var buf bytes.Buffer
	if err := printout.WritePDF(&buf, summaryOf(d.Payload, hc1, country, c)); err != nil {
		return nil, fmt.Errorf("write PDF: %w", err)
	}
	return buf.Bytes(), nil
}

// summaryOf turns a certificate into the lines printed for the customer.
func summaryOf(cert *dcc.Certificate, hc1, country string, c store.CertRecord) printout.Summary {
	vs := dcc.ValueSets()
	s := printout.Summary{
		HC1: hc1, FamilyName: cert.Nam.Fn, GivenName: cert.Nam.Gn, DateOfBirth: cert.Dob,
		UVCI: cert.UVCI(), IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Country: country,
	}
	if s.FamilyName == "" {
		s.FamilyName = cert.Nam.Fnt
	}
	add := func(label, value string) {
		if value != "" {
			s.Lines = append(s.Lines, printout.Line{Label: label, Value: value})
		}
	}
	switch cert.Type() {
	case dcc.TypeVaccination:
		v := cert.V[0]
		s.Type, s.Issuer = printout.TypeVaccination, v.Is
		add("Disease", vs.Display(dcc.SetDisease, v.Tg))
		add("Vaccine", vs.Display(dcc.SetVaccineProduct, v.Mp))
		add("Vaccine type", vs.Display(dcc.SetVaccineProphylaxis, v.Vp))
		add("Manufacturer", vs.Display(dcc.SetVaccineManufacturer, v.Ma))
		add("Dose", fmt.Sprintf("%d/%d", v.Dn, v.Sd))
		add("Date of vaccination", v.Dt)
		add("Country", vs.Display(dcc.SetCountry, v.Co))
	case dcc.TypeTest:
		t := cert.T[0]
		s.Type, s.Issuer = printout.TypeTest, t.Is
		add("Disease", vs.Display(dcc.SetDisease, t.Tg))
		add("Test type", vs.Display(dcc.SetTestType, t.Tt))
		add("Test name", t.Nm)
		add("Test device", t.Ma)
		add("Sample collected", t.Sc)
		add("Result", vs.Display(dcc.SetTestResult, t.Tr))
		add("Testing centre", t.Tc)
		add("Country", vs.Display(dcc.SetCountry, t.Co))
	case dcc.TypeRecovery:
		r := cert.R[0]
		s.Type, s.Issuer = printout.TypeRecovery, r.Is
		add("Disease", vs.Display(dcc.SetDisease, r.Tg))
		add("First positive test", r.Fr)
		add("Valid from", r.Df)
		add("Valid until", r.Du)
		add("Country", vs.Display(dcc.SetCountry, r.Co))
	}
	return s
}
