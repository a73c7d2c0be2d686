package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/store"
)

// refreshTokens keeps refresh tokens in the registry, hashed, so a portal
// restart (or another portal of the same registry) honours them; the
// rotation and replay rules are auth's (auth.CheckRefresh), applied to the
// state the registry returns from one transaction.
type refreshTokens struct {
	reg *store.Store
	ttl time.Duration
	now func() time.Time
}

// Issue starts a new family (a login) for subject. The family is named by
// the first token's hash: unique, and it reveals no token.
func (r refreshTokens) Issue(ctx context.Context, subject string) (string, error) {
	tok := auth.NewRefreshToken()
	h := auth.HashToken(tok)
	if err := r.reg.AddRefreshToken(ctx, store.RefreshToken{Hash: h, Family: h, Subject: subject,
		ExpiresAt: r.now().Add(r.ttl)}); err != nil {
		return "", err
	}
	return tok, nil
}

// Rotate redeems token: the subject and the family's next token, or the
// reason it cannot be used (auth.ErrInvalid, ErrExpired, ErrRevoked,
// ErrReplayed: the family is revoked). Other errors are the registry's.
func (r refreshTokens) Rotate(ctx context.Context, token string) (subject, next string, err error) {
	now := r.now()
	next = auth.NewRefreshToken()
	prev, err := r.reg.RedeemRefreshToken(ctx, auth.HashToken(token), now,
		store.RefreshToken{Hash: auth.HashToken(next), ExpiresAt: now.Add(r.ttl)})
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("%w: unknown refresh token", auth.ErrInvalid)
	}
	if err != nil {
		return "", "", err
	}
	st := auth.RefreshState{Family: prev.Family, Subject: prev.Subject, ExpiresAt: prev.ExpiresAt,
		Used: prev.Used, Revoked: prev.Revoked}
	if err := auth.CheckRefresh(st, now); err != nil {
		return prev.Subject, "", err
	}
	return prev.Subject, next, nil
}

// RevokeSubject revokes every live token of subject.
func (r refreshTokens) RevokeSubject(ctx context.Context, subject string) (int, error) {
	return r.reg.RevokeRefreshTokens(ctx, subject, r.now())
}
