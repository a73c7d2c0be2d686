package mailout

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/signerclient"
	"github.com/golive-dev/golive/issuer/store"
)

// recordTimeout bounds one write of outcomes; countEvery how often the
// unfinished items are counted for the backlog gauge.
const (
	recordTimeout = 30 * time.Second
	countEvery    = 5 * time.Second
)

// Run runs the workers until ctx ends: each claims due items, signs them
// one at a time (with Yield, each in a gap of interactive issuance) and
// records them in batches. Items left signing when ctx ends stay leased
// and are taken again after the lease.
func (m *Mailout) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range m.cfg.Workers {
		wg.Go(func() { m.work(ctx) })
	}
	wg.Go(func() { m.countLoop(ctx) })
	wg.Wait()
	return nil
}

func (m *Mailout) countLoop(ctx context.Context) {
	t := time.NewTicker(countEvery)
	defer t.Stop()
	for {
		if n, err := m.reg.MailoutUnfinished(ctx); err == nil {
			m.unfinished.Store(int64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Mailout) work(ctx context.Context) {
	var carry []store.MailoutOutcome
	for ctx.Err() == nil {
		n, next, err := m.step(ctx, carry)
		carry = next
		if err != nil && ctx.Err() == nil {
			m.log.Warn("mail-out round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(m.cfg.Idle.D())
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
	// Stopping: the signatures in hand are recorded, not thrown away.
	if err := m.record(ctx, carry); err != nil {
		m.log.Warn("recording mail-out items at shutdown failed; they are signed again after their lease", "err", err)
	}
}

// RunOnce claims one batch of due items, works it off and records it; it
// returns how many items it claimed. Tests call it to step the worker
// (the workers of Run record a batch together with the next claim).
func (m *Mailout) RunOnce(ctx context.Context) (int, error) {
	n, outs, err := m.step(ctx, nil)
	if err != nil {
		return n, err
	}
	return n, m.record(ctx, outs)
}

// step records carry (the previous batch's outcomes) and claims the next
// batch in one write, signs it and returns its outcomes, not yet
// recorded (RecordBatch at a time are, when it is smaller than a claim).
func (m *Mailout) step(ctx context.Context, carry []store.MailoutOutcome) (int, []store.MailoutOutcome, error) {
	if err := m.lanes.Spare(ctx); err != nil {
		return 0, carry, err
	}
	now := m.clock()
	_, items, err := m.reg.FinishAndClaimMailoutItems(ctx, carry, m.cfg.ClaimBatch, now, now.Add(m.cfg.Lease.D()))
	if err != nil {
		return 0, carry, err
	}
	m.counted(carry)
	var outs []store.MailoutOutcome
	unavailable := false
	for _, it := range items {
		if unavailable || ctx.Err() != nil {
			// No signer (or stopping): the rest of the claim is due again
			// later, without an attempt each.
			outs = append(outs, store.MailoutOutcome{JobID: it.JobID, Key: it.Key,
				RetryAt: m.clock().Add(m.cfg.RetryAfter.D()), ErrorCode: "signer_unavailable"})
			continue
		}
		if err := m.pace(ctx); err != nil {
			outs = append(outs, store.MailoutOutcome{JobID: it.JobID, Key: it.Key, RetryAt: m.clock(), ErrorCode: "stopped"})
			continue
		}
		if err := m.lanes.Spare(ctx); err != nil {
			outs = append(outs, store.MailoutOutcome{JobID: it.JobID, Key: it.Key, RetryAt: m.clock(), ErrorCode: "stopped"})
			continue
		}
		o := m.signItem(ctx, it)
		if !o.RetryAt.IsZero() {
			unavailable = true
		}
		outs = append(outs, o)
		if len(outs) >= m.cfg.RecordBatch && len(outs) < len(items) {
			if err := m.record(ctx, outs); err != nil {
				return len(items), nil, err
			}
			outs = nil
		}
	}
	return len(items), outs, nil
}

// record writes outcomes in one write. Recording waits for a gap too (the
// registry's writer is shared with pharmacies' certificates), and runs
// even when ctx ended: signatures in hand are not thrown away.
func (m *Mailout) record(ctx context.Context, outs []store.MailoutOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	if err := m.lanes.Spare(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := m.reg.FinishMailoutItems(wctx, outs); err != nil {
		return err
	}
	m.counted(outs)
	return nil
}

// counted counts recorded outcomes.
func (m *Mailout) counted(outs []store.MailoutOutcome) {
	for _, o := range outs {
		switch {
		case o.Failed:
			m.m.items.WithLabelValues("failed").Inc()
			m.unfinished.Add(-1)
		case !o.RetryAt.IsZero():
			m.m.items.WithLabelValues("retry").Inc()
		default:
			m.m.items.WithLabelValues("issued").Inc()
			m.unfinished.Add(-1)
		}
	}
}

// pace waits for the next slot of MaxRate (shared by the workers).
func (m *Mailout) pace(ctx context.Context) error {
	if m.cfg.MaxRate <= 0 {
		return ctx.Err()
	}
	interval := time.Duration(float64(time.Second) / m.cfg.MaxRate)
	m.paceMu.Lock()
	now := time.Now()
	slot := now
	if m.nextSlot.After(now) {
		slot = m.nextSlot
	}
	// A worker that was idle does not bank slots for a burst.
	m.nextSlot = slot.Add(interval)
	m.paceMu.Unlock()
	if wait := slot.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// signItem signs one claimed item with its fixed UVCI.
func (m *Mailout) signItem(ctx context.Context, it store.MailoutItem) store.MailoutOutcome {
	out := store.MailoutOutcome{JobID: it.JobID, Key: it.Key, UVCI: it.UVCI}
	var cert dcc.Certificate
	if err := json.Unmarshal(it.Request, &cert); err != nil {
		out.Failed, out.ErrorCode = true, "request_unreadable"
		return out
	}
	cert.SetUVCI(it.UVCI)
	sctx, cancel := context.WithTimeout(ctx, m.cfg.SignTimeout.D())
	defer cancel()
	start := time.Now()
	resp, err := m.signer.Sign(sctx, signerclient.SignRequest{Type: cert.Type(), Payload: &cert, IssuedAt: m.clock(), RequestID: it.UVCI})
	m.m.signTime.Observe(time.Since(start).Seconds())
	if err != nil {
		var rej *signerclient.RejectedError
		if errors.As(err, &rej) && errors.Is(err, signerclient.ErrRejected) {
			out.Failed, out.ErrorCode = true, "rejected_by_signer:"+rej.Problem.Code
			return out
		}
		m.log.Warn("mail-out signing failed", "job", it.JobID, "uvci", it.UVCI, "err", err)
		out.RetryAt, out.ErrorCode = m.clock().Add(m.cfg.RetryAfter.D()), "signer_unavailable"
		return out
	}
	out.HC1, out.KID, out.IssuedAt, out.ExpiresAt = []byte(resp.HC1), resp.Kid, resp.IssuedAt, resp.ExpiresAt
	return out
}
