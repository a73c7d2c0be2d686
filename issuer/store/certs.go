package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

func checkCert(rec *CertRecord) error {
	switch {
	case rec.UVCI == "":
		return fmt.Errorf("%w: certificate without UVCI", ErrInvalid)
	case rec.PharmacyID == "":
		return fmt.Errorf("%w: certificate %s without pharmacy", ErrInvalid, rec.UVCI)
	case !rec.Type.valid():
		return fmt.Errorf("%w: certificate %s: type %q", ErrInvalid, rec.UVCI, rec.Type)
	case rec.IssuedAt.IsZero() || !rec.ExpiresAt.After(rec.IssuedAt):
		return fmt.Errorf("%w: certificate %s: issued %v, expires %v", ErrInvalid, rec.UVCI, rec.IssuedAt, rec.ExpiresAt)
	case len(rec.HashSignature) != RevocationHashLen || len(rec.HashUCI) != RevocationHashLen ||
		len(rec.HashCountryCodeUCI) != RevocationHashLen:
		return fmt.Errorf("%w: certificate %s: revocation hashes must be %d bytes", ErrInvalid, rec.UVCI, RevocationHashLen)
	}
	if rec.RequestedAt.IsZero() {
		rec.RequestedAt = rec.IssuedAt
	}
	return nil
}

func checkIdem(idem *IdemBinding, pharmacyID string) error {
	if idem.Key == "" {
		return nil
	}
	if idem.PharmacyID == "" {
		idem.PharmacyID = pharmacyID
	}
	if idem.PharmacyID != pharmacyID {
		return fmt.Errorf("%w: idempotency key of pharmacy %q used for pharmacy %q", ErrInvalid, idem.PharmacyID, pharmacyID)
	}
	return nil
}

// sameRequest: the binding was made for this request. An empty request
// hash is accepted from the holder of the binding's UVCI (finishing its
// own reservation), so callers need not carry the hash along.
func sameRequest(b IdemBinding, requestHash, uvci string) bool {
	return b.RequestHash == requestHash || (requestHash == "" && uvci != "" && b.UVCI == uvci)
}

// IssueRecord records an issued certificate in one atomic, durable write:
// the certificate row, its sealed HC1 (hc1 may be nil), the idempotency
// binding (skipped when idem.Key is empty) and an audit event.
//
// When the key is already bound to an issued certificate (or to a ticket
// that completed), nothing is written and that certificate is returned as
// existing: the caller must hand out it, not its own. A key reserved with
// ReserveIdempotency for this same UVCI is turned into an issued binding
// (idem.RequestHash may then be empty: the UVCI identifies the request).
// Errors: ErrIdempotencyConflict (same key, different request hash),
// ErrState (key reserved for another UVCI), ErrBoundToTicket, ErrExists
// (UVCI recorded already), ErrNotFound (unknown pharmacy), ErrInvalid.
func (s *Store) IssueRecord(ctx context.Context, rec CertRecord, idem IdemBinding, hc1 []byte) (existing *CertRecord, err error) {
	if err := checkCert(&rec); err != nil {
		return nil, err
	}
	if err := checkIdem(&idem, rec.PharmacyID); err != nil {
		return nil, err
	}
	var sealed []byte
	if hc1 != nil {
		sealed = s.seal.seal(purposeHC1, rec.UVCI, hc1) // CPU work stays off the writer goroutine
	}
	now := s.clock()
	err = s.writeKeyed(ctx, idemRoute(idem.PharmacyID, idem.Key), func(ctx context.Context, tx querier) error {
		existing = nil
		reserved := false
		if idem.Key != "" {
			b, err := getIdem(ctx, tx, idem.PharmacyID, idem.Key)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return err
			case !sameRequest(b, idem.RequestHash, rec.UVCI):
				return fmt.Errorf("store: key %q of pharmacy %s: %w", idem.Key, idem.PharmacyID, ErrIdempotencyConflict)
			case b.State == IdemReserved:
				if b.UVCI != rec.UVCI {
					return fmt.Errorf("store: key %q is reserved for UVCI %s, not %s: %w", idem.Key, b.UVCI, rec.UVCI, ErrState)
				}
				reserved = true
			default:
				c, err := getCert(ctx, tx, b.UVCI)
				if errors.Is(err, ErrNotFound) && b.State == IdemDeferred {
					return fmt.Errorf("store: key %q belongs to ticket %s: %w", idem.Key, b.TicketID, ErrBoundToTicket)
				}
				if err != nil {
					return err
				}
				existing = &c
				return nil
			}
		}
		stmts := []sqlStmt{certInsert(rec, sealed)}
		if idem.Key != "" {
			if reserved {
				stmts = append(stmts, sqlStmt{q: `UPDATE idempotency SET state = 'issued' WHERE pharmacy_id = ? AND key = ?`,
					args: []any{idem.PharmacyID, idem.Key}, fail: wrapping("store: bind idempotency key")})
			} else {
				st, err := idemInsert(idem, rec.UVCI, IdemIssued, "", now)
				if err != nil {
					return err
				}
				stmts = append(stmts, st)
			}
		}
		st, err := auditInsert(now, "pharmacy:"+rec.PharmacyID, "certificate.issued", rec.UVCI,
			map[string]any{"type": rec.Type, "kid": rec.KID, "signer": rec.Signer})
		if err != nil {
			return err
		}
		return execAll(ctx, tx, append(stmts, st)...)
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// ReserveIdempotency binds a key to a UVCI before signing (state
// reserved), so two concurrent requests with one key never sign two
// certificates. If the key is already bound with the same request hash,
// nothing changes and the binding is returned as existing.
func (s *Store) ReserveIdempotency(ctx context.Context, b IdemBinding) (existing *IdemBinding, err error) {
	if b.Key == "" || b.PharmacyID == "" || b.UVCI == "" || b.RequestHash == "" {
		return nil, fmt.Errorf("%w: reservation needs pharmacy, key, request hash and UVCI", ErrInvalid)
	}
	now := s.clock()
	err = s.writeKeyed(ctx, idemRoute(b.PharmacyID, b.Key), func(ctx context.Context, tx querier) error {
		existing = nil
		old, err := getIdem(ctx, tx, b.PharmacyID, b.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			return insertIdem(ctx, tx, b, b.UVCI, IdemReserved, "", now)
		case err != nil:
			return err
		case old.RequestHash != b.RequestHash:
			return fmt.Errorf("store: key %q of pharmacy %s: %w", b.Key, b.PharmacyID, ErrIdempotencyConflict)
		}
		existing = &old
		return nil
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// ReleaseReservation frees a reserved key whose certificate will not be
// issued (the signer refused the payload). ErrState if it is issued or
// deferred.
func (s *Store) ReleaseReservation(ctx context.Context, pharmacyID, key string) error {
	return s.writeKeyed(ctx, idemRoute(pharmacyID, key), func(ctx context.Context, tx querier) error {
		b, err := getIdem(ctx, tx, pharmacyID, key)
		if err != nil {
			return err
		}
		if b.State != IdemReserved {
			return fmt.Errorf("store: key %q is %s: %w", key, b.State, ErrState)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM idempotency WHERE pharmacy_id = ? AND key = ?`, pharmacyID, key)
		return err
	})
}

// LookupIdempotency returns the binding of (pharmacyID, key) or ErrNotFound.
func (s *Store) LookupIdempotency(ctx context.Context, pharmacyID, key string) (IdemBinding, error) {
	return getIdem(ctx, s.reads, pharmacyID, key)
}

func getIdem(ctx context.Context, q querier, pharmacyID, key string) (IdemBinding, error) {
	var (
		b        IdemBinding
		ticketID sql.NullString
		created  int64
	)
	err := q.QueryRowContext(ctx, `SELECT pharmacy_id, key, request_hash, uvci, state, ticket_id, created_at
		FROM idempotency WHERE pharmacy_id = ? AND key = ?`+q.lock(), pharmacyID, key).
		Scan(&b.PharmacyID, &b.Key, &b.RequestHash, &b.UVCI, &b.State, &ticketID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return IdemBinding{}, fmt.Errorf("store: idempotency key %q of pharmacy %s: %w", key, pharmacyID, ErrNotFound)
	}
	if err != nil {
		return IdemBinding{}, fmt.Errorf("store: idempotency key: %w", err)
	}
	b.TicketID = ticketID.String
	b.CreatedAt = time.Unix(0, created).UTC()
	return b, nil
}

func insertIdem(ctx context.Context, tx querier, b IdemBinding, uvci string, state IdemState, ticketID string, now time.Time) error {
	st, err := idemInsert(b, uvci, state, ticketID, now)
	if err != nil {
		return err
	}
	return execAll(ctx, tx, st)
}

// idemInsert binds b.Key to uvci.
func idemInsert(b IdemBinding, uvci string, state IdemState, ticketID string, now time.Time) (sqlStmt, error) {
	if b.RequestHash == "" {
		return sqlStmt{}, fmt.Errorf("%w: idempotency key %q without request hash", ErrInvalid, b.Key)
	}
	return sqlStmt{
		q: `INSERT INTO idempotency (pharmacy_id, key, request_hash, uvci, state, ticket_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
		args: []any{b.PharmacyID, b.Key, b.RequestHash, uvci, state, nullString(ticketID), now.UnixNano()},
		fail: func(err error) error {
			switch {
			case isUnique(err) && constraintName(err) == "idempotency_pkey":
				// A concurrent transaction (another portal) bound the key
				// after our check: run again, and see its binding.
				return fmt.Errorf("store: idempotency key %q of pharmacy %s: %w", b.Key, b.PharmacyID, errRetry)
			case isUnique(err):
				return fmt.Errorf("store: UVCI %s is bound to another key: %w", uvci, ErrExists)
			case isForeignKey(err):
				return fmt.Errorf("store: pharmacy %s: %w", b.PharmacyID, ErrNotFound)
			}
			return fmt.Errorf("store: bind idempotency key: %w", err)
		},
	}, nil
}

// certInsert records a certificate.
func certInsert(rec CertRecord, sealed []byte) sqlStmt {
	return sqlStmt{
		q: `INSERT INTO certificates (uvci, pharmacy_id, type, kid, signer, requested_at,
			issued_at, expires_at, hash_signature, hash_uci, hash_country_uci, sealed_hc1)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		args: []any{rec.UVCI, rec.PharmacyID, rec.Type, rec.KID, rec.Signer, rec.RequestedAt.UnixNano(),
			rec.IssuedAt.UnixNano(), rec.ExpiresAt.UnixNano(), rec.HashSignature, rec.HashUCI, rec.HashCountryCodeUCI, sealed},
		fail: func(err error) error {
			switch {
			case isUnique(err):
				return fmt.Errorf("store: certificate %s: %w", rec.UVCI, ErrExists)
			case isForeignKey(err):
				return fmt.Errorf("store: pharmacy %s: %w", rec.PharmacyID, ErrNotFound)
			}
			return fmt.Errorf("store: insert certificate %s: %w", rec.UVCI, err)
		},
	}
}

const certCols = `uvci, pharmacy_id, type, kid, signer, requested_at, issued_at, expires_at,
	hash_signature, hash_uci, hash_country_uci, sealed_hc1 IS NOT NULL, status, revoked_at, revoke_reason`

func scanCert(sc scanner) (CertRecord, error) {
	var (
		c                          CertRecord
		requested, issued, expires int64
		revoked                    sql.NullInt64
	)
	err := sc.Scan(&c.UVCI, &c.PharmacyID, &c.Type, &c.KID, &c.Signer, &requested, &issued, &expires,
		&c.HashSignature, &c.HashUCI, &c.HashCountryCodeUCI, &c.HasHC1, &c.Status, &revoked, &c.RevokeReason)
	if err != nil {
		return CertRecord{}, err
	}
	c.RequestedAt = time.Unix(0, requested).UTC()
	c.IssuedAt = time.Unix(0, issued).UTC()
	c.ExpiresAt = time.Unix(0, expires).UTC()
	c.RevokedAt = fromNanos(revoked)
	return c, nil
}

func getCert(ctx context.Context, q querier, uvci string) (CertRecord, error) {
	c, err := scanCert(q.QueryRowContext(ctx, `SELECT `+certCols+` FROM certificates WHERE uvci = ?`+q.lock(), uvci))
	if errors.Is(err, sql.ErrNoRows) {
		return CertRecord{}, fmt.Errorf("store: certificate %s: %w", uvci, ErrNotFound)
	}
	if err != nil {
		return CertRecord{}, fmt.Errorf("store: certificate %s: %w", uvci, err)
	}
	return c, nil
}

// Certificate returns one certificate's record or ErrNotFound.
func (s *Store) Certificate(ctx context.Context, uvci string) (CertRecord, error) {
	return getCert(ctx, s.reads, uvci)
}

// CertificateHC1 opens the sealed HC1 of a certificate. ErrPurged after
// the retention period (or when none was stored), ErrSeal if it does not
// open.
func (s *Store) CertificateHC1(ctx context.Context, uvci string) ([]byte, error) {
	var blob []byte
	err := s.reads.QueryRowContext(ctx, `SELECT sealed_hc1 FROM certificates WHERE uvci = ?`, uvci).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: certificate %s: %w", uvci, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: certificate %s: %w", uvci, err)
	}
	if blob == nil {
		return nil, fmt.Errorf("store: HC1 of %s: %w", uvci, ErrPurged)
	}
	return s.seal.open(purposeHC1, uvci, blob)
}

// CertificatesByPharmacy lists a pharmacy's certificates, oldest request
// first.
func (s *Store) CertificatesByPharmacy(ctx context.Context, pharmacyID string) ([]CertRecord, error) {
	rows, err := s.scans.QueryContext(ctx, `SELECT `+certCols+` FROM certificates
		WHERE pharmacy_id = ? ORDER BY requested_at, uvci`, pharmacyID)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of %s: %w", pharmacyID, err)
	}
	defer rows.Close()
	var out []CertRecord
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: certificates of %s: %w", pharmacyID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: certificates of %s: %w", pharmacyID, err)
	}
	return out, nil
}

// RevokeByPharmacy revokes the pharmacy's valid certificates requested at
// or after since (zero: all) and returns how many it revoked.
func (s *Store) RevokeByPharmacy(ctx context.Context, pharmacyID string, since time.Time, reason, actor string) (int, error) {
	now := s.clock()
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = ?, revoke_reason = ?
			WHERE pharmacy_id = ? AND status = 'valid' AND requested_at >= ?`,
			now.UnixNano(), reason, pharmacyID, from)
		if err != nil {
			return fmt.Errorf("store: revoke certificates of %s: %w", pharmacyID, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		detail := map[string]any{"count": n, "reason": reason}
		if !since.IsZero() {
			detail["since"] = since.UTC()
		}
		return appendAudit(ctx, tx, now, actor, "certificate.revoked_by_pharmacy", pharmacyID, detail)
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// RevokeCertificate revokes one certificate; false if it was revoked
// already.
func (s *Store) RevokeCertificate(ctx context.Context, uvci, reason, actor string) (bool, error) {
	now := s.clock()
	var changed bool
	err := s.writeKeyed(ctx, "cert\x00"+uvci, func(ctx context.Context, tx querier) error {
		c, err := getCert(ctx, tx, uvci)
		if err != nil {
			return err
		}
		if changed = c.Status == CertValid; !changed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = ?, revoke_reason = ?
			WHERE uvci = ?`, now.UnixNano(), reason, uvci); err != nil {
			return fmt.Errorf("store: revoke %s: %w", uvci, err)
		}
		return appendAudit(ctx, tx, now, actor, "certificate.revoked", uvci, map[string]any{"reason": reason})
	})
	return changed, err
}

// RevokedHashes returns the revocation hashes of revoked certificates that
// have not expired yet (an expired certificate needs no list entry), by
// hash type, in a stable order.
func (s *Store) RevokedHashes(ctx context.Context) (map[HashType][][]byte, error) {
	rows, err := s.scans.QueryContext(ctx, `SELECT hash_signature, hash_uci, hash_country_uci FROM certificates
		WHERE status = 'revoked' AND expires_at > ? ORDER BY expires_at, uvci`, s.clock().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: revoked hashes: %w", err)
	}
	defer rows.Close()
	out := map[HashType][][]byte{HashSignature: {}, HashUCI: {}, HashCountryCodeUCI: {}}
	for rows.Next() {
		var sig, uci, cuci []byte
		if err := rows.Scan(&sig, &uci, &cuci); err != nil {
			return nil, fmt.Errorf("store: revoked hashes: %w", err)
		}
		out[HashSignature] = append(out[HashSignature], sig)
		out[HashUCI] = append(out[HashUCI], uci)
		out[HashCountryCodeUCI] = append(out[HashCountryCodeUCI], cuci)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: revoked hashes: %w", err)
	}
	return out, nil
}

// purgeChunk bounds how many sealed HC1s one write transaction of
// PurgeExpired drops. A backlog (a cleanup that was down for days, a
// restored backup) purged in one transaction held a writer for its whole
// length: with a million certificates past retention every issuance routed
// to that writer timed out (docs/BENCHMARKS.md, "Capacity as the registry
// grows"). A variable so tests can make it small.
var purgeChunk = 2000

// PurgeExpired drops, as of now: sealed HC1s of certificates issued more
// than Retention ago (in transactions of at most purgeChunk, so issuance
// goes on between them); unfinished tickets created more than Retention
// ago (they fail with code "expired" and lose their sealed request); and
// reserved idempotency keys older than ReservationTTL. Each transaction
// that dropped something writes a store.purged audit event with its
// counts.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (PurgeResult, error) {
	var r PurgeResult
	sealedBefore := now.Add(-s.opts.Retention).UnixNano()
	reservedBefore := now.Add(-s.opts.ReservationTTL).UnixNano()
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context, tx querier) error {
			res, err := tx.ExecContext(ctx, `UPDATE certificates SET sealed_hc1 = NULL WHERE uvci IN
				(SELECT uvci FROM certificates WHERE sealed_hc1 IS NOT NULL AND issued_at < ? LIMIT ?)`,
				sealedBefore, purgeChunk)
			if err != nil {
				return fmt.Errorf("store: purge HC1s: %w", err)
			}
			if n, err = res.RowsAffected(); err != nil || n == 0 {
				return err
			}
			return appendAudit(ctx, tx, now, "system", "store.purged", "",
				map[string]any{"hc1s": n, "tickets": 0, "reservations": 0})
		})
		if err != nil {
			return r, err
		}
		r.HC1s += n
		if n < int64(purgeChunk) {
			break
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
	var rest PurgeResult
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		rest = PurgeResult{}
		steps := []struct {
			n    *int64
			stmt string
			args []any
		}{
			{&rest.Tickets, `UPDATE tickets SET state = 'failed', error_code = 'expired', sealed_request = NULL,
				completed_at = ?, updated_at = ? WHERE state IN ('pending', 'signing') AND created_at < ?`,
				[]any{now.UnixNano(), now.UnixNano(), sealedBefore}},
			{&rest.Reservations, `DELETE FROM idempotency WHERE state = 'reserved' AND created_at < ?`,
				[]any{reservedBefore}},
		}
		for _, st := range steps {
			res, err := tx.ExecContext(ctx, st.stmt, st.args...)
			if err != nil {
				return fmt.Errorf("store: purge: %w", err)
			}
			if *st.n, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("store: purge: %w", err)
			}
		}
		if rest == (PurgeResult{}) {
			return nil
		}
		return appendAudit(ctx, tx, now, "system", "store.purged", "",
			map[string]any{"hc1s": 0, "tickets": rest.Tickets, "reservations": rest.Reservations})
	})
	r.Tickets, r.Reservations = rest.Tickets, rest.Reservations
	return r, err
}
