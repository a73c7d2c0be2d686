package staffweb

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

const (
	// maxFormBytes bounds a form post (a filled form is about 1 KiB).
	maxFormBytes = 64 << 10
	// draftTTL is how long a form typed into an expired session is kept
	// on its way through the sign-in page.
	draftTTL = 24 * time.Hour
	// inUsePoll is the longest pause between looks at a form post still
	// in progress.
	inUsePoll = 250 * time.Millisecond
	// signerWaitPause is the pause between sends of a post waiting for a
	// signer (Options.WaitForSigner).
	signerWaitPause = time.Second
)

func seeOther(rw http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(rw, r, path, http.StatusSeeOther)
}

func formPath(slug string) string { return portalapi.StaffIssuePrefix + slug }

// current is the request's live session, nil when signed out or expired.
func (w *Web) current(r *http.Request) *session { return w.sessions.get(w.sid(r), w.now()) }

// readForm reads a url-encoded post (bounded in size and time) and checks
// its CSRF token; on failure it has answered.
func (w *Web) readForm(rw http.ResponseWriter, r *http.Request) (url.Values, bool) {
	rc := http.NewResponseController(rw)
	// ErrNotSupported (no connection underneath, as in a unit test) leaves
	// the read bounded by size only.
	_ = rc.SetReadDeadline(time.Now().Add(w.opts.BodyReadTimeout))
	r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
	err := r.ParseForm()
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		v := w.view(rw, r, nil, portalapi.StaffPageError)
		v.Title = v.T("error.title")
		status := http.StatusBadRequest
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		w.render(rw, status, "message", v, messageView{Back: portalapi.StaffRoot})
		return nil, false
	}
	if !w.keys.checkCSRF(w.sid(r), r.PostForm.Get("csrf")) {
		w.log.Warn("form refused: CSRF token missing or wrong", "path", r.URL.Path)
		v := w.view(rw, r, nil, portalapi.StaffPageError)
		v.Title = v.T("error.csrf.title")
		w.render(rw, http.StatusForbidden, "message", v, messageView{Text: v.T("error.csrf"), Back: portalapi.StaffRoot})
		return nil, false
	}
	return r.PostForm, true
}

// ------------------------------------------------------------ language

// switchLang sets the language cookie and returns the language chosen
// ("" when l is not one).
func (w *Web) switchLang(rw http.ResponseWriter, r *http.Request, l string) string {
	if l != "de" && l != "en" {
		return ""
	}
	http.SetCookie(rw, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: w.secure(r), SameSite: http.SameSiteLaxMode})
	return l
}

// setLang is the language switch of pages without a form of their own.
func (w *Web) setLang(rw http.ResponseWriter, r *http.Request) {
	form, ok := w.readForm(rw, r)
	if !ok {
		return
	}
	w.switchLang(rw, r, form.Get("lang"))
	next := form.Get("next")
	if !strings.HasPrefix(next, portalapi.StaffRoot) || strings.ContainsAny(next, "\\?#") || strings.Contains(next, "//") {
		next = portalapi.StaffRoot
	}
	seeOther(rw, r, next)
}

// -------------------------------------------------------------- sign-in

func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	if w.current(r) != nil {
		seeOther(rw, r, formPath(portalapi.StaffKindVaccination))
		return
	}
	seeOther(rw, r, portalapi.StaffSignIn)
}

// signinView is the sign-in page's body. Draft is a form typed into an
// expired session, sealed to this browser, riding along until sign-in.
type signinView struct {
	ClientID        string
	Draft           string
	IDError         string
	IDErrorCode     string
	SecretError     string
	SecretErrorCode string
}

func (w *Web) signinView(rw http.ResponseWriter, r *http.Request) *view {
	v := w.view(rw, r, nil, portalapi.StaffPageSignIn)
	v.Title, v.LangInForm = v.T("signin.title"), true
	return v
}

func (w *Web) signInPage(rw http.ResponseWriter, r *http.Request) {
	if w.current(r) != nil {
		seeOther(rw, r, formPath(portalapi.StaffKindVaccination))
		return
	}
	w.render(rw, http.StatusOK, "signin", w.signinView(rw, r), signinView{})
}

func (w *Web) signIn(rw http.ResponseWriter, r *http.Request) {
	form, ok := w.readForm(rw, r)
	if !ok {
		return
	}
	sid := w.sid(r) // present: the CSRF check needs it
	body := signinView{ClientID: strings.TrimSpace(form.Get("client_id")), Draft: form.Get("draft")}
	if len(body.ClientID) > maxFieldLen {
		body.ClientID = body.ClientID[:maxFieldLen]
	}
	var d *draft
	if body.Draft != "" {
		if d = w.openDraft(sid, body.Draft); d == nil {
			body.Draft = ""
		}
	}
	v := w.signinView(rw, r)
	if d != nil {
		v.Notice, v.NoticeKind = v.T("signin.kept"), "info"
	}
	if l := w.switchLang(rw, r, form.Get("lang")); l != "" {
		v.Lang, v.Title = l, msgs["signin.title"].in(l)
		if d != nil {
			v.Notice = msgs["signin.kept"].in(l)
		}
		w.render(rw, http.StatusOK, "signin", v, body)
		return
	}
	res, err := w.call(r.Context(), r, http.MethodPost, "/v1/token", "", nil, portalapi.TokenRequest{
		GrantType: "client_credentials", ClientID: body.ClientID, ClientSecret: form.Get("client_secret")})
	if err != nil {
		w.log.Error("sign-in call failed", "err", err)
		v.Notice, v.NoticeKind = v.T("error.internal"), "error"
		w.render(rw, http.StatusInternalServerError, "signin", v, body)
		return
	}
	if res.status == http.StatusOK {
		var tr portalapi.TokenResponse
		if err := res.decode(&tr); err != nil || tr.PharmacyID == "" {
			w.log.Error("sign-in answer unreadable", "err", err)
			v.Notice, v.NoticeKind = v.T("error.internal"), "error"
			w.render(rw, http.StatusInternalServerError, "signin", v, body)
			return
		}
		now := w.now()
		s := &session{pharmacyID: tr.PharmacyID, created: now, access: tr.AccessToken, refresh: tr.RefreshToken,
			accessExp: now.Add(time.Duration(tr.ExpiresIn) * time.Second), restore: d}
		w.sessions.drop(sid)
		w.sessions.put(w.newSID(rw, r), s, now)
		next := formPath(portalapi.StaffKindVaccination)
		if d != nil {
			next = formPath(d.Kind)
		}
		seeOther(rw, r, next)
		return
	}
	pr := res.prob
	status := http.StatusOK
	switch {
	case pr.Code == "invalid_client":
		body.SecretError, body.SecretErrorCode = v.T("signin.bad"), pr.Code
	case res.status == http.StatusBadRequest:
		msg := pr.Detail
		if v.Lang == "de" && errTexts[pr.Code] != "" {
			msg = errTexts[pr.Code]
		}
		if pr.Field == "client_secret" {
			body.SecretError, body.SecretErrorCode = msg, pr.Code
		} else {
			body.IDError, body.IDErrorCode = msg, pr.Code
		}
		status = http.StatusBadRequest
	case res.status == http.StatusTooManyRequests:
		rw.Header().Set("Retry-After", strconv.Itoa(res.retryAfter()))
		v.Notice, v.NoticeKind, status = v.T("signin.throttle"), "error", res.status
	case pr.Code == "pharmacy_suspended":
		v.Notice, v.NoticeKind, status = v.T("signin.suspend"), "error", res.status
	case res.status == http.StatusForbidden:
		v.Notice, v.NoticeKind, status = v.T("signin.inactive"), "error", res.status
	case res.status == http.StatusServiceUnavailable || res.status == http.StatusGatewayTimeout:
		rw.Header().Set("Retry-After", strconv.Itoa(res.retryAfter()))
		v.Notice, v.NoticeKind, status = v.F("busy.signin", res.retryAfter()), "warn", res.status
	default:
		v.Notice, v.NoticeKind, status = v.T("error.internal"), "error", http.StatusInternalServerError
	}
	w.log.Info("staff sign-in refused", "status", res.status, "code", pr.Code)
	w.render(rw, status, "signin", v, body)
}

func (w *Web) signOut(rw http.ResponseWriter, r *http.Request) {
	if _, ok := w.readForm(rw, r); !ok {
		return
	}
	w.sessions.drop(w.sid(r))
	w.newSID(rw, r)
	seeOther(rw, r, portalapi.StaffSignIn)
}

// openDraft opens a sealed draft of browser session sid; nil when it does
// not open, is too old or names no form.
func (w *Web) openDraft(sid, sealed string) *draft {
	raw, err := w.keys.open("draft", sid, sealed)
	if err != nil {
		w.log.Info("a kept form did not open", "reason", "seal")
		return nil
	}
	var d draft
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil
	}
	k, ok := kindBySlug(d.Kind)
	if !ok || w.now().Sub(time.Unix(d.At, 0)) > draftTTL {
		w.log.Info("a kept form did not open", "reason", "expired or unknown form")
		return nil
	}
	// Only the form's own fields, as draftFrom would read them.
	clean := draftFrom(k, url.Values{"key": {d.Key}})
	for _, f := range k.fields {
		clean.Fields[f] = d.Fields[f]
	}
	return clean
}

// expired answers a form posted into an expired session: the sign-in
// page, carrying the typed form sealed to this browser (unless the
// profile loses it, as 2021 did).
func (w *Web) expired(rw http.ResponseWriter, r *http.Request, d *draft) {
	if !w.opts.KeepForms {
		v := w.signinView(rw, r)
		v.Notice, v.NoticeKind = v.T("signin.lost"), "error"
		w.render(rw, http.StatusOK, "signin", v, signinView{})
		return
	}
	d.At = w.now().Unix()
	raw, err := json.Marshal(d)
	if err != nil {
		panic("staffweb: marshal draft: " + err.Error()) // strings only
	}
	v := w.signinView(rw, r)
	v.Notice, v.NoticeKind = v.T("signin.expired"), "warn"
	w.render(rw, http.StatusOK, "signin", v, signinView{Draft: w.keys.seal("draft", w.ensureSID(rw, r), raw)})
}

// ------------------------------------------------------------- issuance

func (w *Web) issuePage(rw http.ResponseWriter, r *http.Request) {
	k, ok := kindBySlug(r.PathValue("kind"))
	if !ok {
		w.notFound(rw, r)
		return
	}
	s := w.current(r)
	if s == nil {
		seeOther(rw, r, portalapi.StaffSignIn)
		return
	}
	d := &draft{Kind: k.slug, Key: newKey(), Fields: map[string]string{"co": w.opts.Country}}
	notice := ""
	s.mu.Lock()
	if s.restore != nil && s.restore.Kind == k.slug {
		d, s.restore, notice = s.restore, nil, "issue.restored"
	}
	s.mu.Unlock()
	v := w.view(rw, r, s, portalapi.StaffPageIssue)
	if notice != "" {
		v.Notice, v.NoticeKind = v.T(notice), "info"
	}
	w.renderIssue(rw, v, http.StatusOK, k, d, nil)
}

func (w *Web) issue(rw http.ResponseWriter, r *http.Request) {
	k, ok := kindBySlug(r.PathValue("kind"))
	if !ok {
		w.notFound(rw, r)
		return
	}
	form, ok := w.readForm(rw, r)
	if !ok {
		return
	}
	d := draftFrom(k, form)
	s := w.current(r)
	if s == nil {
		w.expired(rw, r, d)
		return
	}
	v := w.view(rw, r, s, portalapi.StaffPageIssue)
	if l := w.switchLang(rw, r, form.Get("lang")); l != "" {
		v.Lang = l
		w.renderIssue(rw, v, http.StatusOK, k, d, nil)
		return
	}
	req := w.payload(k, d)
	header := http.Header{"Idempotency-Key": {d.Key}}
	giveUp := time.Now().Add(w.opts.InUseWait)
	signerGiveUp := time.Now().Add(w.opts.WaitForSigner)
	for {
		res, err := w.authed(r.Context(), r, s, http.MethodPost, "/v1/certificates", header, req)
		if errors.Is(err, errSessionEnded) {
			w.sessions.drop(w.sid(r))
			if res != nil && res.prob != nil && res.prob.Code == "pharmacy_suspended" {
				w.suspended(rw, r)
				return
			}
			w.expired(rw, r, d)
			return
		}
		if err != nil {
			w.log.Error("issuance call failed", "err", err)
			v.Notice, v.NoticeKind = v.T("error.internal"), "error"
			w.renderIssue(rw, v, http.StatusInternalServerError, k, d, nil)
			return
		}
		// A double click: the first post of this form is still being
		// signed. Wait for it, then this one gets its answer (a replay).
		if res.status == http.StatusConflict && res.prob.Code == "idempotency_key_in_use" && time.Now().Before(giveUp) {
			pause := min(time.Duration(res.retryAfter())*time.Second, inUsePoll)
			if sleep(r.Context(), pause) {
				continue
			}
		}
		if noSigner(res) && time.Now().Before(signerGiveUp) {
			if sleep(r.Context(), signerWaitPause) {
				continue
			}
			return // the client left: nobody reads an answer
		}
		w.issueAnswer(rw, r, v, s, k, d, res)
		return
	}
}

// noSigner reports an answer saying no signer could sign the request.
func noSigner(res *apiResponse) bool {
	return res.prob != nil && (res.prob.Code == "signer_timeout" || res.prob.Code == "signer_unavailable")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// issueAnswer shows the API's answer to an issuance.
func (w *Web) issueAnswer(rw http.ResponseWriter, r *http.Request, v *view, s *session, k kind, d *draft, res *apiResponse) {
	switch res.status {
	case http.StatusCreated:
		var is portalapi.Issued
		if err := res.decode(&is); err == nil {
			seeOther(rw, r, w.certHref(s, is.UVCI))
			return
		}
	case http.StatusAccepted:
		var de portalapi.Deferred
		if err := res.decode(&de); err == nil {
			seeOther(rw, r, w.ticketHref(s, de.Ticket))
			return
		}
	}
	pr := res.prob
	if pr == nil { // a 2xx body that did not decode
		w.log.Error("issuance answer unreadable", "status", res.status)
		v.Notice, v.NoticeKind = v.T("error.internal"), "error"
		w.renderIssue(rw, v, http.StatusInternalServerError, k, d, nil)
		return
	}
	ra := res.retryAfter()
	busy := func(msg string) {
		rw.Header().Set("Retry-After", strconv.Itoa(ra))
		v.Page, v.Title = portalapi.StaffPageBusy, v.T("busy.title")
		v.Notice, v.NoticeKind = msg, "warn"
		w.renderIssue(rw, v, res.status, k, d, nil)
	}
	switch {
	case pr.Code == "idempotency_key_reused":
		// The form was used for other entries (Back, edit, send): these
		// entries are a new request, under a new key.
		d.Key = newKey()
		v.Notice, v.NoticeKind = v.T("issue.reused"), "warn"
		w.renderIssue(rw, v, res.status, k, d, nil)
	case pr.Code == "idempotency_key_in_use":
		rw.Header().Set("Retry-After", strconv.Itoa(ra))
		v.Notice, v.NoticeKind = v.T("issue.inuse"), "warn"
		w.renderIssue(rw, v, res.status, k, d, nil)
	case pr.Code == "pharmacy_suspended":
		w.sessions.drop(w.sid(r))
		w.suspended(rw, r)
	case res.status == http.StatusBadRequest || res.status == http.StatusUnprocessableEntity:
		w.renderIssue(rw, v, res.status, k, d, fieldErrors(k, pr)) // the error summary says it
	case res.status == http.StatusTooManyRequests:
		busy(v.F("busy.quota", ra))
	case noSigner(res):
		busy(v.T("busy.signer"))
	case res.status == http.StatusGatewayTimeout:
		busy(v.T("busy.timeout"))
	case res.status == http.StatusServiceUnavailable:
		busy(v.F("busy.text", ra))
	case res.status == http.StatusGone:
		w.message(rw, r, s, res.status, portalapi.StaffPageError, "error.title", v.T("error.gone"))
	default:
		w.log.Error("issuance failed", "status", res.status, "code", pr.Code)
		v.Notice, v.NoticeKind = v.T("error.internal"), "error"
		w.renderIssue(rw, v, res.status, k, d, nil)
	}
}

func (w *Web) suspended(rw http.ResponseWriter, r *http.Request) {
	v := w.view(rw, r, nil, portalapi.StaffPageError)
	v.Title = v.T("error.title")
	w.render(rw, http.StatusForbidden, "message", v, messageView{Text: v.T("error.suspended"), Back: portalapi.StaffSignIn})
}

// message renders a simple page.
func (w *Web) message(rw http.ResponseWriter, r *http.Request, s *session, status int, page, title, text string) {
	v := w.view(rw, r, s, page)
	v.Title = v.T(title)
	w.render(rw, status, "message", v, messageView{Text: text, Back: portalapi.StaffRoot})
}

// busyPage answers a GET the API shed: it loads again by itself.
func (w *Web) busyPage(rw http.ResponseWriter, r *http.Request, s *session, res *apiResponse) {
	ra := res.retryAfter()
	rw.Header().Set("Retry-After", strconv.Itoa(ra))
	v := w.view(rw, r, s, portalapi.StaffPageBusy)
	v.Title, v.Refresh = v.T("busy.title"), ra
	w.render(rw, res.status, "message", v, messageView{Text: v.F("busy.page", ra), Back: r.URL.Path})
}

// ------------------------------------------------- certificate and ticket

// Certificate and ticket pages are addressed by a reference sealed to the
// pharmacy: no UVCI or ticket ID appears in a URL, a log line or a
// browser history, and a reference works only in its pharmacy's session.

func (w *Web) certHref(s *session, uvci string) string {
	return portalapi.StaffRoot + "certificates/" + w.keys.seal("cert", s.pharmacyID, []byte(uvci))
}

func (w *Web) ticketHref(s *session, ticket string) string {
	return portalapi.StaffRoot + "tickets/" + w.keys.seal("ticket", s.pharmacyID, []byte(ticket))
}

// resolve opens the page's reference for a signed-in request; on failure
// it has answered.
func (w *Web) resolve(rw http.ResponseWriter, r *http.Request, purpose string) (*session, string, bool) {
	s := w.current(r)
	if s == nil {
		seeOther(rw, r, portalapi.StaffSignIn)
		return nil, "", false
	}
	raw, err := w.keys.open(purpose, s.pharmacyID, r.PathValue("ref"))
	if err != nil {
		w.notFoundRef(rw, r, s)
		return nil, "", false
	}
	return s, string(raw), true
}

func (w *Web) notFoundRef(rw http.ResponseWriter, r *http.Request, s *session) {
	v := w.view(rw, r, s, portalapi.StaffPageError)
	v.Title = v.T("error.notfound")
	w.render(rw, http.StatusNotFound, "message", v, messageView{Text: v.T("error.nfcert"), Back: portalapi.StaffRoot})
}

// readFailed answers a failed read of the API (certificate, ticket).
func (w *Web) readFailed(rw http.ResponseWriter, r *http.Request, s *session, res *apiResponse, err error) {
	switch {
	case errors.Is(err, errSessionEnded):
		w.sessions.drop(w.sid(r))
		seeOther(rw, r, portalapi.StaffSignIn)
	case err != nil:
		w.log.Error("reading from the API failed", "err", err)
		w.message(rw, r, s, http.StatusInternalServerError, portalapi.StaffPageError, "error.title", "")
	case res.status == http.StatusNotFound:
		w.notFoundRef(rw, r, s)
	case res.status == http.StatusGone:
		w.message(rw, r, s, http.StatusGone, portalapi.StaffPageError, "error.title", msgs["error.gone"].in(lang(r)))
	case res.status == http.StatusTooManyRequests || res.status == http.StatusServiceUnavailable || res.status == http.StatusGatewayTimeout:
		w.busyPage(rw, r, s, res)
	default:
		w.log.Error("reading from the API failed", "status", res.status, "code", res.prob.Code)
		w.message(rw, r, s, http.StatusInternalServerError, portalapi.StaffPageError, "error.title", "")
	}
}

func (w *Web) certificatePage(rw http.ResponseWriter, r *http.Request) {
	s, uvci, ok := w.resolve(rw, r, "cert")
	if !ok {
		return
	}
	res, err := w.authed(r.Context(), r, s, http.MethodGet, certPath(uvci, ""), nil, nil)
	if err != nil || res.status != http.StatusOK {
		w.readFailed(rw, r, s, res, err)
		return
	}
	var cv portalapi.CertificateView
	if err := res.decode(&cv); err != nil {
		w.readFailed(rw, r, s, res, err)
		return
	}
	v := w.view(rw, r, s, portalapi.StaffPageCertificate)
	v.Title = v.T("cert.title")
	body, err := w.certView(v, cv, strings.TrimPrefix(r.URL.Path, portalapi.StaffRoot+"certificates/"))
	if err != nil {
		w.log.Error("certificate unreadable", "err", err)
		w.message(rw, r, s, http.StatusInternalServerError, portalapi.StaffPageError, "error.title", "")
		return
	}
	w.render(rw, http.StatusOK, "certificate", v, body)
}

// certificateFile passes the certificate's QR code or PDF through.
func (w *Web) certificateFile(rw http.ResponseWriter, r *http.Request) {
	s, uvci, ok := w.resolve(rw, r, "cert")
	if !ok {
		return
	}
	suffix := ".pdf"
	if strings.HasSuffix(r.URL.Path, ".png") {
		suffix = ".png"
	}
	res, err := w.authed(r.Context(), r, s, http.MethodGet, certPath(uvci, suffix), nil, nil)
	if err != nil || res.status != http.StatusOK {
		if suffix == ".png" && err == nil {
			http.Error(rw, http.StatusText(res.status), res.status)
			return
		}
		w.readFailed(rw, r, s, res, err)
		return
	}
	h := rw.Header()
	h.Del("Content-Security-Policy") // a PDF viewer is no page of ours
	for _, k := range []string{"Content-Type", "Content-Disposition", "Content-Length"} {
		if val := res.header.Get(k); val != "" {
			h.Set(k, val)
		}
	}
	h.Set("Cache-Control", "private, no-store")
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write(res.body)
}

func (w *Web) ticketPage(rw http.ResponseWriter, r *http.Request) {
	s, id, ok := w.resolve(rw, r, "ticket")
	if !ok {
		return
	}
	res, err := w.authed(r.Context(), r, s, http.MethodGet, "/v1/tickets/"+url.PathEscape(id), nil, nil)
	if err != nil || res.status != http.StatusOK {
		w.readFailed(rw, r, s, res, err)
		return
	}
	var tv portalapi.TicketView
	if err := res.decode(&tv); err != nil {
		w.readFailed(rw, r, s, res, err)
		return
	}
	switch tv.State {
	case "done":
		seeOther(rw, r, w.certHref(s, tv.UVCI))
		return
	case "failed":
		v := w.view(rw, r, s, portalapi.StaffPageFailed)
		v.Title = v.T("failed.title")
		w.render(rw, http.StatusOK, "message", v, messageView{Text: v.F("failed.text", tv.FailureCode),
			Back: formPath(portalapi.StaffKindVaccination)})
		return
	}
	v := w.view(rw, r, s, portalapi.StaffPageTicket)
	v.Title = v.T("ticket.title")
	v.Refresh = tv.RetryAfter
	if v.Refresh <= 0 {
		v.Refresh = res.retryAfter()
	}
	w.render(rw, http.StatusOK, "ticket", v, w.ticketView(v, tv, r.URL.Path))
}
