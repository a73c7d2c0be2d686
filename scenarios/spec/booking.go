package spec

import (
	"time"

	"gopkg.in/yaml.v3"
)

// KindBooking: citizens who book a slot at a pharmacy ahead of time, then
// come at their time, when the pharmacy issues their certificate through
// its account (an issue action). A citizen whose visit fails or hangs
// past the client's timeout and whom no notice reached came in vain; a
// warned one stays home and books again. The class's demand is bookings
// per second; its pharmacies publish the slots and choose a channel.
const KindBooking ClassKind = "booking"

// Booking is how a booking class's pharmacies and citizens behave. When
// says nothing of wall time: every duration here is on the simulated
// clock.
type Booking struct {
	// Channels are the shares of the class's pharmacies that reach their
	// customers by none, email and sms (normalised; June 2021: few had
	// phone numbers).
	Channels Channels
	// SlotEvery is the time between a pharmacy's slots, SlotCapacity the
	// customers each takes; slots run from Open to Close on the
	// scenario's date (default the clock's start and end).
	SlotEvery    time.Duration
	SlotCapacity int
	Open, Close  time.Time
	// LeadMin and LeadMax bound how far ahead a citizen books.
	LeadMin, LeadMax time.Duration
	// StaffCancelAfter is how many failed visits a pharmacy's staff see
	// before they cancel the next StaffCancelHorizon of appointments
	// through their channel (0: staff never cancel).
	StaffCancelAfter   int
	StaffCancelHorizon time.Duration
	// RebookAfter is how long after a warning or a visit in vain a citizen
	// books again, at most MaxRebooks times.
	RebookAfter time.Duration
	MaxRebooks  int
}

// Channels are shares of cancellation channels.
type Channels struct {
	None, Email, SMS float64 // YAML none, email, sms
}

// Pick maps u in [0, 1) to a channel name by the shares.
func (c Channels) Pick(u float64) string {
	sum := c.None + c.Email + c.SMS
	switch {
	case sum <= 0:
		return "email"
	case u*sum < c.None:
		return "none"
	case u*sum < c.None+c.Email:
		return "email"
	}
	return "sms"
}

// DefaultChannels is June 2021's: mostly e-mail, some pharmacies with no
// way to reach customers, few with phone numbers.
var DefaultChannels = Channels{None: 0.3, Email: 0.6, SMS: 0.1}

// DefaultBooking is a booking class's behaviour before the file's
// booking settings.
func DefaultBooking(c Clock) Booking {
	return Booking{Channels: DefaultChannels, SlotEvery: 10 * time.Minute, SlotCapacity: 2,
		Open: c.Start, Close: c.End, LeadMin: 30 * time.Minute, LeadMax: 3 * time.Hour,
		StaffCancelAfter: 2, StaffCancelHorizon: 3 * time.Hour, RebookAfter: 2 * time.Hour, MaxRebooks: 2}
}

// bookingKeys are the keys of a class's booking settings.
var bookingKeys = []string{"channels", "slot_every", "slot_capacity", "open", "close", "lead_min", "lead_max",
	"staff_cancel_after", "staff_cancel_horizon", "rebook_after", "max_rebooks"}

// booking reads a booking class's settings over the defaults.
func (d *decoder) booking(n *yaml.Node, path string, s *Scenario) Booking {
	b := DefaultBooking(s.Clock)
	f, ok := d.mapping(n, path, bookingKeys...)
	if !ok {
		return b
	}
	if n := f.get("channels"); n != nil {
		cf, ok := d.mapping(n, path+".channels", "none", "email", "sms")
		if ok {
			var c Channels
			for key, dst := range map[string]*float64{"none": &c.None, "email": &c.Email, "sms": &c.SMS} {
				if n := cf.get(key); n != nil {
					if v, ok := d.fraction(n, path+".channels."+key, 0, 1e6); ok {
						*dst = v
					}
				}
			}
			if c.None+c.Email+c.SMS <= 0 {
				d.errorf(n, "%s.channels: the shares sum to 0", path)
			} else {
				b.Channels = c
			}
		}
	}
	dur := func(key string, dst *time.Duration) {
		if n := f.get(key); n != nil {
			if v, ok := d.positive(n, path+"."+key); ok {
				*dst = v
			}
		}
	}
	dur("slot_every", &b.SlotEvery)
	dur("lead_min", &b.LeadMin)
	dur("lead_max", &b.LeadMax)
	dur("staff_cancel_horizon", &b.StaffCancelHorizon)
	dur("rebook_after", &b.RebookAfter)
	num := func(key string, lo, hi int64, dst *int) {
		if n := f.get(key); n != nil {
			if v, ok := d.intIn(n, path+"."+key, lo, hi); ok {
				*dst = v
			}
		}
	}
	num("slot_capacity", 1, 100, &b.SlotCapacity)
	num("staff_cancel_after", 0, 1000, &b.StaffCancelAfter)
	num("max_rebooks", 0, 10, &b.MaxRebooks)
	for key, dst := range map[string]*time.Time{"open": &b.Open, "close": &b.Close} {
		if n := f.get(key); n != nil {
			if t, ok := d.when(n, path+"."+key); ok {
				*dst = t
			}
		}
	}
	if b.LeadMax < b.LeadMin {
		d.errorf(f.node, "%s: lead_max %s is shorter than lead_min %s", path, b.LeadMax, b.LeadMin)
	}
	if !b.Close.After(b.Open) {
		d.errorf(f.node, "%s: close must be after open", path)
	}
	if slots := b.Close.Sub(b.Open) / max(b.SlotEvery, time.Minute); slots > 500 {
		d.errorf(f.node, "%s: %d slots a pharmacy between open and close; at most 500 (a longer slot_every)", path, slots)
	}
	return b
}
