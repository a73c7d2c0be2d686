// Package portalapi is the portal's contract: the request and response
// bodies of its routes, its settings (Config, the profile presets) and the
// profile names. It imports no implementation, so a client (the load
// generator, the scenario parser, the report writer) can speak to a portal
// without linking the registry, the PDF renderer or the password hashing.
// Errors are problem+json (package problem) everywhere.
package portalapi

import (
	"encoding/json"
	"strings"
	"time"
)

// Application is the body of POST /v1/pharmacies.
type Application struct {
	Name        string `json:"name"`
	Street      string `json:"street"`
	PostalCode  string `json:"postal_code"`
	City        string `json:"city"`
	TelematikID string `json:"telematik_id"`
	Email       string `json:"email"`
	// Documents as standard base64: a copy of the operating licence and
	// the night-duty fund's notice (PDF, PNG or JPEG).
	LicenceDocument string `json:"licence_document"`
	NightDutyNotice string `json:"night_duty_notice"`
	// PartyKind is the kind of party applying: "pharmacy" (the default
	// when empty) or "practice" (a doctors' practice, onboarded against the
	// practice register from PracticeOnboardingFrom; see docs/doctors.md).
	// A practice gives its BSNR and LANR, its licence_document is its KV
	// admission, and night_duty_notice is optional.
	PartyKind string `json:"party_kind,omitempty"`
	BSNR      string `json:"bsnr,omitempty"`
	LANR      string `json:"lanr,omitempty"`
}

// Party kinds (Application.PartyKind and the party_kind of answers).
const (
	PartyPharmacy = "pharmacy"
	PartyPractice = "practice"
)

// PartyIDPrefix* lead an account's ID (and so the party's block of every
// UVCI it issues): a pharmacy's "P...", a practice's "D...".
const (
	PartyIDPrefixPharmacy = "P"
	PartyIDPrefixPractice = "D"
)

// PartyKindOf is the kind of the party an account ID names ("" for an ID
// of neither form).
func PartyKindOf(partyID string) string {
	switch {
	case strings.HasPrefix(partyID, PartyIDPrefixPharmacy):
		return PartyPharmacy
	case strings.HasPrefix(partyID, PartyIDPrefixPractice):
		return PartyPractice
	}
	return ""
}

// ApplicationAccepted is the 202 body of POST /v1/pharmacies (and of
// POST /v1/pharmacies/{id}/resend-code).
type ApplicationAccepted struct {
	PharmacyID string `json:"pharmacy_id"`
	Status     string `json:"status"`
	// PartyKind is "pharmacy" or "practice" (pharmacy_id is the account's
	// ID either way: the name predates practices).
	PartyKind string `json:"party_kind,omitempty"`
}

// Activation is the body of POST /v1/pharmacies/{id}/activate.
type Activation struct {
	Code string `json:"code"`
}

// Credentials is the 200 body of an activation: shown once, never again.
type Credentials struct {
	PharmacyID   string `json:"pharmacy_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	PartyKind    string `json:"party_kind,omitempty"`
}

// TokenRequest is the body of POST /v1/token.
type TokenRequest struct {
	GrantType    string `json:"grant_type"` // client_credentials or refresh_token
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// TokenResponse is the 200 body of POST /v1/token.
type TokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
	// PharmacyID is the pharmacy (or practice) the tokens act for.
	PharmacyID string `json:"pharmacy_id,omitempty"`
	// PartyKind is that party's kind, "pharmacy" or "practice".
	PartyKind string `json:"party_kind,omitempty"`
}

// IssueRequest is the body of POST /v1/certificates.
type IssueRequest struct {
	// Type is "v", "t" or "r"; optional (taken from the payload).
	Type string `json:"type,omitempty"`
	// Payload is the DCC JSON without ci (the portal assigns the UVCI).
	Payload json.RawMessage `json:"payload"`
}

// Links point at a certificate's representations or a ticket.
type Links struct {
	Self   string `json:"self,omitempty"`
	PNG    string `json:"png,omitempty"`
	PDF    string `json:"pdf,omitempty"`
	Ticket string `json:"ticket,omitempty"`
}

// Issued is the 201 body of POST /v1/certificates (and of its replays).
type Issued struct {
	UVCI  string `json:"uvci"`
	HC1   string `json:"hc1"`
	Links Links  `json:"links"`
}

// Deferred is the 202 body of POST /v1/certificates: no signer could sign
// in time; the request is kept as a ticket and signed later.
type Deferred struct {
	Ticket     string `json:"ticket"`
	UVCI       string `json:"uvci"`
	RetryAfter int    `json:"retry_after"` // seconds
	Links      Links  `json:"links"`
}

// CertificateView is GET /v1/certificates/{uvci}: metadata, never the
// holder's name or birth date (those are inside the HC1, which only the
// owning pharmacy and the admin can fetch, and only while retained).
type CertificateView struct {
	UVCI         string     `json:"uvci"`
	Type         string     `json:"type"`
	PharmacyID   string     `json:"pharmacy_id"`
	Status       string     `json:"status"` // "valid" or "revoked"
	Kid          string     `json:"kid"`
	Signer       string     `json:"signer,omitempty"`
	RequestedAt  time.Time  `json:"requested_at"`
	IssuedAt     time.Time  `json:"issued_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
	HC1          string     `json:"hc1,omitempty"`
	Links        Links      `json:"links"`
}

// TicketView is GET /v1/tickets/{id}.
type TicketView struct {
	Ticket      string    `json:"ticket"`
	State       string    `json:"state"` // pending, done, failed
	UVCI        string    `json:"uvci"`
	HC1         string    `json:"hc1,omitempty"`
	FailureCode string    `json:"failure_code,omitempty"`
	RetryAfter  int       `json:"retry_after,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// CompletedAt is when the ticket was signed (done) or given up
	// (failed); absent while pending.
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Links       Links      `json:"links"`
}

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	HC1 string `json:"hc1"`
	// Schema also checks the payload against the official DCC schema of
	// its version (reason "schema_violation"); the portal answers 400
	// schema_unavailable when it was started without the schemas.
	Schema bool `json:"schema,omitempty"`
	// DSCValidity is the DSC validity policy: "strict" (default, the hcert
	// rule) or "at-verification" (see docs/verify.md).
	DSCValidity string `json:"dsc_validity,omitempty"`
}

// VerifyResult is what a verifier app would conclude, without the holder's
// name or birth date.
type VerifyResult struct {
	Valid     bool       `json:"valid"`
	Reason    string     `json:"reason,omitempty"`
	Revoked   bool       `json:"revoked"`
	UVCI      string     `json:"uvci,omitempty"`
	Type      string     `json:"type,omitempty"`
	Kid       string     `json:"kid,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	IssuedAt  *time.Time `json:"issued_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Readiness is the 200 body of GET /readyz.
type Readiness struct {
	Status           string `json:"status"`
	SignersAvailable int    `json:"signers_available"`
	DeferredBacklog  int64  `json:"deferred_backlog"`
}

// Event is one audit entry or fraud event as the admin API shows it.
type Event struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor,omitempty"`
	Action     string          `json:"action,omitempty"`
	Subject    string          `json:"subject,omitempty"`
	PharmacyID string          `json:"pharmacy_id,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Detail     json.RawMessage `json:"detail"`
}

// EventPage is GET /v1/admin/audit and /v1/admin/fraud-events; pass
// next_after as ?after= for the next page.
type EventPage struct {
	Entries []Event `json:"entries"`
	Next    int64   `json:"next_after,omitempty"`
}

// LoginFailureCount is one subject's failed and throttled logins on one
// UTC day (GET /v1/admin/login-failures). Subject is a pharmacy ID, or
// "unknown" for client IDs that name no account and for attempts refused
// by the login throttle before the client ID was looked up.
type LoginFailureCount struct {
	Subject   string    `json:"subject"`
	Day       string    `json:"day"`
	Failures  int64     `json:"failures"`
	Throttled int64     `json:"throttled"`
	FirstAt   time.Time `json:"first_at"`
	LastAt    time.Time `json:"last_at"`
}

// LoginFailurePage is GET /v1/admin/login-failures, newest day first.
type LoginFailurePage struct {
	Entries []LoginFailureCount `json:"entries"`
}

// PharmacyState answers the admin POSTs.
type PharmacyState struct {
	PharmacyID string `json:"pharmacy_id"`
	Status     string `json:"status"`
	PartyKind  string `json:"party_kind,omitempty"`
	Revoked    *int   `json:"revoked,omitempty"`
}

// AdminRequest is the optional body of the admin POSTs.
type AdminRequest struct {
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"` // revoke-all: only certificates requested since
}

// RegistryLookup is the body of POST /v1/admin/registry/lookup: the
// certificates a load generator saw acknowledged, for the consistency
// check after a run.
type RegistryLookup struct {
	Items []LookupItem `json:"items"`
}

// LookupItem names one acknowledged certificate; IdempotencyKey and
// PharmacyID are optional and, when given, the key's binding is reported.
type LookupItem struct {
	UVCI           string `json:"uvci"`
	PharmacyID     string `json:"pharmacy_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// LookupResult is one answer of the registry lookup.
type LookupResult struct {
	UVCI       string `json:"uvci"`
	Found      bool   `json:"found"`
	PharmacyID string `json:"pharmacy_id,omitempty"`
	Status     string `json:"status,omitempty"`
	Revoked    bool   `json:"revoked"`
	// HC1 is the stored certificate, so the checker verifies it against
	// the trust list itself instead of trusting the portal's word.
	HC1 string `json:"hc1,omitempty"`
	// KeyUVCI is the UVCI the idempotency key is bound to ("" when the
	// key is unknown or bound to a pending ticket).
	KeyUVCI  string `json:"key_uvci,omitempty"`
	KeyFound bool   `json:"key_found,omitempty"`
}

// RegistryLookupResult is the response of POST /v1/admin/registry/lookup.
type RegistryLookupResult struct {
	Items []LookupResult `json:"items"`
}

// BusinessClock is GET and PUT /v1/admin/business-clock: the simulated
// business day fraud rules judge opening hours on. SimStart holds at
// WallStart and simulated time runs Timescale times faster than the wall;
// a zero SimStart means real time.
type BusinessClock struct {
	SimStart  time.Time `json:"sim_start,omitzero"`
	WallStart time.Time `json:"wall_start,omitzero"`
	Timescale float64   `json:"timescale,omitempty"`
	// Now is the business time at the answer (GET and PUT responses).
	Now time.Time `json:"now,omitzero"`
}
