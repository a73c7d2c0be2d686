package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PharmacyActivity is what the public finder (package issuer/finder)
// shows of one activated pharmacy: its business address, its account
// state and the facts of its issuance. No credential and no holder data.
type PharmacyActivity struct {
	ID                             string
	Name, Street, PostalCode, City string
	Status                         PharmacyStatus // active or suspended
	UpdatedAt                      time.Time      // the account's last change (a suspension, for instance)
	// LastIssuedAt is when its newest certificate was issued: the
	// issued_at of the one requested last, or the completion of a
	// deferred request after it; zero: none yet.
	LastIssuedAt    time.Time
	PendingTickets  int       // deferred requests not finished (pending or signing)
	OldestPendingAt time.Time // created_at of the oldest of them
	// LastFailures is, per error code, when its newest deferred request
	// with that code failed (nil: none failed).
	LastFailures map[string]time.Time
}

// PharmacyActivity lists every activated pharmacy (active or suspended,
// never a pending application) with its issuance facts, ordered by ID.
//
// It reads three aggregates, not one transaction: a write landing between
// them can show, for an instant, a ticket already done beside a
// certificate not yet counted (the pharmacy looks as it did a moment
// before), never a fact that was not true. It costs an index seek per
// pharmacy and a pass over the deferred requests (BenchmarkPharmacyActivity);
// the finder calls it every few seconds, never per search.
func (s *Store) PharmacyActivity(ctx context.Context) ([]PharmacyActivity, error) {
	rows, err := s.scans.QueryContext(ctx, `SELECT id, name, street, postal_code, city, status, updated_at
		FROM pharmacies WHERE status IN ('active', 'suspended') ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: %w", err)
	}
	var out []PharmacyActivity
	index := map[string]int{}
	err = eachRow(rows, func(sc scanner) error {
		var (
			a       PharmacyActivity
			updated int64
		)
		if err := sc.Scan(&a.ID, &a.Name, &a.Street, &a.PostalCode, &a.City, &a.Status, &updated); err != nil {
			return err
		}
		a.UpdatedAt = time.Unix(0, updated).UTC()
		index[a.ID] = len(out)
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: %w", err)
	}
	at := func(id string) *PharmacyActivity {
		if i, ok := index[id]; ok {
			return &out[i]
		}
		return nil // a pending application's rows, or a pharmacy created meanwhile
	}

	// The newest certificate by request time is one index seek per
	// pharmacy (certificates_pharmacy); MAX(issued_at) over all of them
	// would read every certificate row, 0.5 s at 100 000 certificates.
	// A certificate requested earlier but issued later than that one was
	// deferred: its ticket's completion, read below, covers it.
	rows, err = s.scans.QueryContext(ctx, `SELECT p.id, (SELECT c.issued_at FROM certificates c
		WHERE c.pharmacy_id = p.id ORDER BY c.requested_at DESC LIMIT 1)
		FROM pharmacies p WHERE p.status IN ('active', 'suspended')`)
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: certificates: %w", err)
	}
	err = eachRow(rows, func(sc scanner) error {
		var (
			id     string
			issued sql.NullInt64
		)
		if err := sc.Scan(&id, &issued); err != nil {
			return err
		}
		if a := at(id); a != nil {
			a.LastIssuedAt = fromNanos(issued)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: certificates: %w", err)
	}

	// One pass over the tickets (deferred requests only): unfinished ones,
	// done ones (when their certificates were recorded), and failed ones
	// by code, so the caller can tell a payload the signer refused from a
	// request that expired.
	rows, err = s.scans.QueryContext(ctx, `SELECT pharmacy_id, state, CASE WHEN state = 'failed' THEN error_code ELSE '' END,
		COUNT(*), MIN(created_at), MAX(completed_at) FROM tickets GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: tickets: %w", err)
	}
	err = eachRow(rows, func(sc scanner) error {
		var (
			id, state, code string
			n               int
			oldest          int64
			completed       sql.NullInt64
		)
		if err := sc.Scan(&id, &state, &code, &n, &oldest, &completed); err != nil {
			return err
		}
		a := at(id)
		if a == nil {
			return nil
		}
		switch TicketState(state) {
		case TicketDone:
			if t := fromNanos(completed); t.After(a.LastIssuedAt) {
				a.LastIssuedAt = t
			}
		case TicketFailed:
			if a.LastFailures == nil {
				a.LastFailures = map[string]time.Time{}
			}
			a.LastFailures[code] = fromNanos(completed)
		default:
			a.PendingTickets += n
			if t := time.Unix(0, oldest).UTC(); a.OldestPendingAt.IsZero() || t.Before(a.OldestPendingAt) {
				a.OldestPendingAt = t
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pharmacy activity: tickets: %w", err)
	}
	return out, nil
}

// eachRow calls fn for every row and closes rows.
func eachRow(rows rows, fn func(scanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
