// Package lists serves what verifier apps download: the trust list (the
// document signer certificates, from package pki), the revocation list
// (from the registry's revoked certificates) and delta lists of the
// changes since a version, each signed with a key of its own (see
// listsapi: a detached JWS in X-JWS-Signature) and cacheable (content
// ETags, 304, Cache-Control with stale-if-error).
//
// Versions are content identities, so replicas and restarts agree on
// them. Deltas come from the sequence of lists this process has
// published: every reload that changes the list records what was added
// and removed, and a delta since V composes the records after V. That is
// exact whatever order the registry committed revocations in, and covers
// certificates expiring off the list, which no registry write marks. A
// version this process never published (too old for DeltaHistory, or from
// before a restart) gets the whole list, flagged full: never wrong, only
// larger.
//
// Durable state: only the signing key (in the data directory, created by
// `golive serve`'s bootstrap). Everything else is derived from the
// registry and the PKI at start.
package lists

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/httpcache"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/store"
)

// Source is the registry as the lists read it; *store.Store implements it.
type Source interface {
	RevokedHashes(ctx context.Context) (map[store.HashType][][]byte, error)
}

// Deps are the lists' collaborators.
type Deps struct {
	// Source is the registry.
	Source Source
	// TrustList holds every DSC the signers use.
	TrustList *pki.TrustList
	// Key signs the lists (ECDSA P-256). Nil draws a random key for this
	// process: apps cannot pin it, so only tests should leave it out.
	Key *ecdsa.PrivateKey
	// Logger receives operational logs.
	Logger *slog.Logger
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
}

// Lists serves the verifier apps' downloads. Safe for concurrent use.
type Lists struct {
	cfg     listsapi.Config
	src     Source
	key     *ecdsa.PrivateKey
	log     *slog.Logger
	clock   func() time.Time
	limiter *overload.Limiter // nil: no admission control
	m       *metrics

	trust *document // the trust list: fixed while the process runs
	keys  *document // the key set

	rev      atomic.Pointer[revision]
	reloadMu sync.Mutex // one reload at a time

	trustPolicy, revPolicy string
	routes                 map[string]http.Handler
}

// document is a rendered, signed answer.
type document struct {
	body []byte
	etag string
	sig  string // detached JWS; empty: unsigned (the key set)
}

// revision is one published revocation list, immutable once stored.
type revision struct {
	version string
	at      time.Time
	list    listsapi.RevocationList
	set     *hcert.RevocationSet
	full    *document // GET /v1/revocations
	// fullDelta is the delta answer for a version this process does not
	// know, and for any delta admission turned away.
	fullDelta *document
	// history holds the changes that led to this version, oldest first,
	// at most DeltaHistory; shared structurally between revisions.
	history []change
	deltas  sync.Map // since version -> *document
}

// change is what one reload changed.
type change struct {
	from, to       string
	added, removed listsapi.RevocationList
}

// New builds the lists and reads the revocation list once.
func New(cfg listsapi.Config, deps Deps) (*Lists, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	switch {
	case deps.Source == nil:
		return nil, errors.New("lists: Deps.Source is required")
	case deps.TrustList == nil:
		return nil, errors.New("lists: Deps.TrustList is required")
	}
	l := &Lists{cfg: cfg, src: deps.Source, key: deps.Key, log: deps.Logger, clock: deps.Clock}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "lists", "profile", cfg.Profile)
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.key == nil {
		k, err := GenerateSigningKey()
		if err != nil {
			return nil, err
		}
		l.key = k
		l.log.Warn("lists are signed with a key made for this process only; apps cannot pin it")
	}
	if cfg.Limit.MaxConcurrent > 0 {
		l.limiter = overload.NewLimiter("lists", cfg.Limit.MaxConcurrent, cfg.Limit.MaxQueue, cfg.Limit.MaxQueueWait.D())
	}
	l.trustPolicy = httpcache.Policy{MaxAge: cfg.TrustListMaxAge.D(), StaleIfError: cfg.StaleIfError.D()}.String()
	l.revPolicy = httpcache.Policy{MaxAge: cfg.RevocationsMaxAge.D(), StaleIfError: cfg.StaleIfError.D()}.String()
	l.m = newMetrics(l)

	tb, err := json.Marshal(struct {
		Entries []pki.TrustEntry `json:"entries"`
	}{nonNil(deps.TrustList.Entries)})
	if err != nil {
		return nil, fmt.Errorf("lists: encoding the trust list: %w", err)
	}
	if l.trust, err = l.sign(append(tb, '\n'), listsapi.CtyTrustList); err != nil {
		return nil, err
	}
	jwk, err := listsapi.JWKOf(&l.key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	kb, err := json.Marshal(listsapi.KeySet{Keys: []listsapi.JWK{jwk}})
	if err != nil {
		return nil, fmt.Errorf("lists: encoding the key set: %w", err)
	}
	kb = append(kb, '\n')
	l.keys = &document{body: kb, etag: httpcache.StrongETag(kb)}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Reload(ctx); err != nil {
		return nil, err
	}
	l.routes = map[string]http.Handler{}
	for pattern, h := range map[string]http.HandlerFunc{
		"GET " + listsapi.PathTrustList:       l.handleTrustList,
		"GET " + listsapi.PathRevocations:     l.handleRevocations,
		"GET " + listsapi.PathRevocationDelta: l.handleDelta,
		"GET " + listsapi.PathKeys:            l.handleKeys,
	} {
		l.routes[pattern] = l.m.Wrap(pattern, h)
	}
	return l, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{} // "entries": [] rather than null
	}
	return s
}

// Routes are the lists' routes by mux pattern.
func (l *Lists) Routes() map[string]http.Handler { return l.routes }

// Metrics is the lists' Prometheus registry.
func (l *Lists) Metrics() prometheus.Gatherer { return l.m.Registry }

// RevocationSet is the current revocation list as a set, for a verifier
// in this process (the portal's POST /v1/verify). Replaced, never changed.
func (l *Lists) RevocationSet() *hcert.RevocationSet { return l.rev.Load().set }

// Version is the current revocation list's version.
func (l *Lists) Version() string { return l.rev.Load().version }

// Run reloads the revocation list every RefreshInterval until ctx ends.
func (l *Lists) Run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.RefreshInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := l.Reload(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("revocation list reload failed; serving the last one", "err", err)
		}
	}
}

// Reload reads the revocation list from the registry and publishes it as
// a new version when it changed. The portal calls it after every
// revocation, so the list it answers with next includes it.
func (l *Lists) Reload(ctx context.Context) error {
	l.reloadMu.Lock()
	defer l.reloadMu.Unlock()
	hs, err := l.src.RevokedHashes(ctx)
	if err != nil {
		l.m.reloads.WithLabelValues("error").Inc()
		return fmt.Errorf("lists: reading revocations: %w", err)
	}
	l.m.reloads.WithLabelValues("ok").Inc()
	list := listsapi.RevocationList{}
	set := &hcert.RevocationSet{}
	for _, t := range listsapi.HashTypes() {
		raw := hs[store.HashType(t)]
		l := make([]string, 0, len(raw))
		for _, h := range raw {
			l = append(l, hex.EncodeToString(h))
			if err := set.Add(hcert.HashType(t), h); err != nil {
				return fmt.Errorf("lists: revocation hash: %w", err)
			}
		}
		slices.Sort(l)
		list[t] = slices.Compact(l)
	}
	body, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("lists: encoding revocations: %w", err)
	}
	body = append(body, '\n')
	version := httpcache.Version(body)
	cur := l.rev.Load()
	if cur != nil && cur.version == version {
		return nil
	}
	now := l.clock()
	next := &revision{version: version, at: now, list: list, set: set}
	if next.full, err = l.sign(body, listsapi.CtyRevocations); err != nil {
		return err
	}
	if cur != nil {
		c := change{from: cur.version, to: version, added: difference(list, cur.list), removed: difference(cur.list, list)}
		h := cur.history
		if len(h) >= l.cfg.DeltaHistory {
			h = h[len(h)-l.cfg.DeltaHistory+1:]
		}
		// A new slice: the older revision keeps its own history intact.
		next.history = append(slices.Clip(h), c)
		l.m.versions.Inc()
	}
	if next.fullDelta, err = l.renderDelta(next, listsapi.RevocationDelta{Version: version, Full: true,
		Added: list, Removed: emptyList()}); err != nil {
		return err
	}
	l.rev.Store(next)
	l.log.Debug("revocation list published", "version", version, "entries", len(list[listsapi.HashUCI]))
	return nil
}

// delta is the answer to ?since=since from rev. Computing one takes an
// admission slot; turned away, the app gets the full list (flagged full),
// which is at hand: never wrong, only larger.
func (l *Lists) delta(ctx context.Context, rev *revision, since string) (*document, error) {
	if d, ok := rev.deltas.Load(since); ok {
		l.m.deltas.WithLabelValues("delta").Inc()
		return d.(*document), nil
	}
	start := -1
	for i := len(rev.history) - 1; i >= 0; i-- {
		if rev.history[i].from == since {
			start = i
			break
		}
	}
	if since != rev.version && start < 0 {
		// Not cached per since: unknown versions are unbounded.
		l.m.deltas.WithLabelValues("full").Inc()
		return rev.fullDelta, nil
	}
	if l.limiter != nil {
		release, err := l.limiter.Acquire(ctx)
		if err != nil {
			l.m.rejected.WithLabelValues(overload.Reason(err)).Inc()
			l.m.deltas.WithLabelValues("shed_full").Inc()
			return rev.fullDelta, nil
		}
		defer release()
	}
	d := listsapi.RevocationDelta{Added: emptyList(), Removed: emptyList()}
	if start >= 0 {
		d = compose(rev.history[start:])
	}
	d.Version, d.Since = rev.version, since
	doc, err := l.renderDelta(rev, d)
	if err != nil {
		return nil, err
	}
	rev.deltas.Store(since, doc)
	l.m.deltas.WithLabelValues("delta").Inc()
	return doc, nil
}

func (l *Lists) renderDelta(rev *revision, d listsapi.RevocationDelta) (*document, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("lists: encoding a delta: %w", err)
	}
	doc, err := l.sign(append(body, '\n'), listsapi.CtyRevocationDelta)
	if err != nil {
		return nil, err
	}
	// The delta's tag is the version it brings the app to: an app that
	// holds the current list (If-None-Match: "<version>") gets 304.
	doc.etag = `"` + rev.version + `"`
	return doc, nil
}

func (l *Lists) sign(body []byte, cty string) (*document, error) {
	sig, err := listsapi.Sign(l.key, cty, l.clock(), body)
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	return &document{body: body, etag: httpcache.StrongETag(body), sig: sig}, nil
}

// compose folds a run of changes into one: what was added and not
// removed again, what was removed and not added back.
func compose(cs []change) listsapi.RevocationDelta {
	d := listsapi.RevocationDelta{Added: emptyList(), Removed: emptyList()}
	for _, t := range listsapi.HashTypes() {
		added, removed := map[string]bool{}, map[string]bool{}
		for _, c := range cs {
			for _, h := range c.added[t] {
				if removed[h] {
					delete(removed, h) // was there at the start, is there now
				} else {
					added[h] = true
				}
			}
			for _, h := range c.removed[t] {
				if added[h] {
					delete(added, h) // was not there at the start, is not now
				} else {
					removed[h] = true
				}
			}
		}
		for h := range added {
			d.Added[t] = append(d.Added[t], h)
		}
		for h := range removed {
			d.Removed[t] = append(d.Removed[t], h)
		}
		slices.Sort(d.Added[t])
		slices.Sort(d.Removed[t])
	}
	return d
}

// difference is a minus b, per type (both sorted).
func difference(a, b listsapi.RevocationList) listsapi.RevocationList {
	out := emptyList()
	for _, t := range listsapi.HashTypes() {
		for _, h := range a[t] {
			if _, found := slices.BinarySearch(b[t], h); !found {
				out[t] = append(out[t], h)
			}
		}
	}
	return out
}

func emptyList() listsapi.RevocationList {
	out := listsapi.RevocationList{}
	for _, t := range listsapi.HashTypes() {
		out[t] = []string{}
	}
	return out
}

// GenerateSigningKey makes a new list signing key (ECDSA P-256).
func GenerateSigningKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("lists: generating the signing key: %w", err)
	}
	return k, nil
}

// MarshalSigningKey is key as PKCS#8 PEM, for the data directory.
func MarshalSigningKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("lists: encoding the signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseSigningKey reads a PKCS#8 PEM ECDSA P-256 key.
func ParseSigningKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("lists: the signing key file holds no PKCS#8 PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("lists: parsing the signing key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("lists: the signing key is %T, want ECDSA P-256", k)
	}
	return ek, nil
}

// KeySetJSON is the JWK set of key's public half, as GET /v1/lists/keys
// serves it; the data directory keeps a copy for apps to pin.
func KeySetJSON(key *ecdsa.PrivateKey) ([]byte, error) {
	jwk, err := listsapi.JWKOf(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	b, err := json.MarshalIndent(listsapi.KeySet{Keys: []listsapi.JWK{jwk}}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("lists: encoding the key set: %w", err)
	}
	return append(b, '\n'), nil
}
