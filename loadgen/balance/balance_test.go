package balance_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/loadgen/balance"
)

// replica is a fake portal that records the Idempotency-Keys and bodies
// it saw and answers with status.
type replica struct {
	srv    *httptest.Server
	mu     sync.Mutex
	keys   []string
	bodies []string
	status int
	hang   chan struct{} // when set, requests block until it closes
}

func newReplica(t *testing.T, status int) *replica {
	r := &replica{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
		r.bodies = append(r.bodies, string(b))
		st, hang := r.status, r.hang
		r.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(st)
		io.WriteString(w, r.srv.URL)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replica) seen() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys...), append([]string(nil), r.bodies...)
}

// deadURL is a loopback address nothing listens on: a killed portal.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func post(t *testing.T, c *http.Client, key, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://portal.invalid/v1/certificates", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", key, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRoundRobin: requests alternate between healthy replicas, whatever
// host the request names.
func TestRoundRobin(t *testing.T) {
	a, b := newReplica(t, http.StatusCreated), newReplica(t, http.StatusCreated)
	tr, err := balance.New([]string{a.srv.URL, b.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	for i := range 6 {
		post(t, c, "k"+string(rune('0'+i)), "x")
	}
	ka, _ := a.seen()
	kb, _ := b.seen()
	if len(ka) != 3 || len(kb) != 3 {
		t.Errorf("6 requests went %d/%d to two healthy replicas, want 3/3", len(ka), len(kb))
	}
	if tr.Failovers() != 0 {
		t.Errorf("failovers = %d with every replica healthy", tr.Failovers())
	}
}

// TestDeadReplicaFailsOverWithTheSameKey: one portal of the pair is dead
// (nothing listens): every request still reaches the live one, with its
// Idempotency-Key and body unchanged, and the dead one leaves the rotation
// so later requests do not pay a failed try each.
func TestDeadReplicaFailsOverWithTheSameKey(t *testing.T) {
	live := newReplica(t, http.StatusCreated)
	tr, err := balance.New([]string{deadURL(t), live.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	const n = 10
	for i := range n {
		key := "key-" + string(rune('a'+i))
		resp, body := post(t, c, key, "body-"+key)
		if resp.StatusCode != http.StatusCreated || body != live.srv.URL {
			t.Fatalf("%s: %d from %s, want 201 from the live replica", key, resp.StatusCode, body)
		}
	}
	keys, bodies := live.seen()
	if len(keys) != n {
		t.Fatalf("live replica saw %d requests, want %d (one each, no duplicates)", len(keys), n)
	}
	for i, k := range keys {
		if bodies[i] != "body-"+k {
			t.Errorf("retry of %s carried body %q: the body was not sent again intact", k, bodies[i])
		}
	}
	// The first request aimed at the dead replica failed over; after it,
	// the dead one is out of the rotation.
	if f := tr.Failovers(); f != 1 {
		t.Errorf("failovers = %d, want 1 (the dead replica ejected after its first failure)", f)
	}
}

// TestServiceUnavailableFailsOver: a replica answering 503 (its registry
// connection is down, say) or 502 hands the request to the next one with
// the same key; when every replica answers 503 the caller sees the 503.
func TestServiceUnavailableFailsOver(t *testing.T) {
	for _, st := range []int{http.StatusServiceUnavailable, http.StatusBadGateway} {
		sick, ok := newReplica(t, st), newReplica(t, http.StatusCreated)
		tr, _ := balance.New([]string{sick.srv.URL, ok.srv.URL}, nil)
		c := &http.Client{Transport: tr}
		resp, _ := post(t, c, "same-key", "b")
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("%d then 201: caller saw %d", st, resp.StatusCode)
		}
		ks, _ := sick.seen()
		ko, _ := ok.seen()
		if len(ks) != 1 || len(ko) != 1 || ks[0] != "same-key" || ko[0] != "same-key" {
			t.Errorf("%d: keys %v then %v, want same-key on both", st, ks, ko)
		}
	}
	x, y := newReplica(t, http.StatusServiceUnavailable), newReplica(t, http.StatusServiceUnavailable)
	tr, _ := balance.New([]string{x.srv.URL, y.srv.URL}, nil)
	resp, _ := post(t, &http.Client{Transport: tr}, "k", "b")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("every replica 503: caller saw %d, want 503", resp.StatusCode)
	}
}

// TestDeadlineCoversEveryTry: the first replica hangs; the request's own
// timeout ends the whole request, the failover try included: the caller
// gets its error no later than the deadline (plus scheduling slack), and
// no try starts after it.
func TestDeadlineCoversEveryTry(t *testing.T) {
	hung := newReplica(t, http.StatusCreated)
	hung.hang = make(chan struct{})
	defer close(hung.hang)
	other := newReplica(t, http.StatusServiceUnavailable)
	tr, _ := balance.New([]string{hung.srv.URL, other.srv.URL}, nil)
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://portal.invalid/v1/certificates", strings.NewReader("b"))
	req.Header.Set("Idempotency-Key", "k")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a hung replica answered %d before the deadline", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the request's deadline", err)
	}
	if ko, _ := other.seen(); len(ko) != 0 {
		t.Errorf("a try went to the second replica after the deadline: %v", ko)
	}
}

// TestPostWithoutKeyIsNotResent: a POST without an Idempotency-Key whose
// connection broke after it was sent may have been handled; it is not sent
// again (a refresh token would be replayed). One that could not connect at
// all is.
func TestPostWithoutKeyIsNotResent(t *testing.T) {
	// A replica that reads the request and drops the connection: a portal
	// killed mid-request behind the fault proxy.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer broken.Close()
	live := newReplica(t, http.StatusOK)
	tr, _ := balance.New([]string{broken.URL, live.srv.URL}, nil)
	req, _ := http.NewRequest(http.MethodPost, "http://portal.invalid/v1/token", strings.NewReader("refresh"))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a POST without a key was resent to another replica after its connection broke")
	}
	if k, _ := live.seen(); len(k) != 0 {
		t.Errorf("live replica saw %d keyless POSTs, want 0", len(k))
	}

	tr, _ = balance.New([]string{deadURL(t), live.srv.URL}, nil)
	req, _ = http.NewRequest(http.MethodPost, "http://portal.invalid/v1/token", strings.NewReader("refresh"))
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("a keyless POST refused a connection by a dead replica was not sent on: %v", err)
	}
	resp.Body.Close()
	if k, _ := live.seen(); len(k) != 1 {
		t.Errorf("live replica saw %d keyless POSTs, want 1", len(k))
	}
}

func TestNewRefusesBadReplicas(t *testing.T) {
	for _, bases := range [][]string{nil, {"ftp://x"}, {"127.0.0.1:80"}} {
		if _, err := balance.New(bases, nil); err == nil {
			t.Errorf("New(%q) accepted", bases)
		}
	}
}
