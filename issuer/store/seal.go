package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Purposes name what a sealed blob is; with the row id they form the
// associated data, so a blob copied to another row or column does not open.
const (
	purposeHC1     = "hc1"
	purposeRequest = "ticket-request"
)

// SealKeySize is the length of a seal key in bytes.
const SealKeySize = sealKeySize

const (
	sealKeySize = 32
	sealVersion = 1
	nonceSize   = 12
)

// sealer seals blobs with AES-256-GCM: version byte || nonce || ciphertext.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: seal key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func associatedData(purpose, id string) []byte {
	return []byte(purpose + "\x00" + id)
}

func (s *sealer) seal(purpose, id string, plain []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1 : 1+nonceSize]) // a random 96-bit nonce per blob; never fails since Go 1.24
	return s.aead.Seal(out, out[1:1+nonceSize], plain, associatedData(purpose, id))
}

func (s *sealer) open(purpose, id string, blob []byte) ([]byte, error) {
	if len(blob) < 1+nonceSize+s.aead.Overhead() || blob[0] != sealVersion {
		return nil, fmt.Errorf("%w: malformed blob for %s %q", ErrSeal, purpose, id)
	}
	plain, err := s.aead.Open(nil, blob[1:1+nonceSize], blob[1+nonceSize:], associatedData(purpose, id))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q", ErrSeal, purpose, id)
	}
	return plain, nil
}

// sealKey is the key Open uses: Options.SealKeyMaterial when given (an
// operator's key from the environment, never written to disk), else the
// key file (see loadSealKey).
func sealKey(dir string, opts Options) ([]byte, error) {
	if opts.SealKeyMaterial != nil {
		if len(opts.SealKeyMaterial) != sealKeySize {
			return nil, fmt.Errorf("store: seal key: %w: %d bytes, want %d", ErrInvalid, len(opts.SealKeyMaterial), sealKeySize)
		}
		return opts.SealKeyMaterial, nil
	}
	return loadSealKey(dir, opts.SealKey)
}

// loadSealKey reads the key file: 32 raw bytes or 64 hex digits. With no
// explicit path it uses (and on first start creates) dir/seal.key.
func loadSealKey(dir, path string) ([]byte, error) {
	auto := path == ""
	if auto {
		path = filepath.Join(dir, SealKeyFile)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) && auto {
		return createSealKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: seal key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Group or others could read every sealed HC1 with it.
		return nil, fmt.Errorf("store: seal key %s has mode %04o, readable by others than its owner; run chmod 600 %s: %w",
			path, fi.Mode().Perm(), path, ErrInvalid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: seal key: %w", err)
	}
	switch {
	case len(b) == sealKeySize:
		return b, nil
	case len(strings.TrimSpace(string(b))) == 2*sealKeySize:
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("store: seal key %s: %w: want %d raw bytes or %d hex digits", path, ErrInvalid, sealKeySize, 2*sealKeySize)
}

// createSealKey writes a fresh key to a temporary file, syncs it and links
// it into place, so a crash never leaves a short key file behind and two
// processes starting at once end up with the same key.
func createSealKey(path string) ([]byte, error) {
	key := make([]byte, sealKeySize)
	rand.Read(key)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".seal.key-*")
	if err != nil {
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadSealKey(dir, path)
		}
		return nil, fmt.Errorf("store: create seal key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable
		d.Close()
	}
	return key, nil
}
