package lists_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/lists"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// flakySource is the registry, switchable to failing.
type flakySource struct {
	st   *store.Store
	fail atomic.Bool
}

func (s *flakySource) RevokedHashes(ctx context.Context) (map[store.HashType][][]byte, error) {
	if s.fail.Load() {
		return nil, errors.New("registry down (test)")
	}
	return s.st.RevokedHashes(ctx)
}

// env is a running issuer whose portal serves lists made here, with a
// signing key the test knows (as an app pins it).
type env struct {
	*portaltest.Env
	L   *lists.Lists
	key *ecdsa.PrivateKey
	src *flakySource
}

func startEnv(t *testing.T, mutate func(*listsapi.Config)) *env {
	t.Helper()
	e := &env{src: &flakySource{}}
	var err error
	if e.key, err = lists.GenerateSigningKey(); err != nil {
		t.Fatal(err)
	}
	clock := &portaltest.Clock{}
	clock.Set(morning(t))
	e.Env = portaltest.Start(t, portaltest.Options{Clock: clock, Deps: func(pe *portaltest.Env, d *portal.Deps) {
		e.src.st = pe.Store
		cfg := listsapi.HardenedConfig()
		if mutate != nil {
			mutate(&cfg)
		}
		if e.L, err = lists.New(cfg, lists.Deps{Source: e.src, TrustList: pe.PKI.Trust, Key: e.key, Clock: pe.Clock.Now}); err != nil {
			t.Fatal(err)
		}
		d.Lists = e.L
	}})
	return e
}

func morning(t *testing.T) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, loc)
}

func (e *env) get(t *testing.T, path string, h http.Header) *portaltest.Response {
	t.Helper()
	return e.Do(t, portaltest.Request{Method: http.MethodGet, Path: path, Header: h})
}

// pinned is the key set an app ships with.
func (e *env) pinned(t *testing.T) listsapi.KeySet {
	t.Helper()
	jwk, err := listsapi.JWKOf(&e.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return listsapi.KeySet{Keys: []listsapi.JWK{jwk}}
}

// verified checks a 200's signature against the pinned key.
func (e *env) verified(t *testing.T, r *portaltest.Response, cty string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%v", r)
	}
	if _, err := listsapi.Verify(r.Header.Get(listsapi.SignatureHeader), r.Body, e.pinned(t), cty); err != nil {
		t.Fatalf("signature of a %s answer: %v", cty, err)
	}
}

// fullList fetches the revocation list and its version (ETag).
func (e *env) fullList(t *testing.T) (listsapi.RevocationList, string) {
	t.Helper()
	r := e.get(t, listsapi.PathRevocations, nil)
	e.verified(t, r, listsapi.CtyRevocations)
	var l listsapi.RevocationList
	r.Decode(t, &l)
	return l, strings.Trim(r.Header.Get("ETag"), `"`)
}

func (e *env) delta(t *testing.T, since string, h http.Header) (*portaltest.Response, listsapi.RevocationDelta) {
	t.Helper()
	r := e.get(t, listsapi.PathRevocationDelta+"?since="+since, h)
	var d listsapi.RevocationDelta
	if r.Status == http.StatusOK {
		e.verified(t, r, listsapi.CtyRevocationDelta)
		r.Decode(t, &d)
	}
	return r, d
}

// hashesOf is what revoking an issued certificate must add to the list,
// computed from its HC1 as a verifier would.
func hashesOf(t *testing.T, hc1 string) listsapi.RevocationList {
	t.Helper()
	d, err := hcert.Decode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hcert.RevocationHashes(d)
	if err != nil {
		t.Fatal(err)
	}
	out := listsapi.RevocationList{}
	for _, ty := range listsapi.HashTypes() {
		out[ty] = []string{hex.EncodeToString(hs[hcert.HashType(ty)])}
	}
	return out
}

func union(ls ...listsapi.RevocationList) listsapi.RevocationList {
	out := lists.EmptyList()
	for _, l := range ls {
		for _, ty := range listsapi.HashTypes() {
			out[ty] = append(out[ty], l[ty]...)
		}
	}
	for _, ty := range listsapi.HashTypes() {
		slices.Sort(out[ty])
	}
	return out
}

func equal(a, b listsapi.RevocationList) bool {
	for _, ty := range listsapi.HashTypes() {
		if !slices.Equal(a[ty], b[ty]) && (len(a[ty]) != 0 || len(b[ty]) != 0) {
			return false
		}
	}
	return true
}

// apply is what an app does with a delta.
func apply(l listsapi.RevocationList, d listsapi.RevocationDelta) listsapi.RevocationList {
	if d.Full {
		return union(d.Added)
	}
	out := lists.EmptyList()
	for _, ty := range listsapi.HashTypes() {
		for _, h := range l[ty] {
			if !slices.Contains(d.Removed[ty], h) {
				out[ty] = append(out[ty], h)
			}
		}
		out[ty] = append(out[ty], d.Added[ty]...)
		slices.Sort(out[ty])
	}
	return out
}

// revokeOne issues a certificate at a new pharmacy and revokes everything
// that pharmacy issued through the admin API; it returns the hashes.
func (e *env) revokeOne(t *testing.T) listsapi.RevocationList {
	t.Helper()
	ph := e.NewPharmacy(t)
	issued := e.MustIssue(t, ph, dcc.TypeVaccination)
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/revoke-all", nil); r.Status != http.StatusOK {
		t.Fatalf("revoke-all: %v", r)
	}
	return hashesOf(t, issued.HC1)
}

// TestRevocationDelta: a revocation made after version V appears in the
// delta since V and nothing else does; deltas compose; an unknown version
// gets the full list; the current version gets an empty delta or 304.
func TestRevocationDelta(t *testing.T) {
	e := startEnv(t, nil)
	list0, v0 := e.fullList(t)
	if !equal(list0, lists.EmptyList()) || len(v0) != listsapi.VersionLength || e.L.Version() != v0 {
		t.Fatalf("empty registry: %v, version %q", list0, v0)
	}
	a := e.revokeOne(t) // the portal reloads the lists before it answers
	list1, v1 := e.fullList(t)
	if v1 == v0 || !equal(list1, a) {
		t.Fatalf("after revoking A: %s -> %s, list %v, want %v", v0, v1, list1, a)
	}
	r, d := e.delta(t, v0, nil)
	if d.Full || d.Since != v0 || d.Version != v1 || !equal(d.Added, a) || !equal(d.Removed, lists.EmptyList()) {
		t.Errorf("delta since V0: %s", r.Body)
	}
	if r.Header.Get("ETag") != `"`+v1+`"` || !strings.Contains(r.Header.Get("Cache-Control"), "stale-if-error=86400") {
		t.Errorf("delta headers: %v", r.Header)
	}

	b := e.revokeOne(t)
	list2, v2 := e.fullList(t)
	if !equal(list2, union(a, b)) {
		t.Fatalf("after revoking B: %v", list2)
	}
	if _, d := e.delta(t, v1, nil); d.Full || d.Version != v2 || !equal(d.Added, b) || !equal(d.Removed, lists.EmptyList()) {
		t.Errorf("delta since V1: %+v, want only B", d)
	}
	if _, d := e.delta(t, v0, nil); d.Full || !equal(d.Added, union(a, b)) || !equal(apply(list0, d), list2) {
		t.Errorf("delta since V0: %+v, want A and B", d)
	}
	// The current version: nothing to add, or 304 for an app that says so.
	if _, d := e.delta(t, v2, nil); d.Full || !equal(d.Added, lists.EmptyList()) || !equal(d.Removed, lists.EmptyList()) || d.Version != v2 {
		t.Errorf("delta since the current version: %+v", d)
	}
	if r, _ := e.delta(t, v2, http.Header{"If-None-Match": {`"` + v2 + `"`}}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("delta with If-None-Match of the current version: %v", r)
	}
	if r := e.get(t, listsapi.PathRevocations, http.Header{"If-None-Match": {`"` + v2 + `"`}}); r.Status != http.StatusNotModified {
		t.Errorf("full list with If-None-Match: %v", r)
	}
	if r := e.get(t, listsapi.PathRevocations, http.Header{"If-None-Match": {`"` + v1 + `"`}}); r.Status != http.StatusOK {
		t.Errorf("full list with an old tag: %v", r)
	}
	// A version never published here (another issuer's, a list from
	// before a restart): the whole list, flagged.
	if _, d := e.delta(t, strings.Repeat("0", listsapi.VersionLength), nil); !d.Full || !equal(d.Added, list2) || d.Version != v2 {
		t.Errorf("delta since an unknown version: %+v", d)
	}

	// Certificates expire off the list, which no registry write marks:
	// the next reload removes them, and the delta says so.
	e.Clock.Advance(3 * 365 * 24 * time.Hour)
	if err := e.L.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	list3, v3 := e.fullList(t)
	if !equal(list3, lists.EmptyList()) {
		t.Fatalf("after every certificate expired: %v", list3)
	}
	if _, d := e.delta(t, v2, nil); d.Full || !equal(d.Removed, union(a, b)) || !equal(d.Added, lists.EmptyList()) || d.Version != v3 {
		t.Errorf("delta after expiry: %+v", d)
	}
	// A and B were revoked and expired after V0: nothing changed for it.
	if _, d := e.delta(t, v0, nil); v3 != v0 && (!equal(d.Added, lists.EmptyList()) || !equal(d.Removed, lists.EmptyList())) {
		t.Errorf("delta since V0 after expiry: %+v", d)
	}
}

// TestDeltaHistoryIsBounded: a version older than delta_history gets the
// full list; newer ones get deltas.
func TestDeltaHistoryIsBounded(t *testing.T) {
	e := startEnv(t, func(c *listsapi.Config) { c.DeltaHistory = 2 })
	_, v0 := e.fullList(t)
	a := e.revokeOne(t)
	_, v1 := e.fullList(t)
	b := e.revokeOne(t)
	c := e.revokeOne(t)
	all, _ := e.fullList(t)
	if _, d := e.delta(t, v0, nil); !d.Full || !equal(d.Added, all) {
		t.Errorf("since a version past the history: %+v", d)
	}
	if _, d := e.delta(t, v1, nil); d.Full || !equal(d.Added, union(b, c)) {
		t.Errorf("since the oldest kept version: %+v (A was %v)", d, a)
	}
}

// TestListsAreSignedAndCacheable: the trust list keeps the format apps
// parse, every list verifies with the pinned key (and the served key set
// is that key), ETags are content tags and 304 works.
func TestListsAreSignedAndCacheable(t *testing.T) {
	e := startEnv(t, nil)
	r := e.get(t, listsapi.PathTrustList, nil)
	e.verified(t, r, listsapi.CtyTrustList)
	tl, err := pki.ParseTrustList(r.Body, "answer")
	if err != nil || len(tl.Entries) != len(e.PKI.DSCs) {
		t.Fatalf("trust list: %v, %d entries", err, len(tl.Entries))
	}
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=3600, stale-if-error=86400" {
		t.Errorf("trust list Cache-Control %q", cc)
	}
	etag := r.Header.Get("ETag")
	if nm := e.get(t, listsapi.PathTrustList, http.Header{"If-None-Match": {etag}}); nm.Status != http.StatusNotModified {
		t.Errorf("trust list revalidation: %v", nm)
	}
	// A list of one kind does not pass for another.
	if _, err := listsapi.Verify(r.Header.Get(listsapi.SignatureHeader), r.Body, e.pinned(t), listsapi.CtyRevocations); !errors.Is(err, listsapi.ErrWrongList) {
		t.Errorf("trust list signature accepted as a revocation list: %v", err)
	}
	// Query parameters (cache-busters) do not change the full lists.
	if r2 := e.get(t, listsapi.PathTrustList+"?_=123&x=%zz", nil); r2.Status != http.StatusOK || r2.Header.Get("ETag") != etag {
		t.Errorf("trust list with a cache-buster: %v", r2)
	}
	// The served key set is the pinned key.
	k := e.get(t, listsapi.PathKeys, nil)
	var ks listsapi.KeySet
	k.Decode(t, &ks)
	if len(ks.Keys) != 1 || ks.Keys[0] != e.pinned(t).Keys[0] {
		t.Errorf("key set %+v, pinned %+v", ks, e.pinned(t))
	}
	// The same registry and PKI, another process (a restart): same tags.
	other, err := lists.New(listsapi.HardenedConfig(), lists.Deps{Source: e.Store, TrustList: e.PKI.Trust, Key: e.key})
	if err != nil {
		t.Fatal(err)
	}
	if other.TrustETag() != etag || other.Version() != e.L.Version() {
		t.Errorf("another process tags the lists %s / %s, this one %s / %s", other.TrustETag(), other.Version(), etag, e.L.Version())
	}
}

// TestRegistryFailureKeepsTheLastList: while the registry cannot be read
// the last list is served unchanged (apps keep verifying).
func TestRegistryFailureKeepsTheLastList(t *testing.T) {
	e := startEnv(t, nil)
	a := e.revokeOne(t)
	_, v := e.fullList(t)
	e.src.fail.Store(true)
	if err := e.L.Reload(context.Background()); err == nil {
		t.Fatal("reload succeeded with the registry down")
	}
	l, v2 := e.fullList(t)
	if v2 != v || !equal(l, a) {
		t.Errorf("with the registry down: %s %v", v2, l)
	}
	m := string(e.get(t, "/metrics", nil).Body)
	for _, want := range []string{`lists_revocation_reloads_total{result="error"} 1`, `lists_revocation_entries{type="UCI"} 1`,
		`lists_requests_total{code="200",route="GET /v1/revocations"}`, `lists_response_bytes_total{route="GET /v1/revocations"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestOverloadedDeltaGetsTheFullList: a delta that would have to be
// computed while admission is full is answered with the full list.
func TestOverloadedDeltaGetsTheFullList(t *testing.T) {
	e := startEnv(t, func(c *listsapi.Config) { c.Limit = listsapi.RouteLimit{MaxConcurrent: 1} })
	_, v0 := e.fullList(t)
	e.revokeOne(t)
	all, _ := e.fullList(t)
	release, err := e.L.HoldSlot()
	if err != nil {
		t.Fatal(err)
	}
	if _, d := e.delta(t, v0, nil); !d.Full || !equal(d.Added, all) {
		t.Errorf("overloaded: %+v", d)
	}
	release()
	if _, d := e.delta(t, v0, nil); d.Full {
		t.Errorf("with a free slot: %+v", d)
	}
}

// TestHostileDeltaQueries: every malformed delta query gets a problem
// naming the parameter.
func TestHostileDeltaQueries(t *testing.T) {
	e := startEnv(t, nil)
	_, v := e.fullList(t)
	for _, tc := range []struct {
		name, query string
		status      int
		code, field string
	}{
		{"no since", "", 400, "required", "since"},
		{"empty since", "since=", 400, "required", "since"},
		{"short", "since=abc", 400, "invalid_version", "since"},
		{"upper case", "since=" + strings.ToUpper(v), 400, "invalid_version", "since"},
		{"quoted ETag", "since=%22" + v + "%22", 400, "invalid_version", "since"},
		{"weak ETag", "since=W/%22" + v + "%22", 400, "invalid_version", "since"},
		{"one digit too many", "since=" + v + "0", 400, "invalid_version", "since"},
		{"not hex", "since=" + strings.Repeat("g", 24), 400, "invalid_version", "since"},
		{"unicode", "since=" + strings.Repeat("%C3%A4", 12), 400, "invalid_version", "since"},
		{"NUL", "since=" + v[:23] + "%00", 400, "invalid_version", "since"},
		{"SQL", "since=1'%20OR%20'1'='1", 400, "invalid_version", "since"},
		{"twice", "since=" + v + "&since=" + v, 400, "duplicate_parameter", "since"},
		{"unknown parameter", "since=" + v + "&full=1", 400, "unknown_parameter", "full"},
		{"bad escape", "since=%zz", 400, "invalid_query", "query"},
		{"long", "since=" + strings.Repeat("a", 300), 414, "query_too_long", "query"},
		{"valid", "since=" + v, 200, "", ""},
	} {
		r := e.get(t, listsapi.PathRevocationDelta+"?"+tc.query, nil)
		if r.Status != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, r, tc.status)
			continue
		}
		if tc.status == 200 {
			continue
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != problem.ContentType || r.Problem.Code != tc.code || r.Problem.Field != tc.field {
			t.Errorf("%s: %q code %q field %q, want %s / %s", tc.name, r.Body, r.Problem.Code, r.Problem.Field, tc.code, tc.field)
		}
	}
	for _, path := range []string{listsapi.PathRevocations, listsapi.PathRevocationDelta, listsapi.PathTrustList, listsapi.PathKeys} {
		r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: path, Body: json.RawMessage(`{}`)})
		if r.Status != http.StatusMethodNotAllowed || r.Problem.Code != "method_not_allowed" {
			t.Errorf("POST %s: %v", path, r)
		}
	}
}

// TestPortalVerifiesAgainstTheLists: POST /v1/verify sees a revocation
// as soon as the lists publish it.
func TestPortalVerifiesAgainstTheLists(t *testing.T) {
	e := startEnv(t, nil)
	ph := e.NewPharmacy(t)
	issued := e.MustIssue(t, ph, dcc.TypeVaccination)
	if v := e.Verify(t, issued.HC1); !v.Valid || v.Revoked {
		t.Fatalf("before revocation: %+v", v)
	}
	if r := e.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/revoke-all", nil); r.Status != http.StatusOK {
		t.Fatal(r)
	}
	if v := e.Verify(t, issued.HC1); v.Valid || !v.Revoked {
		t.Errorf("after revocation: %+v", v)
	}
}
