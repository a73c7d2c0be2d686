package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/store"
)

func certLinksFor(uvci string) Links {
	self := "/v1/certificates/" + url.PathEscape(uvci)
	return Links{Self: self, PNG: self + ".png", PDF: self + ".pdf"}
}

func ticketLink(id string) string { return "/v1/tickets/" + url.PathEscape(id) }

// issueResult is what the handler writes: exactly one of the fields.
type issueResult struct {
	issued   *Issued
	deferred *Deferred
	problem  *problem.Problem
}

// checkedPayload parses, normalises and validates a payload; field paths
// in the problem start with "payload.".
func (p *Portal) checkedPayload(req *IssueRequest) (*dcc.Certificate, *problem.Problem) {
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		pr := problem.BadRequest("required", "payload", "payload is required")
		return nil, &pr
	}
	cert, err := dcc.ParseDraft(req.Payload)
	if err == nil {
		cert.Normalize()
		if ci := cert.UVCI(); ci != "" {
			typ := string(cert.Type())
			if typ == "" {
				typ = "v"
			}
			pr := problem.BadRequest("assigned_by_issuer", "payload."+typ+"[0].ci", "leave ci empty: the portal assigns the UVCI")
			return nil, &pr
		}
		if pr := checkNames(cert); pr != nil {
			return nil, pr
		}
		err = cert.Validate(dcc.ValidateOptions{Now: p.now(), Issuing: true})
	}
	if err != nil {
		var ve *dcc.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			pr := problem.BadRequest("invalid_payload", "payload", "payload is invalid")
			return nil, &pr
		}
		fes := make([]problem.FieldError, 0, min(len(ve.Errors), 20))
		for _, fe := range ve.Errors[:min(len(ve.Errors), 20)] {
			f := "payload"
			if fe.Field != "" {
				f += "." + fe.Field
			}
			fes = append(fes, problem.FieldError{Field: f, Code: fe.Code, Message: fe.Message})
		}
		pr := problem.Validation(fes...)
		return nil, &pr
	}
	switch dcc.Type(req.Type) {
	case "", cert.Type():
	case dcc.TypeVaccination, dcc.TypeTest, dcc.TypeRecovery:
		pr := problem.BadRequest("type_mismatch", "type", fmt.Sprintf("type is %q but the payload carries %q", req.Type, cert.Type()))
		return nil, &pr
	default:
		pr := problem.BadRequest("invalid_value", "type", `type must be "v", "t" or "r"`)
		return nil, &pr
	}
	return cert, nil
}

// checkNames refuses names the certificate cannot carry in all its forms
// (dcc's issuing rules: invisible and control characters, characters
// beyond the Basic Multilingual Plane the printout cannot set, symbols).
// The payload is well-formed, so the answer is 422, naming each field and
// the code point, never the character.
func checkNames(cert *dcc.Certificate) *problem.Problem {
	fes := dcc.NameErrors(cert.Nam)
	if len(fes) == 0 {
		return nil
	}
	pr := problem.New(http.StatusUnprocessableEntity, "unsupported_name",
		"the name holds characters that cannot be put on the certificate (HC1, QR code and printout)")
	for _, fe := range fes {
		pr.Errors = append(pr.Errors, problem.FieldError{Field: "payload." + fe.Field, Code: fe.Code, Message: fe.Message})
	}
	pr.Field = pr.Errors[0].Field
	return &pr
}

// requestHash identifies a request's content for idempotency: the type
// and the normalised payload (json.Marshal of the struct is canonical).
func requestHash(cert *dcc.Certificate) (string, error) {
	raw, err := json.Marshal(cert)
	if err != nil {
		return "", fmt.Errorf("request hash: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(cert.Type()))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// uvciIssuer is the issuer part every UVCI of a pharmacy carries.
func (p *Portal) uvciIssuer(pharmacyID string) string {
	return p.cfg.UVCIIssuer + "/" + pharmacyID
}

// issue runs one issuance. The order is what makes it safe:
//
//  1. a key already bound in the registry is answered from there (the
//     original certificate, its ticket, or the UVCI an earlier attempt
//     reserved); a key is claimed in memory while its request runs, so two
//     concurrent requests with one key never both sign;
//  2. the certificate, its idempotency binding and the audit event are
//     recorded in one durable write before the 201 goes out, so every 201
//     names a certificate the registry holds and a key maps to at most one
//     UVCI. A crash between signing and recording loses only a signature
//     nobody has seen: the retry signs a new UVCI, and no UVCI was ever
//     handed out twice. (Binding the key durably before signing, as an
//     earlier version did, cost a second fsync'd write per certificate
//     and bought nothing a client could observe.)
//  3. when no signer can sign in time, the payload is persisted as a ticket
//     before the 202 goes out.
func (p *Portal) issue(ctx context.Context, pharmacyID, key string, cert *dcc.Certificate) issueResult {
	hash, err := requestHash(cert)
	if err != nil {
		return internal("could not hash the request")
	}
	uvci, err := dcc.NewUVCI(p.cfg.Country, p.uvciIssuer(pharmacyID), p.rnd)
	if err != nil {
		p.log.Error("uvci generation failed", "pharmacy_id", pharmacyID, "err", err)
		return internal("could not assign a UVCI")
	}
	now := p.now()
	var idem store.IdemBinding // zero: no key, nothing to bind
	if key != "" {
		slot := pharmacyID + "\x00" + key
		if !p.claimKey(slot) {
			pr := problem.Conflict("idempotency_key_in_use", "a request with this Idempotency-Key is being processed")
			pr.Field = "Idempotency-Key"
			pr.RetryAfter = time.Second
			return issueResult{problem: &pr}
		}
		defer p.releaseKey(slot)
		idem = store.IdemBinding{PharmacyID: pharmacyID, Key: key, RequestHash: hash}
		existing, err := p.reg.LookupIdempotency(ctx, pharmacyID, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// A new key: it is bound together with the certificate.
		case err != nil:
			return p.idemError(err, pharmacyID)
		case existing.RequestHash != hash:
			return p.idemError(store.ErrIdempotencyConflict, pharmacyID)
		case existing.State == store.IdemIssued:
			return p.replayIssued(ctx, existing.UVCI)
		case existing.State == store.IdemDeferred:
			return p.replayDeferred(ctx, existing.TicketID, existing.UVCI)
		default:
			// Reserved (by a registry written before bindings moved into
			// the certificate's write): finish with the UVCI it holds.
			uvci = existing.UVCI
			idem.UVCI = uvci
		}
	}
	if p.detector != nil {
		if a := p.detector.Observe(pharmacyID, p.businessTime(now)); a != nil {
			p.onAnomaly(ctx, *a)
			if p.cfg.Anomaly.SuspendPharmacy {
				p.release(ctx, idem)
				pr := problem.Forbidden("pharmacy_suspended", "this pharmacy account is suspended")
				return issueResult{problem: &pr}
			}
		}
	}
	cert.SetUVCI(uvci)

	resp, err := p.sign(ctx, cert, now)
	if err == nil {
		rec, err := p.certRecordFrom(pharmacyID, cert, resp, now)
		if err != nil {
			p.log.Error("signed certificate unreadable", "uvci", uvci, "signer", resp.Signer, "err", err)
			return internal("the signer returned an unreadable certificate")
		}
		existing, err := p.reg.IssueRecord(context.WithoutCancel(ctx), rec, idem, []byte(resp.HC1))
		if err != nil {
			// Not recorded: no 201. A retry with the same key signs the
			// same UVCI again.
			p.log.Error("recording certificate failed", "uvci", uvci, "pharmacy_id", pharmacyID, "err", err)
			if errors.Is(err, store.ErrIdempotencyConflict) || errors.Is(err, store.ErrBoundToTicket) {
				return p.idemError(err, pharmacyID)
			}
			return registryFailure(err, "could not record the certificate")
		}
		if existing != nil {
			return p.replayIssued(ctx, existing.UVCI)
		}
		if st, _ := p.pharmacyStatus(ctx, pharmacyID); st == store.PharmacySuspended {
			// Suspended while this request was signing: it would have
			// been refused a moment earlier, so it does not stand.
			if err := p.revokeOne(context.WithoutCancel(ctx), pharmacyID, uvci, "issued_while_suspended"); err != nil {
				p.log.Error("revoking a certificate issued during suspension failed", "uvci", uvci, "err", err)
			}
			pr := problem.Forbidden("pharmacy_suspended", "this pharmacy account is suspended")
			return issueResult{problem: &pr}
		}
		p.m.issued.WithLabelValues(string(rec.Type), "direct").Inc()
		p.log.Debug("certificate issued", "uvci", uvci, "pharmacy_id", pharmacyID, "signer", resp.Signer)
		return issueResult{issued: &Issued{UVCI: uvci, HC1: resp.HC1, Links: certLinksFor(uvci)}}
	}

	var rej *signerclient.RejectedError
	if errors.As(err, &rej) && errors.Is(err, signerclient.ErrRejected) {
		// The signer's own checks refused the payload: nothing was issued,
		// the key is free for a corrected request.
		p.release(ctx, idem)
		pr := problem.New(http.StatusUnprocessableEntity, "rejected_by_signer", "the signer refused the payload: "+rej.Problem.Code)
		pr.Field = rej.Problem.Field
		if pr.Field != "" && pr.Field != "type" {
			pr.Field = "payload." + pr.Field
		}
		return issueResult{problem: &pr}
	}
	p.log.Warn("signing failed", "uvci", uvci, "pharmacy_id", pharmacyID, "err", err)
	if p.cfg.DeferOnSignerUnavailable {
		return p.deferIssue(ctx, pharmacyID, idem, cert, now)
	}
	if errors.Is(err, signerclient.ErrDeadline) || errors.Is(err, context.DeadlineExceeded) {
		pr := problem.GatewayTimeout("no signer answered in time")
		pr.Code = "signer_timeout"
		return issueResult{problem: &pr}
	}
	pr := problem.New(http.StatusBadGateway, "signer_unavailable", "no signer could sign the certificate")
	return issueResult{problem: &pr}
}

// release frees a reserved key whose request will not be issued. Only a
// binding found reserved (idem.UVCI set) is in the registry; a new key was
// never written.
func (p *Portal) release(ctx context.Context, idem store.IdemBinding) {
	if idem.Key == "" || idem.UVCI == "" {
		return
	}
	if err := p.reg.ReleaseReservation(context.WithoutCancel(ctx), idem.PharmacyID, idem.Key); err != nil {
		p.log.Warn("releasing idempotency key failed", "pharmacy_id", idem.PharmacyID, "err", err)
	}
}

// idemError maps the store's idempotency errors to problems.
func (p *Portal) idemError(err error, pharmacyID string) issueResult {
	switch {
	case errors.Is(err, store.ErrIdempotencyConflict):
		pr := problem.New(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used for a different request")
		pr.Field = "Idempotency-Key"
		return issueResult{problem: &pr}
	case errors.Is(err, store.ErrBoundToTicket), errors.Is(err, store.ErrState):
		pr := problem.Conflict("idempotency_key_in_use", "this Idempotency-Key belongs to a request still in progress")
		pr.Field = "Idempotency-Key"
		pr.RetryAfter = time.Second
		return issueResult{problem: &pr}
	}
	p.log.Error("idempotency binding failed", "pharmacy_id", pharmacyID, "err", err)
	return registryFailure(err, "could not record the request")
}

// registryFailure is registryProblem as an issuance result.
func registryFailure(err error, detail string) issueResult {
	pr := registryProblem(err, detail)
	return issueResult{problem: &pr}
}

func internal(detail string) issueResult {
	pr := problem.Internal(detail)
	return issueResult{problem: &pr}
}

func (p *Portal) claimKey(slot string) bool {
	p.inFlightMu.Lock()
	defer p.inFlightMu.Unlock()
	if _, busy := p.inFlight[slot]; busy {
		return false
	}
	p.inFlight[slot] = struct{}{}
	return true
}

func (p *Portal) releaseKey(slot string) {
	p.inFlightMu.Lock()
	delete(p.inFlight, slot)
	p.inFlightMu.Unlock()
}

// sign calls the signers within SignCallTimeout (and the request's own
// deadline). With RetrySignUntilTimeout it keeps trying until then, as the
// 2021 portal hung on "create PDF".
func (p *Portal) sign(ctx context.Context, cert *dcc.Certificate, now time.Time) (signerclient.SignResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SignCallTimeout.D())
	defer cancel()
	start := time.Now()
	defer func() { p.m.signTime.Observe(time.Since(start).Seconds()) }()
	req := signerclient.SignRequest{Type: cert.Type(), Payload: cert, IssuedAt: now, RequestID: cert.UVCI()}
	for {
		resp, err := p.signers.Sign(ctx, req)
		if err == nil {
			return resp, nil
		}
		retryable := errors.Is(err, signerclient.ErrNoSigner) || errors.Is(err, signerclient.ErrUnauthorized)
		if !p.cfg.RetrySignUntilTimeout || !retryable {
			p.countSignError(err)
			return resp, err
		}
		select {
		case <-ctx.Done():
			p.countSignError(ctx.Err())
			return resp, fmt.Errorf("%w: %w", signerclient.ErrDeadline, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Portal) countSignError(err error) {
	reason := "other"
	switch {
	case errors.Is(err, signerclient.ErrNoSigner):
		reason = "no_signer"
	case errors.Is(err, signerclient.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		reason = "deadline"
	case errors.Is(err, signerclient.ErrRejected):
		reason = "rejected"
	case errors.Is(err, signerclient.ErrUnauthorized):
		reason = "unauthorized"
	}
	p.m.signError.WithLabelValues(reason).Inc()
}

// certRecordFrom builds the registry record of a signed certificate, with
// its revocation hashes taken from the HC1 itself.
func (p *Portal) certRecordFrom(pharmacyID string, cert *dcc.Certificate, resp signerclient.SignResponse, requested time.Time) (store.CertRecord, error) {
	d, err := hcert.Decode(resp.HC1)
	if err != nil {
		return store.CertRecord{}, fmt.Errorf("decode signed certificate: %w", err)
	}
	hs, err := hcert.RevocationHashes(d)
	if err != nil {
		return store.CertRecord{}, fmt.Errorf("revocation hashes: %w", err)
	}
	iat, exp := resp.IssuedAt, resp.ExpiresAt
	if iat.IsZero() {
		iat = d.IssuedAt
	}
	if exp.IsZero() {
		exp = d.ExpiresAt
	}
	return store.CertRecord{
		UVCI: cert.UVCI(), PharmacyID: pharmacyID, Type: store.CertType(cert.Type()), KID: resp.Kid, Signer: resp.Signer,
		RequestedAt: requested, IssuedAt: iat, ExpiresAt: exp,
		HashSignature:      hs[hcert.HashSignature],
		HashUCI:            hs[hcert.HashUCI],
		HashCountryCodeUCI: hs[hcert.HashCountryCodeUCI],
	}, nil
}

// deferIssue persists the request as a ticket for the drain worker. It
// runs on a context detached from the request's deadline (the write takes
// milliseconds) so a request that used its time on the signer can still
// be kept.
func (p *Portal) deferIssue(ctx context.Context, pharmacyID string, idem store.IdemBinding, cert *dcc.Certificate, now time.Time) issueResult {
	id, err := p.randomID("tk_")
	if err != nil {
		return internal("could not create a ticket")
	}
	payload, err := json.Marshal(cert)
	if err != nil {
		return internal("could not keep the request")
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	t := store.Ticket{ID: id, PharmacyID: pharmacyID, UVCI: cert.UVCI(), Type: store.CertType(cert.Type())}
	existing, err := p.reg.CreateTicket(wctx, t, idem, payload)
	if err != nil {
		p.log.Error("deferring request failed", "uvci", t.UVCI, "pharmacy_id", pharmacyID, "err", err)
		if errors.Is(err, store.ErrIdempotencyConflict) {
			return p.idemError(err, pharmacyID)
		}
		pr := problem.Unavailable(p.cfg.DeferredRetryAfter.D())
		pr.Code = "signer_unavailable"
		pr.Detail = "no signer is available and the request could not be kept; retry later"
		return issueResult{problem: &pr}
	}
	if existing != nil {
		if existing.State == store.IdemIssued {
			return p.replayIssued(ctx, existing.UVCI)
		}
		return p.replayDeferred(ctx, existing.TicketID, existing.UVCI)
	}
	p.backlog.Add(1)
	p.m.deferred.Inc()
	p.nudgeDrain()
	p.log.Info("issuance deferred", "uvci", t.UVCI, "pharmacy_id", pharmacyID, "ticket", id)
	return issueResult{deferred: p.deferredBodyFor(id, t.UVCI)}
}

func (p *Portal) deferredBodyFor(ticket, uvci string) *Deferred {
	return &Deferred{Ticket: ticket, UVCI: uvci,
		RetryAfter: problem.RetryAfterSeconds(p.cfg.DeferredRetryAfter.D()),
		Links:      Links{Ticket: ticketLink(ticket)}}
}

// replayIssued answers a repeated request with the original 201 body.
func (p *Portal) replayIssued(ctx context.Context, uvci string) issueResult {
	hc1, err := p.reg.CertificateHC1(ctx, uvci)
	if errors.Is(err, store.ErrPurged) {
		pr := problem.Gone("hc1_purged", "the certificate was issued, but its HC1 is past retention")
		return issueResult{problem: &pr}
	}
	if err != nil {
		p.log.Error("replay: certificate unreadable", "uvci", uvci, "err", err)
		return registryFailure(err, "could not read the certificate")
	}
	return issueResult{issued: &Issued{UVCI: uvci, HC1: string(hc1), Links: certLinksFor(uvci)}}
}

// replayDeferred answers a repeated request whose first attempt was
// deferred: with the certificate once the ticket is done, else the 202.
func (p *Portal) replayDeferred(ctx context.Context, ticketID, uvci string) issueResult {
	t, err := p.reg.Ticket(ctx, ticketID)
	if err != nil {
		p.log.Error("replay: ticket missing", "ticket", ticketID, "err", err)
		return registryFailure(err, "could not read the ticket")
	}
	switch t.State {
	case store.TicketDone:
		return p.replayIssued(ctx, uvci)
	case store.TicketFailed:
		pr := problem.Gone("deferred_request_failed", "the deferred request was not issued: "+t.ErrorCode)
		return issueResult{problem: &pr}
	}
	return issueResult{deferred: p.deferredBodyFor(ticketID, uvci)}
}
