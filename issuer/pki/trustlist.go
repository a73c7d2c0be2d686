package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TrustEntry publishes one DSC.
type TrustEntry struct {
	Kid         []byte    `json:"kid"`         // first 8 bytes of SHA-256 over Certificate
	Country     string    `json:"country"`     // the DSC subject's C
	Certificate []byte    `json:"certificate"` // DER
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	KeyUsage    []string  `json:"key_usage"` // certificate types the DSC may sign: "v", "t", "r"
	Alg         Alg       `json:"alg"`
}

// TrustList is the set of DSCs a verifier accepts. Lookup and All are safe
// for concurrent use; change the list through Add.
type TrustList struct {
	Entries []TrustEntry `json:"entries"`

	mu      sync.RWMutex
	indexed int // number of Entries the index covers
	byKid   map[string][]*x509.Certificate
	all     []*x509.Certificate
}

// NewTrustList builds a trust list holding certs.
func NewTrustList(certs ...*x509.Certificate) (*TrustList, error) {
	t := &TrustList{Entries: []TrustEntry{}}
	for _, c := range certs {
		if err := t.Add(c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Add publishes cert. Adding a certificate already present does nothing.
func (t *TrustList) Add(cert *x509.Certificate) error {
	if cert == nil {
		return errors.New("pki: adding a nil certificate to the trust list")
	}
	alg, err := AlgOf(cert.PublicKey)
	if err != nil {
		return fmt.Errorf("pki: DSC %q: %w", cert.Subject.CommonName, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.Entries {
		if bytes.Equal(e.Certificate, cert.Raw) {
			return nil
		}
	}
	var usage []string
	for _, u := range UsagesOf(cert) {
		usage = append(usage, string(u))
	}
	var country string
	if len(cert.Subject.Country) > 0 {
		country = cert.Subject.Country[0]
	}
	t.Entries = append(t.Entries, TrustEntry{
		Kid:         Kid(cert),
		Country:     country,
		Certificate: bytes.Clone(cert.Raw),
		NotBefore:   cert.NotBefore.UTC(),
		NotAfter:    cert.NotAfter.UTC(),
		KeyUsage:    usage,
		Alg:         alg,
	})
	if t.indexed == len(t.Entries)-1 && t.byKid != nil {
		t.insert(Kid(cert), cert) // keep the index current without reparsing
		t.indexed++
	}
	return nil
}

func (t *TrustList) insert(kid []byte, cert *x509.Certificate) {
	k := string(kid)
	t.byKid[k] = append(t.byKid[k], cert)
	t.all = append(t.all, cert)
}

// index returns the parsed certificates, parsing the entries once. It files
// each under the entry's declared kid, as a verifier of a published list
// does. Entries that do not parse are left out (LoadTrustList rejects them
// up front).
func (t *TrustList) index() (map[string][]*x509.Certificate, []*x509.Certificate) {
	t.mu.RLock()
	if t.byKid != nil && t.indexed == len(t.Entries) {
		defer t.mu.RUnlock()
		return t.byKid, t.all
	}
	t.mu.RUnlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKid == nil || t.indexed != len(t.Entries) {
		t.byKid = make(map[string][]*x509.Certificate, len(t.Entries))
		t.all = nil
		for _, e := range t.Entries {
			c, err := x509.ParseCertificate(e.Certificate)
			if err != nil {
				continue
			}
			t.insert(e.Kid, c)
		}
		t.indexed = len(t.Entries)
	}
	return t.byKid, t.all
}

// Lookup returns every certificate published under kid (several DSCs may
// share one). The slice must not be modified.
func (t *TrustList) Lookup(kid []byte) []*x509.Certificate {
	if t == nil {
		return nil
	}
	m, _ := t.index()
	return m[string(kid)]
}

// All returns every certificate on the list. The slice must not be
// modified.
func (t *TrustList) All() []*x509.Certificate {
	if t == nil {
		return nil
	}
	_, all := t.index()
	return all
}

// LoadTrustList reads a trust list written by SaveTrustList and checks
// every entry: the certificate parses and its kid matches.
func LoadTrustList(path string) (*TrustList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading trust list: %w", err)
	}
	return ParseTrustList(data, path)
}

// ParseTrustList decodes trust list JSON (the file format, also what the
// portal publishes at /v1/trustlist) and checks every entry; name labels
// errors.
func ParseTrustList(data []byte, name string) (*TrustList, error) {
	var t TrustList
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("pki: decoding trust list %s: %w", name, err)
	}
	t.byKid = make(map[string][]*x509.Certificate, len(t.Entries))
	for i, e := range t.Entries {
		c, err := x509.ParseCertificate(e.Certificate)
		if err != nil {
			return nil, fmt.Errorf("pki: trust list %s entry %d: parsing certificate: %w", name, i, err)
		}
		if want := Kid(c); !bytes.Equal(e.Kid, want) {
			return nil, fmt.Errorf("pki: trust list %s entry %d: kid %x does not match the certificate's kid %x", name, i, e.Kid, want)
		}
		t.insert(e.Kid, c)
	}
	t.indexed = len(t.Entries)
	return &t, nil
}

// SaveTrustList writes tl as indented JSON, atomically.
func SaveTrustList(path string, tl *TrustList) error {
	if tl == nil {
		return errors.New("pki: SaveTrustList of a nil trust list")
	}
	tl.mu.RLock()
	entries := tl.Entries
	if entries == nil {
		entries = []TrustEntry{} // "entries": [] rather than null
	}
	data, err := json.MarshalIndent(struct {
		Entries []TrustEntry `json:"entries"`
	}{entries}, "", "  ")
	tl.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("pki: encoding trust list: %w", err)
	}
	return writeFileAtomic(path, append(data, '\n'), certFileMode)
}
