package vendors

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// Auth modes of a fuzz input (auth % 4).
const (
	fuzzAuthNone      = 0
	fuzzAuthVendor    = 1 // a fresh assertion of apo
	fuzzAuthRaw       = 2 // the input's own Authorization value
	fuzzAuthPharmacy  = 3 // a pharmacy's access token: not a vendor's
	fuzzAnswerTimeout = time.Minute
)

// FuzzVendorAPI sends arbitrary requests to vendor access, mounted in a
// complete issuer as golive serve --vendors mounts it, and checks what
// must hold for every one: no 5xx but 503 with Retry-After, every 4xx a
// problem+json body with a code, and the issuer still answers /healthz.
func FuzzVendorAPI(f *testing.F) {
	e := startEnv(f, portalapi.ProfileHardened, nil)
	pharmacyTok := e.Login(f, e.ph1).AccessToken
	payload := string(e.payload)
	client := &http.Client{Timeout: fuzzAnswerTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Cleanup(client.CloseIdleConnections)
	for _, s := range []struct {
		method, path, onBehalf, raw string
		auth                        uint8
		body                        string
	}{
		{"POST", vendorapi.PathIssue, e.ph1.ID, "", fuzzAuthVendor, `{"payload":{payload}}`},
		{"POST", vendorapi.PathIssue, e.ph2.ID, "", fuzzAuthVendor, `{"payload":{payload}}`},
		{"POST", vendorapi.PathIssue, e.ph1.ID, "", fuzzAuthVendor, `{"payload":{"dob":"01.02.1990","vornamen":"x"}}`},
		{"POST", vendorapi.PathIssue, e.ph1.ID, "Bearer a.b.c", fuzzAuthRaw, `{}`},
		{"POST", vendorapi.PathIssue, e.ph1.ID, "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJhcG8ifQ.", fuzzAuthRaw, `{}`},
		{"GET", "/v1/vendor/tickets/tk_x", e.ph1.ID, "", fuzzAuthVendor, ""},
		{"POST", vendorapi.PathDelegations, "", "", fuzzAuthPharmacy, `{"vendor":"medi"}`},
		{"DELETE", "/v1/vendor/delegations/nobody", "", "", fuzzAuthPharmacy, ""},
		{"PUT", "/v1/admin/vendors/x", "", "", fuzzAuthVendor, `{"public_key":"AAAA"}`},
	} {
		f.Add(s.method, s.path, s.onBehalf, s.raw, s.auth, strings.ReplaceAll(s.body, "{payload}", payload))
	}
	f.Fuzz(func(t *testing.T, method, path, onBehalf, raw string, auth uint8, body string) {
		if !strings.HasPrefix(path, "/v1/vendor") && !strings.HasPrefix(path, "/v1/admin/vendors") {
			path = vendorapi.PathIssue
		}
		req, err := http.NewRequest(method, e.URL+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "fuzz-key")
		if onBehalf != "" {
			req.Header.Set(vendorapi.OnBehalfHeader, onBehalf)
		}
		switch auth % 4 {
		case fuzzAuthVendor:
			req.Header.Set("Authorization", "Bearer "+e.assertion(t, "apo"))
		case fuzzAuthRaw:
			req.Header.Set("Authorization", raw)
		case fuzzAuthPharmacy:
			req.Header.Set("Authorization", "Bearer "+pharmacyTok)
		}
		if req.Header.Get(vendorapi.OnBehalfHeader) != onBehalf || (auth%4 == fuzzAuthRaw && req.Header.Get("Authorization") != raw) {
			return // a header value net/http would not send as given
		}
		resp, err := client.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header") || strings.Contains(err.Error(), "invalid method") {
				return
			}
			t.Fatalf("%s %s: %v", method, path, err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s %s: 503 without Retry-After", method, path)
			}
		case resp.StatusCode >= 500:
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, buf.String())
		case resp.StatusCode >= 400 && method != http.MethodHead:
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if mt != problem.ContentType {
				t.Fatalf("%s %s: %d as %q, want problem+json", method, path, resp.StatusCode, mt)
			}
		}
		hr, err := client.Get(e.URL + "/healthz")
		if err != nil || hr.StatusCode != http.StatusOK {
			t.Fatalf("healthz after %s %s: %v", method, path, err)
		}
		hr.Body.Close()
	})
}
