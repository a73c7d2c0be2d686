package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/lists/listsapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
)

// serveAll runs `serve --role all` on dir until the test ends; it
// returns the base URL and a function that stops it.
func serveAll(t *testing.T, dir, profile string) (string, func()) {
	t.Helper()
	s, err := Defaults(profile)
	if err != nil {
		t.Fatal(err)
	}
	s.Data, s.Listen, s.Replicas, s.RegisterSize, s.LogLevel = dir, "127.0.0.1:0", 1, 20, "warn"
	return serveSettings(t, s)
}

// serveSettings runs `serve` with s until the test ends.
func serveSettings(t *testing.T, s Settings) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, s, nil, func(role, url string) {
			if role == RolePortal {
				urls <- url
			}
		})
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not get ready")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return url, stop
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestServeMountsTheFinderAndTheLists: `serve` answers the finder and the
// lists beside the portal, signs the lists with the data directory's key
// (the same after a restart), and exposes their metrics.
func TestServeMountsTheFinderAndTheLists(t *testing.T) {
	dir := t.TempDir()
	url, stop := serveAll(t, dir, portalapi.ProfileHardened)

	resp, body := get(t, url+finderapi.PathPharmacies+"?postcode=10115")
	var found finderapi.Pharmacies
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &found) != nil || found.Postcode != "10115" {
		t.Fatalf("finder: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=30") {
		t.Errorf("finder Cache-Control %q", cc)
	}

	pinned, err := os.ReadFile(Layout{dir}.ListsKeySet())
	if err != nil {
		t.Fatal(err)
	}
	var keys listsapi.KeySet
	if err := json.Unmarshal(pinned, &keys); err != nil || len(keys.Keys) != 1 {
		t.Fatalf("pinned key set %s: %v", pinned, err)
	}
	if fi, err := os.Stat(Layout{dir}.ListsKey()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("signing key file: %v %v", fi, err)
	}
	for path, cty := range map[string]string{listsapi.PathTrustList: listsapi.CtyTrustList, listsapi.PathRevocations: listsapi.CtyRevocations} {
		resp, body := get(t, url+path)
		if _, err := listsapi.Verify(resp.Header.Get(listsapi.SignatureHeader), body, keys, cty); resp.StatusCode != http.StatusOK || err != nil {
			t.Errorf("%s: %d, signature: %v", path, resp.StatusCode, err)
		}
	}
	_, m := get(t, url+"/metrics")
	for _, want := range []string{"finder_requests_total", "lists_revocation_entries", "portal_in_flight_requests"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	first, _ := get(t, url+listsapi.PathTrustList)
	stop()

	// A restart keeps the key and the tags.
	url, _ = serveAll(t, dir, portalapi.ProfileHardened)
	resp, body = get(t, url+listsapi.PathTrustList)
	if _, err := listsapi.Verify(resp.Header.Get(listsapi.SignatureHeader), body, keys, listsapi.CtyTrustList); err != nil {
		t.Errorf("after a restart the pinned key does not verify: %v", err)
	}
	if resp.Header.Get("ETag") != first.Header.Get("ETag") || resp.Header.Get("ETag") == "" {
		t.Errorf("trust list tagged %s after a restart, %s before", resp.Header.Get("ETag"), first.Header.Get("ETag"))
	}
}

// TestNaiveProfileFinder: --profile naive-2021 brings the 2021 finder.
func TestNaiveProfileFinder(t *testing.T) {
	s, err := Defaults(portalapi.ProfileNaive2021)
	if err != nil {
		t.Fatal(err)
	}
	if s.Finder.MarkStatus || s.Finder.Profile != portalapi.ProfileNaive2021 || s.Lists.Profile != portalapi.ProfileNaive2021 {
		t.Errorf("naive-2021 settings: finder %+v, lists %+v", s.Finder, s.Lists)
	}
	h, _ := Defaults(portalapi.ProfileHardened)
	if !h.Finder.MarkStatus {
		t.Error("the hardened finder must mark statuses")
	}
	if err := h.ApplyFile([]byte(`{"finder":{"mark_status":false,"refresh_interval":"1s"}}`), "c.json"); err != nil || h.Finder.MarkStatus || h.Finder.MaxAge == 0 {
		t.Errorf("a --config file changes only what it names: %+v %v", h.Finder, err)
	}
	h.Finder.RefreshInterval = 0
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "finder") {
		t.Errorf("invalid finder settings: %v", err)
	}
}
