package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bulk loading: package registryfill fills a registry with millions of
// realistic rows, so capacity can be measured against a registry that is
// not empty. The rows are the ones IssueRecord writes (the certificate with
// its sealed HC1, its idempotency binding, its audit event), into the same
// tables and indexes; only the way they get there differs: one
// transaction per batch through the writer, with prepared statements on
// SQLite and COPY on PostgreSQL, and none of IssueRecord's per-record
// checks (a fill writes fresh keys only).

// FillCert is one issued certificate for FillCertificates: the record,
// its HC1 (sealed here, with the UVCI as associated data like every HC1)
// and its idempotency binding (Key empty: none), recorded at At.
type FillCert struct {
	Rec  CertRecord
	HC1  []byte
	Idem IdemBinding
	At   time.Time
}

// FillPharmacies inserts pharmacies in one transaction, as an operator's
// import would (no credentials, no audit event each).
func (s *Store) FillPharmacies(ctx context.Context, ps []Pharmacy) error {
	if len(ps) == 0 {
		return nil
	}
	now := s.clock().UnixNano()
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		for _, p := range ps {
			if p.ID == "" || p.TelematikID == "" || !p.Status.valid() {
				return fmt.Errorf("%w: fill pharmacy %q: id, telematik id and status are required", ErrInvalid, p.ID)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pharmacies (id, telematik_id, status, name, street,
				postal_code, city, email, register_verified, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.TelematikID, p.Status, p.Name, p.Street, p.PostalCode, p.City, p.Email,
				p.RegisterVerified, now, now); err != nil {
				return fmt.Errorf("store: fill pharmacy %s: %w", p.ID, err)
			}
		}
		return nil
	})
}

// fillAudit is the audit event IssueRecord writes for a certificate.
func fillAudit(c *FillCert) (actor, action string, detail []byte, err error) {
	detail, err = json.Marshal(map[string]any{"type": c.Rec.Type, "kid": c.Rec.KID, "signer": c.Rec.Signer})
	return "pharmacy:" + c.Rec.PharmacyID, "certificate.issued", detail, err
}

// FillCertificates records certs in one transaction. Sealing runs on the
// caller's goroutine (it is the CPU work of a fill), the inserts on the
// writer's. Any failure (a duplicate UVCI or key, an unknown pharmacy)
// fails the whole batch: nothing of it is written.
func (s *Store) FillCertificates(ctx context.Context, certs []FillCert) error {
	if len(certs) == 0 {
		return nil
	}
	sealed := make([][]byte, len(certs))
	details := make([][]byte, len(certs))
	for i := range certs {
		c := &certs[i]
		if err := checkCert(&c.Rec); err != nil {
			return err
		}
		if err := checkIdem(&c.Idem, c.Rec.PharmacyID); err != nil {
			return err
		}
		if c.Idem.Key != "" && c.Idem.RequestHash == "" {
			return fmt.Errorf("%w: idempotency key %q without request hash", ErrInvalid, c.Idem.Key)
		}
		if c.At.IsZero() {
			c.At = c.Rec.IssuedAt
		}
		if c.HC1 != nil {
			sealed[i] = s.seal.seal(purposeHC1, c.Rec.UVCI, c.HC1)
		}
		var err error
		if _, _, details[i], err = fillAudit(c); err != nil {
			return fmt.Errorf("store: fill audit detail: %w", err)
		}
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		if pt, ok := tx.(*pgTx); ok {
			return pt.copyCerts(ctx, certs, sealed, details)
		}
		return insertCertsMulti(ctx, tx, certs, sealed, details)
	})
}

// fillRowsPerInsert is how many rows one multi-row INSERT carries on
// SQLite: per statement the driver's overhead dominates a row's cost, and
// 64 rows of 12 columns stay far below SQLite's limit of bound variables.
const fillRowsPerInsert = 64

// insertCertsMulti writes a batch with multi-row INSERTs (SQLite).
func insertCertsMulti(ctx context.Context, tx querier, certs []FillCert, sealed, details [][]byte) error {
	for lo := 0; lo < len(certs); lo += fillRowsPerInsert {
		hi := min(lo+fillRowsPerInsert, len(certs))
		var cargs, iargs, aargs []any
		for i := lo; i < hi; i++ {
			c := &certs[i]
			r := c.Rec
			cargs = append(cargs, r.UVCI, r.PharmacyID, r.Type, r.KID, r.Signer, r.RequestedAt.UnixNano(),
				r.IssuedAt.UnixNano(), r.ExpiresAt.UnixNano(), r.HashSignature, r.HashUCI, r.HashCountryCodeUCI, sealed[i])
			if c.Idem.Key != "" {
				iargs = append(iargs, c.Idem.PharmacyID, c.Idem.Key, c.Idem.RequestHash, r.UVCI, IdemIssued, c.At.UnixNano())
			}
			actor, action, _, _ := fillAudit(c)
			aargs = append(aargs, c.At.UnixNano(), actor, action, r.UVCI, string(details[i]))
		}
		inserts := []struct {
			head string
			cols int
			args []any
		}{
			{`INSERT INTO certificates (uvci, pharmacy_id, type, kid, signer, requested_at,
			issued_at, expires_at, hash_signature, hash_uci, hash_country_uci, sealed_hc1) VALUES `, 12, cargs},
			{`INSERT INTO idempotency (pharmacy_id, key, request_hash, uvci, state, created_at) VALUES `, 6, iargs},
			{`INSERT INTO audit (at, actor, action, subject, detail) VALUES `, 5, aargs},
		}
		for _, in := range inserts {
			if len(in.args) == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, multiValues(in.head, in.cols, len(in.args)/in.cols), in.args...); err != nil {
				return fmt.Errorf("store: fill: %w", err)
			}
		}
	}
	return nil
}

// multiValues is head followed by rows groups of cols placeholders.
func multiValues(head string, cols, rows int) string {
	group := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var b strings.Builder
	b.WriteString(head)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group)
	}
	return b.String()
}

// copyCerts writes a batch with three COPYs: the fast path for bulk rows
// on PostgreSQL (one round trip per table instead of one per row).
func (t *pgTx) copyCerts(ctx context.Context, certs []FillCert, sealed, details [][]byte) error {
	var (
		cr, ir, ar [][]any
	)
	for i := range certs {
		c := &certs[i]
		r := c.Rec
		cr = append(cr, []any{r.UVCI, r.PharmacyID, string(r.Type), r.KID, r.Signer, r.RequestedAt.UnixNano(),
			r.IssuedAt.UnixNano(), r.ExpiresAt.UnixNano(), r.HashSignature, r.HashUCI, r.HashCountryCodeUCI, sealed[i]})
		if c.Idem.Key != "" {
			ir = append(ir, []any{c.Idem.PharmacyID, c.Idem.Key, c.Idem.RequestHash, r.UVCI, string(IdemIssued), c.At.UnixNano()})
		}
		actor, action, _, _ := fillAudit(c)
		ar = append(ar, []any{c.At.UnixNano(), actor, action, r.UVCI, json.RawMessage(details[i])})
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"certificates", []string{"uvci", "pharmacy_id", "type", "kid", "signer", "requested_at", "issued_at", "expires_at",
			"hash_signature", "hash_uci", "hash_country_uci", "sealed_hc1"}, cr},
		{"idempotency", []string{"pharmacy_id", "key", "request_hash", "uvci", "state", "created_at"}, ir},
		{"audit", []string{"at", "actor", "action", "subject", "detail"}, ar},
	}
	for _, c := range copies {
		if len(c.rows) == 0 {
			continue
		}
		n, err := t.tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows))
		t.changed += n
		if err != nil {
			t.failed = true
			return fmt.Errorf("store: fill copy into %s: %w", c.table, pgErr(err))
		}
	}
	return nil
}

// FillTuning prepares the database for a bulk fill and returns what undoes
// it. SQLite: a larger page cache on the writer connection (the indexes of
// millions of rows are inserted into at random places; the default 2 MB
// cache would read most pages back from the file for every batch). The
// journal mode and synchronous=FULL stay: batches of thousands of rows make
// the fsync per commit cheap. PostgreSQL: nothing (COPY is the fast path).
func (s *Store) FillTuning(ctx context.Context, cacheMB int) (restore func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if s.eng.name() != BackendSQLite || cacheMB <= 0 {
		return noop, nil
	}
	var before int64
	pragma := func(q string) error {
		return s.write(ctx, func(ctx context.Context, tx querier) error {
			if q == "" {
				return tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&before)
			}
			_, err := tx.ExecContext(ctx, q)
			return err
		})
	}
	if err := pragma(""); err != nil {
		return noop, fmt.Errorf("store: read cache_size: %w", err)
	}
	if err := pragma(fmt.Sprintf("PRAGMA cache_size = %d", -cacheMB*1024)); err != nil {
		return noop, fmt.Errorf("store: set cache_size for the fill: %w", err)
	}
	return func(ctx context.Context) error {
		return s.write(ctx, func(ctx context.Context, tx querier) error {
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", before))
			return err
		})
	}, nil
}
