package portal

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/problem"
)

// Security headers every response carries. The API serves JSON, PNG and
// PDF, never a page that runs script or is framed, so the default policy
// forbids everything; a handler that serves a page sets its own
// Content-Security-Policy (w.Header().Set replaces the default) or
// deletes it.
const (
	// APIContentSecurityPolicy allows nothing to load, run or frame.
	APIContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// HSTSValue pins browsers to HTTPS for two years. It is sent only over
	// TLS: over plain HTTP a browser ignores it, and a test or a testbed
	// without TLS must not pin a host name it shares with other services.
	HSTSValue = "max-age=63072000; includeSubDomains"
)

// securityHeaders sets the defaults before the handler runs, so the
// handler's own values win.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Content-Security-Policy", APIContentSecurityPolicy)
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", HSTSValue)
		}
		next.ServeHTTP(w, r)
	})
}

// metricsGate asks for Authorization: Bearer <token> when token is set
// (Deps.MetricsToken). Digests are compared, in constant time, so neither
// the content nor the length of the token leaks through timing.
func metricsGate(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := auth.BearerToken(r)
		if err != nil || subtle.ConstantTimeCompare(sha256Of(got), want[:]) != 1 {
			problem.Write(w, problem.Unauthorized("metrics_unauthorized", "send Authorization: Bearer <metrics token>"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sha256Of(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }
