package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/fraud"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/store"
)

// onAnomaly is the portal's answer to a detected pattern: record a fraud
// event and an audit entry, suspend the pharmacy (its refresh tokens die
// with it; access tokens are refused because every request checks the
// pharmacy's state) and revoke what it issued since the anomaly began.
func (p *Portal) onAnomaly(ctx context.Context, a fraud.Anomaly) {
	ctx = context.WithoutCancel(ctx)
	p.log.Warn("fraud anomaly", "pharmacy_id", a.Pharmacy, "kind", a.Kind, "count", a.Count, "limit", a.Limit, "since", a.Since)
	suspended, revoked := false, 0
	if p.cfg.Anomaly.SuspendPharmacy {
		if err := p.suspend(ctx, a.Pharmacy, "system", "anomaly_"+string(a.Kind)); err != nil {
			p.log.Error("suspending pharmacy failed", "pharmacy_id", a.Pharmacy, "err", err)
		} else {
			suspended = true
		}
	}
	if p.cfg.Anomaly.RevokeSinceAnomaly {
		n, err := p.revokeSince(ctx, a.Pharmacy, p.clockTime(a.Since), "system", "anomaly_"+string(a.Kind))
		if err != nil {
			p.log.Error("revoking after anomaly failed", "pharmacy_id", a.Pharmacy, "err", err)
		}
		revoked = n
	}
	detail, _ := json.Marshal(map[string]any{
		"since": a.Since.UTC(), "count": a.Count, "limit": a.Limit, "suspended": suspended, "revoked": revoked,
	})
	if _, err := p.reg.RecordFraudEvent(ctx, store.FraudEvent{PharmacyID: a.Pharmacy, At: p.now(), Kind: string(a.Kind), Detail: detail}); err != nil {
		p.log.Error("recording fraud event failed", "pharmacy_id", a.Pharmacy, "err", err)
	}
	p.m.fraud.WithLabelValues(string(a.Kind)).Inc()
	p.audit(ctx, "system", "fraud.anomaly", a.Pharmacy, map[string]any{
		"kind": a.Kind, "since": a.Since.UTC(), "count": a.Count, "limit": a.Limit, "suspended": suspended, "revoked": revoked,
	})
}

// The admin actions and the fraud controls are a state machine; each
// transition starts only from the states where it makes sense.
var (
	// toSuspended: only an active account is suspended (a pending
	// application cannot issue; there is nothing to stop).
	toSuspended = store.Transition{To: store.PharmacySuspended, From: []store.PharmacyStatus{store.PharmacyActive}}
	// toReinstated: only a suspended account that was activated (an
	// account without credentials made active could never log in).
	toReinstated = store.Transition{To: store.PharmacyActive, From: []store.PharmacyStatus{store.PharmacySuspended},
		NeedsCredentials: true}
)

// suspend blocks a pharmacy: its status, the cache and its refresh tokens.
// Access tokens die with it: every request checks the pharmacy's state.
// A pharmacy suspended already stays so (nothing is recorded again).
func (p *Portal) suspend(ctx context.Context, pharmacyID, actor, reason string) error {
	changed, err := p.reg.TransitionPharmacy(ctx, pharmacyID, toSuspended, actor)
	if err != nil {
		return err
	}
	p.setStatusCache(pharmacyID, store.PharmacySuspended)
	// A failure here leaves no way in: every refresh checks the
	// pharmacy's state, which is suspended already.
	n, err := p.refresh.RevokeSubject(ctx, pharmacyID)
	if err != nil {
		p.log.Error("revoking refresh tokens failed", "pharmacy_id", pharmacyID, "err", err)
	}
	if changed {
		p.audit(ctx, actor, "pharmacy.suspended", pharmacyID, map[string]any{"reason": reason, "refresh_tokens_revoked": n})
	}
	return nil
}

// reinstate makes a suspended pharmacy active again with a clean history.
// An active one is left as it is.
func (p *Portal) reinstate(ctx context.Context, pharmacyID, actor string) error {
	changed, err := p.reg.TransitionPharmacy(ctx, pharmacyID, toReinstated, actor)
	if err != nil {
		return err
	}
	p.setStatusCache(pharmacyID, store.PharmacyActive)
	if changed && p.detector != nil {
		p.detector.Reset(pharmacyID)
	}
	return nil
}

// revokeSince revokes every valid certificate the pharmacy was asked for
// at or after since (zero: all) and republishes the revocation list.
func (p *Portal) revokeSince(ctx context.Context, pharmacyID string, since time.Time, actor, reason string) (int, error) {
	n, err := p.reg.RevokeByPharmacy(ctx, pharmacyID, since, reason, actor)
	if err != nil {
		return 0, err
	}
	p.m.revoked.Add(float64(n))
	if err := p.reloadRevocations(ctx); err != nil {
		return n, fmt.Errorf("reloading revocations: %w", err)
	}
	return n, nil
}

// revokeOne revokes a single certificate.
func (p *Portal) revokeOne(ctx context.Context, pharmacyID, uvci, reason string) error {
	changed, err := p.reg.RevokeCertificate(ctx, uvci, reason, "system")
	if err != nil {
		return err
	}
	if changed {
		p.m.revoked.Inc()
	}
	return p.reloadRevocations(ctx)
}

// reloadRevocations publishes the registry's revocations: the next
// download of the revocation list and the next /v1/verify see them.
func (p *Portal) reloadRevocations(ctx context.Context) error {
	return p.lists.Reload(ctx)
}

// revocations is the current revocation set (replaced, never changed).
func (p *Portal) revocations() *hcert.RevocationSet {
	return p.lists.RevocationSet()
}
