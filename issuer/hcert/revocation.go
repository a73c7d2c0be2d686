package hcert

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/veraison/go-cose"
)

// HashType names one of the DCC revocation hash kinds.
type HashType string

const (
	HashSignature      HashType = "SIGNATURE"      // SHA-256 over the signature (ECDSA: r only)
	HashUCI            HashType = "UCI"            // SHA-256 over the UTF-8 UVCI
	HashCountryCodeUCI HashType = "COUNTRYCODEUCI" // SHA-256 over issuing country (CWT iss) + UVCI
)

// HashTypes lists every hash kind.
var HashTypes = []HashType{HashSignature, HashUCI, HashCountryCodeUCI}

// hashLen is the truncation revocation lists use.
const hashLen = 16

// RevocationHashes computes the three revocation hashes of a certificate,
// each the first 16 bytes of a SHA-256. For ECDSA signatures only the r
// half is hashed, so a re-randomised s (the signature's malleability)
// cannot evade a SIGNATURE entry. The UVCI is hashed exactly as carried
// (the official sample data confirms no case folding).
func RevocationHashes(d *Decoded) (map[HashType][]byte, error) {
	if d == nil || len(d.Signature) == 0 {
		return nil, errors.New("hcert: no signature to hash")
	}
	out := map[HashType][]byte{HashSignature: signatureHash(d)}
	if d.Payload == nil {
		return nil, errors.New("hcert: no DCC payload to take the UVCI from")
	}
	ci := d.Payload.UVCI()
	if ci == "" {
		return nil, errors.New("hcert: the DCC carries no UVCI")
	}
	out[HashUCI] = trunc(sha256.Sum256([]byte(ci)))
	out[HashCountryCodeUCI] = trunc(sha256.Sum256([]byte(d.Issuer + ci)))
	return out, nil
}

func trunc(sum [32]byte) []byte { return sum[:hashLen] }

// RevocationSet is an in-memory revocation list. The zero value is empty
// and ready; it is safe for concurrent use.
type RevocationSet struct {
	mu sync.RWMutex
	m  map[HashType]map[[hashLen]byte]struct{}
}

// Add revokes a hash of the given type. Full SHA-256 sums are cut to the
// 16 bytes lists use.
func (s *RevocationSet) Add(t HashType, hash []byte) error {
	k, err := key(t, hash)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[HashType]map[[hashLen]byte]struct{}, len(HashTypes))
	}
	if s.m[t] == nil {
		s.m[t] = make(map[[hashLen]byte]struct{})
	}
	s.m[t][k] = struct{}{}
	return nil
}

// Contains reports whether the hash of the given type is revoked.
func (s *RevocationSet) Contains(t HashType, hash []byte) bool {
	k, err := key(t, hash)
	if err != nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[t][k]
	return ok
}

// Len returns the number of revoked hashes.
func (s *RevocationSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.m {
		n += len(m)
	}
	return n
}

// IsRevoked reports whether any of d's hashes is in the set.
func (s *RevocationSet) IsRevoked(d *Decoded) bool {
	hs, err := RevocationHashes(d)
	if err != nil {
		// Without a UVCI only the signature hash can match.
		if d == nil || len(d.Signature) == 0 {
			return false
		}
		hs = map[HashType][]byte{HashSignature: signatureHash(d)}
	}
	for t, h := range hs {
		if s.Contains(t, h) {
			return true
		}
	}
	return false
}

func signatureHash(d *Decoded) []byte {
	sig := d.Signature
	switch cose.Algorithm(d.Alg) {
	case cose.AlgorithmES256, cose.AlgorithmES384, cose.AlgorithmES512:
		sig = sig[:len(sig)/2] // r of r||s
	}
	return trunc(sha256.Sum256(sig))
}

func key(t HashType, hash []byte) (k [hashLen]byte, err error) {
	switch t {
	case HashSignature, HashUCI, HashCountryCodeUCI:
	default:
		return k, fmt.Errorf("hcert: unknown revocation hash type %q", t)
	}
	if len(hash) != hashLen && len(hash) != sha256.Size {
		return k, fmt.Errorf("hcert: revocation hash of %d bytes, want %d", len(hash), hashLen)
	}
	copy(k[:], hash)
	return k, nil
}
