package booking

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/booking/bookingapi"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/portal/portaltest"
)

func (e *env) freeSlots(t *testing.T, pharmacy string) []bookingapi.FreeSlot {
	t.Helper()
	q := url.Values{bookingapi.ParamUntil: {e.Clock.Now().Add(48 * time.Hour).Format(time.RFC3339)}}
	r := e.Do(t, portaltest.Request{Method: http.MethodGet, Path: bookingapi.FreeSlotsLink(pharmacy) + "?" + q.Encode()})
	if r.Status != http.StatusOK {
		t.Fatalf("free slots: %v", r)
	}
	var fs bookingapi.FreeSlots
	r.Decode(t, &fs)
	return fs.Slots
}

// TestBookingFlow: publish, list, book (idempotently), full slots,
// the token, a citizen's cancellation that frees the place.
func TestBookingFlow(t *testing.T) {
	e := startEnv(t, portalapi.ProfileHardened, nil)
	ph, staff := e.staffToken(t)
	e.setChannel(t, staff, bookingapi.ChannelSMS)
	slots := e.slotsFrom(3, 10*time.Minute, 1)
	e.publish(t, staff, slots)
	if got := e.freeSlots(t, ph); len(got) != 3 || got[0].Free != 1 {
		t.Fatalf("free slots %+v, want 3 with one place", got)
	}
	first := e.mustBook(t, "k-1", ph, slots[0].Start)
	if first.State != bookingapi.StateBooked || !validRef(first.Ref) || first.Token == "" {
		t.Fatalf("booked %+v", first)
	}
	// The same key and body: the same booking and token, no second place.
	again := e.book(t, "k-1", ph, slots[0].Start)
	var b2 bookingapi.Booked
	again.Decode(t, &b2)
	if again.Status != http.StatusOK || b2.Ref != first.Ref || b2.Token != first.Token {
		t.Fatalf("repeat: %v", again)
	}
	if r := e.book(t, "k-1", ph, slots[1].Start); r.Status != http.StatusUnprocessableEntity || r.Problem.Code != bookingapi.CodeIdemKeyReused {
		t.Fatalf("reused key: %v", r)
	}
	if r := e.book(t, "k-2", ph, slots[0].Start); r.Status != http.StatusConflict || r.Problem.Code != bookingapi.CodeSlotFull {
		t.Fatalf("full slot: %v", r)
	}
	if got := e.freeSlots(t, ph); len(got) != 2 {
		t.Fatalf("free slots after booking %+v, want 2", got)
	}
	if r := e.get(t, first.Ref, first.Token); r.Status != http.StatusOK {
		t.Fatalf("get: %v", r)
	}
	if r := e.get(t, first.Ref, first.Token+"x"); r.Status != http.StatusNotFound || r.Problem.Code != bookingapi.CodeBookingNotFound {
		t.Fatalf("wrong token: %v", r)
	}
	r := e.Do(t, portaltest.Request{Method: http.MethodDelete, Path: bookingapi.BookingLink(first.Ref),
		Header: http.Header{bookingapi.TokenHeader: {first.Token}}})
	var cancelled bookingapi.Booking
	r.Decode(t, &cancelled)
	if r.Status != http.StatusOK || cancelled.State != bookingapi.StateCancelled || cancelled.CancelledBy != bookingapi.CancelledByCitizen {
		t.Fatalf("cancel: %v", r)
	}
	if got := e.freeSlots(t, ph); len(got) != 3 {
		t.Fatalf("free slots after the cancellation %+v, want 3", got)
	}
	// Shrinking a slot below its bookings is refused, naming the slot.
	e.mustBook(t, "k-3", ph, slots[2].Start)
	r = e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.PathSlots, Token: staff,
		Body: bookingapi.SlotsRequest{Slots: []bookingapi.Slot{slots[1], {Start: slots[2].Start, Capacity: 0}}}})
	if r.Status != http.StatusConflict || r.Problem.Code != bookingapi.CodeCapacityBelow || r.Problem.Field != "slots[1].capacity" {
		t.Fatalf("shrink: %v", r)
	}
	// Another pharmacy cannot record a visit of this one's booking.
	_, other := e.staffToken(t)
	r = e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.VisitLink(first.Ref), Token: other,
		Body: bookingapi.VisitRequest{Outcome: bookingapi.VisitIssued}})
	if r.Status != http.StatusNotFound {
		t.Fatalf("other pharmacy's visit: %v", r)
	}
}

// TestCancellationChannels: a pharmacy's cancellation warns its
// customers as its channel can: sms all, e-mail a fraction, none nobody;
// a failed visit of someone not warned came in vain.
func TestCancellationChannels(t *testing.T) {
	// 300 bookings and reads from one address: above a citizen's burst.
	e := startEnv(t, portalapi.ProfileNaive2021, func(c *bookingapi.Config) { c.CitizenBurst = 100000 })
	const n = 100
	reached := map[bookingapi.Channel]int{}
	inVain := map[bookingapi.Channel]int{}
	for i, ch := range bookingapi.Channels() {
		ph, staff := e.staffToken(t)
		e.setChannel(t, staff, ch)
		slot := e.slotsFrom(1, time.Hour, n)[0]
		slot.Start = slot.Start.Add(time.Hour) // beyond the e-mail's delay
		e.publish(t, staff, []bookingapi.Slot{slot})
		var booked []bookingapi.Booked
		for j := range n {
			booked = append(booked, e.mustBook(t, string(ch)+"-"+string(rune('a'+i))+"-"+itoa(j), ph, slot.Start))
		}
		r := e.Do(t, portaltest.Request{Method: http.MethodPost, Path: bookingapi.PathCancellations, Token: staff,
			Body: bookingapi.CancelRequest{From: e.Clock.Now(), Until: slot.Start.Add(time.Minute), Reason: "issuance is down"}})
		var res bookingapi.CancelResult
		r.Decode(t, &res)
		if r.Status != http.StatusOK || res.Cancelled != n || res.Channel != ch {
			t.Fatalf("%s: cancel: %v", ch, r)
		}
		for _, b := range booked {
			var v bookingapi.Booking
			e.get(t, b.Ref, b.Token).Decode(t, &v)
			if v.Notice == nil || v.Notice.Channel != ch {
				t.Fatalf("%s: notice %+v", ch, v.Notice)
			}
			if v.WarnedInTime {
				reached[ch]++
			}
			// Whoever comes anyway finds issuance down.
			if !v.WarnedInTime {
				if e.visit(t, staff, b.Ref, bookingapi.VisitFailed).CameInVain {
					inVain[ch]++
				}
			}
		}
		if reached[ch] != res.Reached {
			t.Errorf("%s: the answer says %d reached, the bookings %d", ch, res.Reached, reached[ch])
		}
	}
	if reached[bookingapi.ChannelSMS] != n || reached[bookingapi.ChannelNone] != 0 {
		t.Errorf("reached: sms %d none %d, want %d and 0", reached[bookingapi.ChannelSMS], reached[bookingapi.ChannelNone], n)
	}
	if m := reached[bookingapi.ChannelEmail]; m < 40 || m > 80 {
		t.Errorf("e-mail reached %d of %d, want about 60%%", m, n)
	}
	if inVain[bookingapi.ChannelNone] != n || inVain[bookingapi.ChannelSMS] != 0 || inVain[bookingapi.ChannelEmail] != n-reached[bookingapi.ChannelEmail] {
		t.Errorf("came in vain: %v", inVain)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestFollowIssuance: with follow_issuance, issuance down for longer
// than issuance_down_after warns the customers of the next hours, but only
// where the portal cannot defer (hardened portals give tickets instead).
func TestFollowIssuance(t *testing.T) {
	for _, tc := range []struct {
		profile string
		warned  bool
	}{{portalapi.ProfileNaive2021, true}, {portalapi.ProfileHardened, false}} {
		t.Run(tc.profile, func(t *testing.T) {
			e := startEnv(t, tc.profile, func(c *bookingapi.Config) { c.FollowIssuance = true })
			ph, staff := e.staffToken(t)
			e.setChannel(t, staff, bookingapi.ChannelSMS)
			slots := e.slotsFrom(2, 4*time.Hour, 1) // the second beyond the horizon
			e.publish(t, staff, slots)
			near := e.mustBook(t, "near", ph, slots[0].Start)
			far := e.mustBook(t, "far", ph, slots[1].Start)
			ctx := context.Background()
			e.up = false
			down := e.B.follow(ctx, time.Time{})
			var v bookingapi.Booking
			e.get(t, near.Ref, near.Token).Decode(t, &v)
			if v.State != bookingapi.StateBooked {
				t.Fatalf("cancelled before issuance_down_after: %+v", v)
			}
			e.Clock.Advance(11 * time.Minute)
			e.B.follow(ctx, down)
			e.get(t, near.Ref, near.Token).Decode(t, &v)
			if got := v.State == bookingapi.StateCancelled && v.CancelledBy == bookingapi.CancelledByIssuance && v.WarnedInTime; got != tc.warned {
				t.Errorf("near booking %+v; warned %v, want %v", v, got, tc.warned)
			}
			e.get(t, far.Ref, far.Token).Decode(t, &v)
			if v.State != bookingapi.StateBooked {
				t.Errorf("a booking beyond warn_horizon was cancelled: %+v", v)
			}
			if !e.B.IssuanceDown() {
				t.Error("the follower does not report issuance down")
			}
			e.up = true
			e.B.follow(ctx, down)
			if e.B.IssuanceDown() {
				t.Error("issuance back, still reported down")
			}
		})
	}
}
