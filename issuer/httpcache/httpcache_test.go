package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestNotModified(t *testing.T) {
	etag := StrongETag([]byte("body"))
	weak := WeakETag([]byte("body"))
	other := StrongETag([]byte("other"))
	for _, tc := range []struct {
		name   string
		header []string
		tag    string
		want   bool
	}{
		{"absent", nil, etag, false},
		{"same", []string{etag}, etag, true},
		{"weak header, strong tag", []string{weak}, etag, true},
		{"strong header, weak tag", []string{etag}, weak, true},
		{"star", []string{"*"}, etag, true},
		{"list", []string{other + ", " + etag}, etag, true},
		{"two headers", []string{other, " " + etag}, etag, true},
		{"other only", []string{other}, etag, false},
		{"unquoted", []string{etag[1 : len(etag)-1]}, etag, false},
		{"unterminated", []string{`"` + etag[1:len(etag)-1]}, etag, false},
		{"prefix of it", []string{etag[:len(etag)-2] + `"`}, etag, false},
		{"comma inside a tag", []string{`"a,b", ` + etag}, etag, true},
		{"empty", []string{""}, etag, false},
		{"garbage after a miss", []string{other + " junk " + etag}, etag, false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		for _, v := range tc.header {
			r.Header.Add("If-None-Match", v)
		}
		if got := NotModified(r, tc.tag); got != tc.want {
			t.Errorf("%s: If-None-Match %q vs %s: got %v, want %v", tc.name, tc.header, tc.tag, got, tc.want)
		}
	}
}

func TestETagsAreContentAddressed(t *testing.T) {
	a1, a2 := StrongETag([]byte("a")), StrongETag(append([]byte(nil), 'a'))
	if a1 != a2 || a1 == StrongETag([]byte("b")) {
		t.Fatal("the tag must follow the content, only the content")
	}
	if v := Version([]byte("a")); len(v) != 24 || StrongETag([]byte("a")) != `"`+v+`"` {
		t.Fatalf("version %q", v)
	}
}

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "public, no-cache"},
		{Policy{MaxAge: 30 * time.Second, StaleWhileRevalidate: 30 * time.Second, StaleIfError: time.Hour},
			"public, max-age=30, stale-while-revalidate=30, stale-if-error=3600"},
		{Policy{MaxAge: 500 * time.Millisecond}, "public, max-age=1"},
		{Policy{StaleIfError: time.Minute}, "public, no-cache, stale-if-error=60"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}
