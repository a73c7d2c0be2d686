package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/portal"
	"github.com/golive-dev/golive/issuer/portal/portalapi"
	"github.com/golive-dev/golive/issuer/store"
)

// testCA is a throwaway CA that signs the server's and the clients'
// certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf for 127.0.0.1 (server) or a client; it returns the
// certificate and key PEMs.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testSettings are role all's settings for a test: a fresh data directory,
// a free port, one replica.
func testSettings(t *testing.T) Settings {
	t.Helper()
	s, err := Defaults(portalapi.ProfileHardened)
	if err != nil {
		t.Fatal(err)
	}
	s.Data = filepath.Join(t.TempDir(), "data")
	s.Listen = "127.0.0.1:0"
	s.Replicas, s.RegisterSize = 1, 5
	return s
}

// startServe runs role all with testSettings changed by mutate until the
// test ends, and returns its URL (or the error Run returned before it was
// ready).
func startServe(t *testing.T, mutate func(*Settings)) (string, error) {
	t.Helper()
	s := testSettings(t)
	mutate(&s)
	url, stop, err := runServe(t, s)
	t.Cleanup(stop)
	return url, err
}

// runServe runs s until stop is called.
func runServe(t *testing.T, s Settings) (url string, stop func(), err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, s, nil, func(_, url string) { urls <- url }) }()
	var once sync.Once
	var runErr error
	stop = func() {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
	}
	select {
	case u := <-urls:
		return u, stop, nil
	case err := <-done:
		done <- err
		return "", stop, err
	case <-time.After(time.Minute):
		stop()
		t.Fatal("serve not ready within a minute")
	}
	_ = runErr
	return "", stop, nil
}

func TestServeTLSMutual(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "golive test CA")
	srvCert, srvKey := ca.issue(t, "portal", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := ca.issue(t, "vendor", x509.ExtKeyUsageClientAuth)
	other := newTestCA(t, "someone else's CA")
	strangerCert, strangerKey := other.issue(t, "stranger", x509.ExtKeyUsageClientAuth)

	url, err := startServe(t, func(s *Settings) {
		s.TLS = TLSSettings{Cert: writeFile(t, dir, "srv.pem", srvCert), Key: writeFile(t, dir, "srv.key", srvKey),
			ClientCA: writeFile(t, dir, "ca.pem", ca.pem)}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("ready URL %q is not https", url)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(certPEM, keyPEM []byte, maxVersion uint16) *http.Client {
		tc := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	}

	resp, err := client(cliCert, cliKey, 0).Get(url + "/healthz")
	if err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("healthz over mutual TLS: %d %+v", resp.StatusCode, resp.TLS)
	}
	if resp.ProtoMajor != 1 {
		t.Errorf("protocol %s, want HTTP/1.1 (the slow-client bounds are built for it)", resp.Proto)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != portal.HSTSValue {
		t.Errorf("HSTS %q over TLS, want %q", got, portal.HSTSValue)
	}

	refused := map[string]*http.Client{
		"no client certificate":            client(nil, nil, 0),
		"certificate of another CA":        client(strangerCert, strangerKey, 0),
		"TLS 1.1 with a valid certificate": client(cliCert, cliKey, tls.VersionTLS11),
	}
	for name, c := range refused {
		resp, err := c.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %d, want the handshake refused", name, resp.StatusCode)
		}
	}
	// Plain HTTP to the TLS port gets no portal answer.
	plain := strings.Replace(url, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port answered 200")
		}
	}
}

// Without --tls-client-ca any client reaches the portal over TLS; the
// metrics token from the settings guards /metrics.
func TestServeTLSAndMetricsToken(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "golive test CA")
	srvCert, srvKey := ca.issue(t, "portal", x509.ExtKeyUsageServerAuth)
	url, err := startServe(t, func(s *Settings) {
		s.TLS = TLSSettings{Cert: writeFile(t, dir, "srv.pem", srvCert), Key: writeFile(t, dir, "srv.key", srvKey)}
		s.MetricsToken = "scrape-me"
	})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", got)
	}
	if got := get("scrape-me"); got != http.StatusOK {
		t.Errorf("/metrics with the token: %d, want 200", got)
	}
}

func TestServeTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "golive test CA")
	srvCert, _ := ca.issue(t, "portal", x509.ExtKeyUsageServerAuth)
	_, otherKey := ca.issue(t, "other", x509.ExtKeyUsageServerAuth)
	_, err := startServe(t, func(s *Settings) {
		s.TLS = TLSSettings{Cert: writeFile(t, dir, "srv.pem", srvCert), Key: writeFile(t, dir, "other.key", otherKey)}
	})
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("a key that does not match the certificate: %v, want a tls error", err)
	}
	for name, ts := range map[string]TLSSettings{
		"key without certificate": {Key: "k.pem"},
		"client CA alone":         {ClientCA: "ca.pem"},
	} {
		s, _ := Defaults(portalapi.ProfileHardened)
		s.TLS = ts
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: Validate %v, want a tls error", name, err)
		}
	}
	for name, mutate := range map[string]func(*Settings){
		"tls on the proxy": func(s *Settings) { s.Role, s.TLS = RoleProxy, TLSSettings{Cert: "c.pem", Key: "k.pem"} },
		"mutual TLS on a signer": func(s *Settings) {
			s.Role, s.TLS = RoleSigner, TLSSettings{Cert: "c.pem", Key: "k.pem", ClientCA: "ca.pem"}
		},
		"signer CA on role all":    func(s *Settings) { s.SignerClient.CA = "ca.pem" },
		"signer CA on role signer": func(s *Settings) { s.Role, s.SignerClient.CA = RoleSigner, "ca.pem" },
	} {
		s, _ := Defaults(portalapi.ProfileHardened)
		s.SignerIndex = 1
		mutate(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate passed, want refused", name)
		}
	}
	s, _ := Defaults(portalapi.ProfileHardened)
	s.Role, s.SignerIndex = RoleSigner, 1
	s.TLS = TLSSettings{Cert: "c.pem", Key: "k.pem"}
	if err := s.Validate(); err != nil {
		t.Errorf("tls on role signer: %v, want accepted", err)
	}
}

// A signer serves HTTPS with --tls-cert, and the portal's signer client
// trusts exactly the CA --signer-ca names: not the system's roots, not
// another CA.
func TestServeSignerTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "golive test CA")
	other := newTestCA(t, "another CA")
	cert, key := ca.issue(t, "signer-1", x509.ExtKeyUsageServerAuth)
	s := testSettings(t)
	s.Role, s.SignerIndex = RoleSigner, 1
	s.TLS = TLSSettings{Cert: writeFile(t, dir, "s.pem", cert), Key: writeFile(t, dir, "s.key", key)}
	url, stop, err := runServe(t, s)
	t.Cleanup(stop)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("signer ready at %s, want https", url)
	}
	get := func(c SignerClientSettings) error {
		tc, err := c.tlsConfig()
		if err != nil {
			return err
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := hc.Get(url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(SignerClientSettings{CA: writeFile(t, dir, "ca.pem", ca.pem)}); err != nil {
		t.Errorf("with the signer's CA: %v", err)
	}
	if err := get(SignerClientSettings{CA: writeFile(t, dir, "other.pem", other.pem)}); err == nil {
		t.Error("a client trusting another CA reached the signer")
	}
	if err := get(SignerClientSettings{}); err == nil {
		t.Error("a client trusting the system's roots reached the signer")
	}
	if _, err := (SignerClientSettings{CA: writeFile(t, dir, "empty.pem", []byte("no pem"))}).tlsConfig(); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}

// The sealing key can live outside the data directory: from a file (which
// must not be readable by others) or from the environment's hex digits.
func TestServeSealKeyOutsideTheDataDirectory(t *testing.T) {
	keyDir := t.TempDir()
	hexKey := strings.Repeat("ab", store.SealKeySize)
	var data string
	for name, set := range map[string]func(*Settings){
		"file":        func(s *Settings) { s.SealKeyFile = writeFile(t, keyDir, "seal.key", []byte(hexKey+"\n")) },
		"environment": func(s *Settings) { s.SealKey = hexKey },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := startServe(t, func(s *Settings) { set(s); data = s.Data }); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(Layout{data}.Registry(), store.SealKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a seal key was written into the data directory (%v)", err)
			}
		})
	}
	t.Run("world-readable file", func(t *testing.T) {
		p := writeFile(t, keyDir, "loose.key", []byte(hexKey))
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := startServe(t, func(s *Settings) { s.SealKeyFile = p })
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("a 0644 key file: %v, want refused with chmod advice", err)
		}
	})
	t.Run("bad environment key", func(t *testing.T) {
		_, err := startServe(t, func(s *Settings) { s.SealKey = "abc" })
		if err == nil || !strings.Contains(err.Error(), "GOLIVE_SEAL_KEY") {
			t.Fatalf("a short $GOLIVE_SEAL_KEY: %v, want refused naming it", err)
		}
	})
}
