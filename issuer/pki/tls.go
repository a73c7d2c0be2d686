package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"time"
)

// A TLS CA here is not the DCC's CSCA: it signs the HTTPS certificates of
// a throwaway deployment (a testbed run), so it carries no country, no DCC
// key usages and a short life. It lives beside the DCC code because both
// are the issuer's key material and share the file helpers (SaveKeyPair
// writes keys 0600).

// TLSCAValidity is how long a testbed CA and its server certificates are
// valid: longer than any run, short enough that a leaked one soon expires.
const TLSCAValidity = 7 * 24 * time.Hour

// tlsClockSkew backdates NotBefore, so a component whose clock runs a
// little behind (a container) accepts a certificate made a moment ago.
const tlsClockSkew = time.Hour

// NewTLSCA creates a self-signed ECDSA P-256 CA named name that may sign
// server certificates only (path length 0), valid for TLSCAValidity.
func NewTLSCA(name string, now time.Time) (*KeyPair, error) {
	if name == "" {
		return nil, errors.New("pki: a TLS CA needs a name")
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	return newCA("TLS CA", pkix.Name{CommonName: name}, now.Add(-tlsClockSkew), now.Add(TLSCAValidity))
}

// NewTLSServer issues an ECDSA P-256 server certificate (serverAuth only)
// from ca for hosts: each is an IP address (an IP SAN) or a DNS name. Its
// validity ends with the CA's.
func NewTLSServer(ca *KeyPair, commonName string, hosts []string, now time.Time) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil || !ca.Cert.IsCA {
		return nil, errors.New("pki: NewTLSServer needs a CA certificate with its key")
	}
	if len(hosts) == 0 {
		return nil, errors.New("pki: a server certificate needs at least one host name or IP address")
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-tlsClockSkew),
		NotAfter:    ca.Cert.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotBefore.Before(ca.Cert.NotBefore) {
		tmpl.NotBefore = ca.Cert.NotBefore
	}
	if !tmpl.NotAfter.After(tmpl.NotBefore) {
		return nil, fmt.Errorf("pki: the TLS CA expired at %s", ca.Cert.NotAfter.Format(time.RFC3339))
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating TLS server key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating TLS server certificate %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing new TLS server certificate: %w", err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// SPKIHash is the base64 SHA-256 of a certificate's public key info, the
// form Chromium's --ignore-certificate-errors-spki-list takes: a browser
// told it trusts that one key, not every certificate.
func SPKIHash(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}
