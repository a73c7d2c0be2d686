package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// appendAudit writes an audit event inside a write transaction.
func appendAudit(ctx context.Context, tx querier, at time.Time, actor, action, subject string, detail map[string]any) error {
	st, err := auditInsert(at, actor, action, subject, detail)
	if err != nil {
		return err
	}
	return execAll(ctx, tx, st)
}

// auditInsert is appendAudit's statement, for a write that sends it
// together with its others (execAll).
func auditInsert(at time.Time, actor, action, subject string, detail map[string]any) (sqlStmt, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return sqlStmt{}, fmt.Errorf("store: audit detail: %w", err)
	}
	if detail == nil {
		b = []byte("{}")
	}
	return eventInsert(Event{At: at, Actor: actor, Action: action, Subject: subject, Detail: b}), nil
}

func eventInsert(e Event) sqlStmt {
	return sqlStmt{q: `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
		args: []any{e.At.UnixNano(), e.Actor, e.Action, e.Subject, string(e.Detail)},
		fail: wrapping("store: audit %s", e.Action)}
}

func insertAudit(ctx context.Context, tx querier, e Event) error {
	return execAll(ctx, tx, eventInsert(e))
}

// checkDetail makes an empty detail {} and refuses anything but a JSON
// object.
func checkDetail(d json.RawMessage) (json.RawMessage, error) {
	if len(d) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(d) || !strings.HasPrefix(strings.TrimSpace(string(d)), "{") {
		return nil, fmt.Errorf("%w: detail must be a JSON object", ErrInvalid)
	}
	return d, nil
}

// Audit appends an event to the audit log (durably). The log is
// append-only: the schema refuses updates and deletes.
func (s *Store) Audit(ctx context.Context, e Event) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("%w: audit event needs actor and action", ErrInvalid)
	}
	d, err := checkDetail(e.Detail)
	if err != nil {
		return err
	}
	e.Detail = d
	if e.At.IsZero() {
		e.At = s.clock()
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error { return insertAudit(ctx, tx, e) })
}

// AuditLog returns audit events matching f, in ID order.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]Event, error) {
	q := `SELECT id, at, actor, action, subject, detail FROM audit WHERE id > ?`
	args := []any{f.AfterID}
	for _, c := range []struct{ col, val string }{{"actor", f.Actor}, {"action", f.Action}, {"subject", f.Subject}} {
		if c.val != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.val)
		}
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, clampLimit(f.Limit))
	rows, err := s.scans.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e      Event
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &detail); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		e.At = time.Unix(0, at).UTC()
		e.Detail = json.RawMessage(detail)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// RecordFraudEvent stores a detected anomaly (durably) and returns its ID.
func (s *Store) RecordFraudEvent(ctx context.Context, e FraudEvent) (int64, error) {
	if e.PharmacyID == "" || e.Kind == "" {
		return 0, fmt.Errorf("%w: fraud event needs pharmacy and kind", ErrInvalid)
	}
	d, err := checkDetail(e.Detail)
	if err != nil {
		return 0, err
	}
	if e.At.IsZero() {
		e.At = s.clock()
	}
	var id int64
	err = s.write(ctx, func(ctx context.Context, tx querier) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO fraud_events (pharmacy_id, at, kind, detail) VALUES (?, ?, ?, ?)
			RETURNING id`, e.PharmacyID, e.At.UnixNano(), e.Kind, string(d)).Scan(&id)
		if isForeignKey(err) {
			return fmt.Errorf("store: pharmacy %s: %w", e.PharmacyID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: fraud event: %w", err)
		}
		return nil
	})
	return id, err
}

// FraudEvents returns fraud events matching f, in ID order.
func (s *Store) FraudEvents(ctx context.Context, f FraudFilter) ([]FraudEvent, error) {
	q := `SELECT id, pharmacy_id, at, kind, detail FROM fraud_events WHERE id > ?`
	args := []any{f.AfterID}
	if f.PharmacyID != "" {
		q += " AND pharmacy_id = ?"
		args = append(args, f.PharmacyID)
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, clampLimit(f.Limit))
	rows, err := s.scans.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: fraud events: %w", err)
	}
	defer rows.Close()
	var out []FraudEvent
	for rows.Next() {
		var (
			e      FraudEvent
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &e.PharmacyID, &at, &e.Kind, &detail); err != nil {
			return nil, fmt.Errorf("store: fraud events: %w", err)
		}
		e.At = time.Unix(0, at).UTC()
		e.Detail = json.RawMessage(detail)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: fraud events: %w", err)
	}
	return out, nil
}
