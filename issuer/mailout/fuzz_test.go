package mailout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

// Auth modes of a fuzz input (auth % 5).
const (
	fuzzAuthNone     = 0
	fuzzAuthCentre   = 1 // ZI01's token
	fuzzAuthPharmacy = 2 // a pharmacy's access token: not a centre's
	fuzzAuthGarbage  = 3 // ZI01's token with a character changed
	fuzzAuthOther    = 4 // ZI02's token: another centre's jobs are not its own
)

// fuzzMethods are the methods sent; any other input picks one by length.
var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead}

// fuzzAnswerTimeout catches a hang, not a slow answer on a busy machine.
const fuzzAnswerTimeout = time.Minute

// FuzzMailoutAPI sends arbitrary requests to the centres' batch API,
// mounted in a complete issuer as golive serve mounts it, and checks what
// must hold for every one: no 5xx but 503 with Retry-After, every 4xx a
// problem+json body with a code, and the issuer still answers /healthz.
func FuzzMailoutAPI(f *testing.F) {
	e, pharmacyToken, zi1 := startSmallEnv(f, 400)
	garbage := []byte(zi1)
	if garbage[len(garbage)-1] == 'A' {
		garbage[len(garbage)-1] = 'B'
	} else {
		garbage[len(garbage)-1] = 'A'
	}
	payload := string(e.Payload(f, dcc.TypeVaccination))
	first := e.Do(f, jobRequest(zi1, fmt.Sprintf(`{"items":[{"key":"seed-1","payload":%s}]}`, payload)))
	if first.Status != http.StatusAccepted {
		f.Fatalf("setup job: %v", first)
	}
	var job mailoutapi.Job
	first.Decode(f, &job)
	client := &http.Client{Timeout: fuzzAnswerTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Cleanup(client.CloseIdleConnections)
	expand := func(s string) string {
		return strings.NewReplacer("{payload}", payload, "{job}", job.ID).Replace(s)
	}

	for _, s := range []struct {
		method, path, key string
		auth              uint8
		body              string
	}{
		{"POST", mailoutapi.PathJobs, "k-1", fuzzAuthCentre, `{"items":[{"key":"a","payload":{payload}}]}`},
		{"POST", mailoutapi.PathJobs, "k-1", fuzzAuthCentre, `{"items":[{"key":"b","payload":{payload}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthCentre, `{"items":[{"key":"a","payload":{payload}},{"key":"a","payload":{payload}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthCentre, `{"items":[]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthCentre, `{"items":[{"key":"","payload":{}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthCentre, `{"items":[{"key":"x","payload":{"ver":"1.3.0","nam":{"fn":"\u202e"}}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthCentre, strings.Repeat(`{"items":`, 3000)},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthPharmacy, `{"items":[{"key":"p","payload":{payload}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthGarbage, `{"items":[{"key":"g","payload":{payload}}]}`},
		{"POST", mailoutapi.PathJobs, "", fuzzAuthNone, `{"items":[{"key":"n","payload":{payload}}]}`},
		{"PUT", mailoutapi.PathJobs, "", fuzzAuthCentre, `{}`},
		{"GET", "/v1/mailout/jobs/{job}", "", fuzzAuthCentre, ""},
		{"GET", "/v1/mailout/jobs/{job}", "", fuzzAuthOther, ""},
		{"GET", "/v1/mailout/jobs/{job}/items?limit=-1&after=%zz", "", fuzzAuthCentre, ""},
		{"GET", "/v1/mailout/jobs/{job}/items?limit=99999999999999999999", "", fuzzAuthCentre, ""},
		{"GET", "/v1/mailout/jobs/..%2f..%2fetc/items", "", fuzzAuthCentre, ""},
		{"DELETE", "/v1/mailout/jobs/{job}", "", fuzzAuthCentre, ""},
	} {
		f.Add(s.method, s.path, s.key, s.auth, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, method, path, key string, auth uint8, body []byte) {
		if !slices.Contains(fuzzMethods, method) {
			method = fuzzMethods[len(method)%len(fuzzMethods)]
		}
		if len(path) > 4<<10 || len(body) > 256<<10 || len(key) > 1<<10 {
			return
		}
		u, err := url.Parse(e.URL + "/" + strings.TrimLeft(expand(path), "/"))
		if err != nil {
			return // not a URL any client could send
		}
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader([]byte(expand(string(body))))
		}
		req, err := http.NewRequest(method, u.String(), rd)
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if k := strings.Map(headerRune, key); k != "" {
			req.Header.Set(mailoutapi.IdempotencyHeader, k)
		}
		switch auth % 5 {
		case fuzzAuthCentre:
			req.Header.Set("Authorization", "Bearer "+zi1)
		case fuzzAuthPharmacy:
			req.Header.Set("Authorization", "Bearer "+pharmacyToken)
		case fuzzAuthGarbage:
			req.Header.Set("Authorization", "Bearer "+string(garbage))
		case fuzzAuthOther:
			req.Header.Set("Authorization", "Bearer "+e.tokens["ZI02"])
		}
		input := fmt.Sprintf("%s %s (key %q, auth %d, body %.200q)", method, u.RequestURI(), key, auth%5, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: no answer: %v", input, err)
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", input)
			}
		case resp.StatusCode >= 500:
			t.Errorf("%s: %d %s", input, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 && method != http.MethodHead {
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			var pr struct {
				Code string `json:"code"`
			}
			if mt != "application/problem+json" || json.Unmarshal(raw, &pr) != nil || pr.Code == "" {
				t.Errorf("%s: %d as %q, want problem+json with a code: %.300s", input, resp.StatusCode, mt, raw)
			}
		}
		hr, err := client.Get(e.URL + "/healthz")
		if err != nil {
			t.Fatalf("after %s: /healthz: %v", input, err)
		}
		hr.Body.Close()
		if hr.StatusCode != http.StatusOK {
			t.Fatalf("after %s: /healthz answered %d", input, hr.StatusCode)
		}
	})
}

// headerRune drops what a client may not send in a header value.
func headerRune(r rune) rune {
	if (r < ' ' && r != '\t') || r == 0x7f || r > 0x7e {
		return -1
	}
	return r
}

// jobRequest is a job submission of centre token tok.
func jobRequest(tok, body string) portaltest.Request {
	return portaltest.Request{Method: http.MethodPost, Path: mailoutapi.PathJobs, Token: tok, Body: []byte(body)}
}
