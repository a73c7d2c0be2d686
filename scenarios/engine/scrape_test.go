package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A guarded /metrics is read with the token; without it the reading is
// marked down rather than parsed from a problem body.
func TestScraperSendsTheMetricsToken(t *testing.T) {
	const token = "m-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("# TYPE portal_deferred_backlog gauge\nportal_deferred_backlog 7\n"))
	}))
	defer srv.Close()
	sim := func(t time.Time) time.Time { return t }
	for _, tc := range []struct {
		token   string
		up      bool
		backlog float64
	}{{token, true, 7}, {"", false, 0}} {
		s := &scraper{url: srv.URL, token: tc.token, http: srv.Client(), sim: sim}
		got := s.once(context.Background())
		if got.Up != tc.up || float64(got.DeferredBacklog) != tc.backlog {
			t.Errorf("token %q: up %v backlog %v, want %v %v", tc.token, got.Up, got.DeferredBacklog, tc.up, tc.backlog)
		}
	}
}
