package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

const (
	keyFileMode  os.FileMode = 0o600
	certFileMode os.FileMode = 0o644
)

// SaveKeyPair writes the certificate as PEM to certPath and the private key
// as PKCS#8 PEM to keyPath. Both are written atomically (temporary file and
// rename); the key file always ends up with mode 0600, also when it
// existed before with a wider mode.
func SaveKeyPair(certPath, keyPath string, kp *KeyPair) error {
	if kp == nil || kp.Cert == nil || kp.Key == nil {
		return errors.New("pki: SaveKeyPair needs a certificate and its key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return fmt.Errorf("pki: encoding private key for %s: %w", keyPath, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	// The key goes first: a certificate without its key is the lesser
	// inconsistency if the second write fails.
	if err := writeFileAtomic(keyPath, keyPEM, keyFileMode); err != nil {
		return err
	}
	clear(keyPEM)
	if err := writeFileAtomic(certPath, certPEM(kp.Cert), certFileMode); err != nil {
		return err
	}
	return nil
}

func certPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// SaveCertificate writes a certificate as PEM, atomically.
func SaveCertificate(path string, cert *x509.Certificate) error {
	return writeFileAtomic(path, certPEM(cert), certFileMode)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it,
// sets mode and renames it over path, so readers never see half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // created 0600
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: setting mode of %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pki: syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pki: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: replacing %s: %w", path, err)
	}
	// The rename replaced any older file, but a umask or a file system
	// that ignores fchmod must not leave a key readable: set it again.
	if err = os.Chmod(path, mode); err != nil {
		return fmt.Errorf("pki: setting mode of %s: %w", path, err)
	}
	return nil
}

// LoadCertificate reads the first PEM certificate in path (a DER file is
// accepted too).
func LoadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading certificate: %w", err)
	}
	der := data
	if bytes.Contains(data, []byte("-----BEGIN")) {
		der = nil
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				der = b.Bytes
				break
			}
		}
		if der == nil {
			return nil, fmt.Errorf("pki: %s holds no PEM CERTIFICATE block", path)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing certificate %s: %w", path, err)
	}
	return cert, nil
}

// LoadKeyPair reads a certificate and its private key (PKCS#8, or SEC 1 /
// PKCS#1 as written by other tools) and checks that they belong together.
// A key file readable by group or others is loaded with a warning.
func LoadKeyPair(certPath, keyPath string) (*KeyPair, error) {
	cert, err := LoadCertificate(certPath)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: key %s does not belong to certificate %s", keyPath, certPath)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func loadKey(path string) (crypto.Signer, error) {
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		slog.Warn("pki: private key file is readable by group or others; chmod 600 it",
			"path", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading private key: %w", err)
	}
	defer clear(data)
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("pki: %s holds no PEM block", path)
	}
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("pki: %s holds a %q PEM block, want PRIVATE KEY", path, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: parsing private key %s: %w", path, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("pki: %s holds an unsupported %T key", path, key)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
