package mailout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// writeTimeout bounds the registry write that accepts a job.
const writeTimeout = 30 * time.Second

// centre authenticates the request as a centre, or gives the problem.
// Pharmacy access tokens and the admin token are not centre tokens: the
// lookup is by the token's hash among the centres' only.
func (m *Mailout) centre(r *http.Request) (string, *problem.Problem) {
	tok, err := auth.BearerToken(r)
	if errors.Is(err, auth.ErrNoCredential) {
		p := problem.Unauthorized(mailoutapi.CodeMissingCredential, "a centre's token is required: Authorization: Bearer mc_...")
		return "", &p
	}
	if err == nil {
		if id, ok := m.centres[auth.HashToken(tok)]; ok {
			return id, nil
		}
	}
	p := problem.Unauthorized(mailoutapi.CodeInvalidCredential, "not a vaccination centre's token")
	return "", &p
}

// handleSubmit is POST /v1/mailout/jobs.
func (m *Mailout) handleSubmit(w http.ResponseWriter, r *http.Request) {
	centre, pr := m.centre(r)
	if pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	idemKey, pr := idempotencyKey(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	if m.limiter != nil {
		release, err := m.limiter.Acquire(r.Context())
		if err != nil {
			m.m.rejected.WithLabelValues(overload.Reason(err)).Inc()
			overload.WriteReject(w, r, err)
			return
		}
		defer release()
	}
	var req mailoutapi.JobRequest
	if pr := problem.DecodeJSON(r, &req, m.cfg.MaxBodyBytes); pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	items, hash, pr := m.checkItems(centre, req.Items)
	if pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	id, err := m.newJobID()
	if err != nil {
		problem.Write(w, problem.Internal("could not create a job id"))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	existing, err := m.reg.CreateMailoutJob(ctx, store.MailoutJob{ID: id, Centre: centre, IdemKey: idemKey, RequestHash: hash},
		items, m.cfg.MaxPendingItems)
	if err != nil {
		p := m.createProblem(err, req.Items)
		m.m.refused.WithLabelValues(p.Code).Inc()
		problem.Write(w, p)
		return
	}
	status := http.StatusAccepted
	if existing != nil {
		status, id = http.StatusOK, existing.ID
	} else {
		m.m.jobs.Inc()
		m.m.accepted.Add(float64(len(items)))
		m.unfinished.Add(int64(len(items)))
		m.log.Info("mail-out job accepted", "job", id, "centre", centre, "items", len(items))
		m.nudge()
	}
	job, err := m.reg.MailoutJob(ctx, id)
	if err != nil {
		// Accepted and durable; only the answer's counts are missing.
		m.log.Error("reading an accepted job failed", "job", id, "err", err)
		job = store.MailoutJob{ID: id, Centre: centre, Total: len(items), Pending: len(items), CreatedAt: m.clock()}
	}
	w.Header().Set("Location", mailoutapi.JobLink(id))
	writeJSON(w, status, jobBody(job))
}

// idempotencyKey reads the optional Idempotency-Key: 1 to 64 printable
// ASCII characters.
func idempotencyKey(r *http.Request) (string, *problem.Problem) {
	vals := r.Header.Values(mailoutapi.IdempotencyHeader)
	if len(vals) == 0 {
		return "", nil
	}
	k := vals[0]
	ok := len(vals) == 1 && k != "" && len(k) <= 64
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] > ' ' && k[i] < 0x7f
	}
	if !ok {
		p := problem.BadRequest(mailoutapi.CodeInvalidIdemKey, mailoutapi.IdempotencyHeader,
			"Idempotency-Key must be one header of 1 to 64 printable ASCII characters")
		return "", &p
	}
	return k, nil
}

// validItemKey: 1 to MaxItemKeyLen characters of [A-Za-z0-9._:-].
func validItemKey(k string) bool {
	if k == "" || len(k) > mailoutapi.MaxItemKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// maxFieldErrors bounds how many payload findings one answer lists.
const maxFieldErrors = 20

// checkItems validates a job's items and prepares them for the registry:
// each payload parsed, normalised and validated as the portal does, its
// UVCI drawn. The hash identifies the job's content for its
// Idempotency-Key.
func (m *Mailout) checkItems(centre string, in []mailoutapi.Item) ([]store.MailoutItem, string, *problem.Problem) {
	bad := func(status int, code, field, detail string) ([]store.MailoutItem, string, *problem.Problem) {
		p := problem.New(status, code, detail)
		p.Field = field
		return nil, "", &p
	}
	switch {
	case len(in) == 0:
		return bad(http.StatusBadRequest, mailoutapi.CodeRequired, "items", "a job needs at least one item")
	case len(in) > m.cfg.MaxItems:
		return bad(http.StatusRequestEntityTooLarge, mailoutapi.CodeTooManyItems, "items",
			fmt.Sprintf("a job holds at most %d items; split it", m.cfg.MaxItems))
	}
	seen := make(map[string]int, len(in))
	for i, it := range in {
		f := fmt.Sprintf("items[%d].key", i)
		switch {
		case it.Key == "":
			return bad(http.StatusBadRequest, mailoutapi.CodeRequired, f, "every item needs a key")
		case !validItemKey(it.Key):
			return bad(http.StatusBadRequest, mailoutapi.CodeInvalidItemKey, f, "an item key is 1 to 64 characters of A-Z a-z 0-9 . _ : -")
		}
		if j, dup := seen[it.Key]; dup {
			return bad(http.StatusBadRequest, mailoutapi.CodeDuplicateItemKey, f, fmt.Sprintf("the key of items[%d] again", j))
		}
		seen[it.Key] = i
		if len(it.Payload) == 0 || string(it.Payload) == "null" {
			return bad(http.StatusBadRequest, mailoutapi.CodeRequired, fmt.Sprintf("items[%d].payload", i), "every item needs a payload")
		}
	}
	out := make([]store.MailoutItem, 0, len(in))
	var fes []problem.FieldError
	h := sha256.New()
	for i, it := range in {
		cert, errs := checkPayload(it.Payload, m.clock())
		prefix := fmt.Sprintf("items[%d].payload", i)
		for _, fe := range errs {
			if len(fes) < maxFieldErrors {
				f := prefix
				if fe.Field != "" {
					f += "." + fe.Field
				}
				fes = append(fes, problem.FieldError{Field: f, Code: fe.Code, Message: fe.Message})
			}
		}
		if len(errs) > 0 {
			continue
		}
		raw, err := json.Marshal(cert)
		if err != nil {
			p := problem.Internal("could not encode a payload")
			return nil, "", &p
		}
		uvci, err := dcc.NewUVCI(m.country, m.issuer+"/"+centre, m.rnd)
		if err != nil {
			m.log.Error("uvci generation failed", "centre", centre, "err", err)
			p := problem.Internal("could not assign a UVCI")
			return nil, "", &p
		}
		h.Write([]byte(it.Key))
		h.Write([]byte{0})
		h.Write(raw)
		h.Write([]byte{0})
		out = append(out, store.MailoutItem{Key: it.Key, UVCI: uvci, Type: store.CertType(cert.Type()), Request: raw})
	}
	if len(fes) > 0 {
		p := problem.New(http.StatusUnprocessableEntity, mailoutapi.CodeInvalidItems,
			"items failed validation; nothing of the job was accepted")
		p.Errors = fes
		p.Field = fes[0].Field
		return nil, "", &p
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// checkPayload parses, normalises and validates one payload as the
// portal's issuance does; field errors are relative to the payload.
func checkPayload(raw json.RawMessage, now time.Time) (*dcc.Certificate, []problem.FieldError) {
	cert, err := dcc.ParseDraft(raw)
	if err == nil {
		cert.Normalize()
		if ci := cert.UVCI(); ci != "" {
			typ := string(cert.Type())
			if typ == "" {
				typ = "v"
			}
			return nil, []problem.FieldError{{Field: typ + "[0].ci", Code: "assigned_by_issuer", Message: "leave ci empty: the issuer assigns the UVCI"}}
		}
		if nes := dcc.NameErrors(cert.Nam); len(nes) > 0 {
			out := make([]problem.FieldError, 0, len(nes))
			for _, fe := range nes {
				out = append(out, problem.FieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message})
			}
			return nil, out
		}
		err = cert.Validate(dcc.ValidateOptions{Now: now, Issuing: true})
	}
	if err != nil {
		var ve *dcc.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) == 0 {
			return nil, []problem.FieldError{{Code: "invalid_payload", Message: "payload is invalid"}}
		}
		out := make([]problem.FieldError, 0, len(ve.Errors))
		for _, fe := range ve.Errors {
			out = append(out, problem.FieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message})
		}
		return nil, out
	}
	return cert, nil
}

// createProblem maps the registry's refusal of a job.
func (m *Mailout) createProblem(err error, items []mailoutapi.Item) problem.Problem {
	var ke *store.MailoutKeyError
	switch {
	case errors.As(err, &ke):
		p := problem.Conflict(mailoutapi.CodeItemKeyExists, "an earlier job of this centre holds this item key: its certificate exists or is on its way")
		p.Field = "items"
		for i, it := range items {
			if it.Key == ke.Key {
				p.Field = fmt.Sprintf("items[%d].key", i)
				break
			}
		}
		return p
	case errors.Is(err, store.ErrIdempotencyConflict):
		p := problem.New(http.StatusUnprocessableEntity, mailoutapi.CodeIdempotencyReused,
			"this Idempotency-Key was used for a different job")
		p.Field = mailoutapi.IdempotencyHeader
		return p
	case errors.Is(err, store.ErrMailoutBacklog):
		p := problem.Unavailable(m.cfg.Idle.D() * 50)
		p.Code = mailoutapi.CodeBacklogFull
		p.Detail = fmt.Sprintf("this centre has too many unfinished items (at most %d); retry when earlier jobs are done", m.cfg.MaxPendingItems)
		return p
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		p := problem.Unavailable(5 * time.Second)
		p.Code = mailoutapi.CodeRegistryFailure
		p.Detail = "the job could not be recorded; retry with the same Idempotency-Key"
		return p
	}
	m.log.Error("recording a mail-out job failed", "err", err)
	return problem.Internal("could not record the job")
}

// job reads the centre's job named by the path, or gives the problem.
func (m *Mailout) job(r *http.Request) (store.MailoutJob, *problem.Problem) {
	centre, pr := m.centre(r)
	if pr != nil {
		return store.MailoutJob{}, pr
	}
	id := r.PathValue("id")
	notFound := func() (store.MailoutJob, *problem.Problem) {
		p := problem.New(http.StatusNotFound, mailoutapi.CodeJobNotFound, "no job of this centre has this id")
		p.Field = "id"
		return store.MailoutJob{}, &p
	}
	if !validJobID(id) {
		return notFound()
	}
	j, err := m.reg.MailoutJob(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound()
	case err != nil:
		m.log.Error("reading a mail-out job failed", "job", id, "err", err)
		p := problem.Unavailable(5 * time.Second)
		p.Code = mailoutapi.CodeRegistryFailure
		return store.MailoutJob{}, &p
	case j.Centre != centre:
		// Another centre's job does not exist for this one.
		return notFound()
	}
	return j, nil
}

// handleJob is GET /v1/mailout/jobs/{id}.
func (m *Mailout) handleJob(w http.ResponseWriter, r *http.Request) {
	j, pr := m.job(r)
	if pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	writeJSON(w, http.StatusOK, jobBody(j))
}

// handleItems is GET /v1/mailout/jobs/{id}/items.
func (m *Mailout) handleItems(w http.ResponseWriter, r *http.Request) {
	vals, pr := problem.ParseQuery(r, mailoutapi.MaxQueryBytes, mailoutapi.ParamAfter, mailoutapi.ParamLimit)
	if pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	limit := mailoutapi.DefaultPageLimit
	if v, ok := vals[mailoutapi.ParamLimit]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || len(v[0]) > 4 || v[0][0] < '0' || v[0][0] > '9' || n < 1 || n > mailoutapi.MaxPageLimit {
			problem.Write(w, problem.BadRequest("invalid_value", mailoutapi.ParamLimit, "limit must be a whole number from 1 to 1000"))
			return
		}
		limit = n
	}
	after := vals.Get(mailoutapi.ParamAfter)
	if _, ok := vals[mailoutapi.ParamAfter]; ok && !validItemKey(after) {
		problem.Write(w, problem.BadRequest(mailoutapi.CodeInvalidItemKey, mailoutapi.ParamAfter, "after must be an item key"))
		return
	}
	j, pr := m.job(r)
	if pr != nil {
		m.m.refused.WithLabelValues(pr.Code).Inc()
		problem.Write(w, *pr)
		return
	}
	items, err := m.reg.MailoutItems(r.Context(), j.ID, after, limit+1)
	if err != nil {
		m.log.Error("reading mail-out items failed", "job", j.ID, "err", err)
		p := problem.Unavailable(5 * time.Second)
		p.Code = mailoutapi.CodeRegistryFailure
		problem.Write(w, p)
		return
	}
	page := mailoutapi.ItemPage{Items: make([]mailoutapi.ItemResult, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			page.Next = items[i-1].Key
			break
		}
		res := mailoutapi.ItemResult{Key: it.Key, UVCI: it.UVCI, State: mailoutapi.ItemPending}
		switch it.State {
		case store.MailoutIssued:
			res.State, res.HC1 = mailoutapi.ItemIssued, string(it.HC1)
		case store.MailoutFailed:
			res.State, res.Error = mailoutapi.ItemFailed, it.ErrorCode
		}
		page.Items = append(page.Items, res)
	}
	writeJSON(w, http.StatusOK, page)
}

func jobBody(j store.MailoutJob) mailoutapi.Job {
	out := mailoutapi.Job{ID: j.ID, Centre: j.Centre, Total: j.Total, Pending: j.Pending, Issued: j.Issued, Failed: j.Failed,
		CreatedAt: j.CreatedAt, Links: mailoutapi.JobLinks{Self: mailoutapi.JobLink(j.ID), Items: mailoutapi.ItemsLink(j.ID)}}
	switch {
	case j.Pending == 0:
		out.State = mailoutapi.JobDone
		if !j.FinishedAt.IsZero() {
			t := j.FinishedAt
			out.FinishedAt = &t
		}
	case j.Issued+j.Failed > 0:
		out.State = mailoutapi.JobRunning
	default:
		out.State = mailoutapi.JobQueued
	}
	return out
}

// writeJSON is problem.WriteJSON: one encoding for every API answer.
func writeJSON(w http.ResponseWriter, status int, v any) { problem.WriteJSON(w, status, v) }
