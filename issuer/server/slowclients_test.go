package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// slowTestPatience bounds every wait of these tests; none asserts that
// something happens within it, only the order in which things happen.
const slowTestPatience = 30 * time.Second

// serveBounded serves h on a loopback listener through serveHTTP with the
// bounds of hc, as golive serve does, and returns its address.
func serveBounded(t *testing.T, h http.Handler, hc portal.HTTPConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveHTTP(ctx, ln, nil, h, hc, func(string) {}) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src ("" : any).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: slowTestPatience}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dribble sends a request's headers one byte at a time, one every tick,
// and never ends them (slowloris) until stop closes or a write fails.
func dribble(c net.Conn, tick time.Duration, stop <-chan struct{}) {
	line := "GET /ok HTTP/1.1\r\nHost: x\r\nX-Padding: "
	for i := 0; ; i++ {
		b := byte('a')
		if i < len(line) {
			b = line[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(tick):
		}
	}
}

// cutOff reports whether the server closed c (rather than the patience
// running out): it reads until an error.
func cutOff(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(slowTestPatience))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
}

func getOK(t *testing.T, c *http.Client, addr string) {
	t.Helper()
	resp, err := c.Get("http://" + addr + "/ok")
	if err != nil {
		t.Fatalf("a normal client was not served: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal client got %d", resp.StatusCode)
	}
}

// TestSlowlorisCutOffWhileOthersServed: under the hardened bounds a client
// that dribbles its headers byte by byte is disconnected at
// ReadHeaderTimeout even though every byte restarts nothing, and normal
// clients are served while it dribbles: they are answered before it is
// cut off.
func TestSlowlorisCutOffWhileOthersServed(t *testing.T) {
	hc := portalapi.HardenedConfig().HTTP
	hc.ReadHeaderTimeout = portalapi.Duration(2 * time.Second)
	addr := serveBounded(t, okHandler(), hc)

	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }

	slow := dialFrom(t, "", addr)
	stop := make(chan struct{})
	defer close(stop)
	go dribble(slow, 50*time.Millisecond, stop)
	cut := make(chan bool, 1)
	go func() { ok := cutOff(slow); note("slow cut off"); cut <- ok }()

	client := &http.Client{Timeout: slowTestPatience}
	for range 3 {
		getOK(t, client, addr)
	}
	note("normal served")
	if !<-cut {
		t.Fatalf("the slowloris client was still connected after %v", slowTestPatience)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ", ") != "normal served, slow cut off" {
		t.Fatalf("order %v: normal clients must be served while the slow one dribbles", order)
	}
}

// TestPerSourceConnectionCap: one address holding MaxConnsPerSource
// connections has its next one closed unread, while another address is
// served; when one of its connections closes it may open another.
func TestPerSourceConnectionCap(t *testing.T) {
	hc := portalapi.HardenedConfig().HTTP
	if hc.MaxConnsPerSource == 0 || hc.MaxHeaderBytes == 0 {
		t.Fatalf("the hardened preset lost its per-source cap or header bound: %+v", hc)
	}
	hc.MaxConnsPerSource = 3
	addr := serveBounded(t, okHandler(), hc)
	const abuser = "127.0.0.2"
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, abuser, addr)
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// A round trip on a fourth connection from the abuser: closed unread.
	extra := dialFrom(t, abuser, addr)
	_, _ = io.WriteString(extra, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(extra), nil); err == nil {
		t.Fatal("a fourth connection from one source was served")
	}
	// Another source is served meanwhile.
	other := &http.Client{Timeout: slowTestPatience, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
	getOK(t, other, addr)
	// The abuser's own connections still work; closing one frees a place.
	if _, err := io.WriteString(held[0], "\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(held[0]), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a connection within the cap was not served: %v", err)
	}
	resp.Body.Close()
	held[1].Close()
	abuserClient := &http.Client{Timeout: slowTestPatience, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(abuser)}}).DialContext}}
	var lastErr error
	for range 50 { // the server notices the close asynchronously
		resp, err := abuserClient.Get("http://" + addr + "/ok")
		if err == nil {
			resp.Body.Close()
			lastErr = nil
			break
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("after closing a connection the source still cannot connect: %v", lastErr)
	}
}

// TestMaxHeaderBytes: the hardened server answers 431 to a header block
// over its bound; the naive one (Go's 1 MB) takes it.
func TestMaxHeaderBytes(t *testing.T) {
	big := strings.Repeat("a", 64<<10)
	for _, tc := range []struct {
		profile string
		hc      portal.HTTPConfig
		want    int
	}{
		{"hardened", portalapi.HardenedConfig().HTTP, http.StatusRequestHeaderFieldsTooLarge},
		{"naive-2021", portalapi.Naive2021Config().HTTP, http.StatusOK},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			addr := serveBounded(t, okHandler(), tc.hc)
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ok", nil)
			req.Header.Set("X-Big", big)
			resp, err := (&http.Client{Timeout: slowTestPatience}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("a 64 KiB header got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
