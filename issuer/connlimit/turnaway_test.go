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
		var head []byte
		head, done = turnAwayNow(srv, msg)
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
