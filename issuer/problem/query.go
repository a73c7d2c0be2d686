package problem

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// ParseQuery reads a request's query string strictly, or returns the
// problem to send: 414 "query_too_long" beyond maxBytes of raw query; 400
// "invalid_query" when it does not parse (a bad %-escape, a ';'); 400
// "unknown_parameter" for a parameter not in allowed; 400
// "duplicate_parameter" for one given twice (which of two values a
// server, a cache and a log would each take is not defined anywhere).
// The problem's field names the parameter when its name is short and
// plain ([a-z0-9_], at most 40 bytes), else "query", so a hostile name
// never travels back as a field.
func ParseQuery(r *http.Request, maxBytes int, allowed ...string) (url.Values, *Problem) {
	raw := r.URL.RawQuery
	if len(raw) > maxBytes {
		p := New(http.StatusRequestURITooLong, "query_too_long", fmt.Sprintf("the query string exceeds %d bytes", maxBytes))
		p.Field = "query"
		return nil, &p
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		p := BadRequest("invalid_query", "query", "the query string is not valid URL encoding")
		return nil, &p
	}
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			p := BadRequest("unknown_parameter", plainName(name), "unknown query parameter; allowed: "+fmt.Sprint(allowed))
			return nil, &p
		}
		if len(vs) > 1 {
			p := BadRequest("duplicate_parameter", name, "give the parameter once")
			return nil, &p
		}
	}
	return q, nil
}

// plainName is name when it is short and plain, else "query".
func plainName(name string) string {
	if name == "" || len(name) > 40 {
		return "query"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "query"
		}
	}
	return name
}
