package staffweb_test

import (
	"crypto/rand"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/portal/staffweb"
)

// TestCookieFlags: over TLS, or with SecureCookies behind a TLS proxy, the
// session cookie is Secure and __Host- prefixed; always HttpOnly and
// SameSite=Strict.
func TestCookieFlags(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	for _, c := range []struct {
		name          string
		tls, secureOp bool
		wantPrefix    string
		wantSecure    bool
	}{
		{"plain HTTP", false, false, "golive_staff=", false},
		{"TLS", true, false, "__Host-golive_staff=", true},
		{"TLS at a proxy", false, true, "__Host-golive_staff=", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := staffweb.New(staffweb.Options{API: api, Key: key, SecureCookies: c.secureOp})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/staff/signin", nil)
			if c.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, req)
			cookie := rec.Header().Get("Set-Cookie")
			if !strings.HasPrefix(cookie, c.wantPrefix) || strings.Contains(cookie, "; Secure") != c.wantSecure ||
				!strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
				t.Fatalf("Set-Cookie %q", cookie)
			}
		})
	}
	if _, err := staffweb.New(staffweb.Options{API: api, Key: key[:16]}); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}
