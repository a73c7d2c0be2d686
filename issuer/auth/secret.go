// Package auth holds the portal's credential primitives: secret hashing
// (argon2id), random client IDs and secrets, HMAC-signed access tokens,
// rotating refresh tokens with replay detection, the admin bearer token, and
// the challenge-response login the 2021 fix introduced (the pharmacy's
// hardware card, SMC-B, signs a server nonce with its P-256 key).
//
// It stores nothing durable itself: callers keep hashes (HashSecret,
// HashToken) and refresh-token state (RefreshState) wherever they persist.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Time      uint32 // iterations
	MemoryKiB uint32
	Threads   uint8
	KeyLen    uint32
	SaltLen   uint32
}

// DefaultParams is OWASP's minimum argon2id configuration (m=19 MiB, t=2,
// p=1). On this project's 2-core test machine one hash costs a few tens of
// milliseconds of one core and 19 MiB while it runs, so a login storm is
// CPU- and memory-bound: the portal must run logins behind their own
// overload.Limiter (concurrency about the core count) so that thousands of
// pharmacies logging in at 07:45 queue or get 503 instead of exhausting
// memory. Only human-chosen passwords need this; machine-generated secrets
// and tokens (NewSecret, refresh tokens) have 256 bits of entropy and are
// stored as HashToken (SHA-256), which costs microseconds.
var DefaultParams = Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1, KeyLen: 32, SaltLen: 16}

// FastParams is for tests and load runs that create many credentials: far
// below any security recommendation, never for production.
var FastParams = Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32, SaltLen: 16}

// Limits on parameters read back from a stored hash, so a corrupted or
// hostile stored string cannot make CheckSecret allocate gigabytes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxKeyLen    = 128
)

// HashSecret hashes a secret with DefaultParams.
func HashSecret(secret string) (string, error) {
	return HashSecretWith(DefaultParams, secret)
}

// HashSecretWith hashes a secret with argon2id and returns the PHC string
// "$argon2id$v=19$m=...,t=...,p=...$salt$hash" (unpadded standard base64),
// which records the parameters so CheckSecret works across changes.
func HashSecretWith(p Params, secret string) (string, error) {
	if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.KeyLen < 16 || p.SaltLen < 16 ||
		p.Time > maxTime || p.MemoryKiB > maxMemoryKiB || p.KeyLen > maxKeyLen {
		return "", fmt.Errorf("hash secret: invalid argon2 parameters %+v", p)
	}
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it crashes the program instead)
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckSecret reports whether secret matches a HashSecret result, comparing
// in constant time. A malformed hash never matches.
func CheckSecret(hash, secret string) bool {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

var (
	dummyOnce sync.Once
	dummyHash string
)

// CheckDummy spends what CheckSecret spends and returns false. Call it when
// the client ID is unknown, so response time does not reveal which IDs exist.
func CheckDummy(secret string) bool {
	dummyOnce.Do(func() {
		dummyHash, _ = HashSecret(NewSecret())
	})
	CheckSecret(dummyHash, secret)
	return false
}

func parseHash(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	var m, t, par uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errors.New("bad parameter")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, errors.New("bad parameter value")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			par = n
		default:
			return p, nil, nil, errors.New("unknown parameter")
		}
	}
	if t < 1 || t > maxTime || par < 1 || par > 255 || m < 8*par || m > maxMemoryKiB {
		return p, nil, nil, errors.New("parameters out of range")
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, errors.New("bad key")
	}
	p = Params{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(par), KeyLen: uint32(len(key)), SaltLen: uint32(len(salt))}
	return p, salt, key, nil
}

// NewSecret returns 32 random bytes as unpadded base64url (43 characters).
func NewSecret() string {
	return randomString(32)
}

// NewClientID returns a random public client identifier: "cl_" + 16 random
// bytes as unpadded base64url. IDs are not secret but must not be guessable
// in sequence.
func NewClientID() string {
	return "cl_" + randomString(16)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the SHA-256 hex of a high-entropy token (refresh token, admin
// token, NewSecret output). Callers store this, never the token, and look
// tokens up by it. Not for human-chosen passwords: use HashSecret.
func HashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
