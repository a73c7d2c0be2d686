package server

import (
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golive-dev/golive/issuer/auth"
	"github.com/golive-dev/golive/issuer/lists"
	"github.com/golive-dev/golive/issuer/mailout/mailoutapi"
	"github.com/golive-dev/golive/issuer/pki"
	"github.com/golive-dev/golive/issuer/register"
)

// Layout names the files of a data directory. Every secret is mode 0600
// and the directory 0700.
type Layout struct{ Dir string }

func (l Layout) PKI() string      { return filepath.Join(l.Dir, "pki") }
func (l Layout) Register() string { return filepath.Join(l.Dir, "register.jsonl") }

// Practices is the doctors' practice register (JSON Lines, kind practice).
func (l Layout) Practices() string { return filepath.Join(l.Dir, "practices.jsonl") }

func (l Layout) AdminToken() string { return filepath.Join(l.Dir, "admin-token") }

// SignerToken is the portal-to-signer shared secret.
func (l Layout) SignerToken() string { return filepath.Join(l.Dir, "signer-token") }

// TokenKey is the HMAC key of access tokens, kept so tokens survive a
// restart.
func (l Layout) TokenKey() string { return filepath.Join(l.Dir, "token.key") }
func (l Layout) Mailbox() string  { return filepath.Join(l.Dir, "mailbox") }

// ListsKey is the key that signs the verifier apps' lists (package
// lists), ListsKeySet its public half as a JWK set for apps to pin.
func (l Layout) ListsKey() string    { return filepath.Join(l.Dir, "lists-signing.key") }
func (l Layout) ListsKeySet() string { return filepath.Join(l.Dir, "lists-signing.jwks.json") }
func (l Layout) Registry() string    { return filepath.Join(l.Dir, "registry") }

// CentreTokens holds the vaccination centres' mail-out credentials, one
// "<centre id> <token>" a line (mode 0600); the portal keeps only their
// hashes in memory.
func (l Layout) CentreTokens() string { return filepath.Join(l.Dir, "mailout-centres") }

// Vendors holds the pharmacy-software vendors' public keys and the
// pharmacies' delegations to them (vendor access, --vendors; mode 0600).
func (l Layout) Vendors() string { return filepath.Join(l.Dir, "vendors.json") }

// bootstrapCentres are the centres a new data directory gets tokens for.
var bootstrapCentres = []string{"ZI01", "ZI02", "ZI03"}

// BootstrapOptions describe a new data directory.
type BootstrapOptions struct {
	Replicas     int
	RegisterSize int
	Country      string
	// Seed makes the synthetic register reproducible (default 1).
	Seed uint64
	// PracticeRegisterSize is the size of a new synthetic practice
	// register (0: DefaultPracticeRegisterSize).
	PracticeRegisterSize int
}

// DefaultPracticeRegisterSize is how many practices a new data directory's
// practice register holds.
const DefaultPracticeRegisterSize = 500

// Bootstrap creates what is missing of a data directory: a PKI with one
// DSC per replica, a synthetic pharmacy register, the admin and signer
// tokens, the token key, the lists' signing key and the mailbox. Existing files are kept, so a
// restart finds its keys and registry again. It reports whether anything
// was created.
func Bootstrap(dir string, o BootstrapOptions) (bool, error) {
	l := Layout{dir}
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.Country == "" {
		o.Country = "DE"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("data dir: %w", err)
	}
	created := false
	if !exists(filepath.Join(l.PKI(), pki.CSCAKeyFile)) && !exists(filepath.Join(l.PKI(), pki.CSCACertFile)) {
		// The PKI starts a day back so a simulated day in the recent past
		// and small clock skews between containers stay within validity.
		if _, err := pki.Init(l.PKI(), pki.InitOptions{Country: o.Country, Signers: o.Replicas,
			Now: time.Now().Add(-24 * time.Hour)}); err != nil {
			return false, err
		}
		created = true
	}
	if !exists(l.Register()) {
		entries := register.Generate(mrand.New(mrand.NewPCG(o.Seed, o.Seed+1)), o.RegisterSize)
		if err := register.Save(l.Register(), entries); err != nil {
			return false, err
		}
		created = true
	}
	if !exists(l.Practices()) {
		// Its own seed stream: adding practices changes no pharmacy.
		n := o.PracticeRegisterSize
		if n <= 0 {
			n = DefaultPracticeRegisterSize
		}
		entries := register.GeneratePractices(mrand.New(mrand.NewPCG(o.Seed, o.Seed+2)), n)
		if err := register.Save(l.Practices(), entries); err != nil {
			return false, err
		}
		created = true
	}
	for _, path := range []string{l.AdminToken(), l.SignerToken()} {
		if !exists(path) {
			if err := writeSecret(path, []byte(auth.NewSecret()+"\n")); err != nil {
				return false, err
			}
			created = true
		}
	}
	if !exists(l.TokenKey()) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return false, fmt.Errorf("token key: %w", err)
		}
		if err := writeSecret(l.TokenKey(), key); err != nil {
			return false, err
		}
		created = true
	}
	if !exists(l.ListsKey()) {
		key, err := lists.GenerateSigningKey()
		if err != nil {
			return false, err
		}
		pemKey, err := lists.MarshalSigningKey(key)
		if err != nil {
			return false, err
		}
		if err := writeSecret(l.ListsKey(), pemKey); err != nil {
			return false, err
		}
		created = true
	}
	if !exists(l.ListsKeySet()) {
		key, err := LoadListsKey(l)
		if err != nil {
			return false, err
		}
		jwks, err := lists.KeySetJSON(key)
		if err != nil {
			return false, err
		}
		if err := writeAtomic(l.ListsKeySet(), jwks, 0o644); err != nil {
			return false, err
		}
		created = true
	}
	if !exists(l.CentreTokens()) {
		var b strings.Builder
		for _, id := range bootstrapCentres {
			fmt.Fprintf(&b, "%s %s%s\n", id, mailoutapi.TokenPrefix, auth.NewSecret())
		}
		if err := writeSecret(l.CentreTokens(), []byte(b.String())); err != nil {
			return false, err
		}
		created = true
	}
	if err := os.MkdirAll(l.Mailbox(), 0o700); err != nil {
		return false, fmt.Errorf("mailbox: %w", err)
	}
	return created, nil
}

// LoadCentreTokens reads the centres' tokens of a data directory: centre
// id to token.
func LoadCentreTokens(l Layout) (map[string]string, error) {
	b, err := os.ReadFile(l.CentreTokens())
	if err != nil {
		return nil, fmt.Errorf("mail-out centre tokens: %w", err)
	}
	defer clear(b)
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, tok, ok := strings.Cut(line, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.HasPrefix(tok, mailoutapi.TokenPrefix) || len(tok) < len(mailoutapi.TokenPrefix)+16 {
			return nil, fmt.Errorf("%s line %d: want \"<centre id> %s<secret>\"", l.CentreTokens(), i+1, mailoutapi.TokenPrefix)
		}
		out[id] = tok
	}
	return out, nil
}

// LoadListsKey reads the lists' signing key of a data directory.
func LoadListsKey(l Layout) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(l.ListsKey())
	if err != nil {
		return nil, fmt.Errorf("lists signing key: %w", err)
	}
	defer clear(b)
	return lists.ParseSigningKey(b)
}

// ReadToken reads a token file written by Bootstrap.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("token in %s is too short", path)
	}
	return tok, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeSecret writes a file with mode 0600 atomically.
func writeSecret(path string, data []byte) error {
	return writeAtomic(path, data, 0o600)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
