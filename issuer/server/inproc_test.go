package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestInprocTransportCarriesTheHTTPExchange(t *testing.T) {
	var seen *http.Request
	var seenBody string
	tr := inprocTransport{"dsc-1.inproc": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":"busy"}`)
	})}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodPost, "http://dsc-1.inproc/v1/sign?x=1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" || string(body) != `{"code":"busy"}` {
		t.Fatalf("response: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if seen.Method != http.MethodPost || seen.URL.Path != "/v1/sign" || seen.RequestURI != "/v1/sign?x=1" ||
		seen.Header.Get("Authorization") != "Bearer s3cret" || seenBody != `{"a":1}` {
		t.Fatalf("handler saw %s %s (%s) auth %q body %q", seen.Method, seen.URL, seen.RequestURI, seen.Header.Get("Authorization"), seenBody)
	}
}

func TestInprocTransportDefaultsTo200(t *testing.T) {
	tr := inprocTransport{"h": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	resp, err := (&http.Client{Transport: tr}).Get("http://h/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 2 {
		t.Fatalf("got %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

// A handler that does not finish must not hold the caller past its
// deadline: the signer client's per-call deadline depends on it.
func TestInprocTransportHonoursTheDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tr := inprocTransport{"slow": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://slow/", nil)
	// The handler blocks until the test ends: an answer at all, with the
	// deadline's error, is the deadline honoured (no stopwatch needed).
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestInprocTransportContainsPanicsAndUnknownHosts(t *testing.T) {
	tr := inprocTransport{"boom": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("bug")
	})}
	c := &http.Client{Transport: tr}
	if _, err := c.Get("http://boom/"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("panic: err = %v", err)
	}
	if _, err := c.Get("http://nope/"); err == nil || !strings.Contains(err.Error(), "no such replica") {
		t.Fatalf("unknown host: err = %v", err)
	}
}
