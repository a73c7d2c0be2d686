package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// A verifier-lists class is the verifier apps of a country refreshing what
// they verify offline with: the trust list and the revocation list. The
// millions of apps are scaled down to listsApps simulated ones; each user
// action is one app refreshing one list. An app that holds a list asks
// with If-None-Match (the trust list) or for the delta since the version
// it holds (the revocation list), and checks every list it receives with
// the pinned key (listsapi.Verify). Most apps refreshed last night and
// hold the lists the issuer published when the run began; listsNewShare
// of them are new installs that download everything.

// The app population.
const (
	listsApps = 2000
	// listsNewShare is the share of apps holding nothing at the start.
	listsNewShare = 0.02
	// listsTrustShare is the share of refreshes that are of the trust
	// list (it changes when DSCs do; the revocation list more often).
	listsTrustShare = 0.3
	// listsSetupTimeout bounds reading the key and the lists apps held
	// when the run began.
	listsSetupTimeout = 10 * time.Second
	// listsKeySetFile is the public half of the lists' signing key that
	// `golive serve` writes into its data directory: the pinned key.
	listsKeySetFile = "lists-signing.jwks.json"
)

// What a list refresh asked for (the request's Tag is "APP/ROUTE").
const (
	listsRouteTrust = "trustlist"
	listsRouteFull  = "revocations"
	listsRouteDelta = "delta"
)

// listsApp is what one app holds.
type listsApp struct {
	trustETag  string // the trust list's ETag, quoted as served
	revVersion string // the revocation list's version (its ETag unquoted)
}

// listsClass is one verifier-lists class's apps and what they met.
type listsClass struct {
	name string
	base string
	seed uint64
	keys *listsapi.KeySet // nil: signatures are not checked (a load worker)
	mu   sync.Mutex
	apps []listsApp
	st   rundir.ListsClass
}

// newListsClass prepares the apps. The coordinator pins the key from the
// deployment's data directory (or, without one, fetches it once) and
// reads the lists the apps held last night; a load worker's apps start
// from the same lists and leave checking to the coordinator, which sees
// every answer again (finals).
func (r *run) newListsClass(c spec.Class, seed uint64) *listsClass {
	l := &listsClass{name: c.Name, base: r.client.BaseURL, seed: seed, apps: make([]listsApp, listsApps)}
	ctx, cancel := context.WithTimeout(context.Background(), listsSetupTimeout)
	defer cancel()
	if r.tb != nil || r.o.DataDir != "" {
		keys, source, err := r.listsKeys(ctx)
		if err != nil {
			r.log.Warn("verifier lists: no key to check signatures with", "class", c.Name, "err", err)
		} else {
			l.keys, l.st.KeySource = keys, source
		}
	}
	trust, _, err := l.fetch(ctx, listsapi.PathTrustList)
	if err != nil {
		r.log.Warn("verifier lists: apps start without a trust list", "class", c.Name, "err", err)
	}
	rev, _, err := l.fetch(ctx, listsapi.PathRevocations)
	if err != nil {
		r.log.Warn("verifier lists: apps start without a revocation list", "class", c.Name, "err", err)
	}
	rnd := rand.New(rand.NewPCG(seed, 0x115))
	for i := range l.apps {
		if rnd.Float64() >= listsNewShare {
			l.apps[i] = listsApp{trustETag: trust, revVersion: strings.Trim(rev, `"`)}
		}
	}
	return l
}

// listsKeys is the key set that verifies the lists: pinned from the data
// directory when the harness can read it, else fetched once.
func (r *run) listsKeys(ctx context.Context) (*listsapi.KeySet, string, error) {
	dir := r.o.DataDir
	if r.tb != nil && r.tb.DataDir() != "" {
		dir = r.tb.DataDir()
	}
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, listsKeySetFile))
		if err == nil {
			var ks listsapi.KeySet
			if err := json.Unmarshal(b, &ks); err != nil {
				return nil, "", fmt.Errorf("verifier lists: %s: %w", listsKeySetFile, err)
			}
			return &ks, "pinned", nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("verifier lists: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.client.BaseURL+listsapi.PathKeys, nil)
	if err != nil {
		return nil, "", fmt.Errorf("verifier lists: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("verifier lists: fetching the key set: %w", err)
	}
	defer resp.Body.Close()
	var ks listsapi.KeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ks); err != nil || resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("verifier lists: key set: status %d: %v", resp.StatusCode, err)
	}
	return &ks, "fetched", nil
}

// fetch downloads a list for the apps' starting state and returns its
// ETag; a list whose signature does not verify is not taken.
func (l *listsClass) fetch(ctx context.Context, path string) (etag string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20)); err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	if l.keys != nil {
		if _, err := listsapi.Verify(resp.Header.Get(listsapi.SignatureHeader), body, *l.keys, ctyOf(path)); err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return resp.Header.Get("ETag"), body, nil
}

func ctyOf(path string) string {
	switch path {
	case listsapi.PathTrustList:
		return listsapi.CtyTrustList
	case listsapi.PathRevocations:
		return listsapi.CtyRevocations
	}
	return listsapi.CtyRevocationDelta
}

// request is the class's RequestFunc: app and list by seq.
func (l *listsClass) request(_ context.Context, seq uint64) (loadgen.Request, error) {
	rnd := rand.New(rand.NewPCG(l.seed, seq))
	i := rnd.IntN(len(l.apps))
	l.mu.Lock()
	app := l.apps[i]
	l.mu.Unlock()
	h := http.Header{"Accept": {"application/json"}}
	var path, route string
	switch {
	case rnd.Float64() < listsTrustShare:
		path, route = listsapi.PathTrustList, listsRouteTrust
		if app.trustETag != "" {
			h.Set("If-None-Match", app.trustETag)
		}
	case app.revVersion != "":
		path = listsapi.PathRevocationDelta + "?" + url.Values{listsapi.ParamSince: {app.revVersion}}.Encode()
		route = listsRouteDelta
		h.Set("If-None-Match", `"`+app.revVersion+`"`)
	default:
		path, route = listsapi.PathRevocations, listsRouteFull
	}
	return loadgen.Request{Target: vegetaTarget(http.MethodGet, l.base+path, nil, h), Tag: strconv.Itoa(i) + "/" + route}, nil
}

// observe checks a list an app received and keeps it.
func (l *listsClass) observe(f loadgen.Final) {
	if f.Code != http.StatusOK {
		return // a 304 leaves the app's list as it is; a failure too
	}
	app, route, ok := strings.Cut(f.Tag, "/")
	i, err := strconv.Atoi(app)
	if !ok || err != nil || i < 0 || i >= len(l.apps) {
		return
	}
	cty := listsapi.CtyRevocationDelta
	switch route {
	case listsRouteTrust:
		cty = listsapi.CtyTrustList
	case listsRouteFull:
		cty = listsapi.CtyRevocations
	}
	verified := true
	if l.keys != nil {
		_, err := listsapi.Verify(f.Header.Get(listsapi.SignatureHeader), f.Body, *l.keys, cty)
		verified = err == nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys != nil {
		if verified {
			l.st.Verified++
		} else {
			l.st.SignatureFailures++
		}
	}
	etag := f.Header.Get("ETag")
	switch route {
	case listsRouteTrust:
		l.st.TrustList++
		if verified {
			l.apps[i].trustETag = etag
		}
	case listsRouteFull:
		l.st.Revocations++
		if verified {
			l.apps[i].revVersion = strings.Trim(etag, `"`)
		}
	case listsRouteDelta:
		l.st.Deltas++
		var d listsapi.RevocationDelta
		if json.Unmarshal(f.Body, &d) != nil {
			return
		}
		if d.Full {
			l.st.FullDeltas++
		}
		if verified {
			l.apps[i].revVersion = d.Version
		}
	}
}

func (l *listsClass) summary() *rundir.ListsClass {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st
	return &st
}
