package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Refresh tokens are opaque random strings (NewRefreshToken); the server
// keeps only HashToken(token) and a RefreshState. Each use rotates: the
// presented token is marked used and a new one in the same family is
// issued. Presenting a used token again means two parties hold it (a thief
// and the pharmacy), and we cannot tell which is which, so the whole family
// is revoked and both must log in again (OAuth 2.0 Security BCP, refresh
// token rotation).

// NewRefreshToken returns "rt_" + 32 random bytes, unpadded base64url.
func NewRefreshToken() string {
	return "rt_" + randomString(32)
}

// RefreshState is what a store keeps per refresh token (keyed by its
// HashToken). Family is shared by every token descending from one login.
type RefreshState struct {
	Family    string
	Subject   string
	ExpiresAt time.Time
	Used      bool
	Revoked   bool // set on every state of a revoked family
}

// CheckRefresh decides what presenting a token in state st at now means:
// nil (rotate: mark used, issue the next one), ErrReplayed (revoke the
// family), ErrRevoked, or ErrExpired. Revocation is checked first, then
// replay, then expiry: a replayed, expired token still reveals the theft.
func CheckRefresh(st RefreshState, now time.Time) error {
	switch {
	case st.Revoked:
		return ErrRevoked
	case st.Used:
		return ErrReplayed
	case !now.Before(st.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// ErrCapacity means the in-memory refresh set is full of live tokens.
var ErrCapacity = errors.New("auth: too many live refresh tokens")

// RefreshTokens is an in-memory refresh token store built on CheckRefresh,
// for a single portal process or tests; a replicated portal keeps the same
// RefreshState in its database instead. Memory is bounded: states are
// dropped once expired, and Issue fails with ErrCapacity beyond max.
type RefreshTokens struct {
	ttl   time.Duration
	max   int
	clock func() time.Time

	mu       sync.Mutex
	byHash   map[string]*RefreshState
	families map[string][]string // family -> token hashes
	ops      int
}

// NewRefreshTokens keeps up to max token states, each valid for ttl after
// issue. A nil clock means time.Now.
func NewRefreshTokens(ttl time.Duration, max int, clock func() time.Time) *RefreshTokens {
	if clock == nil {
		clock = time.Now
	}
	return &RefreshTokens{ttl: ttl, max: max, clock: clock,
		byHash: map[string]*RefreshState{}, families: map[string][]string{}}
}

// Issue starts a new family (a fresh login) for subject.
func (s *RefreshTokens) Issue(subject string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(subject, randomString(16), s.clock())
}

func (s *RefreshTokens) add(subject, family string, now time.Time) (string, time.Time, error) {
	s.ops++
	if len(s.byHash) >= s.max || s.ops%1024 == 0 {
		s.sweep(now)
	}
	if len(s.byHash) >= s.max {
		return "", time.Time{}, ErrCapacity
	}
	tok := NewRefreshToken()
	h := HashToken(tok)
	exp := now.Add(s.ttl)
	s.byHash[h] = &RefreshState{Family: family, Subject: subject, ExpiresAt: exp}
	s.families[family] = append(s.families[family], h)
	return tok, exp, nil
}

// Rotate redeems token: on success it returns the subject and the next
// token of the family. A replayed token revokes its family (the token that
// replaced it stops working too) and returns ErrReplayed.
func (s *RefreshTokens) Rotate(token string) (subject, next string, exp time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	st, ok := s.byHash[HashToken(token)]
	if !ok {
		return "", "", time.Time{}, fmt.Errorf("%w: unknown refresh token", ErrInvalid)
	}
	if err := CheckRefresh(*st, now); err != nil {
		if errors.Is(err, ErrReplayed) {
			s.revokeFamily(st.Family)
		}
		return st.Subject, "", time.Time{}, err
	}
	st.Used = true
	next, exp, err = s.add(st.Subject, st.Family, now)
	return st.Subject, next, exp, err
}

// RevokeSubject revokes every family of subject (pharmacy blocked, access
// passed on) and returns how many tokens it revoked.
func (s *RefreshTokens) RevokeSubject(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for fam, hashes := range s.families {
		if len(hashes) > 0 && s.byHash[hashes[0]] != nil && s.byHash[hashes[0]].Subject == subject {
			n += s.revokeFamily(fam)
		}
	}
	return n
}

func (s *RefreshTokens) revokeFamily(family string) int {
	n := 0
	for _, h := range s.families[family] {
		if st := s.byHash[h]; st != nil && !st.Revoked {
			st.Revoked = true
			n++
		}
	}
	return n
}

// Len is the number of token states held (live, used or revoked, not yet
// expired).
func (s *RefreshTokens) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash)
}

// sweep drops expired states; a used or revoked token is kept until it
// expires so a replay is still recognised until then.
func (s *RefreshTokens) sweep(now time.Time) {
	for fam, hashes := range s.families {
		kept := hashes[:0]
		for _, h := range hashes {
			if st := s.byHash[h]; st != nil && now.Before(st.ExpiresAt) {
				kept = append(kept, h)
			} else {
				delete(s.byHash, h)
			}
		}
		if len(kept) == 0 {
			delete(s.families, fam)
		} else {
			s.families[fam] = kept
		}
	}
}
