// Package finderapi is the contract of the public pharmacy finder (package
// issuer/finder): its route and query parameters, the response body, the
// status vocabulary, the synthetic geography it measures distances with,
// and its settings with the profile presets. It imports no
// implementation, so the citizens' traffic class and the reports can
// speak to a finder without linking the registry.
//
// Errors are problem+json (package problem) with a stable code and the
// query parameter at fault in "field".
package finderapi

import "time"

// PathPharmacies is the finder's one route:
//
//	GET /v1/finder/pharmacies?postcode=10115&radius_km=5&limit=20&status=issuing
//
// postcode is required; the others are optional. Answers carry a weak
// ETag (If-None-Match gives 304), Cache-Control with max-age,
// stale-while-revalidate and stale-if-error, and never personal data.
const PathPharmacies = "/v1/finder/pharmacies"

// Query parameters of PathPharmacies. Any other parameter is refused
// (400 unknown_parameter): a typo must not silently widen a search.
const (
	ParamPostcode = "postcode"  // five ASCII digits, e.g. 10115
	ParamRadius   = "radius_km" // 0.1 to MaxRadiusKm, at most two decimals
	ParamLimit    = "limit"     // 1 to MaxLimit
	// ParamStatus keeps only pharmacies with that status (e.g. issuing).
	ParamStatus = "status"
)

// Bounds of the query.
const (
	DefaultRadiusKm = 5.0
	MinRadiusKm     = 0.1
	// MaxRadiusKm bounds a search: a citizen walks or drives to a
	// pharmacy, and a nationwide radius would make one request cost as
	// much as thousands.
	MaxRadiusKm  = 50.0
	DefaultLimit = 20
	MaxLimit     = 100
	// MaxQueryBytes bounds the raw query string (414 query_too_long).
	MaxQueryBytes = 512
)

// Status is what the finder says about a pharmacy's issuance.
type Status string

const (
	// StatusIssuing: the account is active and its last issuance
	// attempt succeeded (or it has not issued yet).
	StatusIssuing Status = "issuing"
	// StatusDelayed: requests wait for a signer (deferred to a ticket),
	// or no signer can sign at the moment; certificates come later, not
	// at the counter.
	StatusDelayed Status = "delayed"
	// StatusNotIssuing: its last deferred request failed after its last
	// success.
	StatusNotIssuing Status = "not_issuing"
	// StatusSuspended: the account is suspended (cut off by the operator
	// or the fraud controls).
	StatusSuspended Status = "suspended"
)

// Statuses lists every status, for validation and reports.
func Statuses() []Status {
	return []Status{StatusIssuing, StatusDelayed, StatusNotIssuing, StatusSuspended}
}

// Reasons name why a pharmacy is not issuing.
const (
	ReasonRequestsDeferred  = "requests_deferred"       // its requests wait as tickets
	ReasonSignerUnavailable = "signer_unavailable"      // no signer can sign at all now
	ReasonRequestFailed     = "deferred_request_failed" // a deferred request of it failed
	ReasonAccountSuspended  = "account_suspended"
)

// Point is a synthetic geographic point (see Locate).
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Pharmacies is the 200 body of PathPharmacies.
type Pharmacies struct {
	// Postcode, RadiusKm and Limit echo the effective query.
	Postcode string  `json:"postcode"`
	RadiusKm float64 `json:"radius_km"`
	Limit    int     `json:"limit"`
	// Origin is the postcode's synthetic point.
	Origin Point `json:"origin"`
	// Total is how many pharmacies match within the radius; Pharmacies
	// holds the nearest Limit of them, nearest first.
	Total      int        `json:"total"`
	Pharmacies []Pharmacy `json:"pharmacies"`
	// Stale: the registry could not be read, and this answer comes from
	// the last snapshot that could (within the stale-if-error window).
	Stale bool `json:"stale,omitempty"`
}

// Pharmacy is one listed pharmacy: business data only.
type Pharmacy struct {
	// ID is the portal's pharmacy ID, as it appears in the UVCIs the
	// pharmacy issues.
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Street     string  `json:"street"`
	PostalCode string  `json:"postal_code"`
	City       string  `json:"city"`
	Location   Point   `json:"location"`
	DistanceKm float64 `json:"distance_km"` // to Origin, rounded to 0.1 km
	Status     Status  `json:"status"`
	Reason     string  `json:"reason,omitempty"`
	// Since is when the current status other than issuing began
	// (suspended: when the account last changed).
	Since *time.Time `json:"since,omitempty"`
	// LastSuccessAt is when the pharmacy's newest certificate was
	// issued, truncated to the minute so an answer stays the same (and
	// cacheable) while a busy pharmacy keeps issuing; absent when it has
	// not issued yet. The naive-2021 finder does not know it.
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
}
