package mailout

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/problem"
)

// TestHostileRequests: every malformed, oversized, unauthorised or
// conflicting request gets problem+json with a stable code and the field
// at fault; nothing of a refused job is accepted; the mail-out keeps
// answering.
func TestHostileRequests(t *testing.T) {
	e, pharmacyToken, zi1 := startSmallEnv(t, 60)

	// A job of ZI01 to look at, and one item key it holds.
	first := e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: e.items(t, "held", 2)})
	if first.Status != http.StatusAccepted {
		t.Fatalf("setup: %v", first)
	}
	jobID := decodeJob(t, first).ID

	valid := e.Payload(t, "v")
	body := func(items ...mailoutapi.Item) []byte {
		raw, _ := json.Marshal(mailoutapi.JobRequest{Items: items})
		return raw
	}
	item := func(key string) mailoutapi.Item { return mailoutapi.Item{Key: key, Payload: valid} }
	many := make([]mailoutapi.Item, 51)
	for i := range many {
		many[i] = item(fmt.Sprintf("m-%d", i))
	}
	forty := make([]mailoutapi.Item, 40)
	for i := range forty {
		forty[i] = item(fmt.Sprintf("f-%d", i))
	}
	var withCI map[string]any
	_ = json.Unmarshal(valid, &withCI)
	withCI["v"].([]any)[0].(map[string]any)["ci"] = "URN:UVCI:01:DE:X/Y#Z"
	ciRaw, _ := json.Marshal(withCI)
	var badDose map[string]any
	_ = json.Unmarshal(valid, &badDose)
	badDose["v"].([]any)[0].(map[string]any)["dn"] = 0
	doseRaw, _ := json.Marshal(badDose)

	const (
		post = http.MethodPost
		get  = http.MethodGet
	)
	jobs, job, items := mailoutapi.PathJobs, mailoutapi.JobLink(jobID), mailoutapi.ItemsLink(jobID)
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		header       http.Header
		ctype        string
		body         any
		status       int
		code, field  string
	}{
		{"no credential", post, jobs, "", nil, "", body(item("x")), 401, mailoutapi.CodeMissingCredential, ""},
		{"wrong centre token", post, jobs, NewCentreToken(), nil, "", body(item("x")), 401, mailoutapi.CodeInvalidCredential, ""},
		{"pharmacy token", post, jobs, pharmacyToken, nil, "", body(item("x")), 401, mailoutapi.CodeInvalidCredential, ""},
		{"admin token", post, jobs, e.AdminToken, nil, "", body(item("x")), 401, mailoutapi.CodeInvalidCredential, ""},
		{"basic auth", post, jobs, "", http.Header{"Authorization": {"Basic eDp5"}}, "", body(item("x")), 401, mailoutapi.CodeInvalidCredential, ""},
		{"pharmacy token reads a job", get, job, pharmacyToken, nil, "", nil, 401, mailoutapi.CodeInvalidCredential, ""},
		{"not JSON", post, jobs, zi1, nil, "", "{items:", 400, "malformed_json", ""},
		{"empty body", post, jobs, zi1, nil, "", "", 400, "empty_body", ""},
		{"array body", post, jobs, zi1, nil, "", "[]", 400, "invalid_type", ""},
		{"unknown field", post, jobs, zi1, nil, "", `{"items":[],"priority":"high"}`, 400, "unknown_field", "priority"},
		{"items not an array", post, jobs, zi1, nil, "", `{"items":{"a":1}}`, 400, "invalid_type", "items"},
		{"text/plain", post, jobs, zi1, nil, "text/plain", body(item("x")), 415, "unsupported_media_type", ""},
		{"invalid UTF-8", post, jobs, zi1, nil, "", []byte("{\"items\":[{\"key\":\"\xff\"}]}"), 400, "invalid_utf8", ""},
		{"body over max_body_bytes", post, jobs, zi1, nil, "", `{"items":[{"key":"a","payload":"` + strings.Repeat("x", 70<<10) + `"}]}`, 413, "body_too_large", ""},
		{"no items", post, jobs, zi1, nil, "", `{"items":[]}`, 400, mailoutapi.CodeRequired, "items"},
		{"too many items", post, jobs, zi1, nil, "", body(many...), 413, mailoutapi.CodeTooManyItems, "items"},
		{"missing key", post, jobs, zi1, nil, "", body(item("a"), mailoutapi.Item{Payload: valid}), 400, mailoutapi.CodeRequired, "items[1].key"},
		{"key with a space", post, jobs, zi1, nil, "", body(item("a b")), 400, mailoutapi.CodeInvalidItemKey, "items[0].key"},
		{"key with a slash", post, jobs, zi1, nil, "", body(item("../x")), 400, mailoutapi.CodeInvalidItemKey, "items[0].key"},
		{"key too long", post, jobs, zi1, nil, "", body(item(strings.Repeat("k", 65))), 400, mailoutapi.CodeInvalidItemKey, "items[0].key"},
		{"duplicate item keys", post, jobs, zi1, nil, "", body(item("a"), item("b"), item("a")), 400, mailoutapi.CodeDuplicateItemKey, "items[2].key"},
		{"missing payload", post, jobs, zi1, nil, "", body(mailoutapi.Item{Key: "a"}), 400, mailoutapi.CodeRequired, "items[0].payload"},
		{"null payload", post, jobs, zi1, nil, "", `{"items":[{"key":"a","payload":null}]}`, 400, mailoutapi.CodeRequired, "items[0].payload"},
		{"payload not a DCC", post, jobs, zi1, nil, "", `{"items":[{"key":"a","payload":{"x":1}}]}`, 422, mailoutapi.CodeInvalidItems, "items[0].payload.x"},
		{"payload with a UVCI", post, jobs, zi1, nil, "", body(item("a"), mailoutapi.Item{Key: "b", Payload: ciRaw}), 422, mailoutapi.CodeInvalidItems, "items[1].payload.v[0].ci"},
		{"dose number 0", post, jobs, zi1, nil, "", body(mailoutapi.Item{Key: "a", Payload: doseRaw}), 422, mailoutapi.CodeInvalidItems, "items[0].payload.v[0].dn"},
		{"item key of an earlier job", post, jobs, zi1, nil, "", body(item("new"), item("held-0001")), 409, mailoutapi.CodeItemKeyExists, "items[1].key"},
		{"two idempotency keys", post, jobs, zi1, http.Header{mailoutapi.IdempotencyHeader: {"a", "b"}}, "", body(item("x")), 400, mailoutapi.CodeInvalidIdemKey, mailoutapi.IdempotencyHeader},
		{"idempotency key too long", post, jobs, zi1, http.Header{mailoutapi.IdempotencyHeader: {strings.Repeat("i", 65)}}, "", body(item("x")), 400, mailoutapi.CodeInvalidIdemKey, mailoutapi.IdempotencyHeader},
		{"unknown job id", get, mailoutapi.JobLink("mj_aaaaaaaaaaaaaaaaaaaaaaaaaa"), zi1, nil, "", nil, 404, mailoutapi.CodeJobNotFound, "id"},
		{"malformed job id", get, mailoutapi.JobLink("1 OR 1=1"), zi1, nil, "", nil, 404, mailoutapi.CodeJobNotFound, "id"},
		{"another centre's job", get, job, e.tokens["ZI02"], nil, "", nil, 404, mailoutapi.CodeJobNotFound, "id"},
		{"another centre's items", get, items, e.tokens["ZI02"], nil, "", nil, 404, mailoutapi.CodeJobNotFound, "id"},
		{"items of an unknown job", get, mailoutapi.ItemsLink("mj_bbbbbbbbbbbbbbbbbbbbbbbbbb"), zi1, nil, "", nil, 404, mailoutapi.CodeJobNotFound, "id"},
		{"limit 0", get, items + "?limit=0", zi1, nil, "", nil, 400, "invalid_value", "limit"},
		{"limit 1001", get, items + "?limit=1001", zi1, nil, "", nil, 400, "invalid_value", "limit"},
		{"limit -1", get, items + "?limit=-1", zi1, nil, "", nil, 400, "invalid_value", "limit"},
		{"after not a key", get, items + "?after=%27%20OR%201", zi1, nil, "", nil, 400, mailoutapi.CodeInvalidItemKey, "after"},
		{"limit twice", get, items + "?limit=1&limit=2", zi1, nil, "", nil, 400, "duplicate_parameter", "limit"},
		{"unknown parameter", get, items + "?state=issued", zi1, nil, "", nil, 400, "unknown_parameter", "state"},
		{"DELETE a job", http.MethodDelete, job, zi1, nil, "", nil, 405, "method_not_allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := portaltest.Request{Method: tc.method, Path: tc.path, Token: tc.token, Header: tc.header, ContentType: tc.ctype}
			if tc.body != nil {
				req.Body = tc.body
			}
			r := e.Do(t, req)
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if r.Status != tc.status || mt != problem.ContentType || r.Problem.Code != tc.code || r.Problem.Field != tc.field {
				t.Fatalf("got %d %s code %q field %q, want %d %q %q: %s", r.Status, mt, r.Problem.Code, r.Problem.Field,
					tc.status, tc.code, tc.field, r)
			}
		})
	}

	// Idempotency-Key reused with another body.
	if r := e.submit(t, "ZI01", "same", mailoutapi.JobRequest{Items: []mailoutapi.Item{item("i-1")}}); r.Status != http.StatusAccepted {
		t.Fatalf("first use of the key: %v", r)
	}
	r := e.submit(t, "ZI01", "same", mailoutapi.JobRequest{Items: []mailoutapi.Item{item("i-2")}})
	if r.Status != http.StatusUnprocessableEntity || r.Problem.Code != mailoutapi.CodeIdempotencyReused || r.Problem.Field != mailoutapi.IdempotencyHeader {
		t.Fatalf("key with another body: %v", r)
	}
	// The backlog: 3 unfinished, 40 fit, 40 more would exceed 60.
	if r := e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: forty}); r.Status != http.StatusAccepted {
		t.Fatalf("40 items: %v", r)
	}
	more := make([]mailoutapi.Item, 40)
	for i := range more {
		more[i] = item(fmt.Sprintf("g-%d", i))
	}
	r = e.submit(t, "ZI01", "", mailoutapi.JobRequest{Items: more})
	if r.Status != http.StatusServiceUnavailable || r.Problem.Code != mailoutapi.CodeBacklogFull || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over the backlog: %v", r)
	}
	// Nothing of the refused jobs was accepted: only the three good ones.
	n, err := e.Store.MailoutUnfinished(t.Context())
	if err != nil || n != 2+1+40 {
		t.Fatalf("unfinished items %d %v, want 43 (refused jobs left nothing)", n, err)
	}
	if j := e.jobOf(t, "ZI01", jobID); j.Total != 2 || j.Pending != 2 {
		t.Fatalf("first job after the hostile requests: %+v", j)
	}
}
