package frontdoor_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/golive-dev/golive/issuer/frontdoor"
)

// FuzzFrontRequest feeds whatever parses as an HTTP request to the front
// before a live backend: the front never panics and answers with the
// backend's status or one of its own refusals.
func FuzzFrontRequest(f *testing.F) {
	for _, seed := range []string{
		"POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/certificates HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET http://evil.example/v1/x HTTP/1.1\r\nHost: evil.example\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	f.Cleanup(be.Close)
	u, _ := url.Parse(be.URL)
	front, err := frontdoor.New(frontdoor.Config{Backend: u, MaxInFlight: 4}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[int]bool{http.StatusCreated: true, http.StatusBadRequest: true, http.StatusRequestEntityTooLarge: true,
		http.StatusBadGateway: true, http.StatusServiceUnavailable: true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // the front's server refuses what does not parse
		}
		req.RequestURI, req.URL.Scheme, req.URL.Host = "", "", ""
		rec := httptest.NewRecorder()
		front.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q", rec.Code, raw)
		}
	})
}
