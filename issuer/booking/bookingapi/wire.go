// Package bookingapi is the contract of the pharmacies' appointment
// booking (package issuer/booking): routes, request and response bodies,
// problem codes, the cancellation channels and the settings with the
// profile presets. It imports no implementation, so the booking traffic
// class, the reports and other clients speak to the component without
// linking the registry.
//
// Errors are problem+json (package problem) with a stable code and the
// field at fault ("slots[3].start", "channel").
package bookingapi

import (
	"net/url"
	"time"
)

// Routes of pharmacy staff: Authorization: Bearer <the pharmacy's access
// token from POST /v1/token>.
const (
	// PathSettings: GET -> Settings; PUT Settings -> Settings (the
	// pharmacy's cancellation channel).
	PathSettings = "/v1/booking/settings"
	// PathSlots: POST SlotsRequest -> SlotsResult (publish or resize
	// slots; a slot keeps the appointments it has).
	PathSlots = "/v1/booking/slots"
	// PathAppointments: GET ?from=&until= -> AppointmentPage, the
	// pharmacy's appointments (no contact handles).
	PathAppointments = "/v1/booking/appointments"
	// PathCancellations: POST CancelRequest -> CancelResult: "issuance
	// is down, don't come": every booked appointment in the window is
	// cancelled and its citizen notified through the pharmacy's channel.
	PathCancellations = "/v1/booking/cancellations"
	// PathVisit: POST /v1/booking/appointments/{ref}/visit VisitRequest
	// -> Booking: the counter records how the visit ended.
	PathVisit = "/v1/booking/appointments/{ref}/visit"
)

// Routes of citizens: anonymous, rate-limited per source address.
const (
	// PathFreeSlots: GET /v1/booking/pharmacies/{id}/slots?from=&until=
	// -> FreeSlots.
	PathFreeSlots = "/v1/booking/pharmacies/{id}/slots"
	// PathBookings: POST BookRequest with an Idempotency-Key -> 201
	// Booked (200 for a repeat of the same key and body).
	PathBookings = "/v1/booking/bookings"
	// PathBooking: GET (-> Booking) and DELETE (cancel -> Booking)
	// /v1/booking/bookings/{ref}, with the booking's token in
	// TokenHeader.
	PathBooking = "/v1/booking/bookings/{ref}"
)

// BookingLink, VisitLink and FreeSlotsLink are the paths of one booking,
// its visit and a pharmacy's free slots.
func BookingLink(ref string) string { return PathBookings + "/" + url.PathEscape(ref) }
func VisitLink(ref string) string   { return PathAppointments + "/" + url.PathEscape(ref) + "/visit" }
func FreeSlotsLink(pharmacy string) string {
	return "/v1/booking/pharmacies/" + url.PathEscape(pharmacy) + "/slots"
}

// TokenHeader carries a booking's cancel token (never in the URL, where
// access logs would keep it).
const TokenHeader = "Booking-Token"

// IdempotencyHeader makes booking repeatable: the same key and body give
// the same booking (200), the same key with another body 422. Required
// on POST PathBookings.
const IdempotencyHeader = "Idempotency-Key"

// Query parameters of PathFreeSlots and PathAppointments: RFC 3339
// instants; the window defaults to now .. now + DefaultWindow.
const (
	ParamFrom  = "from"
	ParamUntil = "until"
)

// Bounds.
const (
	// MaxSlotsPerRequest bounds one POST PathSlots.
	MaxSlotsPerRequest = 500
	// MaxSlotCapacity bounds the appointments one slot takes.
	MaxSlotCapacity = 100
	// MaxContactLen bounds a contact handle.
	MaxContactLen = 254
	// MaxWindow bounds a listing's or a cancellation's window.
	MaxWindow = 31 * 24 * time.Hour
	// DefaultWindow is a listing's window when until is not given.
	DefaultWindow = 24 * time.Hour
	// MaxList bounds the entries one listing returns.
	MaxList = 2000
	// MaxQueryBytes bounds a query string.
	MaxQueryBytes = 512
)

// Channel is how a pharmacy reaches its booked customers.
type Channel string

// The cancellation channels. In 2021 a pharmacy's booking portal had an
// e-mail address at best: "not everyone reads their mailbox".
const (
	// ChannelNone reaches nobody: customers learn at the counter.
	ChannelNone Channel = "none"
	// ChannelEmail is read by a fraction of the customers
	// (Config.EmailReadFraction), after Config.EmailReadDelay.
	ChannelEmail Channel = "email"
	// ChannelSMS reaches everyone after Config.SMSDelay.
	ChannelSMS Channel = "sms"
)

// Channels lists every channel.
func Channels() []Channel { return []Channel{ChannelNone, ChannelEmail, ChannelSMS} }

// Valid reports whether c is a channel.
func (c Channel) Valid() bool { return c == ChannelNone || c == ChannelEmail || c == ChannelSMS }

// Settings are a pharmacy's booking settings.
type Settings struct {
	PharmacyID string  `json:"pharmacy_id,omitempty"`
	Channel    Channel `json:"channel"`
}

// Slot is one appointment time of a pharmacy and how many customers it
// takes.
type Slot struct {
	Start    time.Time `json:"start"`
	Capacity int       `json:"capacity"`
}

// SlotsRequest publishes slots (or changes their capacity).
type SlotsRequest struct {
	Slots []Slot `json:"slots"`
}

// SlotsResult says how many slots the pharmacy has after the request.
type SlotsResult struct {
	Published int `json:"published"`
}

// FreeSlot is a slot with room left.
type FreeSlot struct {
	Start time.Time `json:"start"`
	Free  int       `json:"free"`
}

// FreeSlots is a pharmacy's free slots in a window, in time order.
type FreeSlots struct {
	PharmacyID string     `json:"pharmacy_id"`
	Slots      []FreeSlot `json:"slots"`
}

// BookRequest books a slot. Contact is the handle the pharmacy's channel
// reaches the citizen at (an e-mail address or a phone number): stored
// sealed, never logged, never shown again.
type BookRequest struct {
	PharmacyID string    `json:"pharmacy_id"`
	Start      time.Time `json:"start"`
	Contact    string    `json:"contact,omitempty"`
}

// State is where a booking stands.
type State string

const (
	StateBooked    State = "booked"
	StateCancelled State = "cancelled"
	StateVisited   State = "visited"
)

// Who cancelled a booking.
const (
	CancelledByCitizen  = "citizen"
	CancelledByPharmacy = "pharmacy"
	// CancelledByIssuance: the component itself, following issuance
	// (Config.FollowIssuance).
	CancelledByIssuance = "issuance"
)

// Visit outcomes the counter records.
const (
	// VisitIssued: the customer left with the certificate.
	VisitIssued = "issued"
	// VisitTicket: issuance was deferred; the customer left with a
	// ticket the certificate follows on.
	VisitTicket = "ticket"
	// VisitFailed: nothing could be issued; the customer came in vain.
	VisitFailed = "failed"
)

// Notice is what the pharmacy's channel did with a cancellation. SentAt
// is when it went out; ReachedAt when the citizen read it (simulated:
// sms at once, e-mail by a fraction after a delay, none never), absent
// when it never reaches them.
type Notice struct {
	Channel   Channel    `json:"channel"`
	SentAt    time.Time  `json:"sent_at"`
	ReachedAt *time.Time `json:"reached_at,omitempty"`
}

// Booking is one appointment as its citizen or pharmacy sees it.
type Booking struct {
	Ref         string     `json:"ref"`
	PharmacyID  string     `json:"pharmacy_id"`
	Start       time.Time  `json:"start"`
	State       State      `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	CancelledBy string     `json:"cancelled_by,omitempty"`
	Notice      *Notice    `json:"notice,omitempty"`
	// WarnedInTime: the notice reached the citizen before the start.
	WarnedInTime bool       `json:"warned_in_time"`
	VisitOutcome string     `json:"visit_outcome,omitempty"`
	VisitedAt    *time.Time `json:"visited_at,omitempty"`
	// CameInVain: the visit failed and no notice had reached the
	// citizen in time.
	CameInVain bool `json:"came_in_vain,omitempty"`
}

// Booked is the answer to a booking: the booking and the token that
// reads and cancels it (shown here only).
type Booked struct {
	Booking
	Token string `json:"token"`
}

// AppointmentPage is a pharmacy's appointments in a window.
type AppointmentPage struct {
	Appointments []Booking `json:"appointments"`
}

// CancelRequest cancels a pharmacy's booked appointments starting in
// [From, Until).
type CancelRequest struct {
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// CancelResult counts what a cancellation did.
type CancelResult struct {
	Channel   Channel `json:"channel"`
	Cancelled int     `json:"cancelled"`
	// Reached is how many of those the channel will reach before their
	// start (simulated).
	Reached int `json:"reached"`
}

// VisitRequest records a visit's outcome (VisitIssued, VisitTicket,
// VisitFailed).
type VisitRequest struct {
	Outcome string `json:"outcome"`
}

// Problem codes, besides the decoder's (malformed_json, unknown_field,
// ...) and admission control's (overloaded, queue_timeout).
const (
	CodeUnauthorized        = "unauthorized"
	CodeInvalidToken        = "invalid_token"
	CodeTokenExpired        = "token_expired"
	CodeInsufficientScope   = "insufficient_scope"
	CodePharmacyInactive    = "pharmacy_inactive"
	CodeRequired            = "required"
	CodeInvalidValue        = "invalid_value"
	CodeInvalidChannel      = "invalid_channel"
	CodeTooManySlots        = "too_many_slots"
	CodeDuplicateSlot       = "duplicate_slot"
	CodeCapacityBelow       = "capacity_below_booked"
	CodeSlotNotFound        = "slot_not_found"
	CodeSlotFull            = "slot_full"
	CodeSlotPast            = "slot_in_past"
	CodeBookingNotFound     = "booking_not_found"
	CodeInvalidBookingTok   = "invalid_booking_token"
	CodeNotCancellable      = "not_cancellable"
	CodeAlreadyVisited      = "already_visited"
	CodeMissingIdemKey      = "missing_idempotency_key"
	CodeInvalidIdemKey      = "invalid_idempotency_key"
	CodeIdemKeyReused       = "idempotency_key_reused"
	CodeRateLimited         = "rate_limited"
	CodeRegistryUnavailable = "registry_unavailable"
)
