package store

import (
	"encoding/json"
	"time"
)

// CertType is the DCC certificate type.
type CertType string

const (
	Vaccination CertType = "v"
	Test        CertType = "t"
	Recovery    CertType = "r"
)

func (t CertType) valid() bool { return t == Vaccination || t == Test || t == Recovery }

// CertStatus is a certificate's revocation state.
type CertStatus string

const (
	CertValid   CertStatus = "valid"
	CertRevoked CertStatus = "revoked"
)

// HashType names a revocation hash the way the EU revocation lists do.
type HashType string

const (
	HashSignature      HashType = "SIGNATURE"      // SHA-256 over the COSE signature (ECDSA: r only)
	HashUCI            HashType = "UCI"            // SHA-256 over the UTF-8 UVCI
	HashCountryCodeUCI HashType = "COUNTRYCODEUCI" // SHA-256 over issuer country + UVCI
)

// RevocationHashLen is the length of each stored revocation hash: the
// first 16 bytes of the SHA-256.
const RevocationHashLen = 16

// CertRecord is one issued certificate: metadata and revocation hashes,
// never the holder's name or birth date (the HC1 is kept only sealed, see
// CertificateHC1).
type CertRecord struct {
	UVCI       string
	PharmacyID string
	Type       CertType
	KID        string // base64 key id of the signing DSC, as the signer reports it
	Signer     string // which signer (DSC) signed it, for audits; may be empty
	// RequestedAt is when the pharmacy asked (deferred requests: when the
	// ticket was created); fraud windows and RevokeByPharmacy use it.
	// Zero on write: IssuedAt.
	RequestedAt time.Time
	IssuedAt    time.Time // CWT iat
	ExpiresAt   time.Time // CWT exp

	// Revocation hashes, RevocationHashLen bytes each.
	HashSignature      []byte
	HashUCI            []byte
	HashCountryCodeUCI []byte

	// Set by the store; ignored on write.
	Status       CertStatus
	RevokedAt    time.Time
	RevokeReason string
	HasHC1       bool // the sealed HC1 is still kept (not purged)
}

// IdemState is what an idempotency key is bound to.
type IdemState string

const (
	// IdemReserved: the UVCI is reserved for the key, the certificate not
	// recorded yet (the portal is signing, or crashed while signing).
	IdemReserved IdemState = "reserved"
	IdemIssued   IdemState = "issued"   // the certificate UVCI is recorded
	IdemDeferred IdemState = "deferred" // a ticket (TicketID) will issue UVCI
)

// IdemBinding binds (PharmacyID, Key) to exactly one UVCI.
type IdemBinding struct {
	PharmacyID string
	Key        string
	// RequestHash is opaque to the store (e.g. hex SHA-256 of the
	// normalised request); a key reused with another hash is a conflict.
	RequestHash string
	UVCI        string
	State       IdemState // set by the store
	TicketID    string    // when deferred
	CreatedAt   time.Time // set by the store
}

// TicketState is a deferred request's progress.
type TicketState string

const (
	TicketPending TicketState = "pending" // waiting until NextAttemptAt
	TicketSigning TicketState = "signing" // claimed by a worker until NextAttemptAt (its lease)
	TicketDone    TicketState = "done"
	TicketFailed  TicketState = "failed"
)

// Ticket is a deferred issuance request. Its UVCI is assigned when the
// request is accepted, so the pharmacy can tell the holder at once.
type Ticket struct {
	ID         string
	PharmacyID string
	IdemKey    string
	UVCI       string
	Type       CertType
	State      TicketState
	Attempts   int
	// NextAttemptAt: when a pending ticket is due; for a signing ticket,
	// when its worker's lease ends and it is due again.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	CompletedAt   time.Time
	ErrorCode     string
	// Request is the opened request; filled only by ClaimTickets. The
	// sealed copy is dropped when the ticket is done or failed.
	Request []byte
}

// PharmacyStatus is a pharmacy account's state.
type PharmacyStatus string

const (
	PharmacyPending   PharmacyStatus = "pending"
	PharmacyActive    PharmacyStatus = "active"
	PharmacySuspended PharmacyStatus = "suspended"
)

func (s PharmacyStatus) valid() bool {
	return s == PharmacyPending || s == PharmacyActive || s == PharmacySuspended
}

// Credentials are a pharmacy's login material: opaque hashes the auth
// package produces, never secrets.
type Credentials struct {
	ClientID            string
	SecretHash          string
	PasswordHash        string
	ActivationCodeHash  string
	ActivationExpiresAt time.Time
	// PrevActivationCodeHash is the code a renewal replaced; it stays
	// valid until PrevActivationExpiresAt.
	PrevActivationCodeHash  string
	PrevActivationExpiresAt time.Time
	// ActivationSentAt is when the current code was made.
	ActivationSentAt time.Time
}

// Pharmacy is one pharmacy account. Name, address and e-mail of a pharmacy
// are business data.
type Pharmacy struct {
	ID          string // empty on create: the store assigns one
	TelematikID string
	RegisterID  string
	Status      PharmacyStatus // empty on create: pending

	Name, Street, PostalCode, City, Email string
	// RegisterVerified: the application matched the operator's register.
	RegisterVerified bool
	// DocumentsSHA256: hash of the uploaded documents (kept as evidence).
	DocumentsSHA256 string

	Credentials        Credentials
	ActivationAttempts int // wrong activation codes so far

	CreatedAt, UpdatedAt time.Time // set by the store
}

// Event is one audit log entry. Detail is a JSON object without personal
// data (empty: {}).
type Event struct {
	ID      int64
	At      time.Time // zero: now
	Actor   string    // "admin", "pharmacy:<id>", "system", ...
	Action  string    // "certificate.issued", "pharmacy.status", ...
	Subject string
	Detail  json.RawMessage
}

// AuditFilter selects audit entries in ID order. Empty fields match all.
type AuditFilter struct {
	AfterID int64
	Limit   int // 0: 100; at most 1000
	Actor   string
	Action  string
	Subject string
}

// FraudEvent is one detected anomaly (package fraud decides; the portal
// records). Detail is JSON without personal data.
type FraudEvent struct {
	ID         int64
	PharmacyID string
	At         time.Time // zero: now
	Kind       string
	Detail     json.RawMessage
}

// FraudFilter selects fraud events in ID order.
type FraudFilter struct {
	PharmacyID string // empty: all
	AfterID    int64
	Limit      int // 0: 100; at most 1000
}

// LoginFailures is the count of failed and throttled logins of one subject
// (a pharmacy ID, or "unknown") on one UTC day.
type LoginFailures struct {
	Subject         string
	Day             string // YYYY-MM-DD, UTC
	Failures        int64
	Throttled       int64
	FirstAt, LastAt time.Time
}

// PurgeResult counts what PurgeExpired dropped.
type PurgeResult struct {
	HC1s         int64 // sealed HC1s past retention
	Tickets      int64 // unfinished tickets past retention (now failed, "expired")
	Reservations int64 // reserved idempotency keys past ReservationTTL
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}
