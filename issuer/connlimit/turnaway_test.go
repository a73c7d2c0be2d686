package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTurnAwayNowAnswersAWholeRequest: a request that has fully arrived
// by the time it is accepted is answered and closed on the spot (the
// accept loop's path), and the client reads the whole answer, then EOF.
func TestTurnAwayNowAnswersAWholeRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	body := `{"payload":{}}`
	req := "POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\ncontent-length: 14\r\n\r\n" + body
	if _, err := io.WriteString(cli, req); err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
	// Loopback delivers a write before it returns, but allow the request
	// a moment to be readable before asking for the no-wait path.
	var done bool
	for deadline := time.Now().Add(patienceInternal); !done && time.Now().Before(deadline); {
		head, st := turnAwayNow(srv, msg)
		done = st == answered
		if !done && len(head) > 0 {
			t.Fatalf("read %q and did not answer", head)
		}
		if !done {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !done {
		t.Fatal("a whole request was not answered on the spot")
	}
	_ = cli.SetReadDeadline(time.Now().Add(patienceInternal))
	resp, err := http.ReadResponse(bufio.NewReader(cli), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 503 || string(got) != "no" {
		t.Fatalf("answer %d %q %v", resp.StatusCode, got, err)
	}
}

func TestComplete(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false},
		{"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", false},
		{"POST / HTTP/1.1\r\nCONTENT-LENGTH: 3\r\n\r\nabc", true},
		{"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nabc", false},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	} {
		if got := complete([]byte(c.in)); got != c.want {
			t.Errorf("complete(%q) = %v, want %v", strings.ReplaceAll(c.in, "\r\n", "|"), got, c.want)
		}
	}
}

const patienceInternal = 10 * time.Second

// TestProbeHandedBack: over Total, a probe whose request arrives only
// after its connection was accepted (so the accept loop handed it to a
// goroutine) is handed back and served, although no other connection
// arrives to wake the accept loop; an ordinary request is turned away.
func TestProbeHandedBack(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	l := Wrap(inner, Limits{Total: 1, TurnAway: msg})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		ConnState: l.ConnState}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := inner.Addr().String()
	hold, err := net.Dial("tcp", addr) // holds the one slot, never idle
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	waitUntil(t, "the first connection open", func() bool { return l.OpenConns() == 1 })

	ask := func(req string, want int) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		waitUntil(t, "the connection in a turnAway goroutine", func() bool { return l.turning.Load() == 1 })
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(patienceInternal))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%q: %d, want %d", req, resp.StatusCode, want)
		}
		waitUntil(t, "the goroutine done", func() bool { return l.turning.Load() == 0 })
	}
	ask("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusNoContent)
	if n := l.ProbesPastTotal(); n != 1 {
		t.Fatalf("probes past total %d, want 1", n)
	}
	ask("POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", http.StatusServiceUnavailable)
	if n := l.TurnedAway(); n != 1 {
		t.Fatalf("turned away %d, want 1", n)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patienceInternal); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
