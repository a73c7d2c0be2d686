package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RefreshToken is the registry's row of one refresh token: the hash of the
// token (the token itself is never stored), its family (every token rotated
// from one login) and its state.
type RefreshToken struct {
	Hash      string
	Family    string
	Subject   string
	ExpiresAt time.Time
	Used      bool
	Revoked   bool // set on every token of a revoked family
}

func (t RefreshToken) check() error {
	if t.Hash == "" || t.Family == "" || t.Subject == "" || t.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: refresh token needs hash, family, subject and expiry", ErrInvalid)
	}
	return nil
}

// AddRefreshToken records a new token, the first of a family (a login).
func (s *Store) AddRefreshToken(ctx context.Context, t RefreshToken) error {
	if err := t.check(); err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		return insertRefreshToken(ctx, tx, t)
	})
}

func insertRefreshToken(ctx context.Context, tx querier, t RefreshToken) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, family, subject, expires_at, used, revoked)
		VALUES (?, ?, ?, ?, 0, 0)`, t.Hash, t.Family, t.Subject, t.ExpiresAt.UnixNano())
	if isUnique(err) {
		return fmt.Errorf("store: refresh token: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: refresh token: %w", err)
	}
	return nil
}

// RedeemRefreshToken presents the token with hash at now, in one
// transaction, and returns the state it had before. A live token (not
// used, not revoked, not expired) is marked used and next, its successor,
// is recorded in the same family for the same subject. A used token that is
// not revoked is a replay: its whole family is revoked, successor included.
// Anything else changes nothing. The caller judges the returned state
// (auth.CheckRefresh applies the same rules). ErrNotFound: no such token.
func (s *Store) RedeemRefreshToken(ctx context.Context, hash string, now time.Time, next RefreshToken) (RefreshToken, error) {
	var prev RefreshToken
	// One token's redemptions share a writer, and the row is locked: two
	// portals presenting it at once are served one after the other, so the
	// second is seen as the replay it is.
	err := s.writeKeyed(ctx, "refresh\x00"+hash, func(ctx context.Context, tx querier) error {
		prev = RefreshToken{Hash: hash}
		var exp, used, revoked int64
		err := tx.QueryRowContext(ctx, `SELECT family, subject, expires_at, used, revoked FROM refresh_tokens WHERE token_hash = ?`+tx.lock(),
			hash).Scan(&prev.Family, &prev.Subject, &exp, &used, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: refresh token: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: refresh token: %w", err)
		}
		prev.ExpiresAt, prev.Used, prev.Revoked = time.Unix(0, exp).UTC(), used != 0, revoked != 0
		switch {
		case prev.Revoked:
		case prev.Used:
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE family = ?`, prev.Family); err != nil {
				return fmt.Errorf("store: revoking refresh family: %w", err)
			}
		case now.Before(prev.ExpiresAt):
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?`, hash); err != nil {
				return fmt.Errorf("store: refresh token: %w", err)
			}
			n := next
			n.Family, n.Subject = prev.Family, prev.Subject
			if err := n.check(); err != nil {
				return err
			}
			return insertRefreshToken(ctx, tx, n)
		}
		return nil
	})
	return prev, err
}

// RevokeRefreshTokens revokes every unexpired token of subject (a pharmacy
// suspended) and returns how many it revoked.
func (s *Store) RevokeRefreshTokens(ctx context.Context, subject string, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE subject = ? AND revoked = 0 AND expires_at > ?`,
			subject, now.UnixNano())
		if err != nil {
			return fmt.Errorf("store: revoking refresh tokens: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// PurgeRefreshTokens drops tokens expired at now; a used or revoked token
// is kept until then, so a replay is recognised for its whole lifetime.
func (s *Store) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at <= ?`, now.UnixNano())
		if err != nil {
			return fmt.Errorf("store: purging refresh tokens: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
