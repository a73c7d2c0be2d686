package portal

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/store"
)

// The deferred queue: requests no signer could sign in time wait as
// tickets in the registry. One dispatcher claims a batch of due tickets
// (the store leases them to this worker), hands them to at most
// DeferredDrainConcurrency workers at DeferredDrainRate per second, and
// waits for the whole batch before claiming the next. The store's
// CompleteTicket records a ticket's certificate only while the ticket is
// unfinished, so a ticket completes exactly once, across restarts too.

func (p *Portal) nudgeDrain() {
	select {
	case p.wakeDrain <- struct{}{}:
	default:
	}
}

// errRetryLater: the ticket stays pending (no signer could sign it now).
var errRetryLater = errors.New("ticket deferred again")

const (
	drainIdlePoll   = 2 * time.Second
	drainMinBackoff = 250 * time.Millisecond
	drainMaxBackoff = 5 * time.Second
)

func (p *Portal) drainLoop(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / p.cfg.DeferredDrainRate)
	batchSize := 4 * p.cfg.DeferredDrainConcurrency
	backoff := drainMinBackoff
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-p.wakeDrain:
		}
		return true
	}
	next := time.Now()
	for ctx.Err() == nil {
		if p.backlog.Load() <= 0 {
			if !sleep(drainIdlePoll) {
				return
			}
			// Resynchronise: tickets may come from a previous run.
			if n, err := p.reg.PendingTicketCount(ctx); err == nil {
				p.backlog.Store(int64(n))
			}
			continue
		}
		if p.signers.Available() == 0 {
			if !sleep(backoff) {
				return
			}
			backoff = min(2*backoff, drainMaxBackoff)
			continue
		}
		batch, err := p.reg.ClaimTickets(ctx, batchSize, p.now())
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("claiming deferred requests failed", "err", err)
			}
			if !sleep(backoff) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			// Nothing due (or only leased elsewhere): recount and wait.
			if n, err := p.reg.PendingTicketCount(ctx); err == nil {
				p.backlog.Store(int64(n))
			}
			if !sleep(backoff) {
				return
			}
			continue
		}
		var (
			wg       sync.WaitGroup
			sem      = make(chan struct{}, p.cfg.DeferredDrainConcurrency)
			stalled  atomic.Bool
			progress atomic.Bool
		)
		for i, t := range batch {
			if stalled.Load() || ctx.Err() != nil {
				// Give the rest back at once rather than at lease end.
				for _, rest := range batch[i:] {
					p.reschedule(rest, p.now().Add(backoff), "not_attempted")
				}
				break
			}
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
			next = next.Add(interval)
			if floor := time.Now().Add(-time.Second); next.Before(floor) {
				next = floor // no catch-up burst after idling
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				for _, rest := range batch[i:] {
					p.reschedule(rest, p.now(), "shutdown")
				}
				break
			}
			wg.Go(func() {
				defer func() { <-sem }()
				switch err := p.processTicket(ctx, t, backoff); {
				case errors.Is(err, errRetryLater):
					stalled.Store(true)
				default:
					progress.Store(true)
				}
			})
		}
		wg.Wait()
		if stalled.Load() && !progress.Load() {
			if !sleep(backoff) {
				return
			}
			backoff = min(2*backoff, drainMaxBackoff)
		} else {
			backoff = drainMinBackoff
		}
	}
}

func (p *Portal) reschedule(t store.Ticket, next time.Time, code string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.reg.RescheduleTicket(ctx, t.ID, next, code); err != nil && !errors.Is(err, store.ErrState) {
		p.log.Error("rescheduling ticket failed", "ticket", t.ID, "err", err)
	}
}

// processTicket tries to sign one claimed ticket. It returns nil when
// the ticket reached a final state (done or failed), errRetryLater when it
// stays pending.
func (p *Portal) processTicket(ctx context.Context, t store.Ticket, backoff time.Duration) error {
	now := p.now()
	fail := func(code string) error {
		err := p.reg.FailTicket(context.WithoutCancel(ctx), t.ID, code)
		if err != nil && !errors.Is(err, store.ErrState) {
			p.log.Error("failing ticket failed", "ticket", t.ID, "err", err)
			return errRetryLater
		}
		if err == nil {
			p.backlog.Add(-1)
			p.log.Info("deferred request failed", "ticket", t.ID, "uvci", t.UVCI, "code", code)
		}
		return nil
	}
	if now.Sub(t.CreatedAt) > p.cfg.DeferredMaxAge.D() {
		return fail("expired")
	}
	if st, err := p.pharmacyStatus(ctx, t.PharmacyID); err != nil {
		p.reschedule(t, now.Add(backoff), "registry_error")
		return errRetryLater
	} else if st != store.PharmacyActive {
		return fail("pharmacy_suspended")
	}
	cert, err := dcc.Parse(t.Request)
	if err != nil || cert.UVCI() != t.UVCI {
		p.log.Error("deferred payload unreadable", "ticket", t.ID, "uvci", t.UVCI)
		return fail("payload_unreadable")
	}
	resp, err := p.sign(ctx, cert, now)
	if err != nil {
		var rej *signerclient.RejectedError
		if errors.As(err, &rej) && errors.Is(err, signerclient.ErrRejected) {
			return fail("rejected_by_signer:" + rej.Problem.Code)
		}
		p.reschedule(t, now.Add(backoff), "no_signer")
		return errRetryLater
	}
	// Suspended while the signature was being made: discard it, nothing
	// was delivered or recorded. (The check after recording below covers
	// the instant between this one and the record.)
	if st, err := p.pharmacyStatus(ctx, t.PharmacyID); err == nil && st != store.PharmacyActive {
		return fail("pharmacy_suspended")
	}
	rec, err := p.certRecordFrom(t.PharmacyID, cert, resp, t.CreatedAt)
	if err != nil {
		p.log.Error("signed certificate unreadable", "ticket", t.ID, "uvci", t.UVCI, "err", err)
		p.reschedule(t, now.Add(backoff), "unreadable_signature")
		return errRetryLater
	}
	done, err := p.reg.CompleteTicket(context.WithoutCancel(ctx), t.ID, rec, []byte(resp.HC1))
	if err != nil {
		p.log.Error("completing ticket failed", "ticket", t.ID, "err", err)
		if errors.Is(err, store.ErrState) {
			return nil // failed meanwhile (purged as expired)
		}
		p.reschedule(t, now.Add(backoff), "registry_error")
		return errRetryLater
	}
	if done {
		return nil // completed before: exactly once holds
	}
	p.backlog.Add(-1)
	if st, _ := p.pharmacyStatus(ctx, t.PharmacyID); st == store.PharmacySuspended {
		if err := p.revokeOne(context.WithoutCancel(ctx), t.PharmacyID, t.UVCI, "issued_while_suspended"); err != nil {
			p.log.Error("revoking a certificate issued during suspension failed", "uvci", t.UVCI, "err", err)
		}
	}
	p.m.issued.WithLabelValues(string(rec.Type), "deferred").Inc()
	p.log.Info("deferred request signed", "ticket", t.ID, "uvci", t.UVCI, "signer", resp.Signer)
	return nil
}
