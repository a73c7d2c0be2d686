package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/printout"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/routemetrics"
	"github.com/golive-dev/golive/issuer/store"
)

// routes is every route of the portal. The second argument of handle names
// the admission limiter (Config.Limits) the route runs behind.
func (p *Portal) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, limiter string, h http.HandlerFunc) {
		mux.Handle(pattern, p.instrument(pattern, limiter, p.bodyRuleFor(pattern), h))
	}

	// Onboarding: apply, then activate with the code from the mailbox.
	handle("POST /v1/pharmacies", "onboarding", p.handleApply)
	handle("POST /v1/pharmacies/{id}/activate", "onboarding", p.handleActivate)
	// A fresh code to the register's address, for an owner whose code
	// expired, was voided or never arrived.
	handle("POST /v1/pharmacies/{id}/resend-code", "onboarding", p.handleResendCode)

	// Login: client credentials or a refresh token -> access token.
	handle("POST /v1/token", "login", p.handleToken)

	// Issuance. POST admits itself after authentication and the
	// per-pharmacy quota, so an abusive pharmacy never takes a queue slot.
	handle("POST /v1/certificates", "", p.handleIssue)
	// GET /v1/certificates/{uvci}, {uvci}.png and {uvci}.pdf. A UVCI holds
	// '/' and '#': the path segment carries them escaped (%2F, %23), as
	// url.PathEscape and the links in responses do.
	handle("GET /v1/certificates/{uvci}", "read", p.handleCertificate)
	handle("GET /v1/tickets/{id}", "read", p.handleTicket)

	// Public: a verifier of our own. What verifier apps download (package
	// lists) and the pharmacy finder are components with routes,
	// admission control and metrics of their own.
	handle("POST /v1/verify", "verify", p.handleVerify)
	for _, c := range p.components {
		for pattern, h := range c.Routes() {
			mux.Handle(pattern, h)
		}
	}

	// Admin (Authorization: Bearer <admin token>).
	handle("POST /v1/admin/pharmacies/{id}/suspend", "admin", p.adminOnly(p.handleSuspend))
	handle("POST /v1/admin/pharmacies/{id}/reinstate", "admin", p.adminOnly(p.handleReinstate))
	handle("POST /v1/admin/pharmacies/{id}/revoke-all", "admin", p.adminOnly(p.handleRevokeAll))
	handle("POST /v1/admin/pharmacies/{id}/reset-activation", "admin", p.adminOnly(p.handleResetActivation))
	handle("GET /v1/admin/login-failures", "admin", p.adminOnly(p.handleLoginFailures))
	handle("GET /v1/admin/audit", "admin", p.adminOnly(p.handleAudit))
	handle("GET /v1/admin/fraud-events", "admin", p.adminOnly(p.handleFraudEvents))
	handle("POST /v1/admin/registry/lookup", "admin", p.adminOnly(p.handleRegistryLookup))
	handle("GET /v1/admin/business-clock", "admin", p.adminOnly(p.handleGetBusinessClock))
	handle("PUT /v1/admin/business-clock", "admin", p.adminOnly(p.handleSetBusinessClock))
	// Direct access: pharmacies' own issuance, switched off on 21 July 2021
	// (onbehalf.go); vendor access is not affected.
	handle("GET /v1/admin/direct-access", "admin", p.adminOnly(p.handleGetDirectAccess))
	handle("PUT /v1/admin/direct-access", "admin", p.adminOnly(p.handleSetDirectAccess))

	// The staff web portal: pages for people, which call the routes above
	// in-process and are admitted there (package staffweb).
	handle("/staff/", "", p.staff.ServeHTTP)

	// Operations: no admission control, probes must answer under overload.
	handle("GET /healthz", "", p.handleHealthz)
	handle("GET /readyz", "", p.handleReadyz)
	mux.Handle("GET /metrics", metricsGate(p.metricsToken, p.m.handler(p.components)))

	return p.notFound(mux)
}

// ---------------------------------------------------------------- onboarding

func (p *Portal) handleApply(w http.ResponseWriter, r *http.Request) {
	var a Application
	if pr := problem.DecodeJSON(r, &a, p.cfg.MaxOnboardingBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	res, pr := p.apply(r.Context(), &a)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

func (p *Portal) handleActivate(w http.ResponseWriter, r *http.Request) {
	var a Activation
	if pr := problem.DecodeJSON(r, &a, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	creds, pr := p.activate(r.Context(), r.PathValue("id"), a.Code, sourceOf(r))
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusOK, creds)
}

func (p *Portal) handleResendCode(w http.ResponseWriter, r *http.Request) {
	// No body is needed; an empty JSON object is accepted too.
	if r.ContentLength != 0 || len(r.Header.Values("Content-Type")) > 0 {
		var none struct{}
		if pr := problem.DecodeJSON(r, &none, p.cfg.MaxBodyBytes); pr != nil {
			problem.Write(w, *pr)
			return
		}
	}
	res, pr := p.resendCode(r.Context(), r.PathValue("id"))
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// --------------------------------------------------------------------- login

func (p *Portal) handleToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if pr := problem.DecodeJSON(r, &req, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	res, pr := p.token(r.Context(), &req, sourceOf(r))
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ----------------------------------------------------------------- issuance

func (p *Portal) handleIssue(w http.ResponseWriter, r *http.Request) {
	// A pharmacy's customer is waiting: batch work yields while this runs.
	defer p.lanes.Interactive()()
	// The request's deadline: ours, or the caller's X-Request-Deadline if
	// sooner. It bounds the queue wait and propagates to the signer call.
	ctx, cancel := overload.DeadlineFromHeader(r, p.cfg.IssueDeadline.D())
	defer cancel()
	pharmacyID, pr := p.pharmacyAuth(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	if pr := p.directStopped(r); pr != nil {
		problem.Write(w, *pr)
		return
	}
	key, pr := p.idempotencyKey(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	if p.quota != nil {
		if ok, wait := p.quota.Allow(pharmacyID, p.now()); !ok {
			p.m.quota.Inc()
			problem.Write(w, problem.TooManyRequests(wait))
			return
		}
	}
	// The body is read before a slot is taken: a pharmacy's slow upload
	// costs its connection, not a slot other pharmacies need.
	if p.cfg.AdmitAfterBody && !p.readBody(w, r, p.bodyRuleFor("POST /v1/certificates")) {
		return
	}
	release, ok := p.admit(ctx, w, r, "issue")
	if !ok {
		return
	}
	defer release()
	var req IssueRequest
	if pr := problem.DecodeJSON(r, &req, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	cert, pr := p.checkedPayload(&req)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	res := p.issue(ctx, pharmacyID, key, cert)
	switch {
	case res.issued != nil:
		w.Header().Set("Location", res.issued.Links.Self)
		writeJSON(w, http.StatusCreated, res.issued)
	case res.deferred != nil:
		w.Header().Set("Location", res.deferred.Links.Ticket)
		w.Header().Set("Retry-After", strconv.Itoa(res.deferred.RetryAfter))
		writeJSON(w, http.StatusAccepted, res.deferred)
	default:
		problem.Write(w, *res.problem)
	}
}

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 128

// idempotencyKey reads the Idempotency-Key header: exactly one, 1 to 128
// visible ASCII characters.
func (p *Portal) idempotencyKey(r *http.Request) (string, *problem.Problem) {
	const field = "Idempotency-Key"
	vals := r.Header.Values(field)
	switch {
	case len(vals) == 0 && p.cfg.RequireIdempotencyKey:
		pr := problem.BadRequest("idempotency_key_required", field, "send an Idempotency-Key header so a retry cannot issue twice")
		return "", &pr
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		pr := problem.BadRequest("idempotency_key_duplicated", field, "send exactly one Idempotency-Key header")
		return "", &pr
	}
	k := vals[0]
	if k == "" || len(k) > maxIdempotencyKey {
		pr := problem.BadRequest("idempotency_key_invalid", field, fmt.Sprintf("the key must have 1 to %d characters", maxIdempotencyKey))
		return "", &pr
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			pr := problem.BadRequest("idempotency_key_invalid", field, "the key must be visible ASCII characters")
			return "", &pr
		}
	}
	return k, nil
}

func (p *Portal) handleCertificate(w http.ResponseWriter, r *http.Request) {
	uvci, format := r.PathValue("uvci"), "json"
	for _, ext := range []string{".png", ".pdf"} {
		if s, ok := strings.CutSuffix(uvci, ext); ok {
			uvci, format = s, ext[1:]
		}
	}
	who, pr := p.ownerOrAdmin(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	c, err := p.reg.Certificate(r.Context(), uvci)
	if errors.Is(err, store.ErrNotFound) || (err == nil && who != "" && c.PharmacyID != who) {
		problem.Write(w, problem.NotFound("no such certificate"))
		return
	}
	if err != nil {
		p.log.Error("reading certificate failed", "uvci", uvci, "err", err)
		problem.Write(w, registryProblem(err, "could not read the certificate"))
		return
	}
	var hc1 string
	if c.HasHC1 {
		raw, err := p.reg.CertificateHC1(r.Context(), uvci)
		if err != nil && !errors.Is(err, store.ErrPurged) {
			p.log.Error("opening HC1 failed", "uvci", uvci, "err", err)
			problem.Write(w, registryProblem(err, "could not read the certificate"))
			return
		}
		hc1 = string(raw)
	}
	if format != "json" && hc1 == "" {
		problem.Write(w, problem.Gone("hc1_purged", "the HC1 is past its retention period"))
		return
	}
	switch format {
	case "png":
		img, err := printout.QRPNG(hc1, 0)
		if err != nil {
			p.log.Error("QR rendering failed", "uvci", uvci, "err", err)
			problem.Write(w, problem.Internal("could not render the QR code"))
			return
		}
		writeBinary(w, "image/png", "", img)
	case "pdf":
		pdf, err := renderPDF(c, hc1, p.cfg.Country)
		if err != nil {
			p.log.Error("PDF rendering failed", "uvci", uvci, "err", err)
			problem.Write(w, problem.Internal("could not render the PDF"))
			return
		}
		writeBinary(w, "application/pdf", `inline; filename="certificate.pdf"`, pdf)
	default:
		v := CertificateView{UVCI: c.UVCI, Type: string(c.Type), PharmacyID: c.PharmacyID, Status: string(c.Status),
			Kid: c.KID, Signer: c.Signer, RequestedAt: c.RequestedAt.UTC(), IssuedAt: c.IssuedAt.UTC(),
			ExpiresAt: c.ExpiresAt.UTC(), HC1: hc1, Links: certLinksFor(c.UVCI)}
		if c.Status == store.CertRevoked {
			ra := c.RevokedAt.UTC()
			v.RevokedAt, v.RevokeReason = &ra, c.RevokeReason
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (p *Portal) handleTicket(w http.ResponseWriter, r *http.Request) {
	who, pr := p.ownerOrAdmin(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	id := r.PathValue("id")
	t, err := p.reg.Ticket(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && who != "" && t.PharmacyID != who) {
		problem.Write(w, problem.NotFound("no such ticket"))
		return
	}
	if err != nil {
		p.log.Error("reading ticket failed", "ticket", id, "err", err)
		problem.Write(w, registryProblem(err, "could not read the ticket"))
		return
	}
	v := TicketView{Ticket: t.ID, State: string(t.State), UVCI: t.UVCI, CreatedAt: t.CreatedAt.UTC(),
		Links: Links{Ticket: ticketLink(t.ID)}}
	if !t.CompletedAt.IsZero() {
		done := t.CompletedAt.UTC()
		v.CompletedAt = &done
	}
	switch t.State {
	case store.TicketDone:
		if hc1, err := p.reg.CertificateHC1(r.Context(), t.UVCI); err == nil {
			v.HC1 = string(hc1)
		}
		l := certLinksFor(t.UVCI)
		l.Ticket = v.Links.Ticket
		v.Links = l
	case store.TicketFailed:
		v.FailureCode = t.ErrorCode
	default: // pending or signing: still waiting
		v.State = string(store.TicketPending)
		v.RetryAfter = problem.RetryAfterSeconds(p.cfg.DeferredRetryAfter.D())
		w.Header().Set("Retry-After", strconv.Itoa(v.RetryAfter))
	}
	writeJSON(w, http.StatusOK, v)
}

// ------------------------------------------------------------------ public

// maxHC1 bounds a verified HC1 (a QR code holds at most about 4,300
// alphanumeric characters).
const maxHC1 = 8 << 10

// maxVerifyBody bounds POST /v1/verify's body: an HC1 and its JSON.
const maxVerifyBody = 16 << 10

func (p *Portal) handleVerify(w http.ResponseWriter, r *http.Request) {
	var req VerifyRequest
	if pr := problem.DecodeJSON(r, &req, maxVerifyBody); pr != nil {
		problem.Write(w, *pr)
		return
	}
	switch {
	case req.HC1 == "":
		problem.Write(w, problem.BadRequest("required", "hc1", "hc1 is required"))
		return
	case len(req.HC1) > maxHC1:
		problem.Write(w, problem.BadRequest("max_length", "hc1", fmt.Sprintf("hc1 is longer than %d characters", maxHC1)))
		return
	}
	policy, err := hcert.ParseDSCValidity(req.DSCValidity)
	if err != nil {
		problem.Write(w, problem.BadRequest("invalid_value", "dsc_validity", `dsc_validity must be "strict" or "at-verification"`))
		return
	}
	opts := hcert.VerifyOptions{DSCValidity: policy}
	if req.Schema {
		if p.schemas == nil {
			// A 400, not a 5xx: nothing failed, and the caller can fix the
			// request by leaving the option out.
			problem.Write(w, problem.BadRequest("schema_unavailable", "schema",
				"this portal was started without the official DCC schemas (serve --schema-dir); leave schema out"))
			return
		}
		opts.Schema = p.schemas
	}
	writeJSON(w, http.StatusOK, p.verify(req.HC1, opts))
}

// ------------------------------------------------------------------- admin

func (p *Portal) readAdminRequest(w http.ResponseWriter, r *http.Request) (AdminRequest, bool) {
	var b AdminRequest
	if r.ContentLength == 0 && len(r.Header.Values("Content-Type")) == 0 {
		return b, true // no body at all is fine
	}
	if pr := problem.DecodeJSON(r, &b, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return b, false
	}
	if err := checkText("reason", b.Reason); b.Reason != "" && err != nil {
		problem.Write(w, problem.Validation(*err))
		return b, false
	}
	return b, true
}

func (p *Portal) handleSuspend(w http.ResponseWriter, r *http.Request) {
	b, ok := p.readAdminRequest(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !p.pharmacyExists(w, r, id) {
		return
	}
	if err := p.suspend(r.Context(), id, "admin", "admin: "+b.Reason); err != nil {
		p.writeRegistryError(w, "suspend", id, err)
		return
	}
	writeJSON(w, http.StatusOK, PharmacyState{PharmacyID: id, PartyKind: partyKindOf(id), Status: string(store.PharmacySuspended)})
}

func (p *Portal) handleReinstate(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.readAdminRequest(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if !p.pharmacyExists(w, r, id) {
		return
	}
	if err := p.reinstate(r.Context(), id, "admin"); err != nil {
		p.writeRegistryError(w, "reinstate", id, err)
		return
	}
	writeJSON(w, http.StatusOK, PharmacyState{PharmacyID: id, PartyKind: partyKindOf(id), Status: string(store.PharmacyActive)})
}

func (p *Portal) handleRevokeAll(w http.ResponseWriter, r *http.Request) {
	b, ok := p.readAdminRequest(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !p.pharmacyExists(w, r, id) {
		return
	}
	// Only an account that could have issued has certificates to revoke.
	if st, err := p.pharmacyStatus(r.Context(), id); err != nil {
		p.writeRegistryError(w, "revoke-all", id, err)
		return
	} else if st == store.PharmacyPending {
		problem.Write(w, problem.Conflict("invalid_state", "the pharmacy is pending: an application never activated has no certificates"))
		return
	}
	reason := "admin"
	if b.Reason != "" {
		reason = "admin: " + b.Reason
	}
	n, err := p.revokeSince(r.Context(), id, b.Since, "admin", reason)
	if err != nil {
		p.writeRegistryError(w, "revoke-all", id, err)
		return
	}
	st, _ := p.pharmacyStatus(r.Context(), id)
	writeJSON(w, http.StatusOK, PharmacyState{PharmacyID: id, PartyKind: partyKindOf(id), Status: string(st), Revoked: &n})
}

func (p *Portal) handleResetActivation(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.readAdminRequest(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if pr := p.resetActivation(r.Context(), id); pr != nil {
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusOK, PharmacyState{PharmacyID: id, PartyKind: partyKindOf(id), Status: string(store.PharmacyPending)})
}

// handleLoginFailures lists the daily counts of failed and throttled logins
// (?subject=<pharmacy ID or "unknown">&limit=N), newest day first.
func (p *Portal) handleLoginFailures(w http.ResponseWriter, r *http.Request) {
	_, limit, pr := page(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	rows, err := p.reg.LoginFailureCounts(r.Context(), r.URL.Query().Get("subject"), limit)
	if err != nil {
		p.writeRegistryError(w, "login-failures", "", err)
		return
	}
	out := LoginFailurePage{Entries: make([]LoginFailureCount, 0, len(rows))}
	for _, c := range rows {
		out.Entries = append(out.Entries, LoginFailureCount{Subject: c.Subject, Day: c.Day, Failures: c.Failures,
			Throttled: c.Throttled, FirstAt: c.FirstAt, LastAt: c.LastAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// page reads ?after=ID&limit=N (limit 1-1000, default 100).
func page(r *http.Request) (int64, int, *problem.Problem) {
	q := r.URL.Query()
	after, limit := int64(0), 100
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			pr := problem.BadRequest("invalid_value", "after", "after must be a non-negative integer")
			return 0, 0, &pr
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			pr := problem.BadRequest("invalid_value", "limit", "limit must be an integer from 1 to 1000")
			return 0, 0, &pr
		}
		limit = n
	}
	return after, limit, nil
}

func (p *Portal) handleAudit(w http.ResponseWriter, r *http.Request) {
	after, limit, pr := page(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	f := store.AuditFilter{AfterID: after, Limit: limit, Subject: r.URL.Query().Get("subject"), Action: r.URL.Query().Get("action")}
	es, err := p.reg.AuditLog(r.Context(), f)
	if err != nil {
		p.writeRegistryError(w, "audit", "", err)
		return
	}
	out := EventPage{Entries: make([]Event, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, Event{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Detail: e.Detail})
	}
	if len(es) == limit {
		out.Next = es[len(es)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) handleFraudEvents(w http.ResponseWriter, r *http.Request) {
	after, limit, pr := page(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	es, err := p.reg.FraudEvents(r.Context(), store.FraudFilter{AfterID: after, Limit: limit, PharmacyID: r.URL.Query().Get("pharmacy_id")})
	if err != nil {
		p.writeRegistryError(w, "fraud-events", "", err)
		return
	}
	out := EventPage{Entries: make([]Event, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, Event{ID: e.ID, At: e.At, PharmacyID: e.PharmacyID, Kind: e.Kind, Detail: e.Detail})
	}
	if len(es) == limit {
		out.Next = es[len(es)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// -------------------------------------------------------------- operations

func (p *Portal) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz: ready when the registry answers; with ReadyRequiresSigner
// also at least one signer. A portal that defers stays ready without
// signers: pharmacies can keep working and get tickets.
func (p *Portal) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	st := Readiness{Status: "ready", SignersAvailable: p.signers.Available(), DeferredBacklog: p.backlog.Load()}
	if err := p.reg.Ping(ctx); err != nil {
		p.log.Warn("readiness: registry unreachable", "err", err)
		pr := problem.Unavailable(time.Second)
		pr.Code, pr.Detail = "registry_unavailable", "the registry does not answer"
		problem.Write(w, pr)
		return
	}
	if p.cfg.ReadyRequiresSigner && st.SignersAvailable == 0 {
		pr := problem.Unavailable(time.Second)
		pr.Code, pr.Detail = "no_signer", "no signer replica is available"
		problem.Write(w, pr)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ---------------------------------------------------------------- plumbing

// bodyRule is how much of a request body a route reads, and for how long.
type bodyRule struct {
	max     int64
	timeout time.Duration
}

// bodyRuleFor is the body rule of a route pattern: an application with its
// documents may be large and slow, everything else is small. Each limit is
// the one the route's handler decodes with (read first, the body must not
// be cut shorter than the handler would accept).
func (p *Portal) bodyRuleFor(pattern string) bodyRule {
	switch pattern {
	case "POST /v1/pharmacies":
		return bodyRule{max: p.cfg.MaxOnboardingBodyBytes, timeout: p.cfg.HTTP.OnboardingBodyReadTimeout.D()}
	case "POST /v1/verify":
		return bodyRule{max: maxVerifyBody, timeout: p.cfg.HTTP.BodyReadTimeout.D()}
	case "POST /v1/admin/registry/lookup":
		return bodyRule{max: maxLookupBody, timeout: p.cfg.HTTP.BodyReadTimeout.D()}
	}
	return bodyRule{max: p.cfg.MaxBodyBytes, timeout: p.cfg.HTTP.BodyReadTimeout.D()}
}

// readBody reads r's whole body (at most rule.max bytes, within
// rule.timeout) into memory and puts it back as r.Body, so the handler
// decodes it as before; it answers 408 body_timeout or 413 itself and
// returns false. Called before admission, it makes a slow client cost its
// connection and never an admission slot. Once the body is read, the
// response deadline (HTTP.ResponseTimeout) starts.
func (p *Portal) readBody(w http.ResponseWriter, r *http.Request, rule bodyRule) bool {
	rc := http.NewResponseController(w)
	if r.Body == nil || r.Body == http.NoBody {
		p.startResponseDeadline(rc)
		return true
	}
	if r.ContentLength > rule.max {
		// Close, with the read deadline past: else Go reads up to 256 KiB
		// of the unread body around the answer, without a deadline, which
		// a slow client would stretch without end.
		w.Header().Set("Connection", "close")
		_ = rc.SetReadDeadline(time.Now())
		problem.Write(w, problem.PayloadTooLarge(rule.max))
		return false
	}
	if rule.timeout > 0 {
		// ErrNotSupported (a handler driven without a connection) leaves
		// the read unbounded, as before.
		_ = rc.SetReadDeadline(time.Now().Add(rule.timeout))
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, rule.max+1))
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if rule.timeout > 0 && !timedOut {
		// Clear it: a deadline passing while the handler runs would
		// cancel the request as if the client had gone. Past it, it stays:
		// the server would otherwise read the rest of the body (up to 256
		// KiB) after the 408 with no deadline, and a client still
		// dribbling would keep the connection for as long as it likes.
		_ = rc.SetReadDeadline(time.Time{})
	}
	switch {
	case timedOut:
		w.Header().Set("Connection", "close")
		problem.Write(w, problem.New(http.StatusRequestTimeout, "body_timeout",
			fmt.Sprintf("the request body did not arrive within %v", rule.timeout)))
		return false
	case err != nil:
		problem.Write(w, problem.BadRequest("body_unreadable", "", "could not read request body"))
		return false
	case int64(len(raw)) > rule.max:
		problem.Write(w, problem.PayloadTooLarge(rule.max))
		return false
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
	p.startResponseDeadline(rc)
	return true
}

// startResponseDeadline bounds the rest of the request: handling and
// writing the answer (a client that does not read it loses the
// connection instead of holding the handler and its slot).
func (p *Portal) startResponseDeadline(rc *http.ResponseController) {
	if d := p.cfg.HTTP.ResponseTimeout.D(); d > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(d))
	}
}

// instrument wraps a route: metrics by route pattern and status, panic
// recovery, and admission through the named limiter ("" none), after the
// body is read when Config.AdmitAfterBody.
func (p *Portal) instrument(route, limiter string, body bodyRule, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		p.m.inFlight.Inc()
		rec := &routemetrics.Recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				p.log.Error("handler panic", "route", route, "panic", panicSummary(v))
				if rec.Status == 0 {
					problem.Write(rec, problem.Internal("internal error"))
				}
			}
			p.m.inFlight.Dec()
			status := rec.Status
			if status == 0 {
				status = http.StatusOK
			}
			p.m.observe(route, status, time.Since(start))
		}()
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		if d := p.cfg.HTTP.ResponseTimeout.D(); d > 0 {
			// Until the body is read (readBody restarts it), the answer
			// may also wait for the body.
			_ = http.NewResponseController(rec).SetWriteDeadline(time.Now().Add(body.timeout + d))
		}
		if limiter != "" {
			if p.cfg.AdmitAfterBody && !p.readBody(rec, r, body) {
				return
			}
			release, ok := p.admit(r.Context(), rec, r, limiter)
			if !ok {
				return
			}
			defer release()
		}
		h(rec, r)
	})
}

// admit takes a slot of the named limiter or answers 503/504 itself.
func (p *Portal) admit(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) (func(), bool) {
	l := p.limiters[name]
	if l == nil {
		return func() {}, true
	}
	release, err := l.Acquire(ctx)
	if err != nil {
		p.m.rejected.WithLabelValues(name, overload.Reason(err)).Inc()
		overload.WriteReject(w, r, err)
		return nil, false
	}
	return release, true
}

// panicSummary is what the log says about a panic: a runtime error's
// message (an index, a nil map: no request data), else only the value's
// type, since a panic value may quote a request, holder names included.
func panicSummary(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("%T", v)
}

// notFound answers unknown paths and wrong methods with problem bodies
// instead of the mux's plain text.
func (p *Portal) notFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		route := "unmatched"
		switch probe.status {
		case http.StatusNotFound:
			problem.Write(w, problem.NotFound("no such resource"))
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			problem.Write(w, problem.MethodNotAllowed(r.Method))
		default: // redirects to the clean path
			for k, v := range probe.header {
				w.Header()[k] = v
			}
			w.WriteHeader(probe.status)
		}
		p.m.observe(route, max(probe.status, 100), 0)
	})
}

// headerProbe captures what the mux would answer for an unmatched request.
type headerProbe struct {
	header http.Header
	status int
}

func (h *headerProbe) Header() http.Header         { return h.header }
func (h *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerProbe) WriteHeader(code int)        { h.status = code }

// writeJSON is problem.WriteJSON: one encoding for every API answer.
func writeJSON(w http.ResponseWriter, status int, v any) { problem.WriteJSON(w, status, v) }

// writeBinary sends a PNG or PDF; they carry personal data: no caching.
func writeBinary(w http.ResponseWriter, contentType, disposition string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if disposition != "" {
		h.Set("Content-Disposition", disposition)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (p *Portal) pharmacyExists(w http.ResponseWriter, r *http.Request, id string) bool {
	if _, err := p.reg.Pharmacy(r.Context(), id); err != nil {
		p.writeRegistryError(w, "lookup", id, err)
		return false
	}
	return true
}

func (p *Portal) writeRegistryError(w http.ResponseWriter, op, id string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, problem.NotFound("no such pharmacy"))
	case errors.Is(err, store.ErrState):
		detail := "the pharmacy is not in a state that allows this"
		if se := (*store.StateError)(nil); errors.As(err, &se) {
			detail = fmt.Sprintf("the pharmacy is %s and cannot become %s", se.Status, se.Want)
			if se.Why != "" {
				detail = fmt.Sprintf("the pharmacy is %s: %s", se.Status, se.Why)
			}
		}
		problem.Write(w, problem.Conflict("invalid_state", detail))
	default:
		p.log.Error("registry operation failed", "op", op, "pharmacy_id", id, "err", err)
		problem.Write(w, registryProblem(err, "registry operation failed"))
	}
}

// registryRetryAfter is the Retry-After of a 503 for a registry that does
// not answer: a database restart or failover takes seconds.
const registryRetryAfter = time.Second

// registryProblem answers a registry operation that failed. A database
// that is down, restarting or failing over (store.ErrUnavailable), did not
// answer in time, or a store that is closing is a 503 registry_unavailable
// with Retry-After: the client retries (with its Idempotency-Key, which
// makes a retried issuance safe). Anything else is a 500 whose detail says
// what could not be done; never the driver's message.
func registryProblem(err error, detail string) problem.Problem {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
		pr := problem.Unavailable(registryRetryAfter)
		pr.Code, pr.Detail = "registry_unavailable", "the registry does not answer; retry later"
		return pr
	}
	return problem.Internal(detail)
}

// verify is POST /v1/verify's logic: hcert's verdict with the current
// revocation list, as a verifier app with a fresh list would conclude.
// opts carries the request's policy and schema choice.
func (p *Portal) verify(hc1 string, opts hcert.VerifyOptions) VerifyResult {
	revoked := p.revocations()
	opts.Now, opts.Revoked = p.now(), revoked
	res, err := hcert.Verify(hc1, p.trust, opts)
	if err != nil || res == nil {
		p.log.Error("verify misuse", "err", err)
		return VerifyResult{Valid: false, Reason: "internal"}
	}
	out := VerifyResult{Valid: res.Valid, Reason: string(res.Reason)}
	if d := res.Decoded; d != nil {
		out.Kid, out.Issuer = b64(d.Kid), d.Issuer
		if !d.IssuedAt.IsZero() {
			t := d.IssuedAt.UTC()
			out.IssuedAt = &t
		}
		if !d.ExpiresAt.IsZero() {
			t := d.ExpiresAt.UTC()
			out.ExpiresAt = &t
		}
		if d.Payload != nil {
			out.UVCI, out.Type = d.Payload.UVCI(), string(d.Payload.Type())
		}
		// Revoked is reported even when another reason came first.
		out.Revoked = revoked.IsRevoked(d)
	}
	return out
}

// ---------------------------------------------------------- authentication

// pharmacyAuth checks the bearer access token and that its pharmacy is
// active; it returns the pharmacy ID.
func (p *Portal) pharmacyAuth(r *http.Request) (string, *problem.Problem) {
	if ob, ok := onBehalfOf(r.Context()); ok {
		// Vendor access authenticated the vendor and checked the
		// delegation (onbehalf.go); the account must still be active.
		return p.activePharmacy(r.Context(), ob.pharmacy)
	}
	tok, err := auth.BearerToken(r)
	if err != nil {
		code := "unauthorized"
		if errors.Is(err, auth.ErrBadHeader) {
			code = "invalid_authorization"
		}
		pr := problem.Unauthorized(code, "send Authorization: Bearer <access token>")
		return "", &pr
	}
	c, err := p.tokens.Verify(tok)
	if err != nil {
		if errors.Is(err, auth.ErrExpired) {
			pr := problem.Unauthorized("token_expired", "the access token has expired; refresh it")
			return "", &pr
		}
		pr := problem.Unauthorized("invalid_token", "the access token is not valid")
		return "", &pr
	}
	if !c.HasScope(scopePharmacy) {
		pr := problem.Forbidden("insufficient_scope", "this token cannot use the pharmacy API")
		return "", &pr
	}
	return p.activePharmacy(r.Context(), c.Subject)
}

// ownerOrAdmin authenticates a read: the admin gets "" (may read all), a
// pharmacy its ID (may read its own).
func (p *Portal) ownerOrAdmin(r *http.Request) (string, *problem.Problem) {
	if auth.CheckAdmin(r, p.adminTok) {
		return "", nil
	}
	return p.pharmacyAuth(r)
}

// adminOnly guards an admin route: a pharmacy's valid token gets 403, any
// other credential 401.
func (p *Portal) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if auth.CheckAdmin(r, p.adminTok) {
			h(w, r)
			return
		}
		if tok, err := auth.BearerToken(r); err == nil {
			if _, err := p.tokens.Verify(tok); err == nil {
				problem.Write(w, problem.Forbidden("admin_only", "this route needs the admin credential"))
				return
			}
		}
		problem.Write(w, problem.Unauthorized("admin_unauthorized", "send Authorization: Bearer <admin token>"))
	}
}
