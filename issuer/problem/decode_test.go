package problem

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type vacc struct {
	Dn int    `json:"dn"`
	Sd int    `json:"sd"`
	Ma string `json:"ma"`
}

type base struct {
	RequestID string `json:"request_id"`
}

type signReq struct {
	base
	Type    string `json:"type"`
	Payload struct {
		Ver string `json:"ver"`
		V   []vacc `json:"v"`
	} `json:"payload"`
	IssuedAt time.Time      `json:"issued_at"`
	Tags     [2]string      `json:"tags"`
	Extra    map[string]any `json:"extra"`
	Ratio    float32        `json:"ratio"`
	Small    int8           `json:"small"`
	Count    uint           `json:"count"`
	Ignored  string         `json:"-"`
}

const validBody = `{"request_id":"r1","type":"v","payload":{"ver":"1.3.0","v":[{"dn":1,"sd":2,"ma":"ORG-100030215"}]},"issued_at":"2021-06-14T07:45:00Z"}`

func nest(depth int) string {
	// depth counts the root object: {"extra": {"a": ... }} nests depth levels.
	inner := strings.Repeat(`{"a":`, depth-2) + `1` + strings.Repeat(`}`, depth-2)
	return `{"extra":{"a":` + inner + `}}`
}

func post(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/sign", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSONHostileBodies(t *testing.T) {
	const jsonCT = "application/json"
	tests := []struct {
		name      string
		body      string
		ct        string
		max       int64
		status    int    // 0: success
		code      string // expected problem code
		field     string // expected problem field ("" also checked)
		anyField  bool   // do not check field
		mutateReq func(r *http.Request)
	}{
		{name: "valid", body: validBody, ct: jsonCT},
		{name: "valid charset utf-8 any case", body: validBody, ct: "application/json; charset=UTF-8"},
		{name: "text/plain", body: validBody, ct: "text/plain", status: 415, code: "unsupported_media_type"},
		{name: "no content type", body: validBody, status: 415, code: "unsupported_media_type"},
		{name: "json-ish type", body: validBody, ct: "application/jsonx", status: 415, code: "unsupported_media_type"},
		{name: "latin1 charset", body: validBody, ct: "application/json; charset=iso-8859-1", status: 415, code: "unsupported_media_type"},
		{name: "two content types", body: validBody, ct: jsonCT, status: 415, code: "unsupported_media_type",
			mutateReq: func(r *http.Request) { r.Header.Add("Content-Type", "text/plain") }},
		{name: "empty", body: "", ct: jsonCT, status: 400, code: "empty_body"},
		{name: "whitespace only", body: " \n\t ", ct: jsonCT, status: 400, code: "empty_body"},
		{name: "too large declared", body: validBody, ct: jsonCT, max: 20, status: 413, code: "body_too_large"},
		{name: "too large streamed", body: validBody, ct: jsonCT, max: 20, status: 413, code: "body_too_large",
			mutateReq: func(r *http.Request) { r.ContentLength = -1 }},
		{name: "unknown top-level field", body: `{"type":"v","admin":true}`, ct: jsonCT, status: 400, code: "unknown_field", field: "admin"},
		{name: "unknown nested field", body: `{"payload":{"v":[{"dn":1},{"dn":2,"xx":1}]}}`, ct: jsonCT, status: 400, code: "unknown_field", field: "payload.v[1].xx"},
		{name: "case variant of a field", body: `{"Type":"v"}`, ct: jsonCT, status: 400, code: "unknown_field", field: "Type"},
		{name: "case variant smuggling second value", body: `{"type":"v","TYPE":"t"}`, ct: jsonCT, status: 400, code: "unknown_field", field: "TYPE"},
		{name: "ignored field name", body: `{"Ignored":"x"}`, ct: jsonCT, status: 400, code: "unknown_field", field: "Ignored"},
		{name: "duplicate key", body: `{"type":"v","type":"t"}`, ct: jsonCT, status: 400, code: "duplicate_key", field: "type"},
		{name: "duplicate via escape", body: `{"type":"v","\u0074ype":"t"}`, ct: jsonCT, status: 400, code: "duplicate_key", field: "type"},
		{name: "duplicate nested", body: `{"payload":{"v":[{"dn":1,"dn":2}]}}`, ct: jsonCT, status: 400, code: "duplicate_key", field: "payload.v[0].dn"},
		{name: "duplicate in free map", body: `{"extra":{"k":1,"k":2}}`, ct: jsonCT, status: 400, code: "duplicate_key", field: "extra.k"},
		{name: "trailing object", body: `{} {}`, ct: jsonCT, status: 400, code: "trailing_data"},
		{name: "trailing garbage", body: `{"type":"v"} x`, ct: jsonCT, status: 400, code: "trailing_data"},
		{name: "string for int", body: `{"payload":{"v":[{"dn":"1"}]}}`, ct: jsonCT, status: 400, code: "invalid_type", field: "payload.v[0].dn"},
		{name: "float for int", body: `{"payload":{"v":[{"dn":1.5}]}}`, ct: jsonCT, status: 400, code: "invalid_type", field: "payload.v[0].dn"},
		{name: "int overflow", body: `{"payload":{"v":[{"dn":99999999999999999999}]}}`, ct: jsonCT, status: 400, code: "invalid_type", field: "payload.v[0].dn"},
		{name: "int8 overflow", body: `{"small":128}`, ct: jsonCT, status: 400, code: "invalid_type", field: "small"},
		{name: "negative uint", body: `{"count":-1}`, ct: jsonCT, status: 400, code: "invalid_type", field: "count"},
		{name: "float32 overflow", body: `{"ratio":1e39}`, ct: jsonCT, status: 400, code: "invalid_type", field: "ratio"},
		{name: "object for string", body: `{"type":{"x":1}}`, ct: jsonCT, status: 400, code: "invalid_type", field: "type"},
		{name: "bool for string", body: `{"type":true}`, ct: jsonCT, status: 400, code: "invalid_type", field: "type"},
		{name: "array for object", body: `{"payload":[]}`, ct: jsonCT, status: 400, code: "invalid_type", field: "payload"},
		{name: "null root", body: `null`, ct: jsonCT, status: 400, code: "invalid_type"},
		{name: "array root", body: `[{"type":"v"}]`, ct: jsonCT, status: 400, code: "invalid_type"},
		{name: "bad timestamp", body: `{"issued_at":"14.06.2021"}`, ct: jsonCT, status: 400, code: "invalid_value", field: "issued_at"},
		{name: "too many array items", body: `{"tags":["a","b","c"]}`, ct: jsonCT, status: 400, code: "too_many_items", field: "tags[2]"},
		{name: "depth 32 allowed", body: nest(32), ct: jsonCT},
		{name: "depth 33 rejected", body: nest(33), ct: jsonCT, status: 400, code: "too_deep", anyField: true},
		{name: "deep arrays", body: `{"extra":{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}}`, ct: jsonCT, status: 400, code: "too_deep", anyField: true},
		{name: "invalid utf8 byte", body: "{\"type\":\"\xff\"}", ct: jsonCT, status: 400, code: "invalid_utf8"},
		{name: "overlong utf8", body: "{\"type\":\"\xc0\xaf\"}", ct: jsonCT, status: 400, code: "invalid_utf8"},
		{name: "lone high surrogate", body: `{"type":"\ud800"}`, ct: jsonCT, status: 400, code: "invalid_utf8"},
		{name: "lone low surrogate", body: `{"type":"a\udc00b"}`, ct: jsonCT, status: 400, code: "invalid_utf8"},
		{name: "reversed surrogates", body: `{"type":"\ude00\ud83d"}`, ct: jsonCT, status: 400, code: "invalid_utf8"},
		{name: "valid surrogate pair", body: `{"type":"\ud83d\ude00"}`, ct: jsonCT},
		{name: "escaped backslash then u", body: `{"type":"\\ud800"}`, ct: jsonCT},
		{name: "truncated", body: `{"type":`, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "byte order mark", body: "\ufeff" + validBody, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "NaN literal", body: `{"ratio":NaN}`, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "comment", body: `{"type":"v" /* x */}`, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "single quotes", body: `{'type':'v'}`, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "trailing comma", body: `{"type":"v",}`, ct: jsonCT, status: 400, code: "malformed_json"},
		{name: "raw control char in string", body: "{\"type\":\"a\x01\"}", ct: jsonCT, status: 400, code: "malformed_json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.body, tc.ct)
			if tc.mutateReq != nil {
				tc.mutateReq(r)
			}
			max := tc.max
			if max == 0 {
				max = 1 << 16
			}
			var dst signReq
			p := DecodeJSON(r, &dst, max)
			if tc.status == 0 {
				if p != nil {
					t.Fatalf("want success, got %v", p)
				}
				return
			}
			if p == nil {
				t.Fatalf("want %d %s, got success: %+v", tc.status, tc.code, dst)
			}
			if p.Status != tc.status || p.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", p.Status, p.Code, p.Detail, tc.status, tc.code)
			}
			if !tc.anyField && p.Field != tc.field {
				t.Fatalf("field %q, want %q", p.Field, tc.field)
			}
		})
	}
}

func TestDecodeJSONValidFillsDestination(t *testing.T) {
	var dst signReq
	if p := DecodeJSON(post(validBody, "application/json"), &dst, 0); p != nil {
		t.Fatal(p)
	}
	if dst.RequestID != "r1" || dst.Type != "v" || dst.Payload.Ver != "1.3.0" ||
		len(dst.Payload.V) != 1 || dst.Payload.V[0].Sd != 2 ||
		!dst.IssuedAt.Equal(time.Date(2021, 6, 14, 7, 45, 0, 0, time.UTC)) {
		t.Fatalf("decoded %+v", dst)
	}
}

func TestDecodeJSONListsSeveralFieldErrors(t *testing.T) {
	var dst signReq
	p := DecodeJSON(post(`{"a":1,"type":2,"payload":{"v":[{"dn":"x"}]}}`, "application/json"), &dst, 0)
	if p == nil {
		t.Fatal("want problem")
	}
	got := map[string]string{}
	for _, e := range p.Errors {
		got[e.Field] = e.Code
	}
	want := map[string]string{"a": "unknown_field", "type": "invalid_type", "payload.v[0].dn": "invalid_type"}
	for f, c := range want {
		if got[f] != c {
			t.Errorf("errors[%s] = %q, want %q (all: %+v)", f, got[f], c, p.Errors)
		}
	}
	if p.Field != "a" || p.Code != "unknown_field" {
		t.Errorf("first error %s/%s", p.Field, p.Code)
	}
}

func TestDecodeJSONBackstopMapKeyType(t *testing.T) {
	// The scan does not model map key types; the real decoder must still
	// turn the failure into a 400 rather than a 500 or silent success.
	var dst map[int]string
	p := DecodeBytes([]byte(`{"x":"y"}`), &dst)
	if p == nil || p.Status != 400 {
		t.Fatalf("got %v", p)
	}
}

func TestDecodeBytesMisuse(t *testing.T) {
	var dst signReq
	if p := DecodeBytes([]byte(`{}`), dst); p == nil || p.Status != 500 {
		t.Fatalf("non-pointer dst: %v", p)
	}
}

type onlyReader struct{ io.Reader }

func TestDecodeJSONSmallLimitExactFit(t *testing.T) {
	body := `{"type":"v"}`
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(onlyReader{bytes.NewReader([]byte(body))}))
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = -1
	var dst signReq
	if p := DecodeJSON(r, &dst, int64(len(body))); p != nil {
		t.Fatalf("body of exactly max bytes rejected: %v", p)
	}
	if dst.Type != "v" {
		t.Fatalf("got %+v", dst)
	}
}
