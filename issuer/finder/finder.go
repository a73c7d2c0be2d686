// Package finder is the public pharmacy finder: which pharmacies near a
// postcode issue certificates, and whether issuing works there now.
//
// A pharmacy's status follows the registry, not the pharmacy's
// self-description: a suspended account is marked suspended, one whose
// requests wait for a signer (deferred to tickets) or when no signer can
// sign at all is marked delayed, one whose deferred request failed after
// its last success is marked not issuing, and each shows when it last
// issued. The naive-2021 preset lists every onboarded pharmacy as issuing,
// as the 2021 finder did.
//
// The feed: the finder runs in the portal's process (serve --role all or
// portal) and rebuilds an in-memory snapshot from the registry every
// RefreshInterval (store.PharmacyActivity: three aggregate reads), plus
// the signer client's availability. Searches never touch the registry, so
// a spike of citizens costs the registry nothing, and the snapshot is what
// the finder serves, marked stale, while the registry fails. It stores
// nothing of its own: everything it shows is derived from the durable
// registry. Why not a process of its own: see docs/finder.md.
//
// Overload: answers are cached per snapshot and query; a cached answer is
// served without admission. A search that must be computed takes a slot
// of the finder's own limiter (Config.Limit); turned away, it gets the
// previous snapshot's answer to the same query, marked stale, or 503.
package finder

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/httpcache"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/store"
)

// Source is the registry as the finder reads it; *store.Store implements
// it (so will any other registry backend).
type Source interface {
	PharmacyActivity(ctx context.Context) ([]store.PharmacyActivity, error)
}

// Deps are the finder's collaborators.
type Deps struct {
	// Source is the registry.
	Source Source
	// IssuanceAvailable reports whether any signer could sign now (the
	// portal's signer client: Available() > 0); nil: always. While it
	// says no, every active pharmacy is delayed.
	IssuanceAvailable func() bool
	// Logger receives operational logs.
	Logger *slog.Logger
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
}

// Finder serves the finder's route. Safe for concurrent use.
type Finder struct {
	cfg       finderapi.Config
	src       Source
	available func() bool
	log       *slog.Logger
	clock     func() time.Time
	limiter   *overload.Limiter // nil: no admission control
	policy    string            // Cache-Control value
	m         *metrics

	snap atomic.Pointer[snapshot]
	// prev is the snapshot before snap: its cached answers serve a search
	// that admission turned away.
	prev atomic.Pointer[snapshot]
	// failingSince is when refreshes began to fail (Unix ns; 0: the last
	// one succeeded).
	failingSince atomic.Int64
	refreshMu    sync.Mutex // one rebuild at a time
	// unavailableSince is when refreshes began to find no signer (zero:
	// the last one found one); guarded by refreshMu.
	unavailableSince time.Time

	routes map[string]http.Handler
}

// New builds a finder and reads its first snapshot: a finder that cannot
// read the registry at start has nothing to serve.
func New(cfg finderapi.Config, deps Deps) (*Finder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("finder: %w", err)
	}
	if deps.Source == nil {
		return nil, errors.New("finder: Deps.Source is required")
	}
	f := &Finder{cfg: cfg, src: deps.Source, available: deps.IssuanceAvailable, log: deps.Logger, clock: deps.Clock}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("component", "finder", "profile", cfg.Profile)
	if f.clock == nil {
		f.clock = time.Now
	}
	if f.available == nil {
		f.available = func() bool { return true }
	}
	if l := cfg.Limit; l.MaxConcurrent > 0 {
		f.limiter = overload.NewLimiter("finder", l.MaxConcurrent, l.MaxQueue, l.MaxQueueWait.D())
	}
	f.policy = httpcache.Policy{MaxAge: cfg.MaxAge.D(), StaleWhileRevalidate: cfg.StaleWhileRevalidate.D(),
		StaleIfError: cfg.StaleIfError.D()}.String()
	f.m = newMetrics(f)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.RefreshTimeout.D())
	defer cancel()
	if err := f.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("finder: first snapshot: %w", err)
	}
	f.routes = map[string]http.Handler{
		"GET " + finderapi.PathPharmacies: f.m.Wrap("GET "+finderapi.PathPharmacies, http.HandlerFunc(f.handleSearch)),
	}
	return f, nil
}

// Routes are the finder's routes by mux pattern, for the server that
// mounts them (the portal's).
func (f *Finder) Routes() map[string]http.Handler { return f.routes }

// Metrics is the finder's Prometheus registry.
func (f *Finder) Metrics() prometheus.Gatherer { return f.m.Registry }

// Run rebuilds the snapshot every RefreshInterval until ctx ends.
func (f *Finder) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.RefreshInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, f.cfg.RefreshTimeout.D())
		err := f.Refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			f.log.Warn("finder snapshot refresh failed; serving the last good one", "err", err)
		}
	}
}

// Refresh rebuilds the snapshot from the registry now. On error the last
// good snapshot stays and answers are marked stale.
func (f *Finder) Refresh(ctx context.Context) error {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	start := time.Now()
	acts, err := f.src.PharmacyActivity(ctx)
	f.m.refreshTime.Observe(time.Since(start).Seconds())
	if err != nil {
		f.m.refreshes.WithLabelValues("error").Inc()
		f.failingSince.CompareAndSwap(0, f.clock().UnixNano())
		return fmt.Errorf("finder: reading the registry: %w", err)
	}
	f.m.refreshes.WithLabelValues("ok").Inc()
	now := f.clock()
	if !f.available() {
		if f.unavailableSince.IsZero() {
			f.unavailableSince = now
		}
	} else {
		f.unavailableSince = time.Time{}
	}
	next := f.build(acts, f.unavailableSince, now)
	if cur := f.snap.Load(); cur != nil && cur.identity == next.identity {
		// Nothing a search can see changed: keep the cached answers.
		next.cache = cur.cache
	} else if cur != nil {
		f.prev.Store(cur)
	}
	f.snap.Store(next)
	f.failingSince.Store(0)
	return nil
}

// snapshot is what searches read: the listed pharmacies sorted by
// latitude, so a search scans only the band its radius covers.
type snapshot struct {
	at       time.Time
	entries  []entry
	lats     []float64 // entries' latitudes, for the band search
	identity [32]byte  // hash of everything a search can show
	counts   map[finderapi.Status]int
	cache    *answerCache
}

// entry is one listed pharmacy with its answer fragment pre-rendered:
// the JSON of its listing around the distance, which is the one field a
// search adds (encoding every listing per search would be most of its
// cost).
type entry struct {
	pt        finderapi.Point
	view      finderapi.Pharmacy
	pre, post []byte // JSON before and after the distance_km value
}

// distanceSentinel stands in for the distance when a listing is rendered
// once, to be cut out.
const distanceSentinel = `"distance_km":987654321.5`

// build turns the registry's facts into a snapshot.
// unavailableSince is when no signer could sign any more (zero: one can).
func (f *Finder) build(acts []store.PharmacyActivity, unavailableSince, now time.Time) *snapshot {
	s := &snapshot{at: now, entries: make([]entry, 0, len(acts)), counts: map[finderapi.Status]int{},
		cache: newAnswerCache(f.cfg.CacheEntries)}
	for _, a := range acts {
		if portalapi.PartyKindOf(a.ID) == portalapi.PartyPractice {
			// The finder is the pharmacy finder (the association's list in
			// 2021): a practice issues to its own patients, so it is not
			// listed (docs/doctors.md).
			continue
		}
		origin, ok := finderapi.Locate(a.PostalCode)
		if !ok {
			continue // no point to place it at (the register checks postcodes)
		}
		pt := finderapi.Jitter(origin, a.ID)
		v := finderapi.Pharmacy{ID: a.ID, Name: a.Name, Street: a.Street, PostalCode: a.PostalCode, City: a.City,
			Location: pt, Status: finderapi.StatusIssuing, DistanceKm: 987654321.5}
		if f.cfg.MarkStatus {
			mark(&v, a, unavailableSince)
		}
		raw, err := json.Marshal(v)
		i := bytes.Index(raw, []byte(distanceSentinel))
		if err != nil || i < 0 {
			f.log.Error("rendering a finder listing failed", "pharmacy_id", a.ID, "err", err)
			continue
		}
		v.DistanceKm = 0
		cut := i + len(`"distance_km":`)
		s.entries = append(s.entries, entry{pt: pt, view: v, pre: raw[:cut], post: raw[i+len(distanceSentinel):]})
		s.counts[v.Status]++
	}
	slices.SortFunc(s.entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.pt.Lat, b.pt.Lat), strings.Compare(a.view.ID, b.view.ID))
	})
	s.lats = make([]float64, len(s.entries))
	h := sha256.New()
	for i, e := range s.entries {
		s.lats[i] = e.pt.Lat
		h.Write(e.pre) // everything a search can show of it
		h.Write(e.post)
	}
	h.Sum(s.identity[:0])
	return s
}

// mark sets a pharmacy's status from its facts. Failures of deferred
// requests count unless the signer refused the payload (that says
// nothing about the pharmacy) or the request failed because the account
// was suspended (its status says so).
func mark(v *finderapi.Pharmacy, a store.PharmacyActivity, unavailableSince time.Time) {
	if !a.LastIssuedAt.IsZero() {
		t := a.LastIssuedAt.UTC().Truncate(time.Minute)
		v.LastSuccessAt = &t
	}
	var lastFail time.Time
	for code, at := range a.LastFailures {
		if strings.HasPrefix(code, "rejected_by_signer") || code == "pharmacy_suspended" {
			continue
		}
		if at.After(lastFail) {
			lastFail = at
		}
	}
	since := func(t time.Time) *time.Time {
		t = t.UTC().Truncate(time.Second)
		return &t
	}
	switch {
	case a.Status == store.PharmacySuspended:
		v.Status, v.Reason, v.Since = finderapi.StatusSuspended, finderapi.ReasonAccountSuspended, since(a.UpdatedAt)
	case a.PendingTickets > 0:
		v.Status, v.Reason, v.Since = finderapi.StatusDelayed, finderapi.ReasonRequestsDeferred, since(a.OldestPendingAt)
	case !unavailableSince.IsZero():
		v.Status, v.Reason, v.Since = finderapi.StatusDelayed, finderapi.ReasonSignerUnavailable, since(unavailableSince)
	// Issuance times are CWT iat, whole seconds: a failure within the
	// second of a success does not count as after it.
	case !lastFail.IsZero() && lastFail.Truncate(time.Second).After(a.LastIssuedAt):
		v.Status, v.Reason, v.Since = finderapi.StatusNotIssuing, finderapi.ReasonRequestFailed, since(lastFail)
	}
}

// query is a validated search, the key of cached answers.
type query struct {
	postcode string
	radius   int // in units of 10 m (radius_km has at most two decimals)
	limit    int
	status   finderapi.Status // "": any
}

// result is a computed search: the answer's head (query echo, origin,
// total) and the listed entries with their distances.
type result struct {
	head   finderapi.Pharmacies // Pharmacies left empty
	listed []listed
}

type listed struct {
	e  *entry
	km float64 // rounded to 0.1
}

// search computes the answer to q.
func (s *snapshot) search(q query) result {
	origin, _ := finderapi.Locate(q.postcode)
	radius := float64(q.radius) / 100
	res := result{head: finderapi.Pharmacies{Postcode: q.postcode, RadiusKm: radius, Limit: q.limit, Origin: origin}}
	band := radius / finderapi.KmPerDegreeLat
	// A longitude window too, so the great-circle distance (trigonometry)
	// is only computed for points near the circle: taken at the band's
	// poleward edge, where a degree of longitude is shortest, with 1% to
	// spare, it never drops a point the distance would keep.
	lonBand := 1.01 * radius / (finderapi.KmPerDegreeLat * math.Cos((math.Abs(origin.Lat)+band)*math.Pi/180))
	lo, _ := slices.BinarySearch(s.lats, origin.Lat-band)
	var hits []listed
	for i := lo; i < len(s.entries) && s.lats[i] <= origin.Lat+band; i++ {
		e := &s.entries[i]
		if math.Abs(e.pt.Lon-origin.Lon) > lonBand || (q.status != "" && e.view.Status != q.status) {
			continue
		}
		if d := finderapi.DistanceKm(origin, e.pt); d <= radius {
			hits = append(hits, listed{e, d})
		}
	}
	slices.SortFunc(hits, func(a, b listed) int {
		return cmp.Or(cmp.Compare(a.km, b.km), strings.Compare(a.e.view.ID, b.e.view.ID))
	})
	res.head.Total = len(hits)
	res.listed = hits[:min(len(hits), q.limit)]
	for i := range res.listed {
		res.listed[i].km = math.Round(res.listed[i].km*10) / 10
	}
	return res
}

// render is the JSON of r, byte for byte what json.Marshal(r.answer(stale))
// gives (TestRenderMatchesTheWireType), assembled from the entries'
// fragments.
func (r result) render(stale bool) ([]byte, error) {
	head := r.head
	head.Pharmacies, head.Stale = []finderapi.Pharmacy{}, stale
	skel, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	const list = `"pharmacies":[`
	at := bytes.Index(skel, []byte(list+"]"))
	if at < 0 {
		return nil, errors.New("finder: answer skeleton without its list")
	}
	at += len(list)
	n := len(skel) + 1
	for _, l := range r.listed {
		n += len(l.e.pre) + len(l.e.post) + 8
	}
	out := make([]byte, 0, n)
	out = append(out, skel[:at]...)
	for i, l := range r.listed {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, l.e.pre...)
		// encoding/json's form for a float64 in [1e-6, 1e21) or 0.
		out = strconv.AppendFloat(out, l.km, 'f', -1, 64)
		out = append(out, l.e.post...)
	}
	out = append(out, skel[at:]...)
	return append(out, '\n'), nil
}

// answer is r as the wire type.
func (r result) answer(stale bool) finderapi.Pharmacies {
	out := r.head
	out.Stale = stale
	out.Pharmacies = make([]finderapi.Pharmacy, 0, len(r.listed))
	for _, l := range r.listed {
		v := l.e.view
		v.DistanceKm = l.km
		out.Pharmacies = append(out.Pharmacies, v)
	}
	return out
}
