package lists

import (
	"net/http"
	"strconv"

	"github.com/golive-dev/golive/issuer/httpcache"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/problem"
)

// maxDeltaQuery bounds the delta route's query string: ?since= and 24
// hex digits need 30 bytes.
const maxDeltaQuery = 256

// The full lists ignore query parameters, as they always have: caches and
// apps add cache-busters, and nothing in a query changes these answers.

func (l *Lists) handleTrustList(w http.ResponseWriter, r *http.Request) {
	l.write(w, r, l.trust, l.trustPolicy)
}

func (l *Lists) handleRevocations(w http.ResponseWriter, r *http.Request) {
	l.write(w, r, l.rev.Load().full, l.revPolicy)
}

func (l *Lists) handleKeys(w http.ResponseWriter, r *http.Request) {
	l.write(w, r, l.keys, l.trustPolicy)
}

func (l *Lists) handleDelta(w http.ResponseWriter, r *http.Request) {
	vals, pr := problem.ParseQuery(r, maxDeltaQuery, listsapi.ParamSince)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	since := vals.Get(listsapi.ParamSince)
	switch {
	case since == "":
		problem.Write(w, problem.BadRequest("required", listsapi.ParamSince,
			"since is required: the version of the list you hold (its ETag without quotes)"))
		return
	case !validVersion(since):
		problem.Write(w, problem.BadRequest("invalid_version", listsapi.ParamSince,
			"since must be a list version: 24 lowercase hex digits, the ETag of your list without quotes"))
		return
	}
	doc, err := l.delta(r.Context(), l.rev.Load(), since)
	if err != nil {
		l.log.Error("rendering a revocation delta failed", "err", err)
		problem.Write(w, problem.Internal("could not render the delta"))
		return
	}
	l.write(w, r, doc, l.revPolicy)
}

func validVersion(s string) bool {
	if len(s) != listsapi.VersionLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// write sends doc with its tag, policy and signature, or 304.
func (l *Lists) write(w http.ResponseWriter, r *http.Request, doc *document, policy string) {
	h := w.Header()
	h.Set("ETag", doc.etag)
	h.Set("Cache-Control", policy)
	if httpcache.NotModified(r, doc.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if doc.sig != "" {
		h.Set(listsapi.SignatureHeader, doc.sig)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(doc.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc.body)
}
