package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golive-dev/golive/issuer/pki"
)

// A run with Options.TLS serves the portals and the signers over HTTPS with
// certificates from a CA the testbed makes for the run alone: DATA/tls/
// holds ca.pem and, per component, NAME.pem and NAME.key (0600). The CA's
// key is never written: once every certificate is issued nothing may mint
// another, so a leaked work directory lets nobody impersonate anything
// beyond this run's components for the CA's short life.
//
// The fault proxy stays a TCP proxy: TLS passes through it, so each
// certificate names every address its component is dialled at, through
// the proxy or not (loopback on both kinds; on docker also the component's
// network alias and "proxy", the name the portal and the workers dial).

// tlsDir is the CA's directory inside the data directory.
const tlsDir = "tls"

// CAFile is the CA certificate's file name in the TLS directory.
const CAFile = "ca.pem"

// CA is a run's testbed CA as its clients need it.
type CA struct {
	// File is the CA certificate's path on this host; Dir the directory
	// holding it and the components' certificates.
	File, Dir string
	// PEM is the CA certificate (public: clients trust it, shard.json
	// carries it to load workers).
	PEM  []byte
	Cert *x509.Certificate
}

// ClientConfig is a client TLS that trusts the CA alone (not the
// system's roots): a certificate from anywhere else is refused.
func (c *CA) ClientConfig() *tls.Config {
	if c == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
}

// ClientTLSFromPEM is ClientConfig for a CA certificate given as PEM (a
// load worker's shard.json); nil PEM gives nil.
func ClientTLSFromPEM(b []byte) (*tls.Config, error) {
	if len(b) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("testbed: the CA holds no PEM certificate")
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// TLSServer is implemented by testbeds that serve their components over
// HTTPS with their own CA (Options.TLS).
type TLSServer interface {
	// CA is the run's CA; nil when the run is plain HTTP.
	CA() *CA
}

// CAOf is tb's CA, nil when tb serves plain HTTP.
func CAOf(tb Testbed) *CA {
	if s, ok := tb.(TLSServer); ok {
		return s.CA()
	}
	return nil
}

// ClientTLS is the client TLS every client of tb needs: nil for plain
// HTTP (and for url, whose certificates the system's roots verify).
func ClientTLS(tb Testbed) *tls.Config { return CAOf(tb).ClientConfig() }

// tlsHosts are the addresses every component is dialled at on loopback.
var tlsHosts = []string{"127.0.0.1", "::1", "localhost"}

// issueTLS makes the run's CA in DATA/tls and a certificate for each
// component, named by hosts(component).
func issueTLS(runID, data string, components []string, hosts func(name string) []string) (*CA, error) {
	dir := filepath.Join(data, tlsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testbed: TLS directory: %w", err)
	}
	now := time.Now()
	ca, err := pki.NewTLSCA("golive testbed CA "+runID, now)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	for _, name := range components {
		kp, err := pki.NewTLSServer(ca, name, hosts(name), now)
		if err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
		if err := pki.SaveKeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"), kp); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
	}
	file := filepath.Join(dir, CAFile)
	if err := pki.SaveCertificate(file, ca.Cert); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	return &CA{File: file, Dir: dir, Cert: ca.Cert,
		PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})}, nil
}

// serveTLSArgs are a component's TLS flags, its files under dir (the TLS
// directory as the component sees it); none without TLS.
func serveTLSArgs(ca *CA, dir, name string, portal bool) []string {
	if ca == nil {
		return nil
	}
	a := []string{"--tls-cert", filepath.Join(dir, name+".pem"), "--tls-key", filepath.Join(dir, name+".key")}
	if portal {
		a = append(a, "--signer-ca", filepath.Join(dir, CAFile))
	}
	return a
}

// scheme is the components' URL scheme.
func scheme(ca *CA) string {
	if ca != nil {
		return "https"
	}
	return "http"
}
