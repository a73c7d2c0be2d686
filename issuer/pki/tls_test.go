package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A testbed CA issues server certificates whose SANs are exactly the
// hosts asked for (IPs as IP SANs, names as DNS SANs), that verify to the
// CA for those hosts and no other, and whose keys are written 0600.
func TestTLSCAAndServer(t *testing.T) {
	now := time.Now()
	ca, err := NewTLSCA("golive testbed CA run-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate: IsCA %v, MaxPathLenZero %v, usage %v", ca.Cert.IsCA, ca.Cert.MaxPathLenZero, ca.Cert.KeyUsage)
	}
	if pub, ok := ca.Cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.Cert.PublicKey)
	}
	srv, err := NewTLSServer(ca, "portal", []string{"127.0.0.1", "::1", "localhost", "portal", "proxy"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(srv.Cert.DNSNames, []string{"localhost", "portal", "proxy"}) {
		t.Errorf("DNS SANs %v", srv.Cert.DNSNames)
	}
	if len(srv.Cert.IPAddresses) != 2 || !srv.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !srv.Cert.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs %v", srv.Cert.IPAddresses)
	}
	if srv.Cert.IsCA || !slices.Equal(srv.Cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server certificate: IsCA %v, ext usage %v", srv.Cert.IsCA, srv.Cert.ExtKeyUsage)
	}
	if srv.Cert.NotAfter.After(ca.Cert.NotAfter) || srv.Cert.NotBefore.Before(ca.Cert.NotBefore) {
		t.Errorf("server validity %v..%v outside the CA's %v..%v", srv.Cert.NotBefore, srv.Cert.NotAfter, ca.Cert.NotBefore, ca.Cert.NotAfter)
	}

	dir := t.TempDir()
	if err := SaveKeyPair(filepath.Join(dir, "portal.pem"), filepath.Join(dir, "portal.key"), srv); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "portal.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	back, err := LoadKeyPair(filepath.Join(dir, "portal.pem"), filepath.Join(dir, "portal.key"))
	if err != nil {
		t.Fatal(err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verify := func(host string, pool *x509.CertPool) error {
		_, err := back.Cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "portal", "proxy"} {
		if err := verify(host, roots); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if err := verify("signer-1", roots); err == nil {
		t.Error("verified for a host the certificate does not name")
	}
	other, _ := NewTLSCA("another CA", now)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if err := verify("127.0.0.1", otherRoots); err == nil {
		t.Error("verified against another CA")
	}
	if SPKIHash(ca.Cert) == SPKIHash(other.Cert) || len(SPKIHash(ca.Cert)) != 44 {
		t.Errorf("SPKI hashes %q %q", SPKIHash(ca.Cert), SPKIHash(other.Cert))
	}
}

func TestTLSServerRejects(t *testing.T) {
	ca, err := NewTLSCA("ca", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := NewTLSServer(ca, "x", []string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTLSServer(leaf, "y", []string{"127.0.0.1"}, time.Time{}); err == nil {
		t.Error("a leaf signed a certificate")
	}
	if _, err := NewTLSServer(ca, "y", nil, time.Time{}); err == nil {
		t.Error("a certificate without hosts")
	}
	if _, err := NewTLSServer(ca, "y", []string{"127.0.0.1"}, time.Now().Add(2*TLSCAValidity)); err == nil {
		t.Error("issued after the CA expired")
	}
	if _, err := NewTLSCA("", time.Time{}); err == nil {
		t.Error("a CA without a name")
	}
}
