package staffweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
)

// The pages call the portal's API in-process: the same handler a
// pharmacy's software reaches over HTTP, so a page gets the same
// validation, idempotency, quotas, admission control, login throttling,
// deadlines and deferral, and the API's metrics count it.

// maxAPIBody bounds what an in-process answer may hold (a PDF is ~100 KiB).
const maxAPIBody = 8 << 20

// apiResponse is an in-process answer.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
	// prob is the problem of a problem+json answer, else nil.
	prob *problem.Problem
}

func (a *apiResponse) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("staffweb: decoding %d answer: %w", a.status, err)
	}
	return nil
}

// retryAfter is the answer's Retry-After in seconds (at least 1).
func (a *apiResponse) retryAfter() int {
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err == nil && s > 0 {
		return s
	}
	return 1
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	over   bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxAPIBody {
		r.over = true
		return 0, errors.New("staffweb: in-process answer too large")
	}
	return r.body.Write(b)
}

// call runs one API request in-process on behalf of the page request
// outer: same client address (login throttling), same TLS state, the
// page's context (its deadline and cancellation).
func (w *Web) call(ctx context.Context, outer *http.Request, method, path, token string, header http.Header, body any) (*apiResponse, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("staffweb: encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, fmt.Errorf("staffweb: %s %s: %w", method, path, err)
	}
	req.RemoteAddr, req.Host, req.TLS = outer.RemoteAddr, outer.Host, outer.TLS
	req.RequestURI = req.URL.RequestURI()
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := &recorder{header: http.Header{}}
	w.opts.API.ServeHTTP(rec, req)
	if rec.over {
		return nil, fmt.Errorf("staffweb: %s %s: answer over %d bytes", method, path, maxAPIBody)
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	res := &apiResponse{status: rec.status, header: rec.header, body: rec.body.Bytes()}
	if mt, _, _ := mime.ParseMediaType(rec.header.Get("Content-Type")); mt == problem.ContentType {
		var pr problem.Problem
		if err := json.Unmarshal(res.body, &pr); err == nil {
			res.prob = &pr
		}
	}
	if res.status >= 400 && res.prob == nil {
		// Not ours to interpret: report it as the status it is.
		pr := problem.New(res.status, "unexpected_response", "")
		res.prob = &pr
	}
	return res, nil
}

// errSessionEnded: the session's tokens no longer work (refresh refused,
// account suspended, key changed): sign in again.
var errSessionEnded = errors.New("staffweb: session ended")

// refreshMargin renews an access token this long before it expires, so a
// call never starts with a token about to lapse.
const refreshMargin = 5 * time.Second

// token returns a working access token of s, refreshing it through the
// API's POST /v1/token (login admission and all) when due. A refusal ends
// the session (errSessionEnded); overload does not: it comes back as the
// API's answer so the page can say "busy" and keep the session.
func (w *Web) token(ctx context.Context, outer *http.Request, s *session) (string, *apiResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := w.now()
	if s.access != "" && now.Add(refreshMargin).Before(s.accessExp) {
		return s.access, nil, nil
	}
	if s.refresh == "" {
		return "", nil, errSessionEnded
	}
	res, err := w.call(ctx, outer, http.MethodPost, "/v1/token", "", nil,
		portalapi.TokenRequest{GrantType: "refresh_token", RefreshToken: s.refresh})
	if err != nil {
		return "", nil, err
	}
	switch {
	case res.status == http.StatusOK:
		var tr portalapi.TokenResponse
		if err := res.decode(&tr); err != nil {
			return "", nil, err
		}
		s.access, s.refresh = tr.AccessToken, tr.RefreshToken
		s.accessExp = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
		return s.access, nil, nil
	case res.status == http.StatusUnauthorized, res.status == http.StatusForbidden:
		s.access, s.refresh = "", ""
		w.log.Info("staff session ended: refresh refused", "pharmacy_id", s.pharmacyID, "code", res.prob.Code)
		return "", res, errSessionEnded
	}
	return "", res, nil
}

// authed runs an API call with s's token; a 401 ends the session.
func (w *Web) authed(ctx context.Context, outer *http.Request, s *session, method, path string, header http.Header, body any) (*apiResponse, error) {
	tok, res, err := w.token(ctx, outer, s)
	if err != nil || res != nil {
		return res, err
	}
	res, err = w.call(ctx, outer, method, path, tok, header, body)
	if err != nil {
		return nil, err
	}
	if res.status == http.StatusUnauthorized {
		s.mu.Lock()
		s.access, s.refresh = "", ""
		s.mu.Unlock()
		return res, errSessionEnded
	}
	return res, nil
}

// certPath is the API path of a certificate (suffix "", ".png", ".pdf"),
// escaped as the API's own links are.
func certPath(uvci, suffix string) string {
	return "/v1/certificates/" + url.PathEscape(uvci) + suffix
}
