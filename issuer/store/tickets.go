package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

// CreateTicket accepts a deferred issuance request: the ticket (state
// pending, due at t.NextAttemptAt or now), its sealed request and, when
// idem.Key is set, the idempotency binding, in one durable write.
//
// If the key is already issued or deferred with the same request hash,
// nothing is written and that binding is returned as existing. A key
// reserved with ReserveIdempotency becomes deferred, and the ticket takes
// the reserved UVCI when t.UVCI is empty. Errors: ErrIdempotencyConflict,
// ErrState (reserved for another UVCI), ErrExists (ticket id or UVCI
// taken), ErrNotFound (unknown pharmacy), ErrInvalid.
func (s *Store) CreateTicket(ctx context.Context, t Ticket, idem IdemBinding, request []byte) (existing *IdemBinding, err error) {
	switch {
	case t.ID == "" || t.PharmacyID == "":
		return nil, fmt.Errorf("%w: ticket needs id and pharmacy", ErrInvalid)
	case !t.Type.valid():
		return nil, fmt.Errorf("%w: ticket %s: type %q", ErrInvalid, t.ID, t.Type)
	case len(request) == 0:
		return nil, fmt.Errorf("%w: ticket %s without request", ErrInvalid, t.ID)
	case t.UVCI == "" && idem.Key == "":
		return nil, fmt.Errorf("%w: ticket %s without UVCI", ErrInvalid, t.ID)
	}
	if err := checkIdem(&idem, t.PharmacyID); err != nil {
		return nil, err
	}
	t.IdemKey = idem.Key
	sealed := s.seal.seal(purposeRequest, t.ID, request)
	now := s.clock()
	if t.NextAttemptAt.IsZero() {
		t.NextAttemptAt = now
	}
	err = s.writeKeyed(ctx, idemRoute(idem.PharmacyID, idem.Key), func(ctx context.Context, tx querier) error {
		existing = nil
		uvci, reserved := t.UVCI, false
		if idem.Key != "" {
			b, err := getIdem(ctx, tx, idem.PharmacyID, idem.Key)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return err
			case !sameRequest(b, idem.RequestHash, t.UVCI):
				return fmt.Errorf("store: key %q of pharmacy %s: %w", idem.Key, idem.PharmacyID, ErrIdempotencyConflict)
			case b.State == IdemReserved:
				if uvci == "" {
					uvci = b.UVCI
				}
				if uvci != b.UVCI {
					return fmt.Errorf("store: key %q is reserved for UVCI %s, not %s: %w", idem.Key, b.UVCI, uvci, ErrState)
				}
				reserved = true
			default:
				existing = &b
				return nil
			}
		}
		if uvci == "" {
			return fmt.Errorf("%w: ticket %s without UVCI", ErrInvalid, t.ID)
		}
		stmts := []sqlStmt{{q: `INSERT INTO tickets (id, pharmacy_id, idem_key, uvci, type, sealed_request,
			state, attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
			args: []any{t.ID, t.PharmacyID, t.IdemKey, uvci, t.Type, sealed, t.NextAttemptAt.UnixNano(), now.UnixNano(), now.UnixNano()},
			fail: func(err error) error {
				switch {
				case isUnique(err):
					return fmt.Errorf("store: ticket %s or UVCI %s: %w", t.ID, uvci, ErrExists)
				case isForeignKey(err):
					return fmt.Errorf("store: pharmacy %s: %w", t.PharmacyID, ErrNotFound)
				}
				return fmt.Errorf("store: insert ticket %s: %w", t.ID, err)
			}}}
		if idem.Key != "" {
			if reserved {
				stmts = append(stmts, sqlStmt{q: `UPDATE idempotency SET state = 'deferred', ticket_id = ?
					WHERE pharmacy_id = ? AND key = ?`, args: []any{t.ID, idem.PharmacyID, idem.Key},
					fail: wrapping("store: bind idempotency key")})
			} else {
				st, err := idemInsert(idem, uvci, IdemDeferred, t.ID, now)
				if err != nil {
					return err
				}
				stmts = append(stmts, st)
			}
		}
		audit, err := auditInsert(now, "pharmacy:"+t.PharmacyID, "ticket.created", t.ID,
			map[string]any{"uvci": uvci, "type": t.Type})
		if err != nil {
			return err
		}
		return execAll(ctx, tx, append(stmts, audit)...)
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

const ticketCols = `id, pharmacy_id, idem_key, uvci, type, state, attempts, next_attempt_at,
	created_at, updated_at, completed_at, error_code`

func scanTicket(sc scanner, extra ...any) (Ticket, error) {
	var (
		t                      Ticket
		next, created, updated int64
		completed              sql.NullInt64
	)
	dest := append([]any{&t.ID, &t.PharmacyID, &t.IdemKey, &t.UVCI, &t.Type, &t.State, &t.Attempts, &next,
		&created, &updated, &completed, &t.ErrorCode}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return Ticket{}, err
	}
	t.NextAttemptAt = time.Unix(0, next).UTC()
	t.CreatedAt = time.Unix(0, created).UTC()
	t.UpdatedAt = time.Unix(0, updated).UTC()
	t.CompletedAt = fromNanos(completed)
	return t, nil
}

func getTicket(ctx context.Context, q querier, id string) (Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets WHERE id = ?`+q.lock(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, fmt.Errorf("store: ticket %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("store: ticket %s: %w", id, err)
	}
	return t, nil
}

// Ticket returns a ticket without its request, or ErrNotFound.
func (s *Store) Ticket(ctx context.Context, id string) (Ticket, error) {
	return getTicket(ctx, s.reads, id)
}

// ClaimTickets hands up to limit due tickets to the caller: pending ones
// whose NextAttemptAt has come and signing ones whose lease ran out (their
// worker crashed or hung). They become signing with a lease of
// Options.TicketLease from now, Attempts counts up, and Request holds the
// opened request. A request that does not open fails its ticket
// ("request_unreadable") instead of blocking the queue.
func (s *Store) ClaimTickets(ctx context.Context, limit int, now time.Time) ([]Ticket, error) {
	if limit <= 0 {
		return nil, nil
	}
	lease := now.Add(s.opts.TicketLease).UnixNano()
	var out []Ticket
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		out = nil
		// Concurrent claimers (other writers, other portals) skip the
		// tickets this one locked instead of waiting for them.
		skip := ""
		if l := tx.lock(); l != "" {
			skip = l + " SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `UPDATE tickets SET state = 'signing', attempts = attempts + 1,
			next_attempt_at = ?, updated_at = ?
			WHERE id IN (SELECT id FROM tickets WHERE state IN ('pending', 'signing') AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?`+skip+`)
			RETURNING `+ticketCols+`, sealed_request`, lease, now.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return fmt.Errorf("store: claim tickets: %w", err)
		}
		var claimed []Ticket
		var sealed [][]byte
		for rows.Next() {
			var blob []byte
			t, err := scanTicket(rows, &blob)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: claim tickets: %w", err)
			}
			claimed, sealed = append(claimed, t), append(sealed, blob)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("store: claim tickets: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim tickets: %w", err)
		}
		for i, t := range claimed {
			req, err := s.seal.open(purposeRequest, t.ID, sealed[i])
			if err != nil {
				s.log.Error("store: ticket request does not open; failing the ticket", "ticket", t.ID, "err", err)
				if err := finishTicket(ctx, tx, t.ID, TicketFailed, "request_unreadable", now); err != nil {
					return err
				}
				continue
			}
			t.Request = req
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// finishTicket moves a ticket to done or failed and drops its sealed
// request: the holder's data is kept no longer than needed.
func finishTicket(ctx context.Context, tx querier, id string, state TicketState, code string, now time.Time) error {
	stmts, err := finishTicketStmts(id, state, code, now)
	if err != nil {
		return err
	}
	return execAll(ctx, tx, stmts...)
}

func finishTicketStmts(id string, state TicketState, code string, now time.Time) ([]sqlStmt, error) {
	action := "ticket.completed"
	if state == TicketFailed {
		action = "ticket.failed"
	}
	detail := map[string]any{}
	if code != "" {
		detail["error_code"] = code
	}
	audit, err := auditInsert(now, "system", action, id, detail)
	if err != nil {
		return nil, err
	}
	return []sqlStmt{{q: `UPDATE tickets SET state = ?, error_code = ?, sealed_request = NULL,
		completed_at = ?, updated_at = ? WHERE id = ?`, args: []any{state, code, now.UnixNano(), now.UnixNano(), id},
		fail: wrapping("store: finish ticket %s", id)}, audit}, nil
}

// CompleteTicket records the ticket's certificate and marks it done in one
// durable write, exactly once: completing a done ticket writes nothing and
// returns alreadyDone. rec.UVCI must be the ticket's UVCI; an empty
// PharmacyID or Type is taken from the ticket, an empty RequestedAt is the
// ticket's creation. ErrState if the ticket failed.
func (s *Store) CompleteTicket(ctx context.Context, ticketID string, rec CertRecord, hc1 []byte) (alreadyDone bool, err error) {
	if rec.UVCI == "" {
		return false, fmt.Errorf("%w: completing ticket %s without UVCI", ErrInvalid, ticketID)
	}
	var sealed []byte
	if hc1 != nil {
		sealed = s.seal.seal(purposeHC1, rec.UVCI, hc1)
	}
	now := s.clock()
	err = s.writeKeyed(ctx, "ticket\x00"+ticketID, func(ctx context.Context, tx querier) error {
		alreadyDone = false
		t, err := getTicket(ctx, tx, ticketID)
		if err != nil {
			return err
		}
		switch t.State {
		case TicketDone:
			alreadyDone = true
			return nil
		case TicketFailed:
			return fmt.Errorf("store: ticket %s failed (%s): %w", ticketID, t.ErrorCode, ErrState)
		}
		r := rec
		if r.PharmacyID == "" {
			r.PharmacyID = t.PharmacyID
		}
		if r.Type == "" {
			r.Type = t.Type
		}
		if r.RequestedAt.IsZero() {
			r.RequestedAt = t.CreatedAt
		}
		if r.UVCI != t.UVCI || r.PharmacyID != t.PharmacyID || r.Type != t.Type {
			return fmt.Errorf("%w: certificate %s/%s/%s does not match ticket %s (%s/%s/%s)", ErrInvalid,
				r.UVCI, r.PharmacyID, r.Type, ticketID, t.UVCI, t.PharmacyID, t.Type)
		}
		if err := checkCert(&r); err != nil {
			return err
		}
		stmts := []sqlStmt{certInsert(r, sealed)}
		if t.IdemKey != "" {
			stmts = append(stmts, sqlStmt{q: `UPDATE idempotency SET state = 'issued'
				WHERE pharmacy_id = ? AND key = ? AND ticket_id = ?`, args: []any{t.PharmacyID, t.IdemKey, t.ID},
				fail: wrapping("store: complete ticket %s", ticketID)})
		}
		finish, err := finishTicketStmts(ticketID, TicketDone, "", now)
		if err != nil {
			return err
		}
		return execAll(ctx, tx, append(stmts, finish...)...)
	})
	return alreadyDone, err
}

// FailTicket ends a ticket for good (a permanent error, or attempts
// exhausted) and drops its request. Failing a failed ticket is a no-op;
// ErrState if it is done.
func (s *Store) FailTicket(ctx context.Context, ticketID, errCode string) error {
	now := s.clock()
	return s.writeKeyed(ctx, "ticket\x00"+ticketID, func(ctx context.Context, tx querier) error {
		t, err := getTicket(ctx, tx, ticketID)
		if err != nil {
			return err
		}
		switch t.State {
		case TicketFailed:
			return nil
		case TicketDone:
			return fmt.Errorf("store: ticket %s is done: %w", ticketID, ErrState)
		}
		return finishTicket(ctx, tx, ticketID, TicketFailed, errCode, now)
	})
}

// RescheduleTicket puts a claimed (or pending) ticket back to pending, due
// at next, noting why the attempt failed. ErrState if done or failed.
func (s *Store) RescheduleTicket(ctx context.Context, ticketID string, next time.Time, errCode string) error {
	now := s.clock()
	return s.writeKeyed(ctx, "ticket\x00"+ticketID, func(ctx context.Context, tx querier) error {
		t, err := getTicket(ctx, tx, ticketID)
		if err != nil {
			return err
		}
		if t.State == TicketDone || t.State == TicketFailed {
			return fmt.Errorf("store: ticket %s is %s: %w", ticketID, t.State, ErrState)
		}
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET state = 'pending', next_attempt_at = ?, error_code = ?,
			updated_at = ? WHERE id = ?`, next.UnixNano(), errCode, now.UnixNano(), ticketID)
		if err != nil {
			return fmt.Errorf("store: reschedule ticket %s: %w", ticketID, err)
		}
		return nil
	})
}

// PendingTicketCount counts tickets not finished yet (pending or signing).
func (s *Store) PendingTicketCount(ctx context.Context) (int, error) {
	var n int
	if err := s.scans.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE state IN ('pending', 'signing')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count tickets: %w", err)
	}
	return n, nil
}
