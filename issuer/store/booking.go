package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The pharmacies' appointment booking (package booking): slots with a
// capacity, bookings that hold a place until cancelled, and what each
// cancellation's notice did. Times are the business clock's.

// purposeBookingContact seals a booking's contact handle (id: its ref).
const purposeBookingContact = "booking-contact"

// Booking errors.
var (
	// ErrBookingNoSlot: the pharmacy has no slot at that time.
	ErrBookingNoSlot = errors.New("store: no such slot")
	// ErrBookingFull: the slot has no place left.
	ErrBookingFull = errors.New("store: the slot is full")
)

// BookingCapacityError: a slot's new capacity is below its bookings.
type BookingCapacityError struct {
	Start  time.Time
	Booked int
}

func (e *BookingCapacityError) Error() string {
	return fmt.Sprintf("store: slot %s holds %d bookings: %v", e.Start.Format(time.RFC3339), e.Booked, ErrState)
}
func (e *BookingCapacityError) Unwrap() error { return ErrState }

// BookingSlot is one slot of a pharmacy.
type BookingSlot struct {
	PharmacyID string
	Start      time.Time
	Capacity   int
	Booked     int // reads only
}

// Booking is one booking as stored (without its contact handle).
type Booking struct {
	Ref, PharmacyID      string
	Start                time.Time
	IdemKey, RequestHash string
	State                string // booked, cancelled, visited
	CreatedAt            time.Time
	CancelledAt          time.Time
	CancelledBy          string
	NoticeChannel        string
	NoticeSentAt         time.Time
	ReachedAt            time.Time // zero: the notice never reaches the citizen
	VisitOutcome         string
	VisitedAt            time.Time
}

// Notifier decides, for a booking cancelled at sentAt through channel,
// when its notice reaches the citizen (zero: never).
type Notifier func(ref, channel string, start, sentAt time.Time) time.Time

const bookingCols = `ref, pharmacy_id, starts_at, idem_key, request_hash, state, created_at, cancelled_at, cancelled_by,
	notice_channel, notice_sent_at, reached_at, visit_outcome, visited_at`

func scanBooking(sc interface{ Scan(...any) error }) (Booking, error) {
	var (
		b                                 Booking
		start, created                    int64
		cancelled, sent, reached, visited sql.NullInt64
	)
	err := sc.Scan(&b.Ref, &b.PharmacyID, &start, &b.IdemKey, &b.RequestHash, &b.State, &created, &cancelled, &b.CancelledBy,
		&b.NoticeChannel, &sent, &reached, &b.VisitOutcome, &visited)
	if err != nil {
		return Booking{}, err
	}
	b.Start, b.CreatedAt = time.Unix(0, start).UTC(), time.Unix(0, created).UTC()
	b.CancelledAt, b.NoticeSentAt, b.ReachedAt, b.VisitedAt = fromNanos(cancelled), fromNanos(sent), fromNanos(reached), fromNanos(visited)
	return b, nil
}

func nullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// BookingChannel is a pharmacy's cancellation channel ("" when its staff
// never chose one).
func (s *Store) BookingChannel(ctx context.Context, pharmacy string) (string, error) {
	var ch string
	err := s.scans.QueryRowContext(ctx, `SELECT channel FROM booking_settings WHERE pharmacy_id = ?`, pharmacy).Scan(&ch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: booking channel of %s: %w", pharmacy, err)
	}
	return ch, nil
}

// SetBookingChannel sets a pharmacy's cancellation channel.
func (s *Store) SetBookingChannel(ctx context.Context, pharmacy, channel string, now time.Time) error {
	return s.writeKeyed(ctx, "booking\x00"+pharmacy, func(ctx context.Context, tx querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_settings (pharmacy_id, channel, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (pharmacy_id) DO UPDATE SET channel = excluded.channel, updated_at = excluded.updated_at`,
			pharmacy, channel, now.UnixNano()); err != nil {
			return fmt.Errorf("store: set booking channel of %s: %w", pharmacy, err)
		}
		return nil
	})
}

// PublishBookingSlots creates slots or changes their capacity, in one
// write; a capacity below a slot's bookings is a *BookingCapacityError
// and nothing is written. It returns how many slots the pharmacy has.
func (s *Store) PublishBookingSlots(ctx context.Context, pharmacy string, slots []BookingSlot) (int, error) {
	var total int
	err := s.writeKeyed(ctx, "booking\x00"+pharmacy, func(ctx context.Context, tx querier) error {
		for _, sl := range slots {
			var booked int
			err := tx.QueryRowContext(ctx, `SELECT booked FROM booking_slots WHERE pharmacy_id = ? AND starts_at = ?`+tx.lock(),
				pharmacy, sl.Start.UnixNano()).Scan(&booked)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO booking_slots (pharmacy_id, starts_at, capacity) VALUES (?, ?, ?)`,
					pharmacy, sl.Start.UnixNano(), sl.Capacity); err != nil {
					return fmt.Errorf("store: insert booking slot: %w", err)
				}
			case err != nil:
				return fmt.Errorf("store: booking slot: %w", err)
			case sl.Capacity < booked:
				return &BookingCapacityError{Start: sl.Start, Booked: booked}
			default:
				if _, err := tx.ExecContext(ctx, `UPDATE booking_slots SET capacity = ? WHERE pharmacy_id = ? AND starts_at = ?`,
					sl.Capacity, pharmacy, sl.Start.UnixNano()); err != nil {
					return fmt.Errorf("store: update booking slot: %w", err)
				}
			}
		}
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM booking_slots WHERE pharmacy_id = ?`, pharmacy).Scan(&total)
	})
	return total, err
}

// BookingSlots returns a pharmacy's slots starting in [from, until), in
// time order, up to limit; onlyFree leaves out full ones.
func (s *Store) BookingSlots(ctx context.Context, pharmacy string, from, until time.Time, onlyFree bool, limit int) ([]BookingSlot, error) {
	q := `SELECT starts_at, capacity, booked FROM booking_slots WHERE pharmacy_id = ? AND starts_at >= ? AND starts_at < ?`
	if onlyFree {
		q += ` AND booked < capacity`
	}
	rows, err := s.scans.QueryContext(ctx, q+` ORDER BY starts_at LIMIT ?`, pharmacy, from.UnixNano(), until.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: booking slots of %s: %w", pharmacy, err)
	}
	defer rows.Close()
	var out []BookingSlot
	for rows.Next() {
		sl := BookingSlot{PharmacyID: pharmacy}
		var start int64
		if err := rows.Scan(&start, &sl.Capacity, &sl.Booked); err != nil {
			return nil, fmt.Errorf("store: booking slots of %s: %w", pharmacy, err)
		}
		sl.Start = time.Unix(0, start).UTC()
		out = append(out, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: booking slots of %s: %w", pharmacy, err)
	}
	return out, nil
}

// CreateBooking books a place of b's slot with the contact handle sealed.
// A booking with b's IdemKey and the same RequestHash writes nothing and
// is returned as existing; another hash is ErrIdempotencyConflict. No
// slot is ErrBookingNoSlot, a full one ErrBookingFull.
func (s *Store) CreateBooking(ctx context.Context, b Booking, contact []byte) (existing *Booking, err error) {
	if b.Ref == "" || b.PharmacyID == "" || b.IdemKey == "" || b.RequestHash == "" {
		return nil, fmt.Errorf("%w: booking needs ref, pharmacy, idempotency key and request hash", ErrInvalid)
	}
	var sealed []byte
	if len(contact) > 0 {
		sealed = s.seal.seal(purposeBookingContact, b.Ref, contact)
	}
	err = s.writeKeyed(ctx, "booking\x00"+b.PharmacyID, func(ctx context.Context, tx querier) error {
		existing = nil
		prev, err := scanBooking(tx.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE idem_key = ?`+tx.lock(), b.IdemKey))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("store: booking key: %w", err)
		case prev.RequestHash != b.RequestHash:
			return fmt.Errorf("store: booking key: %w", ErrIdempotencyConflict)
		default:
			existing = &prev
			return nil
		}
		var capacity, booked int
		err = tx.QueryRowContext(ctx, `SELECT capacity, booked FROM booking_slots WHERE pharmacy_id = ? AND starts_at = ?`+tx.lock(),
			b.PharmacyID, b.Start.UnixNano()).Scan(&capacity, &booked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrBookingNoSlot
		case err != nil:
			return fmt.Errorf("store: booking slot: %w", err)
		case booked >= capacity:
			return ErrBookingFull
		}
		return execAll(ctx, tx,
			sqlStmt{q: `UPDATE booking_slots SET booked = booked + 1 WHERE pharmacy_id = ? AND starts_at = ?`,
				args: []any{b.PharmacyID, b.Start.UnixNano()},
				fail: func(err error) error { return fmt.Errorf("store: take a booking place: %w", err) }},
			sqlStmt{q: `INSERT INTO bookings (ref, pharmacy_id, starts_at, idem_key, request_hash, sealed_contact, state, created_at)
				VALUES (?, ?, ?, ?, ?, ?, 'booked', ?)`,
				args: []any{b.Ref, b.PharmacyID, b.Start.UnixNano(), b.IdemKey, b.RequestHash, sealed, b.CreatedAt.UnixNano()},
				fail: func(err error) error {
					if isUnique(err) {
						return fmt.Errorf("store: booking %s: %w", b.Ref, ErrExists)
					}
					return fmt.Errorf("store: insert booking: %w", err)
				}})
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// GetBooking returns a booking or ErrNotFound.
func (s *Store) GetBooking(ctx context.Context, ref string) (Booking, error) {
	b, err := scanBooking(s.scans.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE ref = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Booking{}, fmt.Errorf("store: booking %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Booking{}, fmt.Errorf("store: booking %s: %w", ref, err)
	}
	return b, nil
}

// Bookings returns a pharmacy's bookings starting in [from, until), in
// time order, up to limit.
func (s *Store) Bookings(ctx context.Context, pharmacy string, from, until time.Time, limit int) ([]Booking, error) {
	rows, err := s.scans.QueryContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE pharmacy_id = ? AND starts_at >= ? AND starts_at < ?
		ORDER BY starts_at, ref LIMIT ?`, pharmacy, from.UnixNano(), until.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: bookings of %s: %w", pharmacy, err)
	}
	defer rows.Close()
	var out []Booking
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, fmt.Errorf("store: bookings of %s: %w", pharmacy, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: bookings of %s: %w", pharmacy, err)
	}
	return out, nil
}

// CancelBooking is a citizen's cancellation: a booked booking becomes
// cancelled and frees its place (no notice: the citizen knows).
// Cancelling a cancelled booking returns it unchanged; a visited one is
// ErrState.
func (s *Store) CancelBooking(ctx context.Context, ref string, now time.Time) (Booking, error) {
	var out Booking
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		b, err := scanBooking(tx.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE ref = ?`+tx.lock(), ref))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: booking %s: %w", ref, ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: booking %s: %w", ref, err)
		case b.State == "cancelled":
			out = b
			return nil
		case b.State != "booked":
			return fmt.Errorf("store: booking %s is %s: %w", ref, b.State, ErrState)
		}
		b.State, b.CancelledAt, b.CancelledBy = "cancelled", now.UTC(), "citizen"
		out = b
		return execAll(ctx, tx,
			sqlStmt{q: `UPDATE bookings SET state = 'cancelled', cancelled_at = ?, cancelled_by = 'citizen' WHERE ref = ?`,
				args: []any{now.UnixNano(), ref}, fail: func(err error) error { return fmt.Errorf("store: cancel booking: %w", err) }},
			sqlStmt{q: `UPDATE booking_slots SET booked = booked - 1 WHERE pharmacy_id = ? AND starts_at = ? AND booked > 0`,
				args: []any{b.PharmacyID, b.Start.UnixNano()}, fail: func(err error) error { return fmt.Errorf("store: free a booking place: %w", err) }})
	})
	return out, err
}

// CancelBookings cancels the booked bookings starting in [from, until)
// of pharmacy ("" every pharmacy) and records each one's notice: sent at
// now through the pharmacy's channel (defaultChannel when it chose
// none), reaching the citizen when notify says. The places are not freed:
// a pharmacy that cancels a window cannot serve it. It returns the
// cancelled bookings.
func (s *Store) CancelBookings(ctx context.Context, pharmacy string, from, until, now time.Time, by, defaultChannel string, notify Notifier) ([]Booking, error) {
	var out []Booking
	key := "booking\x00" + pharmacy
	if pharmacy == "" {
		key = ""
	}
	err := s.writeKeyed(ctx, key, func(ctx context.Context, tx querier) error {
		out = nil
		q := `SELECT b.ref, b.pharmacy_id, b.starts_at, COALESCE(c.channel, '') FROM bookings b
			LEFT JOIN booking_settings c ON c.pharmacy_id = b.pharmacy_id
			WHERE b.state = 'booked' AND b.starts_at >= ? AND b.starts_at < ?`
		args := []any{from.UnixNano(), until.UnixNano()}
		if pharmacy != "" {
			q += ` AND b.pharmacy_id = ?`
			args = append(args, pharmacy)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY b.starts_at, b.ref`, args...)
		if err != nil {
			return fmt.Errorf("store: bookings to cancel: %w", err)
		}
		type hit struct {
			ref, ph, channel string
			start            int64
		}
		var hits []hit
		for rows.Next() {
			var h hit
			if err := rows.Scan(&h.ref, &h.ph, &h.start, &h.channel); err != nil {
				rows.Close()
				return fmt.Errorf("store: bookings to cancel: %w", err)
			}
			hits = append(hits, h)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("store: bookings to cancel: %w", err)
		}
		var stmts []sqlStmt
		for _, h := range hits {
			ch := h.channel
			if ch == "" {
				ch = defaultChannel
			}
			start := time.Unix(0, h.start).UTC()
			var reached time.Time
			if notify != nil {
				reached = notify(h.ref, ch, start, now)
			}
			stmts = append(stmts, sqlStmt{q: `UPDATE bookings SET state = 'cancelled', cancelled_at = ?, cancelled_by = ?,
				notice_channel = ?, notice_sent_at = ?, reached_at = ? WHERE ref = ? AND state = 'booked'`,
				args: []any{now.UnixNano(), by, ch, now.UnixNano(), nullNanos(reached), h.ref},
				fail: func(err error) error { return fmt.Errorf("store: cancel booking: %w", err) }})
			out = append(out, Booking{Ref: h.ref, PharmacyID: h.ph, Start: start, State: "cancelled", CancelledAt: now.UTC(),
				CancelledBy: by, NoticeChannel: ch, NoticeSentAt: now.UTC(), ReachedAt: reached})
		}
		if len(stmts) == 0 {
			return nil
		}
		return execAll(ctx, tx, stmts...)
	})
	return out, err
}

// RecordBookingVisit records how a booking's visit at pharmacy ended. A
// booked or cancelled booking (a customer whom no notice reached comes
// anyway) becomes visited; recording the same outcome again returns the
// booking unchanged, another outcome is ErrState. Another pharmacy's
// booking is ErrNotFound. fresh says whether this call recorded it.
func (s *Store) RecordBookingVisit(ctx context.Context, ref, pharmacy, outcome string, now time.Time) (out Booking, fresh bool, err error) {
	err = s.writeKeyed(ctx, "booking\x00"+pharmacy, func(ctx context.Context, tx querier) error {
		fresh = false
		b, err := scanBooking(tx.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE ref = ?`+tx.lock(), ref))
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && b.PharmacyID != pharmacy):
			return fmt.Errorf("store: booking %s: %w", ref, ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: booking %s: %w", ref, err)
		case b.State == "visited" && b.VisitOutcome == outcome:
			out = b
			return nil
		case b.State == "visited":
			return fmt.Errorf("store: booking %s was visited (%s): %w", ref, b.VisitOutcome, ErrState)
		}
		b.State, b.VisitOutcome, b.VisitedAt = "visited", outcome, now.UTC()
		out, fresh = b, true
		_, err = tx.ExecContext(ctx, `UPDATE bookings SET state = 'visited', visit_outcome = ?, visited_at = ? WHERE ref = ?`,
			outcome, now.UnixNano(), ref)
		if err != nil {
			return fmt.Errorf("store: record visit: %w", err)
		}
		return nil
	})
	return out, fresh, err
}
