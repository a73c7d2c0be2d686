package frontdoor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/frontdoor"
)

// testWait bounds every wait of these tests; nothing here is a speed
// check, only liveness.
const testWait = 10 * time.Second

// gate is a backend whose /slow requests wait until released.
type gate struct {
	entered chan string
	release chan struct{}
	mu      sync.Mutex
	seen    []*http.Request
	bodies  []string
}

func newGate() *gate { return &gate{entered: make(chan string, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.seen, g.bodies = append(g.seen, r), append(g.bodies, string(body))
	g.mu.Unlock()
	switch r.URL.Path {
	case "/slow":
		g.entered <- r.URL.Query().Get("n")
		<-g.release
	case "/big":
		w.Write(bytes.Repeat([]byte("x"), 4<<20))
		return
	case "/healthz":
		io.WriteString(w, "ok")
		return
	}
	w.Header().Set("X-Backend", "yes")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
}

// start runs a front before h with c's limits and returns its URL.
func start(t *testing.T, h http.Handler, c frontdoor.Config) string {
	t.Helper()
	be := httptest.NewServer(h)
	t.Cleanup(be.Close)
	u, _ := url.Parse(be.URL)
	c.Backend = u
	f, err := frontdoor.New(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func waitEntered(t *testing.T, g *gate, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-g.entered:
		case <-time.After(testWait):
			t.Fatalf("only %d of %d requests reached the backend", i, n)
		}
	}
}

type problemBody struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
}

func decodeProblem(t *testing.T, resp *http.Response) problemBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExcessAnswered503KeepAlive(t *testing.T) {
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 2})
	client := &http.Client{Timeout: testWait}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(fmt.Sprintf("%s/slow?n=%d", base, i), "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitEntered(t, g, 2)

	// The third is turned away by the front, on a connection it keeps.
	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, base+"/v1/certificates", strings.NewReader(`{"a":1}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503 while 2 of 2 slots are taken", resp.StatusCode)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("Retry-After %q, want whole seconds >= 1", ra)
		}
		if p := decodeProblem(t, resp); p.Code != "overloaded" || p.Status != 503 {
			t.Errorf("problem %+v, want 503 overloaded", p)
		}
		resp.Body.Close()
		if resp.Close {
			t.Error("the 503 closes the connection: clients would reconnect for every retry")
		}
	}
	if len(reused) != 2 || !reused[1] {
		t.Errorf("connection reuse %v, want the second 503 on the first's connection", reused)
	}
	g.mu.Lock()
	for _, r := range g.seen {
		if r.URL.Path == "/v1/certificates" {
			t.Error("a turned-away request reached the backend")
		}
	}
	g.mu.Unlock()

	// Probes pass without a slot.
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with every slot taken: %d, want the backend's 200", resp.StatusCode)
	}
	resp.Body.Close()

	close(g.release)
	wg.Wait()
	// Slots come back.
	resp, err = client.Post(base+"/v1/certificates", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("after release: %d, want the backend's 201", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestPassesRequestAndAnswer(t *testing.T) {
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 4})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/certificates?x=1&y=%2F", strings.NewReader(`{"dob":"1990"}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Idempotency-Key", "k-1")
	req.Host = "portal.example"
	resp, err := (&http.Client{Timeout: testWait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Backend") != "yes" || string(body) != "POST /v1/certificates?x=1&y=%2F" {
		t.Fatalf("answer %d %q %q, want the backend's 201 as sent", resp.StatusCode, resp.Header.Get("X-Backend"), body)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.seen[0]
	if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Idempotency-Key") != "k-1" || r.Host != "portal.example" || g.bodies[0] != `{"dob":"1990"}` {
		t.Errorf("backend saw Authorization %q, Idempotency-Key %q, Host %q, body %q", r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Host, g.bodies[0])
	}
}

// A client that sends its body slowly, or reads its answer slowly, costs
// itself a connection, never the portal's one slot.
func TestSlowClientsDoNotHoldSlots(t *testing.T) {
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 1})
	addr := strings.TrimPrefix(base, "http://")

	// Half a body, then silence.
	slowBody, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowBody.Close()
	fmt.Fprintf(slowBody, "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"half\":")

	// An answer of 4 MiB nobody reads.
	slowReader, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowReader.Close()
	if tc, ok := slowReader.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	fmt.Fprintf(slowReader, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(slowReader)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("big answer's status line %q, %v", line, err)
	}

	// Both hold a connection; the one slot is free for others.
	for i := 0; i < 3; i++ {
		resp, err := (&http.Client{Timeout: testWait}).Post(base+"/v1/certificates", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("request %d beside two slow clients: %d, want 201", i, resp.StatusCode)
		}
		resp.Body.Close()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.bodies {
		if strings.Contains(b, "half") {
			t.Error("the backend got a request whose body had not arrived")
		}
	}
}

func TestRefusals(t *testing.T) {
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 1})
	resp, err := (&http.Client{Timeout: testWait}).Post(base+"/v1/mailout/jobs", "application/json", bytes.NewReader(make([]byte, frontdoor.MaxBodyBytes+1)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	} else if p := decodeProblem(t, resp); p.Code != "body_too_large" {
		t.Errorf("oversized body: code %q, want body_too_large", p.Code)
	}
	resp.Body.Close()

	// The portal gone: 502 with a code, not a hang or an empty answer.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close()
	f, err := frontdoor.New(frontdoor.Config{Backend: dead, MaxInFlight: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/certificates", strings.NewReader("{}")))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"code":"backend_unavailable"`) || rec.Header().Get("Retry-After") == "" {
		t.Errorf("portal down: %d %s, want 502 backend_unavailable with Retry-After", rec.Code, rec.Body)
	}
}

func TestConfigValidate(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	for _, tc := range []struct {
		c    frontdoor.Config
		want string // "" valid
	}{
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1}, ""},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 16, MaxQueue: 4, MaxWait: time.Millisecond}, ""},
		{frontdoor.Config{MaxInFlight: 1}, "backend"},
		{frontdoor.Config{Backend: u("https://127.0.0.1:1"), MaxInFlight: 1}, "http://"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1")}, "max-in-flight"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1, MaxQueue: -1}, "max-queue"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1, MaxQueue: 2}, "max-wait"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1, MaxConns: -1}, "max-conns"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1, AnswerTimeout: -time.Second}, "answer timeout"},
		{frontdoor.Config{Backend: u("http://127.0.0.1:1"), MaxInFlight: 1, MaxConnsPerSource: -1}, "max-conns-per-source"},
	} {
		err := tc.c.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

// Behind a front the portal sees one source, so the per-source cap is
// the front's.
func TestPerSourceCap(t *testing.T) {
	base := start(t, newGate(), frontdoor.Config{MaxInFlight: 4, MaxConnsPerSource: 1})
	addr := strings.TrimPrefix(base, "http://")
	ask := func(c net.Conn) (string, error) {
		_ = c.SetDeadline(time.Now().Add(testWait))
		if _, err := fmt.Fprintf(c, "GET /v1/x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		return resp.Status, nil
	}
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if st, err := ask(first); err != nil || !strings.HasPrefix(st, "201") {
		t.Fatalf("first connection: %q %v, want 201", st, err)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if st, err := ask(second); err == nil {
		t.Fatalf("second connection from the same address answered %q, want it closed (cap 1)", st)
	}
	first.Close()
	// Once the first is gone, the address may connect again.
	var st string
	for deadline := time.Now().Add(testWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		third, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		st, err = ask(third)
		third.Close()
		if err == nil {
			break
		}
	}
	if !strings.HasPrefix(st, "201") {
		t.Fatalf("after the first closed: %q, want 201", st)
	}
}

// TestHostileRequests sends malformed and smuggling-shaped requests over
// a raw connection: each gets an error status (or a closed connection),
// never a crash, and nothing but whole, well-formed requests reaches the
// portal.
func TestHostileRequests(t *testing.T) {
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 2})
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		name, raw string
		want      int // 0: the connection may just close
	}{
		{"garbage", "\x00\x01\x02 nonsense\r\n\r\n", 400},
		{"no Host", "POST /v1/certificates HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400},
		{"bad Content-Length", "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
		{"two Content-Lengths", "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}", 400},
		// Transfer-Encoding wins (RFC 9112 6.3): an empty body, then a
		// second request of its own; the front re-frames both, so the
		// portal cannot read the boundary differently.
		{"CL and TE", "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/second HTTP/1.1\r\nHost: x\r\n\r\n", 201},
		{"bad chunk size", "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"chunked over the limit", "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n", frontdoor.MaxBodyBytes+1) + strings.Repeat("a", frontdoor.MaxBodyBytes+1) + "\r\n0\r\n\r\n", 413},
		{"header over 32 KiB", "GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"unknown version", "GET /v1/x HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"absolute URI elsewhere", "GET http://evil.example/v1/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(testWait))
			go io.WriteString(c, tc.raw) // a refused request may not be read to its end
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				if tc.want != 0 {
					t.Fatalf("no answer (%v), want %d", err, tc.want)
				}
				return
			}
			resp.Body.Close()
			if tc.want != 0 && resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 0 && resp.StatusCode < 400 {
				t.Errorf("status %d, want a refusal", resp.StatusCode)
			}
		})
	}
	// The front still serves, and the portal saw only whole requests, each
	// as the front framed it.
	resp, err := (&http.Client{Timeout: testWait}).Get(base + "/v1/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	var got []string
	for i, r := range g.seen {
		got = append(got, fmt.Sprintf("%s %s %q", r.Method, r.URL.Path, g.bodies[i]))
	}
	want := []string{`POST /v1/certificates ""`, `GET /v1/second ""`, `GET /v1/x ""`, `GET /v1/after ""`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the portal got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Each answer has its own write deadline, none on the connection: a kept
// connection whose last admitted request is older than the answer timeout
// still gets its 503 and its probe answered.
func TestKeptConnectionOutlivesAnswerTimeout(t *testing.T) {
	// Long enough that a loaded machine still writes each answer in
	// time; the sleeps below only need to outlast it.
	const answerTimeout = time.Second
	g := newGate()
	base := start(t, g, frontdoor.Config{MaxInFlight: 1, AnswerTimeout: answerTimeout})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func(req string) int {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(testWait))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ask("POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); code != http.StatusCreated {
		t.Fatalf("first request: %d, want 201", code)
	}
	// The one slot taken by another client, past the first answer's
	// timeout.
	go func() {
		resp, err := (&http.Client{Timeout: testWait}).Get(base + "/slow?n=1")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitEntered(t, g, 1)
	defer close(g.release)
	time.Sleep(answerTimeout + answerTimeout/2)
	if code := ask("POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); code != http.StatusServiceUnavailable {
		t.Errorf("turned away on the kept connection: %d, want 503", code)
	}
	time.Sleep(answerTimeout + answerTimeout/2)
	if code := ask("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); code != http.StatusOK {
		t.Errorf("probe on the kept connection: %d, want 200", code)
	}
}
