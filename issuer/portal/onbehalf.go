package portal

import (
	"context"
	"errors"
	"net/http"

	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// onBehalfKey marks a request a component (vendor access) authenticated
// for a pharmacy. It is a context value, not a header: only code in this
// process can set it, never a client.
type onBehalfKey struct{}

type onBehalf struct{ pharmacy, vendor string }

// OnBehalf marks ctx as a request the caller has authenticated for
// pharmacyID, sent by vendor. The portal's routes then serve it as that
// pharmacy's (same validation, idempotency, quota, durability and
// deferral as its own requests), still refusing a suspended or inactive
// pharmacy, and direct-access switching does not apply to it.
func OnBehalf(ctx context.Context, pharmacyID, vendor string) context.Context {
	return context.WithValue(ctx, onBehalfKey{}, onBehalf{pharmacy: pharmacyID, vendor: vendor})
}

func onBehalfOf(ctx context.Context) (onBehalf, bool) {
	ob, ok := ctx.Value(onBehalfKey{}).(onBehalf)
	return ob, ok && ob.pharmacy != ""
}

// PharmacyOf authenticates a pharmacy's own access token (components that
// take a pharmacy's word, such as a delegation to a vendor).
func (p *Portal) PharmacyOf(r *http.Request) (string, *problem.Problem) {
	if _, ok := onBehalfOf(r.Context()); ok {
		// A vendor cannot act as the pharmacy towards other components.
		pr := problem.Forbidden("insufficient_scope", "this needs the pharmacy's own access token")
		return "", &pr
	}
	return p.pharmacyAuth(r)
}

// PharmacyActive checks that pharmacyID exists and may issue (the
// status checks of pharmacyAuth).
func (p *Portal) PharmacyActive(ctx context.Context, pharmacyID string) *problem.Problem {
	_, pr := p.activePharmacy(ctx, pharmacyID)
	return pr
}

// activePharmacy is the account check every pharmacy request passes.
func (p *Portal) activePharmacy(ctx context.Context, id string) (string, *problem.Problem) {
	st, err := p.pharmacyStatus(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		pr := problem.Unauthorized("invalid_token", "the access token is not valid")
		return "", &pr
	case err != nil:
		p.log.Error("reading pharmacy status failed", "pharmacy_id", id, "err", err)
		pr := registryProblem(err, "could not check the account")
		return "", &pr
	case st == store.PharmacySuspended:
		pr := problem.Forbidden("pharmacy_suspended", "this pharmacy account is suspended")
		return "", &pr
	case st != store.PharmacyActive:
		pr := problem.Forbidden("pharmacy_inactive", "this pharmacy account is not active")
		return "", &pr
	}
	return id, nil
}

// SetDirectAccess switches pharmacies' own issuance on or off.
func (p *Portal) SetDirectAccess(on bool) { p.directOff.Store(!on) }

// DirectAccess reports whether pharmacies may issue with their own credential.
func (p *Portal) DirectAccess() bool { return !p.directOff.Load() }

// directStopped refuses a pharmacy's own issuance while direct access is
// off; a vendor's request (OnBehalf) passes.
func (p *Portal) directStopped(r *http.Request) *problem.Problem {
	if !p.directOff.Load() {
		return nil
	}
	if _, ok := onBehalfOf(r.Context()); ok {
		return nil
	}
	pr := problem.Forbidden("direct_access_stopped", "direct portal issuance is stopped: issue through your pharmacy software vendor")
	return &pr
}

func (p *Portal) handleGetDirectAccess(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, portalapi.DirectAccess{Enabled: p.DirectAccess()})
}

func (p *Portal) handleSetDirectAccess(w http.ResponseWriter, r *http.Request) {
	var da portalapi.DirectAccess
	if pr := problem.DecodeJSON(r, &da, p.cfg.MaxBodyBytes); pr != nil {
		problem.Write(w, *pr)
		return
	}
	p.SetDirectAccess(da.Enabled)
	p.log.Info("direct access switched", "enabled", da.Enabled)
	writeJSON(w, http.StatusOK, portalapi.DirectAccess{Enabled: p.DirectAccess()})
}
