package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The vaccination centres' mail-out (package mailout): jobs of thousands
// of items, each item one certificate with its UVCI fixed when the job is
// accepted. Workers claim due items under a lease, sign them and record
// them in batches; an item is recorded issued at most once, so a
// signature repeated after a crash or a lost lease is dropped.

// purposeMailoutRequest seals an item's payload (id: job and key).
const purposeMailoutRequest = "mailout-request"

// ErrMailoutBacklog: accepting the job would leave the centre more
// unfinished items than allowed.
var ErrMailoutBacklog = errors.New("store: the centre's unfinished mail-out items would exceed its limit")

// MailoutKeyError names the item key that an earlier job of the centre
// already holds; it wraps ErrExists.
type MailoutKeyError struct{ Key string }

func (e *MailoutKeyError) Error() string {
	return fmt.Sprintf("store: mail-out item key %q: %v", e.Key, ErrExists)
}
func (e *MailoutKeyError) Unwrap() error { return ErrExists }

// MailoutItemState is an item's state in the registry.
type MailoutItemState string

const (
	MailoutPending MailoutItemState = "pending"
	MailoutSigning MailoutItemState = "signing"
	MailoutIssued  MailoutItemState = "issued"
	MailoutFailed  MailoutItemState = "failed"
)

// MailoutJob is a job and its item counts.
type MailoutJob struct {
	ID          string
	Centre      string
	IdemKey     string
	RequestHash string
	Total       int
	CreatedAt   time.Time
	FinishedAt  time.Time // zero while items are unfinished
	// Counts (reads only).
	Pending, Issued, Failed int
}

// MailoutItem is one item. Request is the payload (CreateMailoutJob's
// input, ClaimMailoutItems' output); HC1 is set once issued (reads).
type MailoutItem struct {
	JobID     string
	Key       string
	Centre    string
	Seq       int
	UVCI      string
	Type      CertType
	State     MailoutItemState
	Attempts  int
	Request   []byte
	HC1       []byte
	KID       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	ErrorCode string
}

// MailoutOutcome is what a worker reports for a claimed item: issued
// (HC1 set), failed for good (Failed with ErrorCode), or due again at
// RetryAt (ErrorCode says why).
type MailoutOutcome struct {
	JobID, Key string
	UVCI       string // issued: the item's UVCI (the HC1 must carry it)
	HC1        []byte
	KID        string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	Failed     bool
	RetryAt    time.Time
	ErrorCode  string
}

// mailoutKeyChunk bounds the keys of one IN (...) list.
const mailoutKeyChunk = 400

// CreateMailoutJob accepts a job and every item in one durable write. A
// job with the IdemKey of an earlier job of the centre and the same
// RequestHash writes nothing and returns that job as existing; another
// hash is ErrIdempotencyConflict. An item key an earlier job of the
// centre holds is a *MailoutKeyError (ErrExists); more unfinished items
// for the centre than maxPending (0: no limit) is ErrMailoutBacklog.
func (s *Store) CreateMailoutJob(ctx context.Context, job MailoutJob, items []MailoutItem, maxPending int) (existing *MailoutJob, err error) {
	switch {
	case job.ID == "" || job.Centre == "" || job.RequestHash == "":
		return nil, fmt.Errorf("%w: mail-out job needs id, centre and request hash", ErrInvalid)
	case len(items) == 0:
		return nil, fmt.Errorf("%w: mail-out job %s without items", ErrInvalid, job.ID)
	}
	sealed := make([][]byte, len(items))
	keys := make([]string, len(items))
	for i, it := range items {
		if it.Key == "" || it.UVCI == "" || !it.Type.valid() || len(it.Request) == 0 {
			return nil, fmt.Errorf("%w: mail-out item %d of job %s", ErrInvalid, i, job.ID)
		}
		// Sealing is CPU work: it stays off the writer goroutine.
		sealed[i] = s.seal.seal(purposeMailoutRequest, job.ID+"\x00"+it.Key, it.Request)
		keys[i] = it.Key
	}
	now := s.clock()
	route := "mailout\x00" + job.Centre
	err = s.writeKeyed(ctx, route, func(ctx context.Context, tx querier) error {
		existing = nil
		if job.IdemKey != "" {
			var id, hash string
			err := tx.QueryRowContext(ctx, `SELECT id, request_hash FROM mailout_jobs WHERE centre = ? AND idem_key = ?`+tx.lock(),
				job.Centre, job.IdemKey).Scan(&id, &hash)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("store: mail-out job key: %w", err)
			case hash != job.RequestHash:
				return fmt.Errorf("store: mail-out job key %q of centre %s: %w", job.IdemKey, job.Centre, ErrIdempotencyConflict)
			default:
				j, err := getMailoutJob(ctx, tx, id)
				if err != nil {
					return err
				}
				existing = &j
				return nil
			}
		}
		for start := 0; start < len(keys); start += mailoutKeyChunk {
			chunk := keys[start:min(start+mailoutKeyChunk, len(keys))]
			args := []any{job.Centre}
			for _, k := range chunk {
				args = append(args, k)
			}
			var taken string
			err := tx.QueryRowContext(ctx, `SELECT item_key FROM mailout_items WHERE centre = ? AND item_key IN (`+
				placeholders(len(chunk))+`) ORDER BY item_key LIMIT 1`, args...).Scan(&taken)
			if err == nil {
				return &MailoutKeyError{Key: taken}
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: mail-out item keys: %w", err)
			}
		}
		if maxPending > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailout_items WHERE centre = ? AND state IN ('pending', 'signing')`,
				job.Centre).Scan(&n); err != nil {
				return fmt.Errorf("store: mail-out backlog: %w", err)
			}
			if n+len(items) > maxPending {
				return fmt.Errorf("store: centre %s has %d unfinished items: %w", job.Centre, n, ErrMailoutBacklog)
			}
		}
		stmts := []sqlStmt{{q: `INSERT INTO mailout_jobs (id, centre, idem_key, request_hash, total, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, args: []any{job.ID, job.Centre, job.IdemKey, job.RequestHash, len(items), now.UnixNano()},
			fail: func(err error) error {
				if isUnique(err) {
					return fmt.Errorf("store: mail-out job %s: %w", job.ID, ErrExists)
				}
				return fmt.Errorf("store: insert mail-out job %s: %w", job.ID, err)
			}}}
		// Multi-row inserts: one statement per 100 items instead of one each.
		const rowsPer = 100
		for start := 0; start < len(items); start += rowsPer {
			end := min(start+rowsPer, len(items))
			var q strings.Builder
			q.WriteString(`INSERT INTO mailout_items (job_id, item_key, centre, seq, uvci, type, state, next_attempt_at, sealed_request) VALUES `)
			args := make([]any, 0, 8*(end-start))
			for i := start; i < end; i++ {
				if i > start {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, 'pending', ?, ?)")
				args = append(args, job.ID, items[i].Key, job.Centre, i, items[i].UVCI, items[i].Type, now.UnixNano(), sealed[i])
			}
			stmts = append(stmts, sqlStmt{q: q.String(), args: args, fail: func(err error) error {
				if isUnique(err) {
					return fmt.Errorf("store: mail-out job %s: an item key or UVCI: %w", job.ID, ErrExists)
				}
				return fmt.Errorf("store: insert mail-out items of %s: %w", job.ID, err)
			}})
		}
		audit, err := auditInsert(now, "centre:"+job.Centre, "mailout.job_created", job.ID, map[string]any{"items": len(items)})
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

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func getMailoutJob(ctx context.Context, q querier, id string) (MailoutJob, error) {
	var (
		j        MailoutJob
		created  int64
		finished sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT id, centre, idem_key, request_hash, total, created_at, finished_at
		FROM mailout_jobs WHERE id = ?`, id).Scan(&j.ID, &j.Centre, &j.IdemKey, &j.RequestHash, &j.Total, &created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return MailoutJob{}, fmt.Errorf("store: mail-out job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return MailoutJob{}, fmt.Errorf("store: mail-out job %s: %w", id, err)
	}
	j.CreatedAt = time.Unix(0, created).UTC()
	j.FinishedAt = fromNanos(finished)
	rows, err := q.QueryContext(ctx, `SELECT state, COUNT(*) FROM mailout_items WHERE job_id = ? GROUP BY state`, id)
	if err != nil {
		return MailoutJob{}, fmt.Errorf("store: mail-out job %s counts: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st MailoutItemState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return MailoutJob{}, fmt.Errorf("store: mail-out job %s counts: %w", id, err)
		}
		switch st {
		case MailoutIssued:
			j.Issued += n
		case MailoutFailed:
			j.Failed += n
		default:
			j.Pending += n
		}
	}
	if err := rows.Err(); err != nil {
		return MailoutJob{}, fmt.Errorf("store: mail-out job %s counts: %w", id, err)
	}
	return j, nil
}

// MailoutJob returns a job with its item counts, or ErrNotFound.
func (s *Store) MailoutJob(ctx context.Context, id string) (MailoutJob, error) {
	return getMailoutJob(ctx, s.scans, id)
}

// MailoutItems returns up to limit items of a job with keys after after,
// in key order, with their HC1s opened (no requests).
func (s *Store) MailoutItems(ctx context.Context, jobID, after string, limit int) ([]MailoutItem, error) {
	rows, err := s.scans.QueryContext(ctx, `SELECT job_id, item_key, centre, seq, uvci, type, state, attempts,
		sealed_hc1, kid, issued_at, expires_at, error_code
		FROM mailout_items WHERE job_id = ? AND item_key > ? ORDER BY item_key LIMIT ?`, jobID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: mail-out items of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []MailoutItem
	for rows.Next() {
		var (
			it          MailoutItem
			blob        []byte
			issued, exp sql.NullInt64
		)
		if err := rows.Scan(&it.JobID, &it.Key, &it.Centre, &it.Seq, &it.UVCI, &it.Type, &it.State, &it.Attempts,
			&blob, &it.KID, &issued, &exp, &it.ErrorCode); err != nil {
			return nil, fmt.Errorf("store: mail-out items of %s: %w", jobID, err)
		}
		it.IssuedAt, it.ExpiresAt = fromNanos(issued), fromNanos(exp)
		if blob != nil {
			if it.HC1, err = s.seal.open(purposeHC1, it.UVCI, blob); err != nil {
				return nil, err
			}
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mail-out items of %s: %w", jobID, err)
	}
	return out, nil
}

// ClaimMailoutItems hands up to limit due items to the caller: pending
// ones whose time has come, and signing ones whose lease ran out (their
// worker crashed). They become signing until leaseUntil, Attempts counts
// up, and Request holds the opened payload. Oldest jobs first, items in
// job order. A request that does not open fails its item.
func (s *Store) ClaimMailoutItems(ctx context.Context, limit int, now, leaseUntil time.Time) ([]MailoutItem, error) {
	_, items, err := s.FinishAndClaimMailoutItems(ctx, nil, limit, now, leaseUntil)
	return items, err
}

// FinishAndClaimMailoutItems is FinishMailoutItems and then
// ClaimMailoutItems in one durable write: a worker records the batch it
// signed and takes the next with one commit instead of two, so the
// registry's writer, which pharmacies' certificates share, is busy with
// the mail-out half as often.
func (s *Store) FinishAndClaimMailoutItems(ctx context.Context, outs []MailoutOutcome, limit int, now, leaseUntil time.Time) (int, []MailoutItem, error) {
	if limit <= 0 && len(outs) == 0 {
		return 0, nil, nil
	}
	sealed, err := s.sealOutcomes(outs)
	if err != nil {
		return 0, nil, err
	}
	var (
		out     []MailoutItem
		changed int
	)
	err = s.write(ctx, func(ctx context.Context, tx querier) error {
		out, changed = nil, 0
		if len(sealed) > 0 {
			n, err := finishMailoutCount(ctx, tx, sealed, s.clock())
			if err != nil {
				return err
			}
			changed = n
		}
		if limit <= 0 {
			return nil
		}
		skip := ""
		if l := tx.lock(); l != "" {
			skip = l + " SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `UPDATE mailout_items SET state = 'signing', attempts = attempts + 1, next_attempt_at = ?
			WHERE (job_id, item_key) IN (SELECT job_id, item_key FROM mailout_items
				WHERE state IN ('pending', 'signing') AND next_attempt_at <= ?
				ORDER BY next_attempt_at, job_id, seq LIMIT ?`+skip+`)
			RETURNING job_id, item_key, centre, seq, uvci, type, attempts, sealed_request`,
			leaseUntil.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return fmt.Errorf("store: claim mail-out items: %w", err)
		}
		var claimed []MailoutItem
		var sealed [][]byte
		for rows.Next() {
			var it MailoutItem
			var blob []byte
			if err := rows.Scan(&it.JobID, &it.Key, &it.Centre, &it.Seq, &it.UVCI, &it.Type, &it.Attempts, &blob); err != nil {
				rows.Close()
				return fmt.Errorf("store: claim mail-out items: %w", err)
			}
			it.State = MailoutSigning
			claimed, sealed = append(claimed, it), append(sealed, blob)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("store: claim mail-out items: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: claim mail-out items: %w", err)
		}
		var unreadable []MailoutOutcome
		for i, it := range claimed {
			req, err := s.seal.open(purposeMailoutRequest, it.JobID+"\x00"+it.Key, sealed[i])
			if err != nil {
				s.log.Error("store: mail-out request does not open; failing the item", "job", it.JobID, "item", it.Key, "err", err)
				unreadable = append(unreadable, MailoutOutcome{JobID: it.JobID, Key: it.Key, Failed: true, ErrorCode: "request_unreadable"})
				continue
			}
			it.Request = req
			out = append(out, it)
		}
		if len(unreadable) > 0 {
			return finishMailout(ctx, tx, unreadable, now)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].JobID != out[j].JobID {
			return out[i].JobID < out[j].JobID
		}
		return out[i].Seq < out[j].Seq
	})
	return changed, out, nil
}

// FinishMailoutItems records the outcomes of claimed items in one durable
// write: issued ones with their sealed HC1, failed ones with their code,
// the others due again at RetryAt. An item already issued or failed is
// left as it is (a repeated signature is dropped: one certificate per
// item). A job whose last item finished gets its finished time. It
// returns how many outcomes changed an item.
func (s *Store) FinishMailoutItems(ctx context.Context, outs []MailoutOutcome) (int, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	changed, _, err := s.FinishAndClaimMailoutItems(ctx, outs, 0, time.Time{}, time.Time{})
	return changed, err
}

// sealOutcomes checks outcomes and seals the issued ones' HC1s (CPU work
// that stays off the writer goroutine).
func (s *Store) sealOutcomes(outs []MailoutOutcome) ([]MailoutOutcome, error) {
	sealed := make([]MailoutOutcome, len(outs))
	for i, o := range outs {
		if !o.Failed && o.RetryAt.IsZero() {
			if o.UVCI == "" || len(o.HC1) == 0 {
				return nil, fmt.Errorf("%w: issued mail-out item %s/%s without UVCI or HC1", ErrInvalid, o.JobID, o.Key)
			}
			o.HC1 = s.seal.seal(purposeHC1, o.UVCI, o.HC1)
		}
		sealed[i] = o
	}
	return sealed, nil
}

// finishMailout applies outcomes inside a write transaction (HC1s sealed).
func finishMailout(ctx context.Context, tx querier, outs []MailoutOutcome, now time.Time) error {
	_, err := finishMailoutCount(ctx, tx, outs, now)
	return err
}

func finishMailoutCount(ctx context.Context, tx querier, outs []MailoutOutcome, now time.Time) (int, error) {
	changed := 0
	jobs := map[string]bool{}
	for _, o := range outs {
		var (
			res result
			err error
		)
		switch {
		case o.Failed:
			res, err = tx.ExecContext(ctx, `UPDATE mailout_items SET state = 'failed', error_code = ?, sealed_request = NULL
				WHERE job_id = ? AND item_key = ? AND state IN ('pending', 'signing')`, o.ErrorCode, o.JobID, o.Key)
		case !o.RetryAt.IsZero():
			res, err = tx.ExecContext(ctx, `UPDATE mailout_items SET state = 'pending', next_attempt_at = ?, error_code = ?
				WHERE job_id = ? AND item_key = ? AND state IN ('pending', 'signing')`, o.RetryAt.UnixNano(), o.ErrorCode, o.JobID, o.Key)
		default:
			res, err = tx.ExecContext(ctx, `UPDATE mailout_items SET state = 'issued', sealed_hc1 = ?, sealed_request = NULL,
				kid = ?, issued_at = ?, expires_at = ?, error_code = ''
				WHERE job_id = ? AND item_key = ? AND uvci = ? AND state IN ('pending', 'signing')`,
				o.HC1, o.KID, nanos(o.IssuedAt), nanos(o.ExpiresAt), o.JobID, o.Key, o.UVCI)
		}
		if err != nil {
			return 0, fmt.Errorf("store: finish mail-out item %s/%s: %w", o.JobID, o.Key, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			changed++
			if o.Failed || o.RetryAt.IsZero() {
				jobs[o.JobID] = true
			}
		}
	}
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a fixed order: concurrent writers lock jobs alike
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `UPDATE mailout_jobs SET finished_at = ? WHERE id = ? AND finished_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM mailout_items WHERE job_id = ? AND state IN ('pending', 'signing'))`,
			now.UnixNano(), id, id)
		if err != nil {
			return 0, fmt.Errorf("store: finish mail-out job %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			audit, err := auditInsert(now, "system", "mailout.job_finished", id, map[string]any{})
			if err != nil {
				return 0, err
			}
			if err := execAll(ctx, tx, audit); err != nil {
				return 0, err
			}
		}
	}
	return changed, nil
}

// MailoutUnfinished counts items not finished yet (pending or signing),
// over every centre.
func (s *Store) MailoutUnfinished(ctx context.Context) (int, error) {
	var n int
	if err := s.scans.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailout_items WHERE state IN ('pending', 'signing')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count mail-out items: %w", err)
	}
	return n, nil
}
