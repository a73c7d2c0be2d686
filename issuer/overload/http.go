package overload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/problem"
)

// Middleware admits each request through l. Rejected requests go to
// onReject (nil: WriteReject) and never reach next.
func Middleware(l *Limiter, onReject func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	if onReject == nil {
		onReject = WriteReject
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			release, err := l.Acquire(r.Context())
			if err != nil {
				onReject(w, r, err)
				return
			}
			defer release()
			next.ServeHTTP(w, r)
		})
	}
}

// WriteReject answers an Acquire error as problem+json: 503 "overloaded"
// (queue full) or "queue_timeout" with Retry-After; 504
// "deadline_exceeded" when the request's own deadline passed while queued;
// 503 "request_cancelled" when the client went away (nobody reads it, but
// the access log shows the status).
func WriteReject(w http.ResponseWriter, r *http.Request, err error) {
	var p problem.Problem
	ra, _ := RetryAfter(err)
	switch {
	case errors.Is(err, ErrOverloaded):
		p = problem.Unavailable(ra)
		p.Code = "overloaded"
		p.Detail = "server is at capacity; retry after the indicated time"
	case errors.Is(err, ErrQueueTimeout):
		p = problem.Unavailable(ra)
		p.Code = "queue_timeout"
		p.Detail = "no capacity became free in time; retry after the indicated time"
	case errors.Is(err, context.DeadlineExceeded):
		p = problem.GatewayTimeout("request deadline passed while waiting for capacity")
	default:
		p = problem.Unavailable(minRetryAfter)
		p.Code = "request_cancelled"
		p.Detail = "request cancelled while waiting for capacity"
	}
	problem.Write(w, p)
}

// TurnAwayResponse is the whole HTTP/1.1 answer for a connection turned
// away as it is accepted (connlimit.Limits.TurnAway): the limiter's 503
// "overloaded" with Retry-After, and Connection: close. Made once at
// start; writing it costs the accept loop one write.
func TurnAwayResponse() []byte {
	rec := &recorder{h: http.Header{}}
	p := problem.Unavailable(minRetryAfter)
	p.Code = "overloaded"
	p.Detail = "server has too many open connections; retry after the indicated time"
	problem.Write(rec, p)
	resp := http.Response{StatusCode: rec.code, ProtoMajor: 1, ProtoMinor: 1, Header: rec.h,
		Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Close: true}
	var buf bytes.Buffer
	_ = resp.Write(&buf) // a bytes.Buffer does not fail
	return buf.Bytes()
}

// recorder keeps what problem.Write writes.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }

// DeadlineHeader carries the caller's absolute deadline (RFC 3339 with
// nanoseconds, UTC). Absolute rather than remaining time so queueing on the
// way does not extend it; this assumes the hosts' clocks agree to well
// under the deadlines used (NTP).
const DeadlineHeader = "X-Request-Deadline"

// WithDeadlineHeader sets DeadlineHeader on req from ctx's deadline, or
// removes it when ctx has none.
func WithDeadlineHeader(ctx context.Context, req *http.Request) {
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set(DeadlineHeader, dl.UTC().Format(time.RFC3339Nano))
		return
	}
	req.Header.Del(DeadlineHeader)
}

// DeadlineFromHeader derives the server-side context for r: it ends at the
// earliest of the caller's DeadlineHeader and now+max (max <= 0: no cap of
// our own). A deadline already past yields a context that is already done,
// so the handler can answer 504 without starting work. Unparseable header
// values are ignored (the cap still applies).
func DeadlineFromHeader(r *http.Request, max time.Duration) (context.Context, context.CancelFunc) {
	var dl time.Time
	have := false
	if max > 0 {
		dl, have = time.Now().Add(max), true
	}
	for _, v := range r.Header.Values(DeadlineHeader) {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			continue
		}
		if !have || t.Before(dl) {
			dl, have = t, true
		}
	}
	if !have {
		return context.WithCancel(r.Context())
	}
	return context.WithDeadline(r.Context(), dl)
}

// Reason names an Acquire error for metrics labels: "queue_full",
// "queue_timeout", "deadline" (the request's own deadline passed while
// queued) or "cancelled".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrOverloaded):
		return "queue_full"
	case errors.Is(err, ErrQueueTimeout):
		return "queue_timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "cancelled"
}
