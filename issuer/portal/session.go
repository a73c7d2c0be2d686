package portal

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/problem"
	"github.com/golive-dev/golive/issuer/store"
)

// scopePharmacy is the scope of a pharmacy's access token.
const scopePharmacy = "pharmacy"

// maxCredential bounds client IDs, secrets and refresh tokens.
const maxCredential = 256

// token is POST /v1/token from source (the client's address, for the
// login throttle).
func (p *Portal) token(ctx context.Context, req *TokenRequest, source string) (TokenResponse, *problem.Problem) {
	for _, f := range []struct{ name, v string }{
		{"client_id", req.ClientID}, {"client_secret", req.ClientSecret}, {"refresh_token", req.RefreshToken},
	} {
		if len(f.v) > maxCredential {
			pr := problem.BadRequest("max_length", f.name, f.name+" is too long")
			return TokenResponse{}, &pr
		}
	}
	var subject, refresh string
	switch req.GrantType {
	case "client_credentials":
		if req.ClientID == "" || req.ClientSecret == "" || req.RefreshToken != "" {
			pr := problem.BadRequest("invalid_request", "client_id", "client_credentials needs client_id and client_secret (and nothing else)")
			return TokenResponse{}, &pr
		}
		now := p.now()
		allowed, trusted, wait := p.logins.check(req.ClientID, source, now)
		if !allowed {
			// Refused before the registry is even asked: a flood costs
			// a map lookup per attempt.
			p.failures.add(subjectUnknown, 0, 1, now)
			p.m.logins.WithLabelValues("throttled").Inc()
			pr := problem.TooManyRequests(wait)
			pr.Code, pr.Detail = "login_throttled", "too many failed logins for this client or from this address; retry later"
			return TokenResponse{}, &pr
		}
		rec, err := p.reg.PharmacyByClientID(ctx, req.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.log.Error("reading client failed", "err", err)
			pr := registryProblem(err, "could not check the credentials")
			return TokenResponse{}, &pr
		}
		// Compare even for unknown IDs: the time must not tell which exist.
		ok := checkTokenHash(rec.Credentials.SecretHash, req.ClientSecret) && err == nil && rec.Credentials.SecretHash != ""
		if !ok {
			// Counted, not audited one row each (see failureCounts).
			subject := rec.ID
			if subject == "" {
				subject = subjectUnknown
			}
			p.failures.add(subject, 1, 0, now)
			p.m.logins.WithLabelValues("failed").Inc()
			if !trusted {
				p.logins.failed(req.ClientID, source, now)
			}
			pr := problem.Unauthorized("invalid_client", "unknown client or wrong secret")
			return TokenResponse{}, &pr
		}
		p.logins.succeeded(req.ClientID, source, now)
		if pr := p.activeForLogin(rec.ID, rec.Status); pr != nil {
			return TokenResponse{}, pr
		}
		subject = rec.ID
		tok, err := p.refresh.Issue(ctx, subject)
		if err != nil {
			p.log.Error("recording a refresh token failed", "err", err)
			pr := registryUnavailable()
			return TokenResponse{}, &pr
		}
		refresh = tok
		p.setStatusCache(rec.ID, rec.Status)
	case "refresh_token":
		if req.RefreshToken == "" || req.ClientID != "" || req.ClientSecret != "" {
			pr := problem.BadRequest("invalid_request", "refresh_token", "refresh_token grant needs refresh_token (and nothing else)")
			return TokenResponse{}, &pr
		}
		sub, next, err := p.refresh.Rotate(ctx, req.RefreshToken)
		if err != nil {
			code := "invalid_grant"
			switch {
			case !errors.Is(err, auth.ErrInvalid) && !errors.Is(err, auth.ErrReplayed) &&
				!errors.Is(err, auth.ErrRevoked) && !errors.Is(err, auth.ErrExpired):
				// The registry did not answer: the token may be fine.
				p.log.Error("redeeming a refresh token failed", "err", err)
				pr := registryUnavailable()
				return TokenResponse{}, &pr
			case errors.Is(err, auth.ErrReplayed):
				// Two parties hold this token; the whole family is revoked.
				code = "refresh_token_replayed"
				p.audit(ctx, "anonymous", "token.refresh_replayed", sub, map[string]any{"family_revoked": true})
				p.log.Warn("refresh token replayed; family revoked", "pharmacy_id", sub)
			case errors.Is(err, auth.ErrRevoked):
				code = "refresh_token_revoked"
			case errors.Is(err, auth.ErrExpired):
				code = "refresh_token_expired"
			}
			pr := problem.Unauthorized(code, "the refresh token cannot be used")
			pr.Field = "refresh_token"
			return TokenResponse{}, &pr
		}
		st, err := p.pharmacyStatus(ctx, sub)
		if err != nil {
			pr := problem.Unauthorized("invalid_grant", "the refresh token cannot be used")
			return TokenResponse{}, &pr
		}
		if pr := p.activeForLogin(sub, st); pr != nil {
			return TokenResponse{}, pr
		}
		subject, refresh = sub, next
	default:
		pr := problem.BadRequest("unsupported_grant_type", "grant_type", `grant_type must be "client_credentials" or "refresh_token"`)
		return TokenResponse{}, &pr
	}
	access, exp := p.tokens.Issue(subject, scopePharmacy)
	return TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(exp.Sub(p.now()).Seconds()),
		RefreshToken: refresh, RefreshExpiresIn: int(p.cfg.RefreshTokenTTL.D().Seconds()), Scope: scopePharmacy,
		PharmacyID: subject, PartyKind: partyKindOf(subject),
	}, nil
}

func (p *Portal) activeForLogin(id string, status store.PharmacyStatus) *problem.Problem {
	switch status {
	case store.PharmacyActive:
		return nil
	case store.PharmacySuspended:
		pr := problem.Forbidden("pharmacy_suspended", "this pharmacy account is suspended")
		return &pr
	}
	pr := problem.New(http.StatusForbidden, "pharmacy_inactive", "this pharmacy account is not active")
	return &pr
}

// registryUnavailableRetry is the Retry-After of a login the registry could
// not record.
const registryUnavailableRetry = 2 * time.Second

func registryUnavailable() problem.Problem {
	pr := problem.Unavailable(registryUnavailableRetry)
	pr.Code, pr.Detail = "registry_unavailable", "the registry did not answer; retry later"
	return pr
}
