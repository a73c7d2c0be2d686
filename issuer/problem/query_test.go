package problem

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		raw         string
		status      int
		code, field string
	}{
		{"a=1&b=2", 0, "", ""},
		{"", 0, "", ""},
		{"a=1&a=2", 400, "duplicate_parameter", "a"},
		{"c=1", 400, "unknown_parameter", "c"},
		{"%3Cx%3E=1", 400, "unknown_parameter", "query"},
		{strings.Repeat("z", 41) + "=1", 400, "unknown_parameter", "query"},
		{"a=%zz", 400, "invalid_query", "query"},
		{"a=1;b=2", 400, "invalid_query", "query"},
		{"a=" + strings.Repeat("1", 64), 414, "query_too_long", "query"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/x?"+tc.raw, nil)
		q, p := ParseQuery(r, 64, "a", "b")
		switch {
		case tc.status == 0 && p != nil:
			t.Errorf("%q: %v", tc.raw, p)
		case tc.status == 0 && tc.raw == "a=1&b=2" && (q.Get("a") != "1" || q.Get("b") != "2"):
			t.Errorf("%q: %v", tc.raw, q)
		case tc.status != 0 && (p == nil || p.Status != tc.status || p.Code != tc.code || p.Field != tc.field):
			t.Errorf("%q: %+v, want %d %s %s", tc.raw, p, tc.status, tc.code, tc.field)
		}
	}
}
