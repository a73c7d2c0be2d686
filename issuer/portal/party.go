package portal

import (
	"context"
	"net/http"
	"strings"

	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
)

// Doctors' practices are a second kind of issuing party (mid-July 2021):
// the same onboarding, accounts and issuance as pharmacies, but checked
// against their own register (package register, KindPractice), with their
// KBV numbers, a Telematik-ID of the physicians' sector, an account ID
// starting "D", and only from Config.PracticeOnboardingFrom on the
// business clock.

// CodePracticeOnboardingNotOpen is the 403 a practice's application gets
// before Config.PracticeOnboardingFrom.
const CodePracticeOnboardingNotOpen = "practice_onboarding_not_open"

// partyKindOfApplication is the kind an application asks for; anything
// but practice is handled as a pharmacy (admitParty refuses unknown kinds
// first).
func partyKindOfApplication(a *Application) register.Kind {
	if a.PartyKind == string(register.KindPractice) {
		return register.KindPractice
	}
	return register.KindPharmacy
}

// admitParty checks the application's party_kind and, for a practice,
// the onboarding date on the business clock.
func (p *Portal) admitParty(ctx context.Context, a *Application) (register.Kind, *problem.Problem) {
	switch a.PartyKind {
	case "", string(register.KindPharmacy):
		return register.KindPharmacy, nil
	case string(register.KindPractice):
	default:
		pr := problem.Validation(problem.FieldError{Field: "party_kind", Code: "invalid_value",
			Message: `party_kind must be "pharmacy" or "practice"`})
		return "", &pr
	}
	from, err := p.cfg.PracticeOnboardingStart()
	now := p.businessTime(p.now())
	if err != nil || from.IsZero() || now.Before(from) {
		p.audit(ctx, "anonymous", "pharmacy.application_refused", a.TelematikID, map[string]any{
			"code": CodePracticeOnboardingNotOpen, "party_kind": register.KindPractice})
		detail := "doctors' practices cannot apply yet"
		if !from.IsZero() {
			detail = "doctors' practices may apply from " + p.cfg.PracticeOnboardingFrom
		}
		pr := problem.New(http.StatusForbidden, CodePracticeOnboardingNotOpen, detail)
		pr.Field = "party_kind"
		return "", &pr
	}
	return register.KindPractice, nil
}

// registerOf is the register kind's parties are checked against.
func (p *Portal) registerOf(kind register.Kind) *register.Register {
	if kind == register.KindPractice {
		if p.practices == nil {
			return emptyRegister
		}
		return p.practices
	}
	if p.register == nil {
		return emptyRegister
	}
	return p.register
}

var emptyRegister, _ = register.New(nil)

// checkPracticeNumbers checks BSNR and LANR: required and well-formed for
// a practice (the LANR's check digit where the Telematik-ID's is checked
// too), absent for a pharmacy.
func (p *Portal) checkPracticeNumbers(kind register.Kind, a *Application) []problem.FieldError {
	var out []problem.FieldError
	if kind != register.KindPractice {
		for _, f := range []struct{ name, v string }{{"bsnr", a.BSNR}, {"lanr", a.LANR}} {
			if f.v != "" {
				out = append(out, problem.FieldError{Field: f.name, Code: "not_allowed", Message: f.name + " is for doctors' practices only"})
			}
		}
		return out
	}
	digits := func(s string) bool { return len(s) == 9 && strings.Trim(s, "0123456789") == "" }
	switch {
	case a.BSNR == "":
		out = append(out, problem.FieldError{Field: "bsnr", Code: "required", Message: "bsnr is required for a practice"})
	case !digits(a.BSNR) || register.ValidBSNR(a.BSNR) != nil:
		out = append(out, problem.FieldError{Field: "bsnr", Code: "format", Message: "bsnr must be 9 digits with a regional code 01-99"})
	}
	switch {
	case a.LANR == "":
		out = append(out, problem.FieldError{Field: "lanr", Code: "required", Message: "lanr is required for a practice"})
	case !digits(a.LANR):
		out = append(out, problem.FieldError{Field: "lanr", Code: "format", Message: "lanr must be 9 digits"})
	case p.cfg.OnboardingCheckTelematikFormat && register.ValidLANR(a.LANR) != nil:
		out = append(out, problem.FieldError{Field: "lanr", Code: "check_digit", Message: "lanr's check digit is wrong"})
	}
	return out
}

// matchParty compares an application with its register entry: name and
// address as for pharmacies, and a practice's BSNR and LANR exactly.
func matchParty(e register.Entry, a *Application) error {
	err := register.MatchApplication(e, a.Name, a.Street, a.PostalCode, a.City)
	if e.PartyKind() != register.KindPractice {
		return err
	}
	var fields []string
	if me, ok := err.(*register.MismatchError); ok {
		fields = me.Fields
	} else if err != nil {
		return err
	}
	if a.BSNR != e.BSNR {
		fields = append(fields, "bsnr")
	}
	if a.LANR != e.LANR {
		fields = append(fields, "lanr")
	}
	if len(fields) > 0 {
		return &register.MismatchError{Fields: fields}
	}
	return nil
}
