package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names inside a PKI directory.
const (
	CSCACertFile  = "csca.pem"
	CSCAKeyFile   = "csca.key"
	TrustListFile = "trustlist.json"
)

// DSCCertFile and DSCKeyFile name the files of signer n (1-based).
func DSCCertFile(n int) string { return fmt.Sprintf("dsc-%d.pem", n) }
func DSCKeyFile(n int) string  { return fmt.Sprintf("dsc-%d.key", n) }

// InitOptions describes a new PKI directory.
type InitOptions struct {
	Country string    // ISO 3166 alpha-2, e.g. "DE"
	Signers int       // number of DSCs (signer replicas); default 1
	Alg     Alg       // DSC algorithm; default ES256
	Now     time.Time // start of validity; default time.Now()
}

// Set is the key material of one issuer: its CSCA, its DSCs and the trust
// list publishing the DSCs.
type Set struct {
	Dir   string
	CSCA  *KeyPair // Key is nil when csca.key is kept elsewhere
	DSCs  []*KeyPair
	Trust *TrustList
}

// Init creates a CSCA, opts.Signers DSCs and their trust list in dir
// (created with mode 0700). It refuses to run where a csca.key exists, so a
// CSCA is never overwritten by accident.
func Init(dir string, opts InitOptions) (*Set, error) {
	if opts.Signers == 0 {
		opts.Signers = 1
	}
	if opts.Signers < 0 {
		return nil, fmt.Errorf("pki: %d signers requested", opts.Signers)
	}
	if opts.Alg == "" {
		opts.Alg = ES256
	}
	if opts.Alg != ES256 && opts.Alg != PS256 {
		return nil, fmt.Errorf("pki: unsupported algorithm %q (want ES256 or PS256)", opts.Alg)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	keyPath := filepath.Join(dir, CSCAKeyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		return nil, fmt.Errorf("pki: %s already exists; refusing to overwrite an existing CSCA (remove the directory or choose another)", keyPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: checking %s: %w", keyPath, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: creating %s: %w", dir, err)
	}

	csca, err := NewCSCA(opts.Country, opts.Now)
	if err != nil {
		return nil, err
	}
	set := &Set{Dir: dir, CSCA: csca}
	if err := SaveKeyPair(filepath.Join(dir, CSCACertFile), keyPath, csca); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Signers; i++ {
		dsc, err := NewDSC(csca, DSCOptions{
			Alg:        opts.Alg,
			Country:    opts.Country,
			NotBefore:  opts.Now,
			CommonName: fmt.Sprintf("golive DSC %s %d", opts.Country, i),
		})
		if err != nil {
			return nil, err
		}
		if err := SaveKeyPair(filepath.Join(dir, DSCCertFile(i)), filepath.Join(dir, DSCKeyFile(i)), dsc); err != nil {
			return nil, err
		}
		set.DSCs = append(set.DSCs, dsc)
	}
	certs := make([]*x509.Certificate, 0, len(set.DSCs))
	for _, d := range set.DSCs {
		certs = append(certs, d.Cert)
	}
	if set.Trust, err = NewTrustList(certs...); err != nil {
		return nil, err
	}
	if err := SaveTrustList(filepath.Join(dir, TrustListFile), set.Trust); err != nil {
		return nil, err
	}
	return set, nil
}

// Load reads a directory written by Init: csca.pem (csca.key if present),
// dsc-1.pem/.key, dsc-2..., and trustlist.json (built from the DSCs when
// absent). Every DSC must be signed by the CSCA.
func Load(dir string) (*Set, error) {
	set := &Set{Dir: dir}
	certPath, keyPath := filepath.Join(dir, CSCACertFile), filepath.Join(dir, CSCAKeyFile)
	if _, err := os.Stat(keyPath); err == nil {
		kp, err := LoadKeyPair(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		set.CSCA = kp
	} else {
		c, err := LoadCertificate(certPath)
		if err != nil {
			return nil, err
		}
		set.CSCA = &KeyPair{Cert: c}
	}
	for i := 1; ; i++ {
		cp, kp := filepath.Join(dir, DSCCertFile(i)), filepath.Join(dir, DSCKeyFile(i))
		if _, err := os.Stat(cp); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dsc, err := LoadKeyPair(cp, kp)
		if err != nil {
			return nil, err
		}
		if err := dsc.Cert.CheckSignatureFrom(set.CSCA.Cert); err != nil {
			return nil, fmt.Errorf("pki: %s is not signed by %s: %w", cp, certPath, err)
		}
		set.DSCs = append(set.DSCs, dsc)
	}
	if len(set.DSCs) == 0 {
		return nil, fmt.Errorf("pki: %s holds no %s", dir, DSCCertFile(1))
	}
	tlPath := filepath.Join(dir, TrustListFile)
	var err error
	if _, statErr := os.Stat(tlPath); statErr == nil {
		set.Trust, err = LoadTrustList(tlPath)
	} else {
		certs := make([]*x509.Certificate, 0, len(set.DSCs))
		for _, d := range set.DSCs {
			certs = append(certs, d.Cert)
		}
		set.Trust, err = NewTrustList(certs...)
	}
	if err != nil {
		return nil, err
	}
	return set, nil
}
