package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/issuer/store"
)

const maxTextField = 200

// checkText refuses empty, over-long, non-NFC, padded or control-character
// text (a name with a zero-width joiner or RTL override must not slip past
// the register match looking like another pharmacy's).
func checkText(field, v string) *problem.FieldError {
	switch {
	case strings.TrimSpace(v) == "":
		return &problem.FieldError{Field: field, Code: "required", Message: field + " is required"}
	case !utf8.ValidString(v):
		return &problem.FieldError{Field: field, Code: "invalid_utf8", Message: field + " is not valid UTF-8"}
	case utf8.RuneCountInString(v) > maxTextField:
		return &problem.FieldError{Field: field, Code: "max_length", Message: fmt.Sprintf("%s is longer than %d characters", field, maxTextField)}
	case strings.TrimSpace(v) != v:
		return &problem.FieldError{Field: field, Code: "whitespace", Message: field + " has leading or trailing whitespace"}
	case !norm.NFC.IsNormalString(v):
		return &problem.FieldError{Field: field, Code: "not_nfc", Message: field + " is not in Unicode NFC"}
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return &problem.FieldError{Field: field, Code: "control_character", Message: field + " contains control or format characters"}
		}
	}
	return nil
}

// documentKinds are the accepted document formats, by magic bytes.
var documentKinds = [][]byte{
	[]byte("%PDF-"),
	[]byte("\x89PNG\r\n\x1a\n"),
	{0xff, 0xd8, 0xff},
}

func (p *Portal) checkDocument(field, v string) ([]byte, *problem.FieldError) {
	if v == "" {
		return nil, &problem.FieldError{Field: field, Code: "required", Message: field + " is required"}
	}
	if int64(base64.StdEncoding.DecodedLen(len(v))) > p.cfg.MaxDocumentBytes {
		return nil, &problem.FieldError{Field: field, Code: "max_length", Message: fmt.Sprintf("%s is larger than %d bytes", field, p.cfg.MaxDocumentBytes)}
	}
	doc, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || len(doc) == 0 {
		return nil, &problem.FieldError{Field: field, Code: "format", Message: field + " is not standard base64"}
	}
	for _, magic := range documentKinds {
		if bytes.HasPrefix(doc, magic) {
			return doc, nil
		}
	}
	return nil, &problem.FieldError{Field: field, Code: "document_type", Message: field + " must be a PDF, PNG or JPEG file"}
}

// validate checks an application's form (both profiles) and returns the
// documents' hash.
func (p *Portal) validateApplication(a *Application) (string, *problem.Problem) {
	var errs []problem.FieldError
	add := func(fe *problem.FieldError) {
		if fe != nil {
			errs = append(errs, *fe)
		}
	}
	add(checkText("name", a.Name))
	add(checkText("street", a.Street))
	add(checkText("city", a.City))
	if len(a.PostalCode) != 5 || strings.Trim(a.PostalCode, "0123456789") != "" {
		add(&problem.FieldError{Field: "postal_code", Code: "format", Message: "postal_code must be 5 digits"})
	}
	// A Telematik-ID is 19 ASCII digits; whether its sector and check digit
	// are right is the hardened check below.
	if len(a.TelematikID) != register.TelematikIDLen || strings.Trim(a.TelematikID, "0123456789") != "" {
		add(&problem.FieldError{Field: "telematik_id", Code: "format", Message: "telematik_id must be 19 digits"})
	} else if p.cfg.OnboardingCheckTelematikFormat {
		if err := register.ValidTelematikID(a.TelematikID); err != nil {
			code := "format"
			if errors.Is(err, register.ErrTelematikCheckSum) {
				code = "check_digit"
			}
			add(&problem.FieldError{Field: "telematik_id", Code: code, Message: "telematik_id is not a valid pharmacy Telematik-ID"})
		}
	}
	if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Name != "" || addr.Address != a.Email || len(a.Email) > 254 {
		add(&problem.FieldError{Field: "email", Code: "format", Message: "email must be a bare e-mail address"})
	}
	h := sha256.New()
	for _, d := range []struct{ field, v string }{{"licence_document", a.LicenceDocument}, {"night_duty_notice", a.NightDutyNotice}} {
		doc, fe := p.checkDocument(d.field, d.v)
		add(fe)
		h.Write(doc)
	}
	if len(errs) > 0 {
		pr := problem.Validation(errs...)
		return "", &pr
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// apply handles an onboarding application. In hardened mode it checks the
// register and sends the code to the register's address; in naive-2021 it
// sends it to the address the applicant typed.
func (p *Portal) apply(ctx context.Context, a *Application) (ApplicationAccepted, *problem.Problem) {
	docHash, pr := p.validateApplication(a)
	if pr != nil {
		return ApplicationAccepted{}, pr
	}
	sendTo := a.Email
	verified := false
	if p.cfg.OnboardingVerifyRegister {
		entry, ok := p.register.Lookup(a.TelematikID)
		if !ok {
			p.audit(ctx, "anonymous", "pharmacy.application_refused", a.TelematikID, map[string]any{"code": "telematik_id_unknown"})
			pr := problem.New(http.StatusUnprocessableEntity, "telematik_id_unknown", "the Telematik-ID is not in the pharmacy register")
			pr.Field = "telematik_id"
			return ApplicationAccepted{}, &pr
		}
		if err := register.MatchApplication(entry, a.Name, a.Street, a.PostalCode, a.City); err != nil {
			var me *register.MismatchError
			fields := []string{"name"}
			if errors.As(err, &me) {
				fields = me.Fields
			}
			p.audit(ctx, "anonymous", "pharmacy.application_refused", a.TelematikID, map[string]any{"code": "register_mismatch", "fields": fields})
			pr := problem.New(http.StatusUnprocessableEntity, "register_mismatch", "the application does not match the register entry for this Telematik-ID")
			pr.Field = fields[0]
			for _, f := range fields {
				pr.Errors = append(pr.Errors, problem.FieldError{Field: f, Code: "register_mismatch", Message: f + " differs from the register"})
			}
			return ApplicationAccepted{}, &pr
		}
		verified = true
		if p.cfg.ActivationToRegisterAddress {
			sendTo = entry.Email
		}
	}
	code, err := p.randomCode()
	if err != nil {
		pr := problem.Internal("could not create an activation code")
		return ApplicationAccepted{}, &pr
	}
	id, err := p.newPharmacyID()
	if err != nil {
		pr := problem.Internal("could not create an ID")
		return ApplicationAccepted{}, &pr
	}
	expires := p.now().Add(p.cfg.ActivationCodeTTL.D())
	rec := store.Pharmacy{
		ID: id, TelematikID: a.TelematikID, Status: store.PharmacyPending,
		Name: a.Name, Street: a.Street, PostalCode: a.PostalCode, City: a.City, Email: sendTo,
		RegisterVerified: verified, DocumentsSHA256: docHash,
		Credentials: store.Credentials{ActivationCodeHash: auth.HashToken(code), ActivationExpiresAt: expires},
	}
	if _, err := p.reg.CreatePharmacy(ctx, rec, "anonymous"); err != nil {
		if errors.Is(err, store.ErrExists) {
			pr := problem.Conflict("pharmacy_exists", "an account for this Telematik-ID exists already")
			pr.Field = "telematik_id"
			return ApplicationAccepted{}, &pr
		}
		p.log.Error("create pharmacy failed", "pharmacy_id", id, "err", err)
		pr := problem.Internal("could not record the application")
		return ApplicationAccepted{}, &pr
	}
	p.setStatusCache(id, store.PharmacyPending)
	body := fmt.Sprintf("Your golive pharmacy account was approved.\n\npharmacy_id: %s\nactivation_code: %s\nvalid until: %s\n",
		id, code, expires.UTC().Format(time.RFC3339))
	if err := p.mailbox.Send(context.WithoutCancel(ctx), sendTo, "golive activation code", body); err != nil {
		// The account stays pending; an operator can resend. The applicant
		// learns nothing about where the code would have gone.
		p.log.Error("activation code not delivered", "pharmacy_id", id, "err", err)
	}
	p.log.Info("pharmacy application accepted", "pharmacy_id", id, "register_verified", verified)
	return ApplicationAccepted{PharmacyID: id, Status: string(store.PharmacyPending)}, nil
}

func (p *Portal) activate(ctx context.Context, id, code string) (Credentials, *problem.Problem) {
	rec, err := p.reg.Pharmacy(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		pr := problem.NotFound("no such pharmacy")
		return Credentials{}, &pr
	}
	if err != nil {
		p.log.Error("reading pharmacy failed", "pharmacy_id", id, "err", err)
		pr := problem.Internal("could not read the pharmacy")
		return Credentials{}, &pr
	}
	if rec.Status != store.PharmacyPending {
		pr := problem.Conflict("already_activated", "this account was activated already")
		return Credentials{}, &pr
	}
	if rec.ActivationAttempts >= p.cfg.ActivationMaxAttempts {
		pr := problem.Gone("activation_locked", "too many wrong codes; ask for a new one")
		return Credentials{}, &pr
	}
	if !p.now().Before(rec.Credentials.ActivationExpiresAt) {
		pr := problem.Gone("activation_code_expired", "the activation code has expired")
		return Credentials{}, &pr
	}
	if code == "" || len(code) > maxCredential || !checkTokenHash(rec.Credentials.ActivationCodeHash, code) {
		if _, err := p.reg.ActivationFailed(ctx, id); err != nil {
			p.log.Error("counting a failed activation failed", "pharmacy_id", id, "err", err)
		}
		pr := problem.New(http.StatusUnprocessableEntity, "activation_code_invalid", "the activation code is wrong")
		pr.Field = "code"
		return Credentials{}, &pr
	}
	clientID, secret := auth.NewClientID(), auth.NewSecret()
	err = p.reg.Activate(ctx, id, store.Credentials{ClientID: clientID, SecretHash: auth.HashToken(secret)}, "pharmacy:"+id)
	if err != nil {
		if errors.Is(err, store.ErrState) {
			pr := problem.Conflict("already_activated", "this account was activated already")
			return Credentials{}, &pr
		}
		p.log.Error("activation failed", "pharmacy_id", id, "err", err)
		pr := problem.Internal("could not activate the account")
		return Credentials{}, &pr
	}
	p.setStatusCache(id, store.PharmacyActive)
	return Credentials{PharmacyID: id, ClientID: clientID, ClientSecret: secret}, nil
}

// checkTokenHash compares a presented high-entropy token with its stored
// auth.HashToken in constant time.
func checkTokenHash(hash, token string) bool {
	return subtle.ConstantTimeCompare([]byte(auth.HashToken(token)), []byte(hash)) == 1
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newPharmacyID is "P" and 12 characters of A-Z2-7: upper-case
// alphanumerics, so the ID doubles as the pharmacy's UVCI issuer block.
func (p *Portal) newPharmacyID() (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(p.rnd, b); err != nil {
		return "", fmt.Errorf("pharmacy id: %w", err)
	}
	return "P" + idEncoding.EncodeToString(b)[:12], nil
}

// randomCode is an activation code: 16 characters of A-Z2-7 (80 bits).
func (p *Portal) randomCode() (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(p.rnd, b); err != nil {
		return "", fmt.Errorf("activation code: %w", err)
	}
	return idEncoding.EncodeToString(b), nil
}

// randomID is a ticket ID: prefix and 26 characters of a-z2-7.
func (p *Portal) randomID(prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(p.rnd, b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + strings.ToLower(idEncoding.EncodeToString(b)), nil
}
