// Package problem writes RFC 9457 problem details (application/problem+json)
// with stable, machine-readable codes, and decodes JSON request bodies
// strictly so that every malformed request gets one of those codes.
//
// The portal and the signer share it: a client branches on Code (stable
// snake_case), never on Title or Detail (human text that may change).
package problem

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TypeBase prefixes Code to form the problem type URI.
const TypeBase = "https://golive.dev/problems/"

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// FieldError is one field-level finding inside a problem.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// Problem is an RFC 9457 problem body plus the Retry-After hint, which goes
// out as a header rather than in the body.
//
// Constructors leave Type empty: Write derives it from Code, so a caller may
// change Code after construction and the type URI still matches.
type Problem struct {
	Type       string        `json:"type"`
	Title      string        `json:"title"`
	Status     int           `json:"status"`
	Code       string        `json:"code"`
	Field      string        `json:"field,omitempty"`
	Detail     string        `json:"detail,omitempty"`
	Errors     []FieldError  `json:"errors,omitempty"`
	RetryAfter time.Duration `json:"-"`
}

// Error makes a Problem usable as an error value (and *Problem too).
func (p Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Code)
	if p.Field != "" {
		fmt.Fprintf(&b, " (%s)", p.Field)
	}
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// TypeFor returns the type URI for a code.
func TypeFor(code string) string { return TypeBase + code }

// New builds a problem with the status's standard title.
func New(status int, code, detail string) Problem {
	return Problem{Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// RetryAfterSeconds is the Retry-After header value for d: whole seconds,
// rounded up, at least 1 (a client reading "0" would retry in a tight loop).
func RetryAfterSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	if s > math.MaxInt32 {
		s = math.MaxInt32
	}
	return int(s)
}

// Write sends p as application/problem+json. Missing Status becomes 500,
// missing Title the status text, missing Type the URI for Code. Responses
// are marked no-store: a problem describes one attempt, never a cacheable
// resource. A 401 gets WWW-Authenticate: Bearer unless the caller set one.
func Write(w http.ResponseWriter, p Problem) {
	if p.Status < 400 || p.Status > 599 {
		p.Status = http.StatusInternalServerError
	}
	if p.Code == "" {
		p.Code = defaultCode(p.Status)
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Type == "" {
		p.Type = TypeFor(p.Code)
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Only reachable with exotic strings; keep the status and code.
		body = []byte(fmt.Sprintf(`{"type":%q,"title":%q,"status":%d,"code":%q}`,
			TypeFor(p.Code), http.StatusText(p.Status), p.Status, p.Code))
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if s := RetryAfterSeconds(p.RetryAfter); s > 0 {
		h.Set("Retry-After", strconv.Itoa(s))
	}
	if p.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", "Bearer")
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

func defaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "deadline_exceeded"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// Read parses a problem from a client-side response (the signer client uses
// it). It reads at most 64 KiB, and fills RetryAfter from the header (seconds
// or HTTP date). A body that is not a problem yields a problem with the
// response status and code "unexpected_response".
func Read(resp *http.Response) (Problem, error) {
	p := Problem{Status: resp.StatusCode}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			p.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			p.RetryAfter = max(time.Until(t), 0)
		}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return p, fmt.Errorf("read problem body: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == ContentType || mt == "application/json" {
		var got Problem
		if json.Unmarshal(raw, &got) == nil && got.Code != "" {
			got.RetryAfter = p.RetryAfter
			if got.Status == 0 {
				got.Status = resp.StatusCode
			}
			return got, nil
		}
	}
	p.Code = "unexpected_response"
	p.Title = http.StatusText(resp.StatusCode)
	p.Detail = truncate(string(raw), 200)
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// BadRequest is a 400 about one field (field may be empty).
func BadRequest(code, field, detail string) Problem {
	p := New(http.StatusBadRequest, code, detail)
	p.Field = field
	return p
}

// Validation is a 400 "validation_failed" listing every field error; Field
// names the first one so a simple client can still point at something.
func Validation(errs ...FieldError) Problem {
	p := New(http.StatusBadRequest, "validation_failed", "the request failed validation")
	p.Errors = errs
	if len(errs) > 0 {
		p.Field = errs[0].Field
		if errs[0].Message != "" {
			p.Detail = errs[0].Message
		}
	}
	return p
}

// Unauthorized is a 401: no or bad credential.
func Unauthorized(code, detail string) Problem {
	if code == "" {
		code = "unauthorized"
	}
	return New(http.StatusUnauthorized, code, detail)
}

// Forbidden is a 403: authenticated but not allowed.
func Forbidden(code, detail string) Problem {
	if code == "" {
		code = "forbidden"
	}
	return New(http.StatusForbidden, code, detail)
}

// NotFound is a 404.
func NotFound(detail string) Problem {
	return New(http.StatusNotFound, "not_found", detail)
}

// MethodNotAllowed is a 405; the caller sets the Allow header before Write.
func MethodNotAllowed(method string) Problem {
	return New(http.StatusMethodNotAllowed, "method_not_allowed", "method "+method+" is not allowed here")
}

// Conflict is a 409 (duplicate registration, state changed meanwhile).
func Conflict(code, detail string) Problem {
	if code == "" {
		code = "conflict"
	}
	return New(http.StatusConflict, code, detail)
}

// Gone is a 410 (expired or revoked resource).
func Gone(code, detail string) Problem {
	if code == "" {
		code = "gone"
	}
	return New(http.StatusGone, code, detail)
}

// PayloadTooLarge is a 413 "body_too_large".
func PayloadTooLarge(limit int64) Problem {
	return New(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("request body exceeds %d bytes", limit))
}

// UnsupportedMediaType is a 415 "unsupported_media_type".
func UnsupportedMediaType(got string) Problem {
	if got == "" {
		got = "none"
	}
	return New(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"Content-Type must be application/json, got "+truncate(got, 80))
}

// TooManyRequests is a 429 "rate_limited": this caller exceeded its quota;
// others are still served.
func TooManyRequests(retryAfter time.Duration) Problem {
	p := New(http.StatusTooManyRequests, "rate_limited", "request quota exceeded; retry later")
	p.RetryAfter = retryAfter
	return p
}

// Unavailable is a 503 "unavailable": the service sheds load or a dependency
// is down; retry after the hint.
func Unavailable(retryAfter time.Duration) Problem {
	p := New(http.StatusServiceUnavailable, "unavailable", "service temporarily unavailable; retry later")
	p.RetryAfter = retryAfter
	return p
}

// GatewayTimeout is a 504 "deadline_exceeded".
func GatewayTimeout(detail string) Problem {
	return New(http.StatusGatewayTimeout, "deadline_exceeded", detail)
}

// Internal is a 500 "internal". Keep detail generic: never put error text
// from internals (paths, SQL, key names) into a response.
func Internal(detail string) Problem {
	return New(http.StatusInternalServerError, "internal", detail)
}

// WriteJSON sends v as an API's JSON answer (the other side of Write):
// never cached, since API answers are per caller. A value that does not
// encode becomes a 500 problem.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		Write(w, Internal("could not encode the answer"))
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
