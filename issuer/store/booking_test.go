package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBookingStore: a slot's places are taken and freed, an idempotency
// key makes a retried booking the same booking, a pharmacy's
// cancellation records each notice, a visit is recorded once; on SQLite
// and PostgreSQL alike.
func TestBookingStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db testDB) {
		s := db.open(t, Options{})
		ctx := context.Background()
		start := time.Date(2021, 6, 15, 9, 0, 0, 0, time.UTC)
		if n, err := s.PublishBookingSlots(ctx, "PH1", []BookingSlot{{Start: start, Capacity: 1}, {Start: start.Add(10 * time.Minute), Capacity: 2}}); err != nil || n != 2 {
			t.Fatalf("publish: %d %v", n, err)
		}
		b := Booking{Ref: "bk_1", PharmacyID: "PH1", Start: start, IdemKey: "k1", RequestHash: "h1", CreatedAt: start.Add(-time.Hour)}
		if ex, err := s.CreateBooking(ctx, b, []byte("a@example.invalid")); err != nil || ex != nil {
			t.Fatalf("book: %v %v", ex, err)
		}
		if ex, err := s.CreateBooking(ctx, Booking{Ref: "bk_2", PharmacyID: "PH1", Start: start, IdemKey: "k1", RequestHash: "h1", CreatedAt: start}, nil); err != nil || ex == nil || ex.Ref != "bk_1" {
			t.Fatalf("repeat: %+v %v", ex, err)
		}
		if _, err := s.CreateBooking(ctx, Booking{Ref: "bk_3", PharmacyID: "PH1", Start: start, IdemKey: "k1", RequestHash: "other", CreatedAt: start}, nil); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("reused key: %v", err)
		}
		if _, err := s.CreateBooking(ctx, Booking{Ref: "bk_4", PharmacyID: "PH1", Start: start, IdemKey: "k4", RequestHash: "h4", CreatedAt: start}, nil); !errors.Is(err, ErrBookingFull) {
			t.Fatalf("full: %v", err)
		}
		if _, err := s.CreateBooking(ctx, Booking{Ref: "bk_5", PharmacyID: "PH1", Start: start.Add(time.Minute), IdemKey: "k5", RequestHash: "h5", CreatedAt: start}, nil); !errors.Is(err, ErrBookingNoSlot) {
			t.Fatalf("no slot: %v", err)
		}
		var ce *BookingCapacityError
		if _, err := s.PublishBookingSlots(ctx, "PH1", []BookingSlot{{Start: start, Capacity: 0}}); !errors.As(err, &ce) || ce.Booked != 1 {
			t.Fatalf("shrink: %v", err)
		}
		if err := s.SetBookingChannel(ctx, "PH1", "sms", start); err != nil {
			t.Fatal(err)
		}
		if ch, err := s.BookingChannel(ctx, "PH1"); err != nil || ch != "sms" {
			t.Fatalf("channel %q %v", ch, err)
		}
		for _, k := range []string{"k6", "k7"} {
			if _, err := s.CreateBooking(ctx, Booking{Ref: "bk_" + k, PharmacyID: "PH1", Start: start.Add(10 * time.Minute), IdemKey: k, RequestHash: k, CreatedAt: start}, nil); err != nil {
				t.Fatal(err)
			}
		}
		sent := start.Add(-30 * time.Minute)
		out, err := s.CancelBookings(ctx, "PH1", start, start.Add(5*time.Minute), sent, "pharmacy", "email",
			func(ref, ch string, st, at time.Time) time.Time { return at.Add(time.Minute) })
		if err != nil || len(out) != 1 || out[0].Ref != "bk_1" || out[0].NoticeChannel != "sms" {
			t.Fatalf("cancel: %+v %v", out, err)
		}
		got, err := s.GetBooking(ctx, "bk_1")
		if err != nil || got.State != "cancelled" || !got.ReachedAt.Equal(sent.Add(time.Minute)) || got.CancelledBy != "pharmacy" {
			t.Fatalf("cancelled booking %+v %v", got, err)
		}
		v, fresh, err := s.RecordBookingVisit(ctx, "bk_k6", "PH1", "failed", start.Add(10*time.Minute))
		if err != nil || !fresh || v.State != "visited" {
			t.Fatalf("visit: %+v %v %v", v, fresh, err)
		}
		if _, fresh, err := s.RecordBookingVisit(ctx, "bk_k6", "PH1", "failed", start.Add(11*time.Minute)); err != nil || fresh {
			t.Fatalf("repeated visit: %v %v", fresh, err)
		}
		if _, _, err := s.RecordBookingVisit(ctx, "bk_k6", "PH1", "issued", start); !errors.Is(err, ErrState) {
			t.Fatalf("other outcome: %v", err)
		}
		if _, _, err := s.RecordBookingVisit(ctx, "bk_k6", "PH2", "failed", start); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another pharmacy: %v", err)
		}
		if c, err := s.CancelBooking(ctx, "bk_k7", start); err != nil || c.State != "cancelled" {
			t.Fatalf("citizen cancel: %+v %v", c, err)
		}
		slots, err := s.BookingSlots(ctx, "PH1", start, start.Add(time.Hour), true, 10)
		if err != nil || len(slots) != 1 || slots[0].Booked != 1 {
			t.Fatalf("free slots %+v %v", slots, err)
		}
	})
}
