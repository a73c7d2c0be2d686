package portal_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// Every response, success, problem or unknown route, carries the security
// headers; HSTS only when the request came over TLS.
func TestSecurityHeaders(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": portal.APIContentSecurityPolicy,
	}
	check := func(t *testing.T, h http.Header, hsts bool) {
		t.Helper()
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("CSP %q does not forbid framing", h.Get("Content-Security-Policy"))
		}
		if got := h.Get("Strict-Transport-Security"); hsts != (got != "") {
			t.Errorf("Strict-Transport-Security = %q (TLS: %v)", got, hsts)
		}
	}
	for _, path := range []string{"/healthz", "/v1/trustlist", "/v1/no-such-route", "/metrics"} {
		resp, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		t.Run("http"+path, func(t *testing.T) { check(t, resp.Header, false) })
	}

	// The same handler behind TLS: HSTS is added.
	ts := httptest.NewTLSServer(env.Portal.Handler())
	defer ts.Close()
	for _, path := range []string{"/healthz", "/v1/no-such-route"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("%s: not served over TLS 1.2+", path)
		}
		t.Run("https"+path, func(t *testing.T) {
			check(t, resp.Header, true)
			if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
				t.Errorf("HSTS %q has no max-age", resp.Header.Get("Strict-Transport-Security"))
			}
		})
	}
}

func TestMetricsToken(t *testing.T) {
	const token = "metrics-s3cret-token"
	env := portaltest.Start(t, portaltest.Options{MetricsToken: token})
	get := func(auth string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token} {
		resp, body := get(auth)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"metrics_unauthorized"`) {
			t.Errorf("Authorization %q: %d %s, want 401 metrics_unauthorized", auth, resp.StatusCode, body)
		}
		if strings.Contains(body, "portal_requests_total") {
			t.Errorf("Authorization %q: metrics leaked", auth)
		}
	}
	resp, body := get("Bearer " + token)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Fatalf("with the token: %d %.200s", resp.StatusCode, body)
	}
	// Probes stay open: an orchestrator has no metrics token.
	if r, _ := http.Get(env.URL + "/healthz"); r == nil || r.StatusCode != http.StatusOK {
		t.Fatalf("healthz behind the metrics token")
	}

	// Without a token /metrics is open.
	open := portaltest.Start(t, portaltest.Options{})
	r, err := http.Get(open.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("open /metrics: %d", r.StatusCode)
	}
}
