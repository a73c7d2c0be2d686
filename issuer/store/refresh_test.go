package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Rotation, replay and revocation of refresh tokens, across a restart of
// the registry.
func TestRefreshTokens(t *testing.T) { forEachBackend(t, testRefreshTokens) }

func testRefreshTokens(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	now := time.Now()
	exp := now.Add(time.Hour)
	first := RefreshToken{Hash: "h1", Family: "f1", Subject: "ph-1", ExpiresAt: exp}
	if err := s.AddRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRefreshToken(ctx, first); !errors.Is(err, ErrExists) {
		t.Fatalf("same hash twice: %v, want ErrExists", err)
	}
	if err := s.AddRefreshToken(ctx, RefreshToken{Hash: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("incomplete token: %v, want ErrInvalid", err)
	}
	if _, err := s.RedeemRefreshToken(ctx, "nope", now, RefreshToken{Hash: "n"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v, want ErrNotFound", err)
	}
	prev, err := s.RedeemRefreshToken(ctx, "h1", now, RefreshToken{Hash: "h2", ExpiresAt: exp})
	if err != nil || prev.Used || prev.Revoked || prev.Subject != "ph-1" || prev.Family != "f1" {
		t.Fatalf("first redemption: %+v %v", prev, err)
	}

	// The registry restarts: h1 is used, h2 is live.
	s.Close()
	s = db.open(t, Options{})
	prev, err = s.RedeemRefreshToken(ctx, "h2", now, RefreshToken{Hash: "h3", ExpiresAt: exp})
	if err != nil || prev.Used || prev.Revoked || prev.Subject != "ph-1" {
		t.Fatalf("h2 after restart: %+v %v", prev, err)
	}
	// h1 again is a replay: the family (h3 included) is revoked.
	prev, err = s.RedeemRefreshToken(ctx, "h1", now, RefreshToken{Hash: "h4", ExpiresAt: exp})
	if err != nil || !prev.Used || prev.Revoked {
		t.Fatalf("replay: %+v %v", prev, err)
	}
	prev, err = s.RedeemRefreshToken(ctx, "h3", now, RefreshToken{Hash: "h5", ExpiresAt: exp})
	if err != nil || !prev.Revoked {
		t.Fatalf("h3 after the replay: %+v %v, want revoked", prev, err)
	}
	if _, err := s.RedeemRefreshToken(ctx, "h4", now, RefreshToken{Hash: "h6", ExpiresAt: exp}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a replay or revoked redemption recorded a successor: %v", err)
	}

	// Expired: unchanged, no successor.
	if err := s.AddRefreshToken(ctx, RefreshToken{Hash: "e1", Family: "f2", Subject: "ph-2", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	prev, err = s.RedeemRefreshToken(ctx, "e1", now, RefreshToken{Hash: "e2", ExpiresAt: exp})
	if err != nil || prev.Used || !prev.ExpiresAt.Before(now) {
		t.Fatalf("expired: %+v %v", prev, err)
	}

	// Revoking a subject hits its live tokens only.
	for _, h := range []string{"a1", "a2"} {
		if err := s.AddRefreshToken(ctx, RefreshToken{Hash: h, Family: "fam-" + h, Subject: "ph-3", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.RevokeRefreshTokens(ctx, "ph-3", now); err != nil || n != 2 {
		t.Fatalf("revoke ph-3: %d %v, want 2", n, err)
	}
	if prev, _ := s.RedeemRefreshToken(ctx, "a1", now, RefreshToken{Hash: "a3", ExpiresAt: exp}); !prev.Revoked {
		t.Fatalf("a1 after revocation: %+v", prev)
	}
	if n, err := s.PurgeRefreshTokens(ctx, now); err != nil || n != 1 {
		t.Fatalf("purge: %d %v, want the one expired token", n, err)
	}
	if _, err := s.RedeemRefreshToken(ctx, "e1", now, RefreshToken{Hash: "e3", ExpiresAt: exp}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged token: %v", err)
	}
}
