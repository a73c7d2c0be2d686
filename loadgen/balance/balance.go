// Package balance spreads a client's requests over several replicas of one
// service (the portals of a hardened deployment) from inside the client:
// an http.RoundTripper that sends each request to the next replica in
// turn, and when a replica cannot be reached or answers 502/503 sends the
// same request (same headers, so the same Idempotency-Key) to the next one.
//
// Client-side balancing rather than a load-balancer process: every client
// knows every replica, so there is no balancer to be the new single point
// of failure (DNS-style spread, the way mobile apps and pharmacy software
// reach a national service). A replica that refused a connection leaves
// the rotation for EjectFor, so the clients stop paying a failed try for
// every request to a dead replica, and comes back on its own.
//
// Every try of one request runs under the request's own context: a retry
// on another replica never extends the request's deadline, so no request
// outlives its timeout because of the balancing.
package balance

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultEjectFor is how long a replica that could not be reached stays
// out of the rotation: long enough that a dead replica costs a handful of
// failed tries, short enough that a restarted one gets traffic within a
// second or two of coming back.
const DefaultEjectFor = 2 * time.Second

// Transport is the balancing RoundTripper. Build it with New.
type Transport struct {
	bases []*url.URL
	next  http.RoundTripper
	// EjectFor is how long an unreachable replica is skipped (default
	// DefaultEjectFor; it is retried anyway when every replica is out).
	EjectFor time.Duration

	rr        atomic.Uint64
	failovers atomic.Int64
	mu        sync.Mutex
	downUntil []time.Time
}

// New returns a Transport over the replicas' base URLs (scheme and host;
// a path is ignored), sending through next (nil: http.DefaultTransport).
func New(bases []string, next http.RoundTripper) (*Transport, error) {
	if len(bases) == 0 {
		return nil, errors.New("balance: no replicas")
	}
	t := &Transport{next: next, EjectFor: DefaultEjectFor, downUntil: make([]time.Time, len(bases))}
	if t.next == nil {
		t.next = http.DefaultTransport
	}
	for _, b := range bases {
		u, err := url.Parse(strings.TrimSpace(b))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("balance: replica %q is not a base URL like http://127.0.0.1:8080", b)
		}
		t.bases = append(t.bases, u)
	}
	return t, nil
}

// Replicas is the number of replicas.
func (t *Transport) Replicas() int { return len(t.bases) }

// Failovers counts the tries sent to another replica after a failed one.
func (t *Transport) Failovers() int64 { return t.failovers.Load() }

// CloseIdleConnections passes through to the next transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req to the next replica in turn, whatever host its URL
// names, and on failure to the others (each at most once), until one
// answers something other than 502/503, a failure may not be retried, or
// req's context ends.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	order := t.order()
	var lastErr error
	for i, idx := range order {
		last := i == len(order)-1
		try, err := t.rewrite(req, idx, i > 0)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			t.failovers.Add(1)
		}
		resp, err := t.next.RoundTrip(try)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			t.eject(idx)
			if last || !(retrySafe(req) || notSent(err)) {
				return nil, err
			}
			lastErr = err
			continue
		}
		if (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable) && !last && ctx.Err() == nil && rewindable(req) {
			// The replica did not handle the request: safe to send it on.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

// order is the replicas to try: the next in turn first, then the rest,
// ejected ones last.
func (t *Transport) order() []int {
	n := len(t.bases)
	start := int(t.rr.Add(1)-1) % n
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	up := make([]int, 0, n)
	var down []int
	for i := range n {
		idx := (start + i) % n
		if now.Before(t.downUntil[idx]) {
			down = append(down, idx)
		} else {
			up = append(up, idx)
		}
	}
	return append(up, down...)
}

func (t *Transport) eject(idx int) {
	t.mu.Lock()
	t.downUntil[idx] = time.Now().Add(t.EjectFor)
	t.mu.Unlock()
}

// rewrite is req aimed at replica idx; again means the body must be
// produced afresh (the first try consumed it).
func (t *Transport) rewrite(req *http.Request, idx int, again bool) (*http.Request, error) {
	r := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = t.bases[idx].Scheme, t.bases[idx].Host
	r.URL = &u
	r.Host = ""
	if again && req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, errors.New("balance: cannot resend a request whose body cannot be produced again")
		}
		b, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("balance: rewinding the body: %w", err)
		}
		r.Body = b
	}
	return r, nil
}

// rewindable reports whether req can be sent again.
func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// notSent reports whether err says the request never left: the
// connection was refused or could not be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retrySafe reports whether req may be sent again after a transport error,
// when the first replica may have handled it before the connection broke:
// an idempotent method, or a request carrying an Idempotency-Key (the
// server binds the key once, so a second send returns the first result).
// A POST without a key (a token refresh, say) is not retried here: the
// caller decides.
func retrySafe(req *http.Request) bool {
	if !rewindable(req) {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}
