package finder

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/httpcache"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/problem"
)

// handleSearch is GET /v1/finder/pharmacies.
func (f *Finder) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, pr := parseQuery(r)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	snap := f.snap.Load()
	stale, pr := f.staleness(snap)
	if pr != nil {
		problem.Write(w, *pr)
		return
	}
	if a := snap.cache.get(q); a != nil {
		f.m.hit.Inc()
		f.write(w, r, a, stale)
		return
	}
	f.m.miss.Inc()
	if f.limiter != nil {
		release, err := f.limiter.Acquire(r.Context())
		if err != nil {
			f.m.rejected.WithLabelValues(overload.Reason(err)).Inc()
			// The previous snapshot's answer, if it has one, beats a 503:
			// it is seconds old, and the citizen gets an address.
			if prev := f.prev.Load(); prev != nil {
				if a := prev.cache.get(q); a != nil {
					f.m.stale.WithLabelValues("overload").Inc()
					f.write(w, r, a, true)
					return
				}
			}
			overload.WriteReject(w, r, err)
			return
		}
		defer release()
	}
	a, err := newAnswer(snap.search(q))
	if err != nil {
		f.log.Error("encoding a finder answer failed", "err", err)
		problem.Write(w, problem.Internal("could not encode the answer"))
		return
	}
	snap.cache.put(q, a)
	f.write(w, r, a, stale)
}

// staleness says whether answers from s are stale (the registry cannot be
// read now), or gives the problem to send when s is too old to serve at
// all (beyond StaleIfError).
func (f *Finder) staleness(s *snapshot) (bool, *problem.Problem) {
	if f.failingSince.Load() == 0 {
		return false, nil
	}
	if sie := f.cfg.StaleIfError.D(); sie > 0 && f.clock().Sub(s.at) <= sie {
		f.m.stale.WithLabelValues("registry").Inc()
		return true, nil
	}
	pr := problem.Unavailable(f.cfg.RefreshInterval.D())
	pr.Code = "registry_unavailable"
	pr.Detail = "the pharmacy registry cannot be read; retry later"
	return false, &pr
}

// write sends a, or 304 when the client holds it already.
func (f *Finder) write(w http.ResponseWriter, r *http.Request, a *answer, stale bool) {
	h := w.Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", f.policy)
	if httpcache.NotModified(r, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if stale {
		body = a.staleBody()
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// answer is a rendered search result.
type answer struct {
	res  result
	body []byte
	// etag is weak: the stale form differs only by its marker.
	etag  string
	stale func() []byte
}

func newAnswer(res result) (*answer, error) {
	body, err := res.render(false)
	if err != nil {
		return nil, err
	}
	a := &answer{res: res, body: body, etag: httpcache.WeakETag(body)}
	a.stale = sync.OnceValue(func() []byte {
		b, err := a.res.render(true)
		if err != nil {
			return a.body // cannot happen: the fresh form rendered
		}
		return b
	})
	return a, nil
}

func (a *answer) staleBody() []byte { return a.stale() }

// answerCache keeps a snapshot's rendered answers, up to max (then new
// ones are computed each time until the next snapshot).
type answerCache struct {
	max int
	mu  sync.RWMutex
	m   map[query]*answer
}

func newAnswerCache(max int) *answerCache {
	return &answerCache{max: max, m: make(map[query]*answer, min(max, 1024))}
}

func (c *answerCache) get(q query) *answer {
	if c.max == 0 {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

func (c *answerCache) put(q query, a *answer) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	if len(c.m) < c.max {
		c.m[q] = a
	}
	c.mu.Unlock()
}

// parseQuery validates a search's query string.
func parseQuery(r *http.Request) (query, *problem.Problem) {
	vals, pr := problem.ParseQuery(r, finderapi.MaxQueryBytes,
		finderapi.ParamPostcode, finderapi.ParamRadius, finderapi.ParamLimit, finderapi.ParamStatus)
	if pr != nil {
		return query{}, pr
	}
	bad := func(code, field, detail string) (query, *problem.Problem) {
		p := problem.BadRequest(code, field, detail)
		return query{}, &p
	}
	q := query{postcode: vals.Get(finderapi.ParamPostcode), radius: int(finderapi.DefaultRadiusKm * 100),
		limit: finderapi.DefaultLimit}
	switch {
	case q.postcode == "":
		return bad("required", finderapi.ParamPostcode, "postcode is required, e.g. postcode=10115")
	case !finderapi.ValidPostcode(q.postcode):
		return bad("invalid_postcode", finderapi.ParamPostcode, "postcode must be a German postcode: five digits, e.g. 10115")
	}
	if v, ok := vals[finderapi.ParamRadius]; ok {
		n, ok := hundredths(v[0])
		if !ok || n < int(finderapi.MinRadiusKm*100) || n > int(finderapi.MaxRadiusKm*100) {
			return bad("invalid_value", finderapi.ParamRadius,
				"radius_km must be a number from 0.1 to 50 with at most two decimals, e.g. 5 or 2.5")
		}
		q.radius = n
	}
	if v, ok := vals[finderapi.ParamLimit]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || len(v[0]) > 3 || v[0][0] < '0' || v[0][0] > '9' || n < 1 || n > finderapi.MaxLimit {
			return bad("invalid_value", finderapi.ParamLimit, "limit must be a whole number from 1 to 100")
		}
		q.limit = n
	}
	if v, ok := vals[finderapi.ParamStatus]; ok {
		s := finderapi.Status(v[0])
		if !slices.Contains(finderapi.Statuses(), s) {
			return bad("invalid_value", finderapi.ParamStatus, "status must be issuing, delayed, not_issuing or suspended")
		}
		q.status = s
	}
	return q, nil
}

// hundredths parses "5", "2.5" or "0.25" (ASCII digits, at most three
// before and two after the point) into hundredths; no sign, exponent,
// hex, NaN or Inf, which strconv.ParseFloat would all take.
func hundredths(s string) (int, bool) {
	whole, frac, dot := s, "", false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac, dot = s[:i], s[i+1:], true
			break
		}
	}
	if whole == "" || len(whole) > 3 || len(frac) > 2 || (dot && frac == "") {
		return 0, false
	}
	n := 0
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	for i := 0; i < len(whole); i++ {
		n = n*10 + int(whole[i]-'0')
	}
	n *= 100
	switch len(frac) {
	case 1:
		n += int(frac[0]-'0') * 10
	case 2:
		n += int(frac[0]-'0')*10 + int(frac[1]-'0')
	}
	return n, true
}
