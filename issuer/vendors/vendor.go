// Package vendors is vendor access: pharmacy-software vendors issuing
// certificates for the pharmacies that delegated to them, as pharmacies
// did after the portal's own access stopped on 21 July 2021.
//
// A vendor authenticates every request with a signed client assertion
// (Ed25519 JWS, aud the portal, at most five minutes, jti never seen
// before; see assertion.go for why not mutual TLS). A pharmacy delegates
// to a vendor with its own access token; the vendor then names the
// pharmacy in X-On-Behalf-Of and is refused for any other (403
// not_delegated). Each vendor has its own quota, so one vendor's burst
// cannot take the signing capacity the others need (429 vendor_quota
// with Retry-After). A field sent in a vendor's own format (a date as
// DD.MM.YYYY, a field name of its own) is named in a 422
// incompatible_format before anything is issued.
//
// Issuance itself is the portal's: a vendor's request, once vendor and
// delegation are checked, is served by the portal's POST /v1/certificates
// for that pharmacy (portal.OnBehalf), with the same validation,
// idempotency, quota, durability and deferral. The component runs in the
// portal's process (golive serve --vendors); see docs/vendor-access.md.
package vendors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/overload"
	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/routemetrics"
	"github.com/golive-dev/golive/issuer/vendors/vendorapi"
)

// Portal is what vendor access needs of the portal; *portal.Portal
// implements it.
type Portal interface {
	// Handler serves the portal's routes (a vendor's request is served
	// there, marked with portal.OnBehalf).
	Handler() http.Handler
	// PharmacyOf authenticates a pharmacy's own access token.
	PharmacyOf(r *http.Request) (string, *problem.Problem)
	// PharmacyActive checks a pharmacy may issue.
	PharmacyActive(ctx context.Context, pharmacyID string) *problem.Problem
}

// Deps are vendor access's collaborators.
type Deps struct {
	// File is the vendors file (DATA/vendors.json); "" keeps everything
	// in memory (tests).
	File string
	// AdminTokenHash is auth.HashToken of the admin token (vendor
	// registration); a vendor's or a pharmacy's credential is refused there.
	AdminTokenHash string
	Logger         *slog.Logger
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
}

// maxIssueBody bounds a vendor's issuance body as the portal's does.
const maxIssueBody = 64 << 10

// maxReplayEntries bounds the jti cache: at the quota's rate over five
// minutes for many vendors, with room.
const maxReplayEntries = 1 << 20

// Vendors is the vendor access component.
type Vendors struct {
	cfg      vendorapi.Config
	store    *store
	replays  *replayCache
	quota    *overload.Quota // nil: no vendor quota
	adminTok string
	portal   Portal
	log      *slog.Logger
	clock    func() time.Time
	m        *metrics
	routes   map[string]http.Handler
}

// New builds vendor access; Attach the portal before serving.
func New(cfg vendorapi.Config, deps Deps) (*Vendors, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vendors: %w", err)
	}
	st, err := openStore(deps.File)
	if err != nil {
		return nil, fmt.Errorf("vendors: %w", err)
	}
	v := &Vendors{cfg: cfg, store: st, replays: &replayCache{seen: map[string]time.Time{}, max: maxReplayEntries},
		adminTok: deps.AdminTokenHash, log: deps.Logger, clock: deps.Clock}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.log = v.log.With("component", "vendors", "profile", cfg.Profile)
	if v.clock == nil {
		v.clock = time.Now
	}
	if cfg.Quota.Enabled {
		v.quota = overload.NewQuota(cfg.Quota.Rate, cfg.Quota.Burst, cfg.MaxVendors)
	}
	v.m = newMetrics(v)
	wrap := func(route string, h http.HandlerFunc) http.Handler { return v.m.Wrap(route, h) }
	v.routes = map[string]http.Handler{
		"POST " + vendorapi.PathIssue:         wrap(vendorapi.PathIssue, v.handleIssue),
		"GET " + vendorapi.PathTicket:         wrap(vendorapi.PathTicket, v.handleTicket),
		"POST " + vendorapi.PathDelegations:   wrap(vendorapi.PathDelegations, v.handleDelegate),
		"GET " + vendorapi.PathDelegations:    wrap(vendorapi.PathDelegations, v.handleDelegations),
		"DELETE " + vendorapi.PathDelegation:  wrap(vendorapi.PathDelegation, v.handleWithdraw),
		"PUT " + vendorapi.PathAdminVendor:    wrap(vendorapi.PathAdminVendor, v.adminOnly(v.handleRegister)),
		"DELETE " + vendorapi.PathAdminVendor: wrap(vendorapi.PathAdminVendor, v.adminOnly(v.handleRemove)),
		"GET " + vendorapi.PathAdminVendors:   wrap(vendorapi.PathAdminVendors, v.adminOnly(v.handleList)),
	}
	return v, nil
}

// Attach gives vendor access the portal it issues through.
func (v *Vendors) Attach(p Portal) { v.portal = p }

// Routes are the handlers by mux pattern (portal.Component).
func (v *Vendors) Routes() map[string]http.Handler { return v.routes }

// Metrics is vendor access's Prometheus registry (portal.Component).
func (v *Vendors) Metrics() prometheus.Gatherer { return v.m.Registry }

// refuse writes pr and counts it for vendor ("" before authentication).
func (v *Vendors) refuse(w http.ResponseWriter, vendor string, pr problem.Problem) {
	if vendor == "" {
		vendor = "unauthenticated"
	}
	v.m.vendorRequests.WithLabelValues(vendor, strconv.Itoa(pr.Status), pr.Code).Inc()
	problem.Write(w, pr)
}

func (v *Vendors) notReady(w http.ResponseWriter) bool {
	if v.portal == nil {
		problem.Write(w, problem.Unavailable(time.Second))
		return true
	}
	return false
}

// onBehalf reads X-On-Behalf-Of and checks the pharmacy let vendor act for it.
func (v *Vendors) onBehalf(r *http.Request, vendor string) (string, *problem.Problem) {
	vals := r.Header.Values(vendorapi.OnBehalfHeader)
	if len(vals) != 1 || !validPharmacyID(vals[0]) {
		pr := problem.BadRequest(vendorapi.CodeOnBehalfMissing, vendorapi.OnBehalfHeader, "name the pharmacy in exactly one X-On-Behalf-Of header")
		return "", &pr
	}
	ph := vals[0]
	if v.cfg.DelegationRequired && !v.store.delegated(ph, vendor) {
		pr := problem.Forbidden(vendorapi.CodeNotDelegated, "this pharmacy has not delegated to this vendor")
		pr.Field = vendorapi.OnBehalfHeader
		return "", &pr
	}
	if pr := v.portal.PharmacyActive(r.Context(), ph); pr != nil {
		if pr.Status == http.StatusUnauthorized {
			// No such pharmacy: the vendor's credential was fine.
			npr := problem.Forbidden(vendorapi.CodeNotDelegated, "no such pharmacy has delegated to this vendor")
			npr.Field = vendorapi.OnBehalfHeader
			return "", &npr
		}
		return "", pr
	}
	return ph, nil
}

// validPharmacyID bounds what X-On-Behalf-Of may hold before any lookup.
func validPharmacyID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// asPharmacy serves r as the portal's route path for pharmacy.
func (v *Vendors) asPharmacy(w http.ResponseWriter, r *http.Request, vendor, pharmacy, path string) {
	r2 := r.Clone(portal.OnBehalf(r.Context(), pharmacy, vendor))
	r2.URL.Path, r2.URL.RawPath = path, ""
	rec := &routemetrics.Recorder{ResponseWriter: w}
	v.portal.Handler().ServeHTTP(rec, r2)
	code := rec.Status
	if code == 0 {
		code = http.StatusOK
	}
	v.m.vendorRequests.WithLabelValues(vendor, strconv.Itoa(code), "").Inc()
	if code == http.StatusCreated {
		v.m.issued.WithLabelValues(vendor).Inc()
	}
}

// caller authenticates the vendor and the pharmacy it acts for, or
// answers the refusal (ok false).
func (v *Vendors) caller(w http.ResponseWriter, r *http.Request) (vendor, pharmacy string, ok bool) {
	if v.notReady(w) {
		return "", "", false
	}
	vendor, pr := v.authenticate(r)
	if pr != nil {
		v.refuse(w, "", *pr)
		return "", "", false
	}
	ph, pr := v.onBehalf(r, vendor)
	if pr != nil {
		v.refuse(w, vendor, *pr)
		return "", "", false
	}
	return vendor, ph, true
}

func (v *Vendors) handleIssue(w http.ResponseWriter, r *http.Request) {
	vendor, ph, ok := v.caller(w, r)
	if !ok {
		return
	}
	if v.quota != nil {
		if ok, wait := v.quota.Allow(vendor, v.clock()); !ok {
			pr := problem.TooManyRequests(wait)
			pr.Code = vendorapi.CodeVendorQuota
			pr.Detail = "this vendor's quota is used up; retry after the Retry-After"
			v.refuse(w, vendor, pr)
			return
		}
	}
	if v.cfg.FormatCheck {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIssueBody))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				v.refuse(w, vendor, problem.PayloadTooLarge(maxIssueBody))
				return
			}
			v.refuse(w, vendor, problem.BadRequest("body_unreadable", "", "the request body could not be read"))
			return
		}
		if pr := checkFormat(body); pr != nil {
			v.m.incompatible.WithLabelValues(vendor).Inc()
			v.log.Info("incompatible field format", "vendor", vendor, "field", pr.Field)
			v.refuse(w, vendor, *pr)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	v.asPharmacy(w, r, vendor, ph, "/v1/certificates")
}

func (v *Vendors) handleTicket(w http.ResponseWriter, r *http.Request) {
	vendor, ph, ok := v.caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !validPharmacyID(id) {
		v.refuse(w, vendor, problem.NotFound("no such ticket"))
		return
	}
	v.asPharmacy(w, r, vendor, ph, "/v1/tickets/"+id)
}

// ---------------------------------------------------------------- delegation

// pharmacy authenticates the pharmacy calling with its own token, or
// answers the refusal (ok false).
func (v *Vendors) pharmacy(w http.ResponseWriter, r *http.Request) (string, bool) {
	if v.notReady(w) {
		return "", false
	}
	ph, pr := v.portal.PharmacyOf(r)
	if pr != nil {
		problem.Write(w, *pr)
		return "", false
	}
	return ph, true
}

func (v *Vendors) handleDelegate(w http.ResponseWriter, r *http.Request) {
	ph, ok := v.pharmacy(w, r)
	if !ok {
		return
	}
	var d vendorapi.Delegation
	if pr := problem.DecodeJSON(r, &d, 4096); pr != nil {
		problem.Write(w, *pr)
		return
	}
	if !vendorapi.ValidVendorID(d.Vendor) {
		problem.Write(w, problem.BadRequest("invalid_value", "vendor", "vendor must be a vendor id (lower-case letters, digits, '-')"))
		return
	}
	created, err := v.store.delegate(ph, d.Vendor, v.cfg.MaxDelegations)
	switch {
	case errors.Is(err, errUnknownVendor):
		pr := problem.New(http.StatusNotFound, vendorapi.CodeUnknownVendor, "no vendor of this id is registered")
		pr.Field = "vendor"
		problem.Write(w, pr)
		return
	case errors.Is(err, errTooMany):
		problem.Write(w, problem.Conflict("too_many_delegations", "this pharmacy has delegated to as many vendors as it may"))
		return
	case err != nil:
		v.log.Error("recording a delegation failed", "pharmacy_id", ph, "vendor", d.Vendor, "err", err)
		problem.Write(w, problem.Unavailable(time.Second))
		return
	}
	v.log.Info("delegation", "pharmacy_id", ph, "vendor", d.Vendor, "new", created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, vendorapi.Delegations{Pharmacy: ph, Vendors: v.store.delegations(ph)})
}

func (v *Vendors) handleDelegations(w http.ResponseWriter, r *http.Request) {
	ph, ok := v.pharmacy(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, vendorapi.Delegations{Pharmacy: ph, Vendors: v.store.delegations(ph)})
}

func (v *Vendors) handleWithdraw(w http.ResponseWriter, r *http.Request) {
	ph, ok := v.pharmacy(w, r)
	if !ok {
		return
	}
	vendor := r.PathValue("vendor")
	ok, err := v.store.withdraw(ph, vendor)
	if err != nil {
		v.log.Error("withdrawing a delegation failed", "pharmacy_id", ph, "err", err)
		problem.Write(w, problem.Unavailable(time.Second))
		return
	}
	if !ok {
		problem.Write(w, problem.NotFound("no such delegation"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --------------------------------------------------------------------- admin

// adminOnly guards the vendor registry with the admin token; a vendor's
// assertion or a pharmacy's token is refused.
func (v *Vendors) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v.adminTok == "" || !auth.CheckAdmin(r, v.adminTok) {
			problem.Write(w, problem.Unauthorized("admin_unauthorized", "send Authorization: Bearer <admin token>"))
			return
		}
		h(w, r)
	}
}

func (v *Vendors) handleRegister(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("vendor")
	if !vendorapi.ValidVendorID(id) {
		problem.Write(w, problem.BadRequest("invalid_value", "vendor", "a vendor id is 1 to 32 lower-case letters, digits and '-'"))
		return
	}
	var reg vendorapi.Registration
	if pr := problem.DecodeJSON(r, &reg, 4096); pr != nil {
		problem.Write(w, *pr)
		return
	}
	if _, err := vendorapi.DecodePublicKey(reg.PublicKey); err != nil {
		problem.Write(w, problem.BadRequest("invalid_value", "public_key", err.Error()))
		return
	}
	if len(reg.Name) > 80 {
		problem.Write(w, problem.BadRequest("too_long", "name", "name has at most 80 characters"))
		return
	}
	err := v.store.register(id, FileVendor{Name: reg.Name, PublicKey: reg.PublicKey}, v.cfg.MaxVendors)
	if errors.Is(err, errTooMany) {
		problem.Write(w, problem.Conflict("too_many_vendors", "as many vendors are registered as the settings allow"))
		return
	}
	if err != nil {
		v.log.Error("registering a vendor failed", "vendor", id, "err", err)
		problem.Write(w, problem.Unavailable(time.Second))
		return
	}
	v.log.Info("vendor registered", "vendor", id)
	writeJSON(w, http.StatusOK, vendorapi.Vendor{ID: id, Name: reg.Name, PublicKey: reg.PublicKey})
}

func (v *Vendors) handleRemove(w http.ResponseWriter, r *http.Request) {
	ok, err := v.store.remove(r.PathValue("vendor"))
	if err != nil {
		problem.Write(w, problem.Unavailable(time.Second))
		return
	}
	if !ok {
		problem.Write(w, problem.NotFound("no such vendor"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (v *Vendors) handleList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, vendorapi.VendorList{Vendors: v.store.list()})
}

// writeJSON is problem.WriteJSON: one encoding for every API answer.
func writeJSON(w http.ResponseWriter, status int, body any) { problem.WriteJSON(w, status, body) }
