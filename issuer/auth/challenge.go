package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// The hardened login: the portal issues a nonce bound to the pharmacy, the
// pharmacy's card (SMC-B model: a P-256 key that never leaves the card)
// signs ChallengeMessage(nonce), and the portal verifies the signature with
// the public key registered at onboarding. A stolen password alone no
// longer logs in; a passed-on card still does, which is why the portal
// also watches usage patterns.

// challengeContext separates login signatures from anything else the card
// might be asked to sign.
const challengeContext = "golive-login-v1\x00"

// NewChallenge returns a fresh nonce: 32 random bytes, unpadded base64url.
func NewChallenge() string {
	return randomString(32)
}

// ChallengeMessage is what the card signs for nonce (ECDSA over its SHA-256).
func ChallengeMessage(nonce string) []byte {
	return []byte(challengeContext + nonce)
}

// SignChallenge is the card side (used by tests and the load generator's
// simulated pharmacies): an ASN.1 DER ECDSA signature.
func SignChallenge(key *ecdsa.PrivateKey, nonce string) ([]byte, error) {
	h := sha256.Sum256(ChallengeMessage(nonce))
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		return nil, fmt.Errorf("sign challenge: %w", err)
	}
	return sig, nil
}

// VerifyChallenge checks a signature over ChallengeMessage(nonce) with a
// P-256 key. It accepts ASN.1 DER and the raw 64-byte r||s form cards and
// COSE use; both encode the same (r, s), so accepting either adds no
// forgery path.
func VerifyChallenge(pub *ecdsa.PublicKey, nonce string, sig []byte) error {
	if pub == nil || pub.Curve == nil || pub.Curve.Params().Name != "P-256" {
		return fmt.Errorf("%w: key is not P-256", ErrInvalid)
	}
	h := sha256.Sum256(ChallengeMessage(nonce))
	if ecdsa.VerifyASN1(pub, h[:], sig) {
		return nil
	}
	if len(sig) == 64 {
		der, err := asn1.Marshal(struct{ R, S *big.Int }{
			new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]),
		})
		if err == nil && ecdsa.VerifyASN1(pub, h[:], der) {
			return nil
		}
	}
	return fmt.Errorf("%w: challenge signature does not verify", ErrInvalid)
}

// ParsePublicKey reads a P-256 public key from PEM ("PUBLIC KEY") or
// PKIX DER, as a pharmacy registers it.
func ParsePublicKey(data []byte) (*ecdsa.PublicKey, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("parse public key: PEM type %q", blk.Type)
		}
		der = blk.Bytes
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("parse public key: not an ECDSA P-256 key")
	}
	return pub, nil
}

// MarshalPublicKey encodes a key as PEM "PUBLIC KEY".
func MarshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Challenges tracks outstanding nonces: each is bound to one subject, valid
// for ttl, and redeemable once, so a captured signature cannot be replayed
// and a nonce issued to one pharmacy cannot log in another. Bounded: at most
// max outstanding nonces (expired ones are dropped first).
type Challenges struct {
	ttl   time.Duration
	max   int
	clock func() time.Time

	mu      sync.Mutex
	pending map[string]pendingChallenge
}

type pendingChallenge struct {
	subject string
	exp     time.Time
}

// NewChallenges makes a nonce tracker; a nil clock means time.Now.
func NewChallenges(ttl time.Duration, max int, clock func() time.Time) *Challenges {
	if clock == nil {
		clock = time.Now
	}
	return &Challenges{ttl: ttl, max: max, clock: clock, pending: map[string]pendingChallenge{}}
}

// Issue returns a new nonce for subject and when it expires.
func (c *Challenges) Issue(subject string) (string, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if len(c.pending) >= c.max {
		for n, p := range c.pending {
			if !now.Before(p.exp) {
				delete(c.pending, n)
			}
		}
		if len(c.pending) >= c.max {
			return "", time.Time{}, ErrCapacity
		}
	}
	nonce := NewChallenge()
	exp := now.Add(c.ttl)
	c.pending[nonce] = pendingChallenge{subject: subject, exp: exp}
	return nonce, exp, nil
}

// Redeem consumes nonce for subject and verifies sig with pub. The nonce is
// spent whatever the outcome, so a wrong signature cannot be retried
// against the same nonce.
func (c *Challenges) Redeem(subject, nonce string, pub *ecdsa.PublicKey, sig []byte) error {
	c.mu.Lock()
	p, ok := c.pending[nonce]
	delete(c.pending, nonce)
	now := c.clock()
	c.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown or used challenge", ErrInvalid)
	case p.subject != subject:
		return fmt.Errorf("%w: challenge issued to another subject", ErrInvalid)
	case !now.Before(p.exp):
		return fmt.Errorf("%w: challenge", ErrExpired)
	}
	return VerifyChallenge(pub, nonce, sig)
}
