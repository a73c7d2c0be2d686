package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CreatePharmacy stores a new pharmacy account and returns it as stored
// (ID assigned when empty, status pending when empty). ErrExists when the
// Telematik-ID, ID or client id is taken.
func (s *Store) CreatePharmacy(ctx context.Context, p Pharmacy, actor string) (Pharmacy, error) {
	if p.TelematikID == "" {
		return Pharmacy{}, fmt.Errorf("%w: pharmacy without Telematik-ID", ErrInvalid)
	}
	if p.ID == "" {
		var b [12]byte
		rand.Read(b[:])
		p.ID = "ph_" + hex.EncodeToString(b[:])
	}
	if p.Status == "" {
		p.Status = PharmacyPending
	}
	if !p.Status.valid() {
		return Pharmacy{}, fmt.Errorf("%w: pharmacy status %q", ErrInvalid, p.Status)
	}
	now := s.clock()
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		c := p.Credentials
		_, err := tx.ExecContext(ctx, `INSERT INTO pharmacies (id, telematik_id, register_id, status, name, street,
			postal_code, city, email, register_verified, documents_sha256, client_id, secret_hash, password_hash,
			activation_code_hash, activation_expires_at, activation_attempts, created_at, updated_at,
			prev_activation_code_hash, prev_activation_expires_at, activation_sent_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.TelematikID, p.RegisterID, p.Status, p.Name, p.Street, p.PostalCode, p.City, p.Email,
			p.RegisterVerified, p.DocumentsSHA256, nullString(c.ClientID), c.SecretHash, c.PasswordHash,
			c.ActivationCodeHash, nanos(c.ActivationExpiresAt), p.ActivationAttempts, now.UnixNano(), now.UnixNano(),
			c.PrevActivationCodeHash, nanos(c.PrevActivationExpiresAt), nanos(c.ActivationSentAt))
		if isUnique(err) {
			return fmt.Errorf("store: pharmacy %s (Telematik-ID %s): %w", p.ID, p.TelematikID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: create pharmacy: %w", err)
		}
		return appendAudit(ctx, tx, now, actor, "pharmacy.created", p.ID,
			map[string]any{"telematik_id": p.TelematikID, "status": p.Status, "register_verified": p.RegisterVerified})
	})
	if err != nil {
		return Pharmacy{}, err
	}
	p.CreatedAt = time.Unix(0, now.UnixNano()).UTC() // as a read will return it
	p.UpdatedAt = p.CreatedAt
	return p, nil
}

const pharmacyCols = `id, telematik_id, register_id, status, name, street, postal_code, city, email,
	register_verified, documents_sha256, client_id, secret_hash, password_hash, activation_code_hash,
	activation_expires_at, activation_attempts, created_at, updated_at, prev_activation_code_hash,
	prev_activation_expires_at, activation_sent_at`

func (s *Store) pharmacyBy(ctx context.Context, q querier, col, val string) (Pharmacy, error) {
	var (
		p                Pharmacy
		clientID         sql.NullString
		expires, prevExp sql.NullInt64
		sent             sql.NullInt64
		created, updated int64
	)
	err := q.QueryRowContext(ctx, `SELECT `+pharmacyCols+` FROM pharmacies WHERE `+col+` = ?`+q.lock(), val).Scan(
		&p.ID, &p.TelematikID, &p.RegisterID, &p.Status, &p.Name, &p.Street, &p.PostalCode, &p.City, &p.Email,
		&p.RegisterVerified, &p.DocumentsSHA256, &clientID, &p.Credentials.SecretHash, &p.Credentials.PasswordHash,
		&p.Credentials.ActivationCodeHash, &expires, &p.ActivationAttempts, &created, &updated,
		&p.Credentials.PrevActivationCodeHash, &prevExp, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return Pharmacy{}, fmt.Errorf("store: pharmacy with %s %q: %w", col, val, ErrNotFound)
	}
	if err != nil {
		return Pharmacy{}, fmt.Errorf("store: pharmacy with %s %q: %w", col, val, err)
	}
	p.Credentials.ClientID = clientID.String
	p.Credentials.ActivationExpiresAt = fromNanos(expires)
	p.Credentials.PrevActivationExpiresAt = fromNanos(prevExp)
	p.Credentials.ActivationSentAt = fromNanos(sent)
	p.CreatedAt = time.Unix(0, created).UTC()
	p.UpdatedAt = time.Unix(0, updated).UTC()
	return p, nil
}

// Pharmacy returns a pharmacy by ID or ErrNotFound.
func (s *Store) Pharmacy(ctx context.Context, id string) (Pharmacy, error) {
	return s.pharmacyBy(ctx, s.reads, "id", id)
}

// PharmacyByClientID returns the pharmacy holding a client id.
func (s *Store) PharmacyByClientID(ctx context.Context, clientID string) (Pharmacy, error) {
	if clientID == "" {
		return Pharmacy{}, fmt.Errorf("store: empty client id: %w", ErrNotFound)
	}
	return s.pharmacyBy(ctx, s.reads, "client_id", clientID)
}

// PharmacyByTelematikID returns the pharmacy with a Telematik-ID.
func (s *Store) PharmacyByTelematikID(ctx context.Context, telematikID string) (Pharmacy, error) {
	return s.pharmacyBy(ctx, s.reads, "telematik_id", telematikID)
}

// SetPharmacyStatus changes a pharmacy's status (audited with actor).
func (s *Store) SetPharmacyStatus(ctx context.Context, id string, status PharmacyStatus, actor string) error {
	if !status.valid() {
		return fmt.Errorf("%w: pharmacy status %q", ErrInvalid, status)
	}
	now := s.clock()
	return s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		p, err := s.pharmacyBy(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if p.Status == status {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pharmacies SET status = ?, updated_at = ? WHERE id = ?`,
			status, now.UnixNano(), id); err != nil {
			return fmt.Errorf("store: pharmacy %s status: %w", id, err)
		}
		return appendAudit(ctx, tx, now, actor, "pharmacy.status", id, map[string]any{"from": p.Status, "to": status})
	})
}

// Transition is a change of a pharmacy's status that is allowed only from
// some states: the admin actions and the fraud controls are a state
// machine (suspend: active -> suspended; reinstate: suspended -> active,
// and only for an account that was activated).
type Transition struct {
	To   PharmacyStatus
	From []PharmacyStatus
	// NeedsCredentials refuses an account that was never activated (no
	// client credentials): made active, it could never log in.
	NeedsCredentials bool
}

// StateError is a transition refused in the pharmacy's current state; it
// wraps ErrState.
type StateError struct {
	ID     string
	Status PharmacyStatus // the state the pharmacy is in
	Want   PharmacyStatus // the state asked for
	Why    string         // when the state alone is not the reason
}

func (e *StateError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("store: pharmacy %s is %s: %s", e.ID, e.Status, e.Why)
	}
	return fmt.Sprintf("store: pharmacy %s cannot become %s from %s", e.ID, e.Want, e.Status)
}

func (e *StateError) Unwrap() error { return ErrState }

// TransitionPharmacy applies tr in one transaction (audited with actor).
// A pharmacy already in tr.To is left as it is (changed false, no error),
// so a repeated admin call is harmless. A *StateError when tr does not
// start from the current state; ErrNotFound for an unknown ID.
func (s *Store) TransitionPharmacy(ctx context.Context, id string, tr Transition, actor string) (changed bool, err error) {
	if !tr.To.valid() {
		return false, fmt.Errorf("%w: pharmacy status %q", ErrInvalid, tr.To)
	}
	now := s.clock()
	err = s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		changed = false
		p, err := s.pharmacyBy(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if p.Status == tr.To {
			return nil
		}
		if !slices.Contains(tr.From, p.Status) {
			return &StateError{ID: id, Status: p.Status, Want: tr.To}
		}
		if tr.NeedsCredentials && p.Credentials.ClientID == "" {
			return &StateError{ID: id, Status: p.Status, Want: tr.To, Why: "it was never activated"}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pharmacies SET status = ?, updated_at = ? WHERE id = ?`,
			tr.To, now.UnixNano(), id); err != nil {
			return fmt.Errorf("store: pharmacy %s status: %w", id, err)
		}
		changed = true
		return appendAudit(ctx, tx, now, actor, "pharmacy.status", id, map[string]any{"from": p.Status, "to": tr.To})
	})
	return changed, err
}

// SetCredentials replaces all of a pharmacy's credential material (e.g. a
// secret rotation or an admin reset). ErrExists if the client id is taken.
func (s *Store) SetCredentials(ctx context.Context, id string, c Credentials, actor string) error {
	now := s.clock()
	return s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		if err := updateCredentials(ctx, tx, id, c, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, actor, "pharmacy.credentials", id, map[string]any{"client_id": c.ClientID})
	})
}

func updateCredentials(ctx context.Context, tx querier, id string, c Credentials, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE pharmacies SET client_id = ?, secret_hash = ?, password_hash = ?,
		activation_code_hash = ?, activation_expires_at = ?, prev_activation_code_hash = ?,
		prev_activation_expires_at = ?, activation_sent_at = ?, updated_at = ? WHERE id = ?`,
		nullString(c.ClientID), c.SecretHash, c.PasswordHash, c.ActivationCodeHash, nanos(c.ActivationExpiresAt),
		c.PrevActivationCodeHash, nanos(c.PrevActivationExpiresAt), nanos(c.ActivationSentAt), now.UnixNano(), id)
	if isUnique(err) {
		return fmt.Errorf("store: client id %q: %w", c.ClientID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: pharmacy %s credentials: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: pharmacy %s: %w", id, ErrNotFound)
	}
	return nil
}

// Activate moves a pending pharmacy to active with its credentials; the
// activation code is single-use, so its hash and attempt count are
// cleared whatever c says. ErrState unless the pharmacy is pending.
func (s *Store) Activate(ctx context.Context, id string, c Credentials, actor string) error {
	now := s.clock()
	c.ActivationCodeHash, c.ActivationExpiresAt = "", time.Time{}
	c.PrevActivationCodeHash, c.PrevActivationExpiresAt, c.ActivationSentAt = "", time.Time{}, time.Time{}
	return s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		p, err := s.pharmacyBy(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if p.Status != PharmacyPending {
			return fmt.Errorf("store: pharmacy %s is %s: %w", id, p.Status, ErrState)
		}
		if err := updateCredentials(ctx, tx, id, c, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pharmacies SET status = 'active', activation_attempts = 0
			WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: activate pharmacy %s: %w", id, err)
		}
		return appendAudit(ctx, tx, now, actor, "pharmacy.activated", id, map[string]any{"client_id": c.ClientID})
	})
}

// ActivationFailed counts a wrong activation code and returns the number
// of wrong codes so far (the portal locks the code out above its limit).
func (s *Store) ActivationFailed(ctx context.Context, id string) (int, error) {
	now := s.clock()
	var n int
	err := s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		err := tx.QueryRowContext(ctx, `UPDATE pharmacies SET activation_attempts = activation_attempts + 1,
			updated_at = ? WHERE id = ? RETURNING activation_attempts`, now.UnixNano(), id).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: pharmacy %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: pharmacy %s activation attempts: %w", id, err)
		}
		return appendAudit(ctx, tx, now, "anonymous", "pharmacy.activation_failed", id, map[string]any{"attempts": n})
	})
	return n, err
}

// ActivationRenewal is a new activation code for a pending application.
type ActivationRenewal struct {
	CodeHash  string
	ExpiresAt time.Time
	// KeepPrevious keeps the current code valid (until its own expiry) as
	// the previous one: a resend must not make the code the owner holds
	// useless. False voids every earlier code (an admin reset).
	KeepPrevious bool
	// Application, when set, replaces the application's data (name,
	// address, e-mail, register check, documents): a repeated application
	// of the same pharmacy is its newest word.
	Application *Pharmacy
	// Reason is recorded in the audit entry ("resend", "reapplied", ...).
	Reason string
}

// RenewActivation gives a pending application a new activation code and
// clears its count of wrong codes. A *StateError unless it is pending.
func (s *Store) RenewActivation(ctx context.Context, id string, r ActivationRenewal, actor string) error {
	if r.CodeHash == "" || r.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: activation renewal without code or expiry", ErrInvalid)
	}
	now := s.clock()
	return s.writeKeyed(ctx, pharmacyRoute(id), func(ctx context.Context, tx querier) error {
		p, err := s.pharmacyBy(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if p.Status != PharmacyPending {
			return &StateError{ID: id, Status: p.Status, Want: PharmacyPending, Why: "only a pending application gets a new activation code"}
		}
		c := p.Credentials
		c.PrevActivationCodeHash, c.PrevActivationExpiresAt = "", time.Time{}
		if r.KeepPrevious && c.ActivationCodeHash != "" && now.Before(c.ActivationExpiresAt) {
			c.PrevActivationCodeHash, c.PrevActivationExpiresAt = c.ActivationCodeHash, c.ActivationExpiresAt
		}
		c.ActivationCodeHash, c.ActivationExpiresAt, c.ActivationSentAt = r.CodeHash, r.ExpiresAt, now
		if err := updateCredentials(ctx, tx, id, c, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pharmacies SET activation_attempts = 0 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: pharmacy %s activation attempts: %w", id, err)
		}
		if a := r.Application; a != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE pharmacies SET name = ?, street = ?, postal_code = ?, city = ?,
				email = ?, register_verified = ?, documents_sha256 = ? WHERE id = ?`,
				a.Name, a.Street, a.PostalCode, a.City, a.Email, a.RegisterVerified, a.DocumentsSHA256, id); err != nil {
				return fmt.Errorf("store: pharmacy %s application: %w", id, err)
			}
		}
		return appendAudit(ctx, tx, now, actor, "pharmacy.activation_renewed", id,
			map[string]any{"reason": r.Reason, "previous_kept": c.PrevActivationCodeHash != ""})
	})
}
