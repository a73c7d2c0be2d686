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
	"github.com/golive-dev/golive/issuer/portal/portalapi"
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
	// A Telematik-ID is 19 ASCII digits; whether its sector (the party's
	// kind) and check digit are right is the hardened check below.
	kind := partyKindOfApplication(a)
	if len(a.TelematikID) != register.TelematikIDLen || strings.Trim(a.TelematikID, "0123456789") != "" {
		add(&problem.FieldError{Field: "telematik_id", Code: "format", Message: "telematik_id must be 19 digits"})
	} else if p.cfg.OnboardingCheckTelematikFormat {
		if err := register.ValidTelematikIDOf(kind, a.TelematikID); err != nil {
			code := "format"
			switch {
			case errors.Is(err, register.ErrTelematikSector):
				code = "wrong_sector" // another kind of party's ID
			case errors.Is(err, register.ErrTelematikCheckSum):
				code = "check_digit"
			}
			add(&problem.FieldError{Field: "telematik_id", Code: code, Message: "telematik_id is not a valid " + string(kind) + " Telematik-ID"})
		}
	}
	for _, fe := range p.checkPracticeNumbers(kind, a) {
		add(&fe)
	}
	if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Name != "" || addr.Address != a.Email || len(a.Email) > 254 {
		add(&problem.FieldError{Field: "email", Code: "format", Message: "email must be a bare e-mail address"})
	}
	h := sha256.New()
	for _, d := range []struct{ field, v string }{{"licence_document", a.LicenceDocument}, {"night_duty_notice", a.NightDutyNotice}} {
		if d.field == "night_duty_notice" && kind == register.KindPractice && d.v == "" {
			continue // a practice pays into no pharmacies' night-duty fund
		}
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
	kind, pr := p.admitParty(ctx, a)
	if pr != nil {
		return ApplicationAccepted{}, pr
	}
	docHash, pr := p.validateApplication(a)
	if pr != nil {
		return ApplicationAccepted{}, pr
	}
	sendTo := a.Email
	verified := false
	registerID := ""
	if kind == register.KindPractice {
		registerID = "bsnr:" + a.BSNR + "/lanr:" + a.LANR
	}
	if p.cfg.OnboardingVerifyRegister {
		entry, ok := p.registerOf(kind).Lookup(a.TelematikID)
		if !ok {
			p.audit(ctx, "anonymous", "pharmacy.application_refused", a.TelematikID, map[string]any{"code": "telematik_id_unknown", "party_kind": kind})
			pr := problem.New(http.StatusUnprocessableEntity, "telematik_id_unknown", "the Telematik-ID is not in the "+string(kind)+" register")
			pr.Field = "telematik_id"
			return ApplicationAccepted{}, &pr
		}
		if err := matchParty(entry, a); err != nil {
			var me *register.MismatchError
			fields := []string{"name"}
			if errors.As(err, &me) {
				fields = me.Fields
			}
			p.audit(ctx, "anonymous", "pharmacy.application_refused", a.TelematikID, map[string]any{"code": "register_mismatch", "fields": fields, "party_kind": kind})
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
	id, err := p.newPartyID(kind)
	if err != nil {
		pr := problem.Internal("could not create an ID")
		return ApplicationAccepted{}, &pr
	}
	now := p.now()
	expires := now.Add(p.cfg.ActivationCodeTTL.D())
	rec := store.Pharmacy{
		ID: id, TelematikID: a.TelematikID, RegisterID: registerID, Status: store.PharmacyPending,
		Name: a.Name, Street: a.Street, PostalCode: a.PostalCode, City: a.City, Email: sendTo,
		RegisterVerified: verified, DocumentsSHA256: docHash,
		Credentials: store.Credentials{ActivationCodeHash: auth.HashToken(code), ActivationExpiresAt: expires, ActivationSentAt: now},
	}
	if _, err := p.reg.CreatePharmacy(ctx, rec, "anonymous"); err != nil {
		if errors.Is(err, store.ErrExists) {
			return p.reapply(ctx, rec)
		}
		p.log.Error("create pharmacy failed", "pharmacy_id", id, "err", err)
		pr := registryProblem(err, "could not record the application")
		return ApplicationAccepted{}, &pr
	}
	p.setStatusCache(id, store.PharmacyPending)
	p.sendCode(ctx, id, sendTo, code, expires)
	p.log.Info("pharmacy application accepted", "pharmacy_id", id, "party_kind", kind, "register_verified", verified)
	return ApplicationAccepted{PharmacyID: id, Status: string(store.PharmacyPending), PartyKind: string(kind)}, nil
}

// reapply answers an application for a Telematik-ID that has an account.
// A pending one is not blocked by whoever applied first (anyone can apply
// with a pharmacy's public register data): with resending on, the newest
// application replaces the stored one and a fresh code goes to the
// register's address (at most every ActivationResendInterval; earlier codes
// stay valid), and the answer is the same 202 a first application gets.
// An activated account, or resending off (the 2021 portal), is 409.
func (p *Portal) reapply(ctx context.Context, app store.Pharmacy) (ApplicationAccepted, *problem.Problem) {
	exists := func() (ApplicationAccepted, *problem.Problem) {
		pr := problem.Conflict("pharmacy_exists", "an account for this Telematik-ID exists already")
		pr.Field = "telematik_id"
		return ApplicationAccepted{}, &pr
	}
	if p.cfg.ActivationResendInterval <= 0 {
		return exists()
	}
	rec, err := p.reg.PharmacyByTelematikID(ctx, app.TelematikID)
	if err != nil {
		p.log.Error("reading pharmacy failed", "err", err)
		pr := registryProblem(err, "could not record the application")
		return ApplicationAccepted{}, &pr
	}
	if rec.Status != store.PharmacyPending {
		return exists()
	}
	accepted := ApplicationAccepted{PharmacyID: rec.ID, Status: string(store.PharmacyPending), PartyKind: partyKindOf(rec.ID)}
	if _, due := p.resendDue(rec); !due {
		return accepted, nil // the code sent a moment ago is on its way
	}
	if pr := p.renewCode(ctx, rec, &app, true, "reapplied", "anonymous"); pr != nil {
		return ApplicationAccepted{}, pr
	}
	p.log.Info("pharmacy application renewed", "pharmacy_id", rec.ID)
	return accepted, nil
}

// resendDue says whether a new code may be sent to rec now, and if not how
// long until then.
func (p *Portal) resendDue(rec store.Pharmacy) (time.Duration, bool) {
	wait := rec.Credentials.ActivationSentAt.Add(p.cfg.ActivationResendInterval.D()).Sub(p.now())
	return wait, wait <= 0
}

// codeAddress is where rec's codes go: in hardened mode the register's
// current address for its Telematik-ID (the stored one, the register's at
// application time, when the entry has gone), else the address it gave.
func (p *Portal) codeAddress(rec store.Pharmacy) string {
	if reg := p.registerOf(register.Kind(partyKindOf(rec.ID))); p.cfg.ActivationToRegisterAddress && reg != nil {
		if entry, ok := reg.Lookup(rec.TelematikID); ok {
			return entry.Email
		}
	}
	return rec.Email
}

// renewCode gives the pending application rec a fresh code, records it
// (with app's data when a repeated application brought them) and mails it.
func (p *Portal) renewCode(ctx context.Context, rec store.Pharmacy, app *store.Pharmacy, keepPrevious bool, reason, actor string) *problem.Problem {
	code, err := p.randomCode()
	if err != nil {
		pr := problem.Internal("could not create an activation code")
		return &pr
	}
	if app != nil {
		app.Email = p.codeAddress(*app)
	}
	expires := p.now().Add(p.cfg.ActivationCodeTTL.D())
	err = p.reg.RenewActivation(ctx, rec.ID, store.ActivationRenewal{CodeHash: auth.HashToken(code), ExpiresAt: expires,
		KeepPrevious: keepPrevious, Application: app, Reason: reason}, actor)
	if errors.Is(err, store.ErrState) {
		pr := problem.Conflict("already_activated", "this account was activated already")
		return &pr
	}
	if err != nil {
		p.log.Error("renewing activation code failed", "pharmacy_id", rec.ID, "err", err)
		pr := registryProblem(err, "could not create an activation code")
		return &pr
	}
	to := p.codeAddress(rec)
	if app != nil {
		to = app.Email
	}
	p.sendCode(ctx, rec.ID, to, code, expires)
	return nil
}

// sendCode mails an activation code. A failed delivery is logged, not
// answered: the applicant learns nothing about where the code would have
// gone, and a resend is the remedy.
func (p *Portal) sendCode(ctx context.Context, id, to, code string, expires time.Time) {
	// The "pharmacy_id:" line keeps its name for a practice too: clients
	// read the account's ID from it.
	body := fmt.Sprintf("Your golive %s account was approved.\n\npharmacy_id: %s\nactivation_code: %s\nvalid until: %s\n",
		partyKindOf(id), id, code, expires.UTC().Format(time.RFC3339))
	if err := p.mailbox.Send(context.WithoutCancel(ctx), to, "golive activation code", body); err != nil {
		p.log.Error("activation code not delivered", "pharmacy_id", id, "err", err)
	}
}

// resendCode is POST /v1/pharmacies/{id}/resend-code: a fresh code for a
// pending application, to the register's address only (whoever asks never
// learns the code or where it went); the code sent before stays valid.
func (p *Portal) resendCode(ctx context.Context, id string) (ApplicationAccepted, *problem.Problem) {
	if p.cfg.ActivationResendInterval <= 0 {
		pr := problem.NotFound("resending activation codes is not offered")
		return ApplicationAccepted{}, &pr
	}
	rec, pr := p.pendingApplication(ctx, id)
	if pr != nil {
		return ApplicationAccepted{}, pr
	}
	if wait, due := p.resendDue(rec); !due {
		pr := problem.TooManyRequests(wait)
		pr.Code, pr.Detail = "resend_too_soon", "a code was sent for this application a short while ago; retry later"
		return ApplicationAccepted{}, &pr
	}
	if pr := p.renewCode(ctx, rec, nil, true, "resend", "anonymous"); pr != nil {
		return ApplicationAccepted{}, pr
	}
	return ApplicationAccepted{PharmacyID: rec.ID, Status: string(store.PharmacyPending), PartyKind: partyKindOf(rec.ID)}, nil
}

// resetActivation is the admin's remedy for an application whose owner is
// stuck: every earlier code is void, the count of wrong codes and the
// per-source throttles are cleared, and a fresh code goes to the register's
// address at once. Only a pending application can be reset.
func (p *Portal) resetActivation(ctx context.Context, id string) *problem.Problem {
	rec, err := p.reg.Pharmacy(ctx, id)
	if err != nil {
		pr := problem.NotFound("no such pharmacy")
		if !errors.Is(err, store.ErrNotFound) {
			p.log.Error("reading pharmacy failed", "pharmacy_id", id, "err", err)
			pr = registryProblem(err, "could not read the pharmacy")
		}
		return &pr
	}
	if rec.Status != store.PharmacyPending {
		pr := problem.Conflict("invalid_state", fmt.Sprintf("the pharmacy is %s: only a pending application can be reset", rec.Status))
		return &pr
	}
	if p.activations != nil {
		prefix := id + "\x00"
		p.activations.Forget(func(k string) bool { return strings.HasPrefix(k, prefix) })
	}
	if pr := p.renewCode(ctx, rec, nil, false, "admin_reset", "admin"); pr != nil {
		if pr.Code == "already_activated" {
			pr.Code = "invalid_state"
		}
		return pr
	}
	return nil
}

// pendingApplication reads a pending application for an anonymous caller:
// 404 for an unknown ID, 409 already_activated for any other state (the
// same answers as POST .../activate, so nothing more is revealed).
func (p *Portal) pendingApplication(ctx context.Context, id string) (store.Pharmacy, *problem.Problem) {
	rec, err := p.reg.Pharmacy(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		pr := problem.NotFound("no such pharmacy")
		return rec, &pr
	}
	if err != nil {
		p.log.Error("reading pharmacy failed", "pharmacy_id", id, "err", err)
		pr := registryProblem(err, "could not read the pharmacy")
		return rec, &pr
	}
	if rec.Status != store.PharmacyPending {
		pr := problem.Conflict("already_activated", "this account was activated already")
		return rec, &pr
	}
	return rec, nil
}

// activate is POST /v1/pharmacies/{id}/activate from source. Wrong codes
// count against the source that sent them: past
// ActivationAttemptsPerSource that source waits, while the owner's own
// attempts are not affected; the current code and the one a renewal
// replaced are both accepted until their own expiry.
func (p *Portal) activate(ctx context.Context, id, code, source string) (Credentials, *problem.Problem) {
	rec, pr := p.pendingApplication(ctx, id)
	if pr != nil {
		return Credentials{}, pr
	}
	now := p.now()
	throttleKey := id + "\x00" + source
	if p.activations != nil {
		if ok, wait := p.activations.Peek(throttleKey, now); !ok {
			pr := problem.TooManyRequests(wait)
			pr.Code, pr.Detail = "activation_throttled", "too many wrong codes from this address; retry later"
			return Credentials{}, &pr
		}
	}
	resend := ""
	if p.cfg.ActivationResendInterval > 0 {
		resend = ": ask for a new one (POST /v1/pharmacies/" + id + "/resend-code)"
	}
	if rec.ActivationAttempts >= p.cfg.ActivationMaxAttempts {
		pr := problem.Gone("activation_locked", "too many wrong codes"+resend)
		return Credentials{}, &pr
	}
	c := rec.Credentials
	current, previous := now.Before(c.ActivationExpiresAt), c.PrevActivationCodeHash != "" && now.Before(c.PrevActivationExpiresAt)
	if !current && !previous {
		pr := problem.Gone("activation_code_expired", "the activation code has expired"+resend)
		return Credentials{}, &pr
	}
	valid := code != "" && len(code) <= maxCredential &&
		((current && checkTokenHash(c.ActivationCodeHash, code)) || (previous && checkTokenHash(c.PrevActivationCodeHash, code)))
	if !valid {
		if _, err := p.reg.ActivationFailed(ctx, id); err != nil {
			p.log.Error("counting a failed activation failed", "pharmacy_id", id, "err", err)
		}
		if p.activations != nil {
			p.activations.Allow(throttleKey, now)
		}
		pr := problem.New(http.StatusUnprocessableEntity, "activation_code_invalid", "the activation code is wrong")
		pr.Field = "code"
		return Credentials{}, &pr
	}
	clientID, secret := auth.NewClientID(), auth.NewSecret()
	err := p.reg.Activate(ctx, id, store.Credentials{ClientID: clientID, SecretHash: auth.HashToken(secret)}, "pharmacy:"+id)
	if err != nil {
		if errors.Is(err, store.ErrState) {
			pr := problem.Conflict("already_activated", "this account was activated already")
			return Credentials{}, &pr
		}
		p.log.Error("activation failed", "pharmacy_id", id, "err", err)
		pr := registryProblem(err, "could not activate the account")
		return Credentials{}, &pr
	}
	p.setStatusCache(id, store.PharmacyActive)
	return Credentials{PharmacyID: id, ClientID: clientID, ClientSecret: secret, PartyKind: partyKindOf(id)}, nil
}

// checkTokenHash compares a presented high-entropy token with its stored
// auth.HashToken in constant time.
func checkTokenHash(hash, token string) bool {
	return subtle.ConstantTimeCompare([]byte(auth.HashToken(token)), []byte(hash)) == 1
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newPartyID is "P" (a pharmacy) or "D" (a doctors' practice) and 12
// characters of A-Z2-7: upper-case alphanumerics, so the ID doubles as the
// party's UVCI issuer block, and every UVCI says which kind of party
// issued it (the CWT's iss stays the country).
func (p *Portal) newPartyID(kind register.Kind) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(p.rnd, b); err != nil {
		return "", fmt.Errorf("party id: %w", err)
	}
	prefix := portalapi.PartyIDPrefixPharmacy
	if kind == register.KindPractice {
		prefix = portalapi.PartyIDPrefixPractice
	}
	return prefix + idEncoding.EncodeToString(b)[:12], nil
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
