package connlimit_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/connlimit"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
)

// patience bounds every wait; no test asserts that something happens
// within it, only the order in which things happen.
const patience = 30 * time.Second

func serve(t *testing.T, h http.Handler, lim connlimit.Limits) (*connlimit.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := connlimit.Wrap(ln, lim)
	// As the naive-2021 server: no header deadline.
	hc := portalapi.Naive2021Config().HTTP
	srv := &http.Server{Handler: h, ConnState: cl.ConnState}
	hc.Apply(srv)
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return cl, ln.Addr().String()
}

func get(t *testing.T, addr string) error {
	t.Helper()
	resp, err := (&http.Client{Timeout: patience, Transport: &http.Transport{}}).Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkersHeldByDribblers: with the 2021 server's pool (no header
// deadline) two clients dribbling their headers hold both of two workers,
// and a normal request is handled only after one of them leaves; idle
// keep-alive connections hold no worker.
func TestWorkersHeldByDribblers(t *testing.T) {
	if hc := portalapi.Naive2021Config().HTTP; hc.ReadHeaderTimeout != 0 || hc.Workers == 0 {
		t.Fatalf("the naive-2021 preset is no longer the 2021 server: %+v", hc)
	}
	var left, handledWhileHeld atomic.Bool
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/" && !left.Load() && served.Load() > 3 {
			handledWhileHeld.Store(true)
		}
		_, _ = io.WriteString(w, "ok")
	})
	cl, addr := serve(t, h, connlimit.Limits{Workers: 2})

	// Keep-alive clients between requests hold nothing: three requests on
	// two connections, one left idle, are all served by a pool of two.
	keep := &http.Client{Timeout: patience, Transport: &http.Transport{}}
	for range 2 {
		resp, err := keep.Get("http://" + addr + "/first")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := get(t, addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle connections give their workers back", func() bool { return cl.Busy() == 0 })

	var slow []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, patience)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-A: "); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	waitFor(t, "two dribbling clients hold both workers", func() bool { return cl.Busy() == 2 })
	answered := make(chan error, 1)
	go func() { answered <- get(t, addr) }()
	// Give the normal request every chance to be (wrongly) handled.
	time.Sleep(300 * time.Millisecond)
	left.Store(true)
	slow[0].Close()
	if err := <-answered; err != nil {
		t.Fatalf("the normal request failed after a worker was freed: %v", err)
	}
	if handledWhileHeld.Load() {
		t.Fatal("a normal request was handled while slow clients held every worker")
	}
}

// TestPerSourceRefusedCount: connections over the cap are closed and
// counted; the cap is per source, so the count of open ones is too.
func TestPerSourceRefusedCount(t *testing.T) {
	cl, addr := serve(t, http.NotFoundHandler(), connlimit.Limits{PerSource: 2})
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, patience)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, "two connections refused", func() bool { return cl.Refused() == 2 })
	if n := cl.Open("127.0.0.1"); n != 2 {
		t.Fatalf("127.0.0.1 holds %d connections, want 2", n)
	}
}

// TestTotalTurnsAway: with two connections open and Total 2, a third
// request gets the canned 503 "overloaded" with Retry-After (read in
// full, not a reset), and once one of the two closes a request is served
// again.
func TestTotalTurnsAway(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cl, addr := serve(t, ok, connlimit.Limits{Total: 2, TurnAway: overload.TurnAwayResponse()})
	var held []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, patience)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "two connections open", func() bool { return cl.OpenConns() == 2 })
	client := &http.Client{Timeout: patience, Transport: &http.Transport{}}
	resp, err := client.Post("http://"+addr+"/v1/certificates", "application/json", strings.NewReader(`{"payload":{}}`))
	if err != nil {
		t.Fatalf("turned-away request: %v (want the canned 503, not a reset)", err)
	}
	p, err := problem.Read(resp)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || p.Code != "overloaded" || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("turned away: %d %v %+v %v", resp.StatusCode, resp.Header, p, err)
	}
	if n := cl.TurnedAway(); n != 1 {
		t.Fatalf("turned away %d, want 1", n)
	}
	held[0].Close()
	waitFor(t, "a connection freed", func() bool { return cl.OpenConns() == 1 })
	resp, err = client.Get("http://" + addr + "/")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after a close: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestTotalEvictsIdle: at Total, a keep-alive connection waiting between
// requests is closed to make room, so idle connections cannot hold the
// cap against a client with a request; the idle client's next request
// goes through on a new connection.
func TestTotalEvictsIdle(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cl, addr := serve(t, ok, connlimit.Limits{Total: 2, TurnAway: overload.TurnAwayResponse()})
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204 (turned away although a connection was idle?)", resp.StatusCode)
		}
	}
	var clients []*http.Client
	for range 3 {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		clients = append(clients, &http.Client{Timeout: patience, Transport: tr})
	}
	get(clients[0])
	get(clients[1])
	waitFor(t, "two keep-alive connections idle", func() bool { return cl.OpenConns() == 2 && cl.IdleConns() == 2 })
	get(clients[2])
	if n, m := cl.EvictedIdle(), cl.TurnedAway(); n != 1 || m != 0 {
		t.Fatalf("evicted %d idle, turned away %d; want 1 and 0", n, m)
	}
	get(clients[0]) // its connection may be the one closed: Go's client redials
	get(clients[1])
	if n := cl.TurnedAway(); n != 0 {
		t.Fatalf("turned away %d with idle connections to close", n)
	}
}
