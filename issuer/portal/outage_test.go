package portal_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
	"github.com/golive-dev/golive/issuer/store"
)

// TestSignerOutage replays Tuesday 15 June 2021 against the hardened
// portal: with every signer down, requests are answered 202 with a ticket
// within the route deadline (none hangs), replays keep their ticket, and
// after recovery the backlog drains and every ticket completes exactly once.
func TestSignerOutage(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode portaltest.SignerMode
	}{{"connections reset", portaltest.SignerDown}, {"signers hang", portaltest.SignerHang}} {
		t.Run(mode.name, func(t *testing.T) {
			env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
			ph := env.NewPharmacy(t)
			env.SetSigners(mode.mode)

			const n = 12
			keys := make([]string, n)
			bodies := make([][]byte, n)
			deferred := make([]portalapi.Deferred, n)
			var wg sync.WaitGroup
			var mu sync.Mutex
			// By the issue deadline; twice it leaves a busy machine room
			// and still tells a deadline from none (signers hang forever).
			budget := 2 * env.Config.IssueDeadline.D()
			for i := range n {
				keys[i] = portaltest.NewKey()
				payload := env.Payload(t, dcc.TypeVaccination)
				bodies[i] = payload
				wg.Go(func() {
					r := env.Issue(t, ph.Token, keys[i], payload)
					mu.Lock()
					defer mu.Unlock()
					if r.Status != http.StatusAccepted {
						t.Errorf("request %d during outage: %v", i, r)
						return
					}
					if r.Elapsed > budget {
						t.Errorf("request %d took %v, deadline %v", i, r.Elapsed, env.Config.IssueDeadline.D())
					}
					if r.Header.Get("Retry-After") == "" || r.Header.Get("Location") == "" {
						t.Errorf("202 without Retry-After or Location: %v", r.Header)
					}
					r.Decode(t, &deferred[i])
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			// A retry of a deferred request gets the same ticket, not a new one.
			r := env.Issue(t, ph.Token, keys[0], bodies[0])
			var again portalapi.Deferred
			r.Decode(t, &again)
			if r.Status != http.StatusAccepted || again.Ticket != deferred[0].Ticket || again.UVCI != deferred[0].UVCI {
				t.Errorf("replay during outage: %v, first ticket %s", r, deferred[0].Ticket)
			}
			tv := ticket(t, env, ph, deferred[0].Ticket)
			if tv.State != "pending" || tv.HC1 != "" {
				t.Errorf("ticket during outage: %+v", tv)
			}
			if ready := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/readyz"}); ready.Status != http.StatusOK {
				t.Errorf("hardened portal not ready during a signer outage: %v", ready)
			}

			env.SetSigners(portaltest.SignerUp)
			deadline := time.Now().Add(20 * time.Second)
			for _, d := range deferred {
				for {
					tv := ticket(t, env, ph, d.Ticket)
					if tv.State == "done" {
						if tv.UVCI != d.UVCI || tv.HC1 == "" {
							t.Errorf("done ticket %+v, want UVCI %s and an HC1", tv, d.UVCI)
						} else if v := env.Verify(t, tv.HC1); !v.Valid || v.UVCI != d.UVCI {
							t.Errorf("drained certificate does not verify: %+v", v)
						}
						break
					}
					if tv.State == "failed" || time.Now().After(deadline) {
						t.Fatalf("ticket %s: %+v", d.Ticket, tv)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			// Exactly once: one certificate per ticket, one audit completion each.
			if c := certCount(t, env, ph.ID); c != n {
				t.Errorf("%d certificates for %d tickets", c, n)
			}
			for _, d := range deferred {
				ev, err := env.Store.AuditLog(context.Background(), store.AuditFilter{Subject: d.Ticket, Action: "ticket.completed"})
				if err != nil || len(ev) != 1 {
					t.Errorf("ticket %s completed %d times (%v)", d.Ticket, len(ev), err)
				}
			}
			// Now the replay returns the certificate.
			r = env.Issue(t, ph.Token, keys[1], bodies[1])
			var iss portalapi.Issued
			r.Decode(t, &iss)
			if r.Status != http.StatusCreated || iss.UVCI != deferred[1].UVCI {
				t.Errorf("replay after drain: %v", r)
			}
		})
	}
}

// TestNaiveOutage: the 2021 portal has no deferral: the request hangs until
// the signing call times out and fails, and nothing is kept.
func TestNaiveOutage(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Profile: portalapi.ProfileNaive2021, Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	env.SetSigners(portaltest.SignerDown)
	r := env.Issue(t, ph.Token, "", env.Payload(t, dcc.TypeVaccination))
	if r.Status != http.StatusGatewayTimeout || r.Problem.Code != "signer_timeout" {
		t.Fatalf("naive outage: %v", r)
	}
	if r.Elapsed < env.Config.SignCallTimeout.D() {
		t.Errorf("answered after %v: the 2021 portal hung for the whole signing timeout", r.Elapsed)
	}
	if n, err := env.Store.PendingTicketCount(context.Background()); err != nil || n != 0 {
		t.Errorf("naive portal kept %d tickets", n)
	}
	if ready := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/readyz"}); ready.Status != http.StatusServiceUnavailable {
		t.Errorf("naive portal ready without signers: %v", ready)
	}
}

func ticket(t *testing.T, env *portaltest.Env, ph *portaltest.Pharmacy, id string) portalapi.TicketView {
	t.Helper()
	r := env.Do(t, portaltest.Request{Method: http.MethodGet, Path: "/v1/tickets/" + id, Token: ph.Token})
	if r.Status != http.StatusOK {
		t.Fatalf("ticket %s: %v", id, r)
	}
	var tv portalapi.TicketView
	r.Decode(t, &tv)
	return tv
}

// TestClientDeadline: the caller's X-Request-Deadline bounds the signer
// call; with hanging signers the hardened portal defers when the caller's
// time is up, not at its own longer deadline.
func TestClientDeadline(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	env.SetSigners(portaltest.SignerHang)
	h := http.Header{}
	h.Set("Idempotency-Key", portaltest.NewKey())
	h.Set("X-Request-Deadline", time.Now().Add(300*time.Millisecond).UTC().Format(time.RFC3339Nano))
	r := env.Do(t, portaltest.Request{Method: http.MethodPost, Path: "/v1/certificates", Token: ph.Token, Header: h,
		Body: portalapi.IssueRequest{Payload: env.Payload(t, dcc.TypeTest)}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("got %v", r)
	}
	if r.Elapsed < 250*time.Millisecond || r.Elapsed >= env.Config.SignCallTimeout.D() {
		t.Errorf("answered after %v: want the caller's 300 ms, not the portal's %v", r.Elapsed, env.Config.SignCallTimeout.D())
	}
}

// TestDeferredAfterSuspension: a request deferred before its pharmacy was
// suspended is never signed; its ticket fails.
func TestDeferredAfterSuspension(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Clock: morningClock(t)})
	ph := env.NewPharmacy(t)
	env.SetSigners(portaltest.SignerDown)
	r := env.Issue(t, ph.Token, portaltest.NewKey(), env.Payload(t, dcc.TypeVaccination))
	if r.Status != http.StatusAccepted {
		t.Fatalf("deferral: %v", r)
	}
	var d portalapi.Deferred
	r.Decode(t, &d)
	if r := env.Admin(t, http.MethodPost, "/v1/admin/pharmacies/"+ph.ID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %v", r)
	}
	env.SetSigners(portaltest.SignerUp)
	var tv portalapi.TicketView
	for deadline := time.Now().Add(15 * time.Second); ; {
		env.Admin(t, http.MethodGet, "/v1/tickets/"+d.Ticket, nil).Decode(t, &tv)
		if tv.State != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tv.State != "failed" || tv.FailureCode != "pharmacy_suspended" || tv.HC1 != "" {
		t.Errorf("ticket of a suspended pharmacy: %+v", tv)
	}
	if n := certCount(t, env, ph.ID); n != 0 {
		t.Errorf("%d certificates issued for a suspended pharmacy", n)
	}
}
