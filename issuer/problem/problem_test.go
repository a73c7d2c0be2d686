package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteHeadersAndBody(t *testing.T) {
	tests := []struct {
		name       string
		p          Problem
		status     int
		code       string
		retryAfter string
	}{
		{"bad request", BadRequest("invalid_dn", "v[0].dn", "dn must be >= 1"), 400, "invalid_dn", ""},
		{"429 rounds up", TooManyRequests(1500 * time.Millisecond), 429, "rate_limited", "2"},
		{"503 tiny wait is 1", Unavailable(time.Nanosecond), 503, "unavailable", "1"},
		{"503 whole seconds", Unavailable(30 * time.Second), 503, "unavailable", "30"},
		{"503 zero has no header", Unavailable(0), 503, "unavailable", ""},
		{"status out of range", Problem{Status: 200, Code: "x"}, 500, "x", ""},
		{"empty code gets default", Problem{Status: 404}, 404, "not_found", ""},
		{"gateway timeout", GatewayTimeout("signer did not answer"), 504, "deadline_exceeded", ""},
		{"payload too large", PayloadTooLarge(10), 413, "body_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, tc.p)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Fatalf("content type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("cache-control %q", cc)
			}
			if ra := rec.Header().Get("Retry-After"); ra != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", ra, tc.retryAfter)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["code"] != tc.code || body["status"] != float64(tc.status) ||
				body["type"] != TypeBase+tc.code || body["title"] != http.StatusText(tc.status) {
				t.Fatalf("body %v", body)
			}
			if _, ok := body["RetryAfter"]; ok {
				t.Fatal("RetryAfter leaked into the body")
			}
		})
	}
}

func TestWriteFieldsAndErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Validation(
		FieldError{Field: "nam.fnt", Code: "pattern", Message: "must match ^[A-Z<]*$"},
		FieldError{Field: "v[0].dn", Code: "minimum", Message: "must be >= 1"},
	))
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Field != "nam.fnt" || len(p.Errors) != 2 || p.Errors[1].Field != "v[0].dn" || p.Code != "validation_failed" {
		t.Fatalf("got %+v", p)
	}
}

func TestWriteUnauthorizedChallenge(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Unauthorized("", "token expired"))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = httptest.NewRecorder()
	rec.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	Write(rec, Unauthorized("invalid_token", ""))
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Fatalf("caller's challenge overwritten: %q", got)
	}
}

func TestReadRoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			http.Error(w, "upstream broke", http.StatusBadGateway)
			return
		}
		p := Unavailable(2500 * time.Millisecond)
		p.Code = "hsm_busy"
		Write(w, p)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/p")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Read(resp)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != 503 || p.Code != "hsm_busy" || p.Type != TypeBase+"hsm_busy" || p.RetryAfter != 3*time.Second {
		t.Fatalf("got %+v", p)
	}

	resp, err = http.Get(srv.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	p, err = Read(resp)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != 502 || p.Code != "unexpected_response" || !strings.Contains(p.Detail, "upstream broke") {
		t.Fatalf("got %+v", p)
	}
}

func TestProblemAsError(t *testing.T) {
	var err error = BadRequest("invalid_dn", "v[0].dn", "dn must be >= 1")
	if got := err.Error(); got != "400 invalid_dn (v[0].dn): dn must be >= 1" {
		t.Fatalf("got %q", got)
	}
}
