package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/finder/finderapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/loadgen"
	"github.com/golive-dev/golive/scenarios/spec"
)

// finderAnswer is a finder 200 listing the pharmacies with their statuses.
func finderAnswer(t *testing.T, etag string, at time.Time, statuses map[string]finderapi.Status) loadgen.Final {
	t.Helper()
	var ans finderapi.Pharmacies
	for id, st := range statuses {
		ans.Pharmacies = append(ans.Pharmacies, finderapi.Pharmacy{ID: id, Status: st})
	}
	b, err := json.Marshal(ans)
	if err != nil {
		t.Fatal(err)
	}
	return loadgen.Final{Class: "finder", Tag: "/q", Code: http.StatusOK, Outcome: loadgen.OutcomeOK, Body: b,
		Header: http.Header{"Etag": {etag}}, Done: at}
}

// TestDeadListings: an answer listing as issuing a pharmacy seen failing
// from more than the grace before it until after it is a dead listing,
// shown again by a 304 too; the same answer before the grace, after the
// failures stopped, or marking the pharmacy delayed is not.
func TestDeadListings(t *testing.T) {
	setups := []*classSetup{{spec: spec.Class{Name: "issue", Kind: spec.KindIssue},
		accounts: newAccounts(nil, []*portalclient.Pharmacy{{ID: "CUT"}, {ID: "FINE"}})}}
	r := &run{}
	r.publicRequest(spec.Class{Name: "x", Kind: "none"}, 1, setups) // the shared state alone
	tr := r.public.issuing
	f := &finderClass{pharmacy: tr, held: map[string]finderHeld{}}
	t0 := time.Date(2021, 6, 15, 12, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	issue := func(id string, at time.Time, o loadgen.Outcome, code int) {
		tr.note(loadgen.Final{Class: "issue", Tag: id, Outcome: o, Code: code, Intended: at.Add(-time.Second), Done: at})
	}
	for s := 0; s <= 60; s += 2 {
		issue("FINE", sec(s), loadgen.OutcomeOK, http.StatusCreated)
	}
	issue("CUT", sec(0), loadgen.OutcomeOK, http.StatusCreated)
	for s := 5; s <= 40; s += 5 { // cut off from 5 s to 40 s
		issue("CUT", sec(s), loadgen.OutcomeError, http.StatusGatewayTimeout)
	}
	issue("CUT", sec(41), loadgen.OutcomeOverload, http.StatusTooManyRequests) // says nothing
	issue("CUT", sec(55), loadgen.OutcomeOK, http.StatusCreated)

	both := map[string]finderapi.Status{"CUT": finderapi.StatusIssuing, "FINE": finderapi.StatusIssuing}
	f.observe(finderAnswer(t, `W/"a"`, sec(10), both))                                                                            // within the grace: not judged dead
	f.observe(finderAnswer(t, `W/"b"`, sec(20), both))                                                                            // dead
	f.observe(loadgen.Final{Class: "finder", Tag: "/q", Code: http.StatusNotModified, Outcome: loadgen.OutcomeOK, Done: sec(30)}) // dead again
	f.observe(finderAnswer(t, `W/"c"`, sec(25), map[string]finderapi.Status{"CUT": finderapi.StatusDelayed, "FINE": finderapi.StatusIssuing}))
	f.observe(finderAnswer(t, `W/"d"`, sec(45), both)) // failures stopped at 40 s: benefit of the doubt
	f.observe(loadgen.Final{Class: "finder", Tag: "/q", Code: http.StatusServiceUnavailable, Outcome: loadgen.OutcomeOverload, Done: sec(22)})

	got := f.summary(nil)
	if got.Answers != 5 || got.Judged != 5 {
		t.Errorf("answers %d judged %d, want 5 and 5", got.Answers, got.Judged)
	}
	if got.DeadListings != 2 || got.DeadEntries != 2 {
		t.Errorf("dead listings %d (entries %d), want 2: the answer at 20 s and the 304 at 30 s", got.DeadListings, got.DeadEntries)
	}
	if got.FirstDead == nil || !got.FirstDead.Equal(sec(20)) || got.LastDead == nil || !got.LastDead.Equal(sec(30)) {
		t.Errorf("dead listings from %v to %v, want 20 s to 30 s", got.FirstDead, got.LastDead)
	}
}

// miniPublic is a short cut-off with citizens at the finder and apps
// refreshing their lists.
const miniPublic = `
name: mini-public
description: Citizens at the finder and verifier apps while the signers are cut off.
clock: {date: 2021-06-15, start: "11:00", end: "12:00", timescale: 120}
system:
  signers: 1
  hsm: {slots: 10, latency: 5ms}
  signer: {lockout_mark: 0}
traffic:
  - name: issue
    kind: issue
    pharmacies: 8
    demand: [{shape: step, from: "11:00", until: "12:00", rate: 12}]
  - name: finder
    kind: finder
    demand: [{shape: step, from: "11:00", until: "12:00", rate: 20}]
  - name: lists
    kind: verifier-lists
    demand: [{shape: step, from: "11:00", until: "12:00", rate: 15}]
faults:
  - {kind: blackhole, target: "portal->signers", at: "11:05", until: "11:55"}  # 25 s wall: well past the 10 s grace
thresholds:
  - lost == 0
`

// TestRunPublicLocal runs the finder and verifier-lists classes on the
// local testbed under both profiles: requests, bytes and 304s are
// counted, every list verifies with the pinned key, and the cut-off
// pharmacies are dead listings at the 2021 finder and not at the
// hardened one.
func TestRunPublicLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed twice")
	}
	sc, err := spec.Parse([]byte(miniPublic), "mini-public.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]int64{}
	for _, profile := range []string{portalapi.ProfileNaive2021, portalapi.ProfileHardened} {
		sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Profile: profile, Out: t.TempDir(),
			Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("public-" + profile[:5])})
		if err != nil {
			t.Fatalf("%s: run: %v", profile, err)
		}
		fc, lc := sum.Classes["finder"], sum.Classes["lists"]
		for name, c := range map[string]struct {
			requests, bytes, notModified int64
			hit                          *float64
		}{"finder": {fc.Requests, fc.Bytes, fc.NotModified, fc.CacheHitRate}, "lists": {lc.Requests, lc.Bytes, lc.NotModified, lc.CacheHitRate}} {
			if c.requests < 100 || c.bytes == 0 || c.notModified == 0 || c.hit == nil || *c.hit <= 0 || *c.hit > 1 {
				t.Errorf("%s %s: requests %d bytes %d 304s %d hit rate %v", profile, name, c.requests, c.bytes, c.notModified, c.hit)
			}
		}
		if lc.CacheHitRate != nil && *lc.CacheHitRate < 0.8 {
			t.Errorf("%s: the apps' cache hit rate is %.2f, most hold the current lists", profile, *lc.CacheHitRate)
		}
		if l := lc.Lists; l == nil || l.Verified == 0 || l.SignatureFailures != 0 || l.KeySource != "pinned" {
			t.Errorf("%s: lists %+v", profile, l)
		}
		if fc.Finder == nil || fc.DeadListings == nil || fc.Finder.Judged == 0 || fc.Kind != string(spec.KindFinder) {
			t.Fatalf("%s: finder %+v", profile, fc)
		}
		dead[profile] = *fc.DeadListings
		t.Logf("%s: finder %d answers, %d judged, %d dead; lists %d requests, %d bytes, hit rate %.3f",
			profile, fc.Finder.Answers, fc.Finder.Judged, *fc.DeadListings, lc.Requests, lc.Bytes, *lc.CacheHitRate)
	}
	if dead[portalapi.ProfileNaive2021] == 0 {
		t.Error("the 2021 finder listed no cut-off pharmacy as issuing")
	}
	if dead[portalapi.ProfileHardened] != 0 {
		t.Errorf("the hardened finder listed cut-off pharmacies as issuing %d times", dead[portalapi.ProfileHardened])
	}
}
