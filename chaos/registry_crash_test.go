package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/register"
	"github.com/golive-dev/golive/scenarios/consistency"
)

// Bounds of the registry crash test.
const (
	crashPortalKills  = 10
	crashPrimaryKills = 3
	crashClients      = 12
	// keyDeadline bounds how long one client retries one Idempotency-Key.
	keyDeadline = 2 * time.Minute
	// deferredPause is a client's pause after a 202: a pharmacy that got
	// a ticket hands it over before the next customer. Without it twelve
	// clients turn every instant without a signer (each restart) into
	// hundreds of tickets a second, far beyond the drain's 50/s.
	deferredPause = 200 * time.Millisecond
	// ticketStall: the backlog must make progress within a ticket lease
	// (30 s) plus the drain's longest backoff, or a ticket is stuck.
	ticketStall = 45 * time.Second
	// ticketWait bounds the whole wait for the backlog.
	ticketWait = 5 * time.Minute
)

// TestRegistryCrashConsistency is the crash test on PostgreSQL: a local
// testbed with a synchronous standby, 12 clients issuing, the portal
// killed with SIGKILL ten times and the registry's primary three times
// (the standby promoted, the old primary rejoining as the new standby).
// Every client retries an unanswered request with its Idempotency-Key
// until it gets an answer; afterwards every certificate acknowledged is in
// the registry and no key maps to two certificates.
func TestRegistryCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	testbedtest.RequirePostgres(t)
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindLocal, Binary: testbedtest.Binary(t), Signers: 1,
		RunID: testbedtest.RunID("pgcrash"), Registry: testbed.RegistryPostgres, RegistryStandby: true,
		SimStart: morning(t), Timescale: 1,
		Config: []byte(`{"portal":{"access_token_ttl":"1h","pharmacy_quota":{"enabled":false},"anomaly":{"enabled":false}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tb.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	reg := testbed.RegistryOf(tb)
	mail, err := register.NewDirMailbox(filepath.Join(tb.DataDir(), "mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := register.Load(filepath.Join(tb.DataDir(), "register.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	pc := portalclient.New(tb.PortalURL())
	pc.HTTP.Timeout = 10 * time.Second
	phs := make([]*portalclient.Pharmacy, crashClients)
	for i := range phs {
		if phs[i], err = pc.Onboard(ctx, mail, entries.Entries()[i]); err != nil {
			t.Fatal(err)
		}
	}
	now := morning(t)
	var (
		mu      sync.Mutex
		acks    []consistency.Ack
		tickets = map[string]string{} // ticket -> token
	)
	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range crashClients {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; loadCtx.Err() == nil; i++ {
				raw, _ := json.Marshal(dcc.Sample(rnd, dcc.TypeVaccination, now.Add(-time.Hour)))
				key := fmt.Sprintf("pgcrash-%d-%d", w, i)
				deadline := time.Now().Add(keyDeadline)
				// The same key until an answer: a request lost to a kill
				// may have committed, and its retry must find it.
				for time.Now().Before(deadline) {
					res, err := pc.Issue(context.Background(), phs[w].Token, key, portalapi.IssueRequest{Payload: raw})
					if err == nil {
						mu.Lock()
						if res.Issued != nil {
							acks = append(acks, consistency.Ack{Class: "crash", IdempotencyKey: key, UVCI: res.Issued.UVCI, HC1: res.Issued.HC1})
						} else if res.Deferred != nil {
							tickets[res.Deferred.Ticket] = phs[w].Token
						}
						mu.Unlock()
						if res.Deferred != nil {
							time.Sleep(deferredPause)
						}
						break
					}
					time.Sleep(retryAfter)
				}
			}
		})
	}
	rnd := rand.New(rand.NewPCG(42, 1))
	primaryKills := 0
	for round := 1; round <= crashPortalKills; round++ {
		time.Sleep(time.Duration(500+rnd.IntN(1000)) * time.Millisecond)
		if err := tb.Kill(ctx, testbed.Portal); err != nil {
			t.Fatal(err)
		}
		if round%3 == 0 && primaryKills < crashPrimaryKills {
			// The primary dies while the portal is down too; the old one
			// rejoins as the standby once the watcher promoted the other.
			before := len(reg.Failovers())
			killed, err := reg.KillPrimary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			primaryKills++
			for deadline := time.Now().Add(registryTimeout); len(reg.Failovers()) == before; {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: no promotion within %v", round, registryTimeout)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if f := reg.Failovers()[before]; f.Error != "" {
				t.Fatalf("round %d: promotion failed: %s", round, f.Error)
			}
			if err := tb.Start(ctx, killed); err != nil {
				t.Fatalf("round %d: %s rejoining as the standby: %v", round, killed, err)
			}
		}
		if err := tb.Start(ctx, testbed.Portal); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		t.Logf("round %d: %d acknowledged so far, primary %s", round, len(acks), reg.Primary())
		mu.Unlock()
	}
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()
	acked := len(acks)
	t.Logf("load stopped: %d acknowledged, %d tickets to wait for", acked, len(tickets))
	// The tickets drain at the portal's rate (50/s by default): wait as
	// long as the backlog makes progress, fail on a stall.
	waitStart, lastProgress := time.Now(), time.Now()
	for id, token := range tickets {
		for {
			tv, err := pc.Ticket(ctx, token, id)
			if err == nil && tv.State == "done" && tv.UVCI != "" {
				acks = append(acks, consistency.Ack{Class: "crash-ticket", UVCI: tv.UVCI, HC1: tv.HC1})
				lastProgress = time.Now()
				break
			}
			if time.Since(lastProgress) > ticketStall || time.Since(waitStart) > ticketWait {
				t.Fatalf("ticket %s not done (%d of %d tickets done after %v): %+v %v",
					id, len(acks)-acked, len(tickets), time.Since(waitStart).Round(time.Second), tv, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(acks) < 50 {
		t.Fatalf("only %d certificates acknowledged: the load did not run", len(acks))
	}
	rep, err := consistency.Check(ctx, consistency.Config{BaseURL: tb.DirectPortalURL(), AdminToken: tb.AdminToken(),
		HTTP: &http.Client{Timeout: time.Minute}}, acks)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d portal kills, %d primary kills (%d failovers): acknowledged %d, verified %d, lost %d, duplicates %d",
		crashPortalKills, primaryKills, len(reg.Failovers()), rep.Acknowledged, rep.Verified, rep.Lost, rep.Duplicates)
	if !rep.OK() || rep.Verified != rep.Acknowledged || primaryKills != crashPrimaryKills {
		t.Fatalf("after the kills: %+v", rep)
	}
}
