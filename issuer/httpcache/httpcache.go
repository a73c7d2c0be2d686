// Package httpcache holds what the issuer's cacheable public answers (the
// pharmacy finder, the verifier apps' trust and revocation lists) share:
// entity tags derived from content, so every replica and every restart
// gives the same answer the same tag; If-None-Match matching; and the
// Cache-Control value.
package httpcache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Version is the content identity of body: the first 12 bytes of its
// SHA-256, in hex (24 characters).
func Version(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:12])
}

// StrongETag is the strong entity tag of body: "<Version>".
func StrongETag(body []byte) string { return `"` + Version(body) + `"` }

// WeakETag is W/"<Version>": for answers that may differ in bytes that do
// not change their meaning (a stale marker).
func WeakETag(body []byte) string { return "W/" + StrongETag(body) }

// NotModified reports whether r's If-None-Match names etag: "*", or any
// listed entity tag equal to it by the weak comparison of RFC 9110
// section 8.8.3.2 (the W/ prefix is ignored on both sides).
func NotModified(r *http.Request, etag string) bool {
	want := opaque(etag)
	for _, v := range r.Header.Values("If-None-Match") {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			v = strings.TrimPrefix(v, "W/")
			if v == "" || v[0] != '"' {
				return false // malformed: compare nothing rather than guess
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return false
			}
			if v[:end+2] == want {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

func opaque(etag string) string { return strings.TrimPrefix(etag, "W/") }

// Policy is a Cache-Control policy for a public answer.
type Policy struct {
	// MaxAge is how long any cache may serve the answer without asking
	// again; 0 sends no-cache (every use revalidates, cheap with an ETag).
	MaxAge time.Duration
	// StaleWhileRevalidate lets a cache serve it this much longer while it
	// fetches a new one in the background (RFC 5861).
	StaleWhileRevalidate time.Duration
	// StaleIfError lets a cache serve it this much longer when the origin
	// fails (RFC 5861): an outage of the origin is not one of the apps.
	StaleIfError time.Duration
}

// String is the Cache-Control header value.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("public")
	if p.MaxAge > 0 {
		b.WriteString(", max-age=")
		b.WriteString(strconv.FormatInt(seconds(p.MaxAge), 10))
	} else {
		b.WriteString(", no-cache")
	}
	if p.StaleWhileRevalidate > 0 {
		b.WriteString(", stale-while-revalidate=")
		b.WriteString(strconv.FormatInt(seconds(p.StaleWhileRevalidate), 10))
	}
	if p.StaleIfError > 0 {
		b.WriteString(", stale-if-error=")
		b.WriteString(strconv.FormatInt(seconds(p.StaleIfError), 10))
	}
	return b.String()
}

// seconds rounds up: a policy of 500ms still caches for a second rather
// than not at all.
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
