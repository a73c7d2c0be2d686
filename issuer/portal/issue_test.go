package portal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/printout"
	"github.com/golive-dev/golive/issuer/store"
)

func TestIssue(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	uvciForm := regexp.MustCompile(`^URN:UVCI:01:DE:GL/` + ph.ID + `/[A-Z0-9]{24}#[A-Z0-9/:]$`)
	for _, typ := range []dcc.Type{dcc.TypeVaccination, dcc.TypeTest, dcc.TypeRecovery} {
		t.Run(string(typ), func(t *testing.T) {
			resp := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, typ))
			if resp.Status != http.StatusCreated {
				t.Fatalf("issue: %v", resp)
			}
			var iss portalapi.Issued
			resp.Decode(t, &iss)
			if !uvciForm.MatchString(iss.UVCI) {
				t.Errorf("UVCI %q does not name the pharmacy", iss.UVCI)
			}
			if _, err := dcc.ParseUVCI(iss.UVCI); err != nil {
				t.Errorf("UVCI %q: %v", iss.UVCI, err)
			}
			if !strings.HasPrefix(iss.HC1, "HC1:") || resp.Header.Get("Location") != iss.Links.Self ||
				iss.Links.PNG != iss.Links.Self+".png" || iss.Links.PDF != iss.Links.Self+".pdf" {
				t.Errorf("body %+v, Location %q", iss, resp.Header.Get("Location"))
			}
			// A 201 means the registry holds it.
			rec, err := env.Store.Certificate(context.Background(), iss.UVCI)
			if err != nil || rec.PharmacyID != ph.ID || string(rec.Type) != string(typ) || !rec.HasHC1 {
				t.Fatalf("registry record %+v, %v", rec, err)
			}
			if v := env.Verify(t, iss.HC1); !v.Valid || v.Revoked || v.UVCI != iss.UVCI || v.Type != string(typ) {
				t.Errorf("verify: %+v", v)
			}

			meta := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.Self, Token: ph.Token})
			var view portalapi.CertificateView
			meta.Decode(t, &view)
			if meta.Status != http.StatusOK || view.UVCI != iss.UVCI || view.HC1 != iss.HC1 || view.Status != "valid" || view.PharmacyID != ph.ID {
				t.Errorf("metadata: %v", meta)
			}
			png := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.PNG, Token: ph.Token})
			if png.Status != http.StatusOK || png.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("png: %d %s", png.Status, png.Header.Get("Content-Type"))
			}
			// The QR code of this certificate's HC1 (rendering is
			// deterministic). Reading it back is printout's job and its
			// decoder misses a few per cent of real codes, so a failed
			// read is only logged; a wrong read fails.
			if want, err := printout.QRPNG(iss.HC1, 0); err != nil || !bytes.Equal(png.Body, want) {
				t.Errorf("the PNG is not the QR code of the HC1 (%v)", err)
			}
			if text, err := printout.DecodeQR(bytes.NewReader(png.Body)); err != nil {
				t.Logf("QR decoder could not read the code: %v", err)
			} else if text != iss.HC1 {
				t.Errorf("the QR code reads %q, want the HC1", text)
			}
			pdf := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: iss.Links.PDF, Token: ph.Token})
			if pdf.Status != http.StatusOK || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) {
				t.Errorf("pdf: %d %s", pdf.Status, pdf.Header.Get("Content-Type"))
			}
			if cc := pdf.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("printout cacheable: %q", cc)
			}
		})
	}
	t.Run("unknown certificate", func(t *testing.T) {
		r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: portaltest.CertPath("URN:UVCI:01:DE:GL/NOPE/X#A", ".pdf"), Token: ph.Token})
		if r.Status != http.StatusNotFound {
			t.Errorf("got %v", r)
		}
	})
}

func TestIdempotency(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)

	t.Run("replay returns the same certificate", func(t *testing.T) {
		key, payload := portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination)
		first := env.Issue(t, ph.Token, key, payload)
		again := env.Issue(t, ph.Token, key, payload)
		if first.Status != http.StatusCreated || again.Status != http.StatusCreated || !bytes.Equal(first.Body, again.Body) {
			t.Fatalf("first %v, replay %v", first, again)
		}
		if n := certCount(t, env, ph.ID); n != 1 {
			t.Errorf("%d certificates recorded, want 1", n)
		}
	})

	t.Run("the key is bound with the certificate", func(t *testing.T) {
		key, payload := portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination)
		r := env.Issue(t, ph.Token, key, payload)
		var iss portalapi.Issued
		r.Decode(t, &iss)
		b, err := env.Store.LookupIdempotency(context.Background(), ph.ID, key)
		if err != nil || b.State != store.IdemIssued || b.UVCI != iss.UVCI {
			t.Fatalf("binding %+v (%v) after a 201 for %s", b, err, iss.UVCI)
		}
		if _, err := env.Store.LookupIdempotency(context.Background(), ph.ID, portaltest.NewKey()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unused key: %v", err)
		}
	})

	t.Run("same key, other payload", func(t *testing.T) {
		key := portaltest.NewKey()
		if r := env.Issue(t, ph.Token, key, env.Payload(t, dcc.TypeTest)); r.Status != http.StatusCreated {
			t.Fatal(r)
		}
		r := env.Issue(t, ph.Token, key, env.Payload(t, dcc.TypeTest))
		if r.Status != http.StatusUnprocessableEntity || r.Problem.Code != "idempotency_key_reused" || r.Problem.Field != "Idempotency-Key" {
			t.Errorf("got %v", r)
		}
	})

	t.Run("keys are per pharmacy", func(t *testing.T) {
		other := env.NewPharmacy(t)
		key, payload := portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination)
		a, b := env.Issue(t, ph.Token, key, payload), env.Issue(t, other.Token, key, payload)
		var ia, ib portalapi.Issued
		a.Decode(t, &ia)
		b.Decode(t, &ib)
		if a.Status != 201 || b.Status != 201 || ia.UVCI == ib.UVCI {
			t.Errorf("two pharmacies' requests with one key: %v / %v", a, b)
		}
	})

	t.Run("concurrent duplicates issue once", func(t *testing.T) {
		key, payload := portaltest.NewKey(), env.Payload(t, dcc.TypeRecovery)
		before := certCount(t, env, ph.ID)
		var wg sync.WaitGroup
		results := make([]*portaltest.Response, 8)
		for i := range results {
			wg.Go(func() { results[i] = env.Issue(t, ph.Token, key, payload) })
		}
		wg.Wait()
		uvcis := map[string]bool{}
		for _, r := range results {
			switch r.Status {
			case http.StatusCreated:
				var iss portalapi.Issued
				r.Decode(t, &iss)
				uvcis[iss.UVCI] = true
			case http.StatusConflict:
				if r.Problem.Code != "idempotency_key_in_use" || r.Header.Get("Retry-After") == "" {
					t.Errorf("409 %v", r)
				}
			default:
				t.Errorf("unexpected %v", r)
			}
		}
		if len(uvcis) != 1 {
			t.Errorf("one key gave %d UVCIs", len(uvcis))
		}
		if n := certCount(t, env, ph.ID) - before; n != 1 {
			t.Errorf("%d certificates recorded, want 1", n)
		}
	})

	t.Run("naive-2021 needs no key", func(t *testing.T) {
		naive := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021, Clock: morningClock(t)})
		nph := naive.NewPharmacy(t)
		payload := naive.Payload(t, dcc.TypeVaccination)
		a, b := naive.Issue(t, nph.Token, "", payload), naive.Issue(t, nph.Token, "", payload)
		if a.Status != 201 || b.Status != 201 || bytes.Equal(a.Body, b.Body) {
			t.Errorf("naive retries: %v / %v", a, b)
		}
		if n := certCount(t, naive, nph.ID); n != 2 {
			t.Errorf("a retried request without key issued %d certificates, want 2 (the 2021 double issue)", n)
		}
	})
}

// certCount is how many certificates the registry holds for a pharmacy.
func certCount(t *testing.T, env *portaltest.Env, pharmacyID string) int {
	t.Helper()
	cs, err := env.Store.CertificatesByPharmacy(context.Background(), pharmacyID)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func morningClock(t *testing.T) *portaltest.Clock {
	c := &portaltest.Clock{}
	c.Set(morning(t))
	return c
}

// TestHostileRequests: malformed and hostile requests each get a 4xx
// problem, the server keeps serving, and nothing is left in the registry.
func TestHostileRequests(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	valid := env.Payload(t, dcc.TypeVaccination)
	with := func(f func(m map[string]any)) json.RawMessage {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		raw, _ := json.Marshal(m)
		return raw
	}
	vEntry := func(m map[string]any) map[string]any { return m["v"].([]any)[0].(map[string]any) }
	body := func(payload json.RawMessage) []byte {
		raw, _ := json.Marshal(portalapi.IssueRequest{Payload: payload})
		return raw
	}
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	key := func() http.Header { h := http.Header{}; h.Set("Idempotency-Key", portaltest.NewKey()); return h }

	tests := []struct {
		name   string
		method string
		path   string
		token  string
		header http.Header
		ctype  string
		body   any
		status int
		code   string // "" any code
		field  string // "" not checked
	}{
		{name: "no body", body: nil, status: 415},
		{name: "empty JSON body", body: "", status: 400, code: "empty_body"},
		{name: "not JSON", body: "payload=1", status: 400, code: "malformed_json"},
		{name: "text/plain", ctype: "text/plain", body: body(valid), status: 415, code: "unsupported_media_type"},
		{name: "latin-1 charset", ctype: "application/json; charset=latin1", body: body(valid), status: 415},
		{name: "array at top", body: "[1,2]", status: 400},
		{name: "payload is a string", body: `{"payload":"x"}`, status: 400},
		{name: "payload null", body: `{"payload":null}`, status: 400, code: "required", field: "payload"},
		{name: "unknown top-level field", body: `{"payload":` + string(valid) + `,"admin":true}`, status: 400, code: "unknown_field"},
		{name: "duplicate payload key", body: `{"payload":` + string(valid) + `,"payload":` + string(valid) + `}`, status: 400},
		{name: "case-folded duplicate", body: `{"payload":` + string(valid) + `,"Payload":{}}`, status: 400},
		{name: "trailing garbage", body: string(body(valid)) + "x", status: 400},
		{name: "deep nesting", body: `{"payload":` + deep + `}`, status: 400},
		{name: "huge body", body: `{"payload":"` + strings.Repeat("A", 200<<10) + `"}`, status: 413, code: "body_too_large"},
		{name: "invalid UTF-8", body: []byte("{\"payload\":{\"ver\":\"\xff\"}}"), status: 400, code: "invalid_utf8"},
		{name: "lone surrogate escape", body: `{"payload":{"ver":"\ud800"}}`, status: 400, code: "invalid_utf8"},
		{name: "type unknown", body: `{"type":"x","payload":` + string(valid) + `}`, status: 400, field: "type"},
		{name: "type mismatch", body: `{"type":"t","payload":` + string(valid) + `}`, status: 400, code: "type_mismatch"},
		{name: "dn as string", body: body(with(func(m map[string]any) { vEntry(m)["dn"] = "1" })), status: 400, field: "payload.v[0].dn"},
		{name: "dn zero", body: body(with(func(m map[string]any) { vEntry(m)["dn"] = 0 })), status: 400, field: "payload.v[0].dn"},
		{name: "dn fractional", body: body(with(func(m map[string]any) { vEntry(m)["dn"] = 1.5 })), status: 400},
		{name: "vaccination in the future", body: body(with(func(m map[string]any) { vEntry(m)["dt"] = "2999-01-01" })), status: 400, field: "payload.v[0].dt"},
		{name: "February 30", body: body(with(func(m map[string]any) { m["dob"] = "1980-02-30" })), status: 400, field: "payload.dob"},
		{name: "SQL in the family name", body: body(with(func(m map[string]any) {
			m["nam"].(map[string]any)["fnt"] = "X'); DROP TABLE certificates;--"
		})), status: 400, field: "payload.nam.fnt"},
		{name: "zero-width space in name", body: body(with(func(m map[string]any) { m["nam"].(map[string]any)["fn"] = "Mus\u200bter" })),
			status: 422, code: "unsupported_name", field: "payload.nam.fn"},
		{name: "emoji in the given name", body: body(with(func(m map[string]any) {
			m["nam"].(map[string]any)["gn"] = "Anna\U0001F600"
			m["nam"].(map[string]any)["gnt"] = "ANNA"
		})), status: 422, code: "unsupported_name", field: "payload.nam.gn"},
		{name: "zero-width space in the issuer", body: body(with(func(m map[string]any) { vEntry(m)["is"] = "Robert\u200bKoch" })),
			status: 400, code: "validation_failed", field: "payload.v[0].is"},
		{name: "decomposed umlaut is normalised, bad code is not", body: body(with(func(m map[string]any) {
			m["nam"].(map[string]any)["fn"] = "Mu\u0308ller"
			vEntry(m)["mp"] = "EU/1/99/999"
		})), status: 400, field: "payload.v[0].mp"},
		{name: "client-chosen UVCI", body: body(with(func(m map[string]any) { vEntry(m)["ci"] = "URN:UVCI:01:DE:EVIL/1#A" })), status: 400, code: "assigned_by_issuer", field: "payload.v[0].ci"},
		{name: "two entries", body: body(with(func(m map[string]any) { m["v"] = append(m["v"].([]any), m["v"].([]any)[0]) })), status: 400},
		{name: "v and t", body: body(with(func(m map[string]any) { m["t"] = []any{map[string]any{}} })), status: 400},
		{name: "extra payload field", body: body(with(func(m map[string]any) { m["extra"] = 1 })), status: 400},
		{name: "null name", body: body(with(func(m map[string]any) { m["nam"] = nil })), status: 400},
		{name: "no Idempotency-Key", header: http.Header{}, body: body(valid), status: 400, code: "idempotency_key_required", field: "Idempotency-Key"},
		{name: "two Idempotency-Keys", header: http.Header{"Idempotency-Key": {"a", "b"}}, body: body(valid), status: 400, code: "idempotency_key_duplicated"},
		{name: "Idempotency-Key with space", header: http.Header{"Idempotency-Key": {"a b"}}, body: body(valid), status: 400, code: "idempotency_key_invalid"},
		{name: "Idempotency-Key too long", header: http.Header{"Idempotency-Key": {strings.Repeat("k", 129)}}, body: body(valid), status: 400, code: "idempotency_key_invalid"},
		{name: "Idempotency-Key non-ASCII", header: http.Header{"Idempotency-Key": {"schlüssel"}}, body: body(valid), status: 400, code: "idempotency_key_invalid"},
		{name: "two Authorization headers", header: http.Header{"Authorization": {"Bearer " + ph.Token, "Bearer " + ph.Token}}, token: "-", body: body(valid), status: 401, code: "invalid_authorization"},
		{name: "GET on the collection", method: http.MethodGet, body: nil, status: 405, code: "method_not_allowed"},
		{name: "unknown route", method: http.MethodGet, path: "/v1/secrets", body: nil, status: 404},
		{name: "path traversal", method: http.MethodGet, path: "/v1/certificates/..%2f..%2fetc%2fpasswd", body: nil, status: 404},
		{name: "verify with a non-string hc1", method: http.MethodPost, path: "/v1/verify", body: `{"hc1":42}`, status: 400},
		{name: "verify with a huge hc1", method: http.MethodPost, path: "/v1/verify", body: `{"hc1":"HC1:` + strings.Repeat("A", 9000) + `"}`, status: 400},
		{name: "activation with an object code", method: http.MethodPost, path: "/v1/pharmacies/" + ph.ID + "/activate", body: `{"code":{}}`, status: 400},
		{name: "token with form encoding", method: http.MethodPost, path: "/v1/token", ctype: "application/x-www-form-urlencoded", body: "grant_type=client_credentials", status: 415},
		{name: "admin since not a time", method: http.MethodPost, path: "/v1/admin/pharmacies/" + ph.ID + "/revoke-all", token: env.AdminToken, body: `{"since":"yesterday"}`, status: 400},
		{name: "audit limit too large", method: http.MethodGet, path: "/v1/admin/audit?limit=100000", token: env.AdminToken, body: nil, status: 400, field: "limit"},
	}
	before := certCount(t, env, ph.ID)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := portaltest.Request{Method: tc.method, Path: tc.path, Token: tc.token, Header: tc.header, ContentType: tc.ctype, Body: tc.body}
			if req.Method == "" {
				req.Method = http.MethodPost
			}
			if req.Path == "" {
				req.Path = "/v1/certificates"
			}
			switch req.Token {
			case "":
				req.Token = ph.Token
			case "-":
				req.Token = ""
			}
			if req.Header == nil {
				req.Header = key()
			}
			resp := env.Do(t, req)
			if resp.Status != tc.status {
				t.Fatalf("got %v, want %d", resp, tc.status)
			}
			if resp.Problem.Code == "" || resp.Problem.Status != tc.status {
				t.Errorf("no problem body: %v", resp)
			}
			if tc.code != "" && resp.Problem.Code != tc.code {
				t.Errorf("code %q, want %q", resp.Problem.Code, tc.code)
			}
			if tc.field != "" && resp.Problem.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", resp.Problem.Field, tc.field, resp)
			}
		})
	}
	if len(tests) < 40 {
		t.Errorf("only %d hostile requests", len(tests))
	}
	if n := certCount(t, env, ph.ID); n != before {
		t.Errorf("hostile requests left %d certificates", n-before)
	}
	// Still serving.
	env.MustIssue(t, ph, dcc.TypeVaccination)
}

// TestQuota: a pharmacy over its quota gets 429 with Retry-After, others
// are still served.
func TestQuota(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t), Mutate: func(c *portalapi.Config) {
		c.PharmacyQuota = portalapi.QuotaConfig{Enabled: true, Rate: 0.01, Burst: 3}
	}})
	greedy, other := env.NewPharmacy(t), env.NewPharmacy(t)
	for range 3 {
		env.MustIssue(t, greedy, dcc.TypeTest)
	}
	r := env.Issue(t, greedy.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeTest))
	if r.Status != http.StatusTooManyRequests || r.Problem.Code != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over quota: %v (Retry-After %q)", r, r.Header.Get("Retry-After"))
	}
	env.MustIssue(t, other, dcc.TypeTest)
}

// TestAdmission: a saturated route answers 503 with Retry-After at once
// instead of queueing.
func TestAdmission(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t), Mutate: func(c *portalapi.Config) {
		c.Limits.Issue = portalapi.RouteLimit{MaxConcurrent: 1, MaxQueue: 0}
	}})
	ph := env.NewPharmacy(t)
	env.SetSigners(portaltest.SignerHang) // the one slot is held for SignCallTimeout
	done := make(chan *portaltest.Response, 1)
	go func() { done <- env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination)) }()
	// Wait until the first request holds the slot (a hang guard, not a
	// figure: a busy machine may take a while).
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := metrics(t, env)
		if strings.Contains(m, `portal_admission_in_flight{limiter="issue"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first request never admitted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination))
	if r.Status != http.StatusServiceUnavailable || r.Problem.Code != "overloaded" || r.Header.Get("Retry-After") == "" {
		t.Errorf("saturated: %v", r)
	}
	// At once: the 503 is back while the slot is still held (the hanging
	// signer keeps it for SignCallTimeout), an ordering, not a stopwatch.
	select {
	case first := <-done:
		t.Errorf("the 503 (after %v) came after the held slot was released: %v", r.Elapsed, first)
		done <- first
	default:
	}
	if first := <-done; first.Status != http.StatusAccepted {
		t.Errorf("the admitted request: %v", first)
	}
	// The 503's server-side time is recorded for the overload benchmark.
	if m := metrics(t, env); !strings.Contains(m, `portal_shed_duration_seconds_count{code="503",route="POST /v1/certificates"} 1`) {
		t.Error("the 503 is not in portal_shed_duration_seconds")
	}
}

func metrics(t *testing.T, env *portaltest.Env) string {
	t.Helper()
	r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/metrics"})
	if r.Status != http.StatusOK {
		t.Fatalf("metrics: %v", r)
	}
	return string(r.Body)
}

// uciHash is the revocation list's UCI entry for a UVCI: the first 16
// bytes of SHA-256 over it, hex.
func uciHash(uvci string) string {
	sum := sha256.Sum256([]byte(uvci))
	return hex.EncodeToString(sum[:16])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
