package rundir

// Booking is what a booking class's citizens met (summary.json
// classes.<class>.booking; docs/run-format.md#booking). Added 2026-12-02.
type Booking struct {
	// Citizens wanted a slot; Booked counts bookings made (a citizen who
	// books again counts again); NoSlot the attempts that found none free
	// and BookFailed the booking requests that failed.
	Citizens   int64 `json:"citizens"`
	Booked     int64 `json:"booked"`
	NoSlot     int64 `json:"no_slot"`
	BookFailed int64 `json:"book_failed"`
	// Visits is the citizens who came at their time; IssuedAtVisit left
	// with the certificate, Tickets with a deferred request's ticket.
	Visits        int64 `json:"visits"`
	IssuedAtVisit int64 `json:"issued_at_visit"`
	Tickets       int64 `json:"tickets"`
	// CameInVain came, got nothing (an error, or no answer within the
	// client's timeout) and had not been warned in time.
	CameInVain int64 `json:"came_in_vain"`
	// Warned stayed home because a notice reached them before their slot.
	Warned int64 `json:"warned"`
	// GaveUp is the citizens never served: out of rebookings or slots.
	GaveUp int64 `json:"gave_up"`
	// WaitMS is the time at the counter, from the visit's start to the
	// certificate or ticket (wall milliseconds), over the visits served.
	WaitMS BookingWait `json:"wait_ms"`
	// Backlog is each pharmacy's citizens waiting (booked, warned or sent
	// home and not yet served) over the run.
	Backlog BookingBacklog `json:"backlog"`
	// Channels counts the class's pharmacies by cancellation channel.
	Channels map[string]int64 `json:"channels"`
}

// BookingWait is the counter's wait's distribution.
type BookingWait struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// BookingBacklog is the customer backlog per pharmacy.
type BookingBacklog struct {
	// Max is the largest any pharmacy had at once; MaxFinal the largest
	// left at the end of the run.
	Max      int64 `json:"max"`
	MaxFinal int64 `json:"max_final"`
	// Pharmacies is each pharmacy's, by pharmacy id.
	Pharmacies []PharmacyBacklog `json:"pharmacies"`
}

// PharmacyBacklog is one pharmacy's customer backlog.
type PharmacyBacklog struct {
	Pharmacy string `json:"pharmacy"`
	Channel  string `json:"channel"`
	Max      int64  `json:"max"`
	Final    int64  `json:"final"`
}
