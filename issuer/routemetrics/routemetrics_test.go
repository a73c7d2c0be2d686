package routemetrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestWrap(t *testing.T) {
	m := New("x", nil)
	ok := m.Wrap("GET /ok", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }))
	boom := m.Wrap("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("a value that may quote a request") }))
	for range 2 {
		w := httptest.NewRecorder()
		ok.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ok", nil))
		if w.Code != 200 || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("ok: %d %v", w.Code, w.Header())
		}
	}
	w := httptest.NewRecorder()
	boom.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"internal"`) || strings.Contains(w.Body.String(), "quote") {
		t.Fatalf("panic: %d %s", w.Code, w.Body)
	}
	mw := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(mw, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`x_requests_total{code="200",route="GET /ok"} 2`,
		`x_requests_total{code="500",route="GET /boom"} 1`,
		`x_response_bytes_total{route="GET /ok"} 10`,
		`x_request_duration_seconds_count{route="GET /boom"} 1`,
	} {
		if !strings.Contains(mw.Body.String(), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
