package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portalclient"
	"github.com/golive-dev/golive/issuer/server"
	"github.com/golive-dev/golive/scenarios/consistency"
)

// TestCrashConsistency runs the all-in-one issuer as a child process,
// issues under concurrent load and kills it with SIGKILL at random moments,
// ten times, with each registry backend. After each restart every
// certificate that got a 201 (or a completed ticket) is in the registry
// and verifies, and no Idempotency-Key maps to two UVCIs: requests whose
// answer was lost in the crash are retried with their key and must come
// back with the UVCI the registry holds for it, if any.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	t.Run("sqlite", func(t *testing.T) { testCrashConsistency(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		testCrashConsistency(t, []string{"--registry", pgtest.NewDatabase(t)})
	})
}

func testCrashConsistency(t *testing.T, extra []string) {
	const rounds, workers = 10, 12
	dir := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "cfg.json")
	// Long tokens (they survive restarts with token.key) and no quota or
	// anomaly rules: the load here is deliberately unlike a pharmacy's.
	if err := os.WriteFile(cfg, []byte(`{"portal":{"access_token_ttl":"1h","pharmacy_quota":{"enabled":false},"anomaly":{"enabled":false}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--role", "all", "--data", dir, "--listen", "127.0.0.1:0", "--config", cfg,
		"--replicas", "2", "--register-size", "20", "--hsm-latency", "2ms", "--log-level", "warn"}
	args = append(args, extra...)
	ctx := context.Background()
	c := startChild(t, args...)
	pc, phs := onboardFrom(t, ctx, c.URL, dir, workers)
	admin, _ := server.ReadToken(server.Layout{Dir: dir}.AdminToken())

	rnd := rand.New(rand.NewPCG(42, 1))
	var (
		acks    []consistency.Ack
		pending = map[string]pendingReq{} // keys whose answer was lost
		seq     int
		tickets = map[string]pendingReq{}
	)
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			c = startChild(t, args...)
			pc.BaseURL = c.URL
		}
		// First settle what the last crash left open: every lost answer is
		// retried with its key.
		for key, p := range pending {
			res, err := pc.Issue(ctx, p.token, key, p.req)
			if err != nil {
				t.Fatalf("round %d: retrying %s after restart: %v", round, key, err)
			}
			if res.Issued != nil {
				acks = append(acks, consistency.Ack{Class: "crash", IdempotencyKey: key, UVCI: res.Issued.UVCI, HC1: res.Issued.HC1})
			} else {
				tickets[res.Deferred.Ticket] = p
			}
			delete(pending, key)
		}

		type answer struct {
			key string
			p   pendingReq
			res portalclient.IssueResult
			err error
		}
		answers := make(chan answer, 1024)
		loadCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := range workers {
			ph := phs[w]
			base := seq + w*100000
			wg.Go(func() {
				for i := 0; loadCtx.Err() == nil; i++ {
					key := fmt.Sprintf("crash-%d-%d-%d", round, w, i)
					p := pendingReq{token: ph.Token, req: vaccination(t, base+i)}
					res, err := pc.Issue(loadCtx, ph.Token, key, p.req)
					answers <- answer{key, p, res, err}
					if err != nil {
						return // the process is gone
					}
				}
			})
		}
		go func() { wg.Wait(); close(answers) }()
		time.Sleep(time.Duration(200+rnd.IntN(600)) * time.Millisecond)
		c.Kill()
		n := 0
		for a := range answers {
			n++
			switch {
			case a.err == nil && a.res.Issued != nil:
				acks = append(acks, consistency.Ack{Class: "crash", IdempotencyKey: a.key, UVCI: a.res.Issued.UVCI, HC1: a.res.Issued.HC1})
			case a.err == nil && a.res.Deferred != nil:
				tickets[a.res.Deferred.Ticket] = a.p
			case a.err != nil && !errors.Is(a.err, context.Canceled):
				pending[a.key] = a.p // answer lost: unknown outcome
			}
		}
		stop()
		seq += 1000
		t.Logf("round %d: %d answers, %d acknowledged so far, %d answers lost to the kill", round, n, len(acks), len(pending))
	}

	// Last restart: settle, drain tickets, then check everything.
	c = startChild(t, args...)
	pc.BaseURL = c.URL
	for key, p := range pending {
		res, err := pc.Issue(ctx, p.token, key, p.req)
		if err != nil {
			t.Fatalf("final retry of %s: %v", key, err)
		}
		if res.Issued != nil {
			acks = append(acks, consistency.Ack{Class: "crash", IdempotencyKey: key, UVCI: res.Issued.UVCI, HC1: res.Issued.HC1})
		} else {
			tickets[res.Deferred.Ticket] = p
		}
	}
	// The tickets drain at the portal's rate: wait while the backlog makes
	// progress (a lease of 30 s plus the drain's backoff), fail on a stall.
	const ticketStall, ticketWait = 45 * time.Second, 5 * time.Minute
	waitStart, lastProgress := time.Now(), time.Now()
	for id, p := range tickets {
		for {
			tv, err := pc.Ticket(ctx, p.token, id)
			if err == nil && tv.State == "done" && tv.UVCI != "" {
				acks = append(acks, consistency.Ack{Class: "crash-ticket", UVCI: tv.UVCI, HC1: tv.HC1})
				lastProgress = time.Now()
				break
			}
			if time.Since(lastProgress) > ticketStall || time.Since(waitStart) > ticketWait {
				t.Fatalf("ticket %s not done (%d tickets, waited %v): %+v %v", id, len(tickets), time.Since(waitStart).Round(time.Second), tv, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(acks) < 50 {
		t.Fatalf("only %d certificates acknowledged over %d rounds: the load did not run", len(acks), rounds)
	}
	rep, err := consistency.Check(ctx, consistency.Config{BaseURL: c.URL, AdminToken: admin, HTTP: &http.Client{Timeout: time.Minute}}, acks)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d, verified %d, lost %d, duplicates %d, unverified %d", rep.Acknowledged, rep.Verified, rep.Lost, rep.Duplicates, rep.Unverified)
	if !rep.OK() || rep.Verified != rep.Acknowledged {
		t.Fatalf("after %d SIGKILLs: %+v", rounds, rep)
	}
}

type pendingReq struct {
	token string
	req   portalapi.IssueRequest
}
