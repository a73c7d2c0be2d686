package signerclient

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/signer"
	"github.com/golive-dev/golive/issuer/signer/signerapi"
)

const testToken = "portal-signer-secret"

// testReplica is one signer (real or fake) behind a real HTTP listener that
// counts sign calls and can be killed and revived on the same address.
type testReplica struct {
	t       *testing.T
	handler http.Handler
	srv     *signer.Server // nil for fakes
	ts      *httptest.Server
	addr    string
	calls   atomic.Int64
}

func (r *testReplica) url() string { return "http://" + r.addr }

func (r *testReplica) serve(l net.Listener) {
	r.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/sign" {
			r.calls.Add(1)
		}
		r.handler.ServeHTTP(w, req)
	}))
	r.ts.Listener.Close()
	r.ts.Listener = l
	r.ts.Start()
	r.t.Cleanup(r.ts.Close)
}

// kill closes the listener and every connection: the replica is gone.
func (r *testReplica) kill() {
	r.ts.CloseClientConnections()
	r.ts.Close()
}

// revive starts a server on the exact address the killed one had.
func (r *testReplica) revive() {
	var l net.Listener
	var err error
	for range 50 { // the old socket may take a moment to go
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(l)
}

func newReplica(t *testing.T, h http.Handler) *testReplica {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &testReplica{t: t, handler: h, addr: l.Addr().String()}
	r.serve(l)
	return r
}

// startSigners runs n real hardened signers, each with its own DSC.
func startSigners(t *testing.T, n int) []*testReplica {
	t.Helper()
	dscs := testDSCs(t, n)
	out := make([]*testReplica, n)
	for i := range n {
		cfg := signer.HardenedConfig()
		cfg.AuthToken = testToken
		cfg.HSMLatency = time.Millisecond
		s, err := signer.New(cfg, dscs[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = newReplica(t, s.Handler())
		out[i].srv = s
	}
	return out
}

// fake answers every sign call with the given status and body.
func fake(t *testing.T, status int, retryAfter time.Duration) *testReplica {
	t.Helper()
	return newReplica(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == "/readyz":
			w.WriteHeader(http.StatusOK)
		case status == http.StatusOK:
			_, _ = w.Write([]byte("not json"))
		default:
			p := problem.New(status, "fake", "fake answer")
			p.RetryAfter = retryAfter
			problem.Write(w, p)
		}
	}))
}

func endpoints(rs ...*testReplica) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.url()
	}
	return out
}

func testClientConfig(rs ...*testReplica) Config {
	return Config{
		Endpoints:      endpoints(rs...),
		AuthToken:      testToken,
		CallTimeout:    time.Second,
		MaxAttempts:    3,
		HealthInterval: 20 * time.Millisecond,
		Breaker:        BreakerConfig{FailureThreshold: 2, OpenFor: 150 * time.Millisecond, HalfOpenProbes: 1},
	}
}

func payload(t *testing.T, typ dcc.Type) *dcc.Certificate {
	t.Helper()
	c := dcc.Sample(mrand.New(mrand.NewPCG(1, 2)), typ, time.Now())
	ci, err := dcc.NewUVCI("DE", "GOLIVE", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.SetUVCI(ci)
	return c
}

func sign(t *testing.T, c *Client, timeout time.Duration) (SignResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Sign(ctx, SignRequest{Payload: payload(t, dcc.TypeVaccination), IssuedAt: time.Now(), RequestID: "r"})
}

func status(c *Client, endpoint string) ReplicaStatus {
	for _, s := range c.Status() {
		if s.Endpoint == endpoint {
			return s
		}
	}
	return ReplicaStatus{}
}

func TestSignBalancesAndFailsOver(t *testing.T) {
	rs := startSigners(t, 3)
	cfg := testClientConfig(rs...)
	// Open stays open for the test: under -race on a busy machine the 12
	// calls below outlast the default 150 ms and the breaker half-opens.
	cfg.Breaker.OpenFor = time.Minute
	c := New(cfg, nil)

	used := map[string]int{}
	for range 9 {
		resp, err := sign(t, c, 2*time.Second)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		used[resp.Endpoint]++
		verifyHC1(t, resp.HC1, resp.Kid)
	}
	for _, r := range rs {
		if used[r.url()] < 2 {
			t.Errorf("replica %s used %d of 9 times: %v", r.url(), used[r.url()], used)
		}
	}

	dead := rs[1]
	dead.kill()
	clear(used)
	for range 12 {
		resp, err := sign(t, c, 2*time.Second)
		if err != nil {
			t.Fatalf("Sign with one replica dead: %v", err)
		}
		used[resp.Endpoint]++
		if resp.Endpoint == dead.url() {
			t.Fatalf("signed by the dead replica")
		}
		if resp.Attempts > 2 {
			t.Errorf("took %d attempts", resp.Attempts)
		}
	}
	if used[rs[0].url()] == 0 || used[rs[2].url()] == 0 {
		t.Errorf("the live replicas were not both used: %v", used)
	}
	if st := status(c, dead.url()); st.Breaker != BreakerOpen {
		t.Errorf("dead replica's breaker is %q, want open", st.Breaker)
	}
	if got := c.Available(); got != 2 {
		t.Errorf("Available = %d, want 2", got)
	}
}

// hanging replicas accept calls and never answer.
func hanging(t *testing.T) *testReplica {
	return newReplica(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// The server notices a client leaving only once the body is read.
		_, _ = io.Copy(io.Discard, req.Body)
		<-req.Context().Done()
	}))
}

func TestAllDown(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) []*testReplica
		kill  bool
		call  time.Duration // CallTimeout
		ctx   time.Duration // the caller's deadline
		want  error
		// before: the call must end before this timer could have fired
		// (an ordering of the client's own timers, not a stopwatch).
		before time.Duration
	}{
		// Refused at once: no attempt waits for its 1 s timeout.
		{"refused connections", func(t *testing.T) []*testReplica { return startSigners(t, 3) }, true,
			time.Second, 2 * time.Second, ErrNoSigner, time.Second},
		// Three attempts of 100 ms end before the caller's 2 s deadline.
		{"hanging replicas, attempts fit the deadline", func(t *testing.T) []*testReplica {
			return []*testReplica{hanging(t), hanging(t), hanging(t)}
		}, false, 100 * time.Millisecond, 2 * time.Second, ErrNoSigner, 2 * time.Second},
		// The caller's deadline ends the call (ErrDeadline says so).
		{"hanging replicas, deadline first", func(t *testing.T) []*testReplica {
			return []*testReplica{hanging(t), hanging(t), hanging(t)}
		}, false, 100 * time.Millisecond, 150 * time.Millisecond, ErrDeadline, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.start(t)
			if tt.kill {
				for _, r := range rs {
					r.kill()
				}
			}
			cfg := testClientConfig(rs...)
			cfg.CallTimeout = tt.call
			cfg.Breaker.FailureThreshold = 1
			cfg.Breaker.OpenFor = time.Minute
			c := New(cfg, nil)

			began := time.Now()
			_, err := sign(t, c, tt.ctx)
			elapsed := time.Since(began)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.before > 0 && elapsed >= tt.before {
				t.Errorf("returned after %v, want before %v (deadline %v)", elapsed, tt.before, tt.ctx)
			}
			if tt.want == ErrDeadline && elapsed < tt.ctx {
				t.Errorf("ErrDeadline after %v, before the %v deadline", elapsed, tt.ctx)
			}
			if tt.want != ErrNoSigner {
				return
			}
			// Every breaker is open now: the next call fails at once.
			if got := c.Available(); got != 0 {
				t.Errorf("Available = %d, want 0", got)
			}
			calls := func() (n int64) {
				for _, r := range rs {
					n += r.calls.Load()
				}
				return n
			}
			before := calls()
			began = time.Now()
			if _, err := sign(t, c, tt.ctx); !errors.Is(err, ErrNoSigner) {
				t.Fatalf("second call: err = %v, want ErrNoSigner", err)
			}
			// No replica was tried, so no attempt's timeout was waited for.
			if e, n := time.Since(began), calls()-before; n != 0 || e >= tt.call {
				t.Errorf("second call with every breaker open: %d sign calls, %v (call timeout %v)", n, e, tt.call)
			}
		})
	}
}

func TestRecovery(t *testing.T) {
	rs := startSigners(t, 2)
	c := New(testClientConfig(rs...), nil)
	back := rs[0]
	back.kill()
	// Calls open the breaker (health checks would otherwise keep the dead
	// replica out of the rotation before it fails often enough).
	waitFor(t, "the dead replica's breaker to open", func() bool {
		if _, err := sign(t, c, time.Second); err != nil {
			t.Fatalf("Sign with one replica dead: %v", err)
		}
		return status(c, back.url()).Breaker == BreakerOpen
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	waitFor(t, "the health check to mark the dead replica", func() bool { return !status(c, back.url()).Healthy })

	back.revive()
	waitFor(t, "the health check to mark the revived replica", func() bool { return status(c, back.url()).Healthy })
	waitFor(t, "the revived replica to sign again", func() bool {
		resp, err := sign(t, c, time.Second)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return resp.Endpoint == back.url()
	})
	if st := status(c, back.url()); st.Breaker != BreakerClosed {
		t.Errorf("revived replica's breaker is %q, want closed", st.Breaker)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRefusalsAreFinal(t *testing.T) {
	bad := payload(t, dcc.TypeVaccination)
	bad.V[0].Dn = 0
	tests := []struct {
		name  string
		token string
		req   SignRequest
		want  error
		code  string
		field string
	}{
		{"invalid payload", testToken, SignRequest{Payload: bad}, ErrRejected, "invalid_payload", "v[0].dn"},
		{"type mismatch", testToken, SignRequest{Type: dcc.TypeTest, Payload: payload(t, dcc.TypeVaccination)}, ErrRejected, "type_mismatch", "type"},
		{"raw JSON payload", testToken, SignRequest{Type: dcc.TypeVaccination, Payload: json.RawMessage(`{"ver":"1.3.0"}`)}, ErrRejected, "invalid_payload", ""},
		{"wrong secret", "not-the-secret", SignRequest{Payload: payload(t, dcc.TypeVaccination)}, ErrUnauthorized, "unauthorized", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := startSigners(t, 3)
			cfg := testClientConfig(rs...)
			cfg.AuthToken = tt.token
			c := New(cfg, nil)
			_, err := c.Sign(context.Background(), tt.req)
			if !errors.Is(err, tt.want) || errors.Is(err, ErrNoSigner) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var re *RejectedError
			if !errors.As(err, &re) {
				t.Fatalf("err %T is not a *RejectedError", err)
			}
			if re.Problem.Code != tt.code || (tt.field != "" && re.Problem.Field != tt.field) {
				t.Errorf("problem %s/%s, want %s/%s", re.Problem.Code, re.Problem.Field, tt.code, tt.field)
			}
			calls := int64(0)
			for _, r := range rs {
				calls += r.calls.Load()
			}
			if calls != 1 {
				t.Errorf("%d sign calls, want 1 (no retry)", calls)
			}
			if st := c.Status(); st[0].Breaker != BreakerClosed || c.Available() != 3 {
				t.Errorf("a refusal hurt the replica: %+v", st)
			}
		})
	}
}

func TestRetriedAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		busy       bool // the replica is then left alone for Retry-After
	}{
		{"500", http.StatusInternalServerError, 0, false},
		{"502", http.StatusBadGateway, 0, false},
		{"503 without Retry-After", http.StatusServiceUnavailable, 0, false},
		{"504", http.StatusGatewayTimeout, 0, false},
		{"unreadable 200", http.StatusOK, 0, false},
		{"503 with Retry-After", http.StatusServiceUnavailable, 3 * time.Second, true},
		{"429 with Retry-After", http.StatusTooManyRequests, 3 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := fake(t, tt.status, tt.retryAfter)
			good := startSigners(t, 1)[0]
			// A fresh client tries the first endpoint first.
			c := New(testClientConfig(bad, good), nil)
			resp, err := sign(t, c, 2*time.Second)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if resp.Endpoint != good.url() || resp.Attempts != 2 || bad.calls.Load() != 1 {
				t.Fatalf("endpoint %s after %d attempts, bad called %d times; want the good one after 2, bad once",
					resp.Endpoint, resp.Attempts, bad.calls.Load())
			}
			st := status(c, bad.url())
			if tt.busy {
				until := time.Until(st.BusyUntil)
				if until < tt.retryAfter-time.Second || until > tt.retryAfter {
					t.Errorf("busy for %v, want about %v", until, tt.retryAfter)
				}
				if st.Breaker != BreakerClosed {
					t.Errorf("busy replica's breaker is %s, want closed", st.Breaker)
				}
				// While busy it gets no calls.
				for range 4 {
					if _, err := sign(t, c, time.Second); err != nil {
						t.Fatal(err)
					}
				}
				if n := bad.calls.Load(); n != 1 {
					t.Errorf("busy replica called %d times, want 1", n)
				}
				if c.Available() != 1 {
					t.Errorf("Available = %d, want 1", c.Available())
				}
			} else if !st.BusyUntil.IsZero() {
				t.Errorf("replica marked busy without Retry-After")
			}
		})
	}
}

func TestRetryAfterFromLockedOutSigner(t *testing.T) {
	rs := startSigners(t, 2)
	locked := rs[0]
	locked.srv.Lockout(time.Second) // answers 503 locked_out, Retry-After: 1
	c := New(testClientConfig(rs...), nil)
	for i := range 5 {
		resp, err := sign(t, c, time.Second)
		if err != nil || resp.Endpoint != rs[1].url() {
			t.Fatalf("call %d: %v from %s", i, err, resp.Endpoint)
		}
	}
	if n := locked.calls.Load(); n != 1 {
		t.Fatalf("locked-out replica called %d times, want 1", n)
	}
	// After Retry-After (and the lockout) it is used again.
	time.Sleep(time.Until(status(c, locked.url()).BusyUntil) + 10*time.Millisecond)
	waitFor(t, "the locked-out replica to be used again", func() bool {
		resp, err := sign(t, c, time.Second)
		return err == nil && resp.Endpoint == locked.url()
	})
}

func TestAllLockedOutIsNoSigner(t *testing.T) {
	rs := startSigners(t, 2)
	for _, r := range rs {
		r.srv.Lockout(time.Hour)
	}
	c := New(testClientConfig(rs...), nil)
	if _, err := sign(t, c, time.Second); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("err = %v, want ErrNoSigner", err)
	}
	if c.Available() != 0 {
		t.Errorf("Available = %d with every replica locked out", c.Available())
	}
	for _, st := range c.Status() {
		if time.Until(st.BusyUntil) < 59*time.Minute {
			t.Errorf("%s busy until %v, want about an hour", st.Endpoint, st.BusyUntil)
		}
	}
}

func TestDeadlinePropagated(t *testing.T) {
	var mu sync.Mutex
	var got []string
	r := newReplica(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		got = append(got, req.Header.Get(signerapi.DeadlineHeader))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"hc1":"HC1:X","kid":"a2lk","signer":"fake"}`))
	}))
	tests := []struct {
		name string
		call time.Duration
		ctx  time.Duration
		want time.Duration // from now
	}{
		{"caller's deadline is nearer", 5 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
		{"call timeout is nearer", 200 * time.Millisecond, 5 * time.Second, 200 * time.Millisecond},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testClientConfig(r)
			cfg.CallTimeout = tt.call
			c := New(cfg, nil)
			before := time.Now()
			if _, err := sign(t, c, tt.ctx); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			mu.Lock()
			header := got[i]
			mu.Unlock()
			d, err := time.Parse(time.RFC3339Nano, header)
			if err != nil {
				t.Fatalf("deadline header %q: %v", header, err)
			}
			// Bracketed by the clock around the call, not a tolerance.
			if d.Before(before.Add(tt.want)) || d.After(after.Add(tt.want)) {
				t.Errorf("deadline %v, want %v after the call began (%v..%v)", d, tt.want, before.Add(tt.want), after.Add(tt.want))
			}
		})
	}
}

// keep pki imported for the helpers in pki_test.go.
var _ *pki.KeyPair

func TestLeastInFlight(t *testing.T) {
	release := make(chan struct{})
	slow := newReplica(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-release:
		case <-req.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"hc1":"HC1:SLOW","kid":"a2lk","signer":"slow"}`))
	}))
	fast := startSigners(t, 1)[0]
	c := New(testClientConfig(slow, fast), nil)

	first := make(chan SignResponse)
	go func() {
		resp, _ := sign(t, c, 2*time.Second)
		first <- resp
	}()
	waitFor(t, "the first call to reach the slow replica", func() bool { return slow.calls.Load() == 1 })
	if st := status(c, slow.url()); st.InFlight != 1 {
		t.Errorf("slow replica in flight = %d, want 1", st.InFlight)
	}
	for i := range 5 {
		resp, err := sign(t, c, time.Second)
		if err != nil || resp.Endpoint != fast.url() {
			t.Fatalf("call %d went to %s (%v), want the idle replica", i, resp.Endpoint, err)
		}
	}
	close(release)
	if resp := <-first; resp.Endpoint != slow.url() || resp.HC1 != "HC1:SLOW" {
		t.Errorf("first call: %+v", resp)
	}
	if st := status(c, slow.url()); st.InFlight != 0 {
		t.Errorf("slow replica in flight = %d after the call, want 0", st.InFlight)
	}
}
