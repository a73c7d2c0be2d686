package testbed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/loadgen/balance"
)

func TestPortalNames(t *testing.T) {
	if testbed.PortalName(1, 1) != "portal" || testbed.ClientPortalLink(1, 1) != testbed.LinkClientPortal {
		t.Errorf("one portal keeps the names portal and client->portal")
	}
	if testbed.PortalName(2, 3) != "portal-2" || testbed.ClientPortalLink(3, 3) != "client->portal-3" {
		t.Errorf("several portals: %s, %s", testbed.PortalName(2, 3), testbed.ClientPortalLink(3, 3))
	}
	if _, err := testbed.Start(context.Background(), testbed.Options{Kind: testbed.KindLocal, Portals: testbed.MaxPortals + 1}); err == nil {
		t.Error("Start accepted more than MaxPortals portals")
	}
}

// TestLocalTwoPortals: two portals on one PostgreSQL registry, each behind
// its own client link. A key bound through one portal returns the same
// certificate through the other; with one portal killed, a client
// balancing over both still issues; the killed one comes back on its URL.
func TestLocalTwoPortals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and four processes: skipped in -short")
	}
	testbedtest.RequirePostgres(t)
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(loc).Date()
	morning := time.Date(y, m, d, 9, 0, 0, 0, loc) // inside opening hours: no off-hours fraud rule
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindLocal, Binary: testbedtest.Binary(t), Signers: 1, Portals: 2,
		RunID: testbedtest.RunID(t.Name()), SimStart: morning, Timescale: 1, StartTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close(context.Background())

	var names []string
	for _, c := range tb.Components() {
		names = append(names, c.Name)
	}
	for _, want := range []string{"portal-1", "portal-2", "signer-1", "proxy"} {
		if !slices.Contains(names, want) {
			t.Errorf("components %v lack %s", names, want)
		}
	}
	if slices.Contains(names, "portal") {
		t.Errorf("components %v: with two portals none is called plain portal", names)
	}
	for _, want := range []string{"client->portal-1", "client->portal-2", "portal->signer-1"} {
		if !slices.Contains(tb.Links(), want) {
			t.Errorf("links %v lack %s", tb.Links(), want)
		}
	}
	urls := testbed.PortalURLs(tb)
	if len(urls) != 2 || urls[0] == urls[1] || len(testbed.DirectPortalURLs(tb)) != 2 {
		t.Fatalf("portal URLs %v, direct %v", urls, testbed.DirectPortalURLs(tb))
	}
	if reg := testbed.RegistryOf(tb); reg == nil {
		t.Error("two portals started without the PostgreSQL registry they share")
	}
	mustReady(t, tb)

	// Onboard through portal-1, issue through portal-2, repeat the key on
	// portal-1: one registry binds the key once.
	mail, err := register.NewDirMailbox(filepath.Join(tb.DataDir(), "mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.Load(filepath.Join(tb.DataDir(), "register.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	one, two := portalclient.New(urls[0]), portalclient.New(urls[1])
	ph, err := one.Onboard(octx, mail, reg.Entries()[0])
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	payload := func() json.RawMessage {
		raw, err := json.Marshal(dcc.Sample(rnd, dcc.TypeVaccination, morning.Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	body := portalapi.IssueRequest{Payload: payload()}
	first, err := two.Issue(octx, ph.Token, "shared-key-1", body)
	if err != nil || first.Issued == nil {
		t.Fatalf("issue through portal-2 with portal-1's token: %+v %v", first, err)
	}
	again, err := one.Issue(octx, ph.Token, "shared-key-1", body)
	if err != nil || again.Issued == nil || again.Issued.UVCI != first.Issued.UVCI {
		t.Fatalf("the key again through portal-1: %+v %v, want UVCI %s", again, err, first.Issued.UVCI)
	}

	// portal-1 killed: a balancing client still issues, through portal-2.
	if err := tb.Kill(ctx, "portal-1"); err != nil {
		t.Fatal(err)
	}
	tr, err := balance.New(urls, nil)
	if err != nil {
		t.Fatal(err)
	}
	spread := portalclient.New(urls[0])
	spread.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	for i := range 4 {
		res, err := spread.Issue(octx, ph.Token, "after-kill-"+string(rune('a'+i)), portalapi.IssueRequest{Payload: payload()})
		if err != nil || res.Status != http.StatusCreated {
			t.Fatalf("issue %d with portal-1 dead: %+v %v", i, res, err)
		}
	}
	if err := tb.Start(ctx, "portal-1"); err != nil {
		t.Fatal(err)
	}
	if code, err := get(t, testbed.ClientTLS(tb), urls[0]+"/readyz", 5*time.Second); err != nil || code != http.StatusOK {
		t.Errorf("portal-1 after its restart, through its link: %d %v", code, err)
	}
}
