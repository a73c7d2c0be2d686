package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// CountLoginFailures adds counts to each subject's row of its day (UTC,
// taken from LastAt): failed and throttled logins are aggregated, one row
// per subject and day, never one row per attempt. FirstAt and LastAt
// widen the row's span.
func (s *Store) CountLoginFailures(ctx context.Context, counts []LoginFailures) error {
	if len(counts) == 0 {
		return nil
	}
	for _, c := range counts {
		if c.Subject == "" || c.LastAt.IsZero() || c.Failures < 0 || c.Throttled < 0 {
			return fmt.Errorf("%w: login failure count %+v", ErrInvalid, c)
		}
	}
	// In one order, whoever writes them: two portals flushing overlapping
	// subjects then wait for each other's rows instead of deadlocking.
	counts = slices.Clone(counts)
	slices.SortFunc(counts, func(a, b LoginFailures) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), a.LastAt.Compare(b.LastAt))
	})
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		for _, c := range counts {
			first := c.FirstAt
			if first.IsZero() {
				first = c.LastAt
			}
			day := c.LastAt.UTC().Format(time.DateOnly)
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (subject, day, failures, throttled, first_at, last_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (subject, day) DO UPDATE SET failures = login_failures.failures + excluded.failures,
					throttled = login_failures.throttled + excluded.throttled,
					first_at = CASE WHEN excluded.first_at < login_failures.first_at THEN excluded.first_at ELSE login_failures.first_at END,
					last_at = CASE WHEN excluded.last_at > login_failures.last_at THEN excluded.last_at ELSE login_failures.last_at END`,
				c.Subject, day, c.Failures, c.Throttled, first.UnixNano(), c.LastAt.UnixNano()); err != nil {
				return fmt.Errorf("store: login failures of %s: %w", c.Subject, err)
			}
		}
		return nil
	})
}

// LoginFailureCounts returns the rows of subject ("" all), newest day
// first, at most limit (0: 100; at most 1000).
func (s *Store) LoginFailureCounts(ctx context.Context, subject string, limit int) ([]LoginFailures, error) {
	q := `SELECT subject, day, failures, throttled, first_at, last_at FROM login_failures`
	args := []any{}
	if subject != "" {
		q += ` WHERE subject = ?`
		args = append(args, subject)
	}
	q += ` ORDER BY day DESC, subject LIMIT ?`
	args = append(args, clampLimit(limit))
	rows, err := s.scans.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: login failures: %w", err)
	}
	defer rows.Close()
	var out []LoginFailures
	for rows.Next() {
		var (
			c           LoginFailures
			first, last int64
		)
		if err := rows.Scan(&c.Subject, &c.Day, &c.Failures, &c.Throttled, &first, &last); err != nil {
			return nil, fmt.Errorf("store: login failures: %w", err)
		}
		c.FirstAt, c.LastAt = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: login failures: %w", err)
	}
	return out, nil
}
