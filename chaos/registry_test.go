package chaos_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/scenarios/consistency"
)

// registryTimeout bounds how long the portal may answer 503 while the
// standby is promoted.
const registryTimeout = 90 * time.Second

// retryAfter is the portal's Retry-After for registry_unavailable.
const retryAfter = time.Second

// TestLocalRegistryFailover: a local testbed on a PostgreSQL registry with
// a synchronous standby; certificates are issued, the primary is killed,
// the watcher promotes the standby, the portal finds it, and every
// certificate that got a 201 before and after is in the registry.
func TestLocalRegistryFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and a local testbed")
	}
	testbedtest.RequirePostgres(t)
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindLocal, Binary: testbedtest.Binary(t), Signers: 1,
		RunID: testbedtest.RunID("pgfail"), Registry: testbed.RegistryPostgres, RegistryStandby: true,
		SimStart: morning(t), Timescale: 1, LogDir: os.Getenv("GOLIVE_TEST_LOGS"),
		// One pharmacy retries through the failover: no quota or anomaly
		// rule may stop it.
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
	if reg == nil {
		t.Fatal("a postgres testbed has no registry cluster")
	}
	if p := reg.Primary(); p != testbed.RegistryNode(1) {
		t.Fatalf("primary %s, want %s", p, testbed.RegistryNode(1))
	}
	ph := onboard(t, tb, func() time.Time { return morning(t) })
	var acks []consistency.Ack
	issue := func(n int) {
		for range n {
			r, err := ph.issue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == http.StatusCreated {
				acks = append(acks, consistency.Ack{Class: "t", UVCI: r.Issued.UVCI, HC1: r.Issued.HC1})
			}
		}
	}
	issue(20)
	if len(acks) != 20 {
		t.Fatalf("%d of 20 issued before the failover", len(acks))
	}
	killedAt := time.Now()
	killed, err := reg.KillPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// While the standby is promoted the portal answers 503 with
	// Retry-After, never a hang or a 500.
	deadline := time.Now().Add(registryTimeout)
	var statuses = map[int]int{}
	var recovered time.Time
	for {
		r, err := ph.issue(ctx)
		var pr problem.Problem
		switch {
		case errors.As(err, &pr) && pr.Status == http.StatusServiceUnavailable && pr.Code == "registry_unavailable":
			r.Status = pr.Status
		case err != nil:
			t.Fatalf("issue during the failover: %v", err)
		}
		statuses[r.Status]++
		if r.Status == http.StatusCreated {
			acks = append(acks, consistency.Ack{Class: "t", UVCI: r.Issued.UVCI, HC1: r.Issued.HC1})
			recovered = time.Now()
			break
		}
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("issue during the failover answered %d, want 503 or 201", r.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 201 within %v of killing the primary (%v)", registryTimeout, statuses)
		}
		time.Sleep(retryAfter) // the 503's Retry-After
	}
	fo := reg.Failovers()
	if len(fo) != 1 || fo[0].Failed != killed || fo[0].NewPrimary != testbed.RegistryNode(2) || fo[0].Promoted.IsZero() {
		t.Fatalf("failovers %+v, want one from %s to %s", fo, killed, testbed.RegistryNode(2))
	}
	if reg.Primary() != testbed.RegistryNode(2) {
		t.Fatalf("primary %s after the failover", reg.Primary())
	}
	issue(10)
	rep, err := consistency.Check(ctx, consistency.Config{BaseURL: tb.DirectPortalURL(), AdminToken: tb.AdminToken(),
		HTTP: &http.Client{Timeout: time.Minute}}, acks)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first 201 %v after the kill; statuses during failover %v; failover %+v; acknowledged %d lost %d duplicates %d", recovered.Sub(killedAt).Round(time.Millisecond), statuses, fo[0], rep.Acknowledged, rep.Lost, rep.Duplicates)
	if rep.Lost != 0 || rep.Duplicates != 0 || rep.Acknowledged != len(acks) {
		t.Fatalf("after the failover: %+v", rep)
	}
}
