package testbed_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/issuer/pki"
)

// checkTLS asserts what a TLS testbed promises: every portal and signer
// answers over https with a certificate from the run's CA (through the
// fault proxy too), not over plain HTTP and not to a client that trusts
// only the system's roots; the CA's key is not on disk and the
// components' keys are 0600. It returns the certificates by component.
func checkTLS(t *testing.T, tb testbed.Testbed) map[string]*x509.Certificate {
	t.Helper()
	ca := testbed.CAOf(tb)
	if ca == nil {
		t.Fatal("a TLS testbed without a CA")
	}
	if !strings.HasPrefix(ca.Dir, tb.DataDir()) {
		t.Errorf("CA directory %s outside the run's data directory %s", ca.Dir, tb.DataDir())
	}
	if !strings.HasPrefix(tb.PortalURL(), "https://127.0.0.1:") || !strings.HasPrefix(tb.DirectPortalURL(), "https://") {
		t.Errorf("portal URLs %s, %s: want https", tb.PortalURL(), tb.DirectPortalURL())
	}
	tc := testbed.ClientTLS(tb)
	certs := map[string]*x509.Certificate{}
	for _, c := range tb.Components() {
		if c.Name == testbed.Proxy {
			if !strings.HasPrefix(c.URL, "http://") {
				t.Errorf("the proxy's API %s: want plain http (the control plane, not the system)", c.URL)
			}
			continue
		}
		if !strings.HasPrefix(c.URL, "https://") {
			t.Errorf("%s at %s: want https", c.Name, c.URL)
		}
		if code, err := get(t, tc, c.URL+c.ReadyPath, 5*time.Second); err != nil || code != http.StatusOK {
			t.Errorf("%s over https with the run's CA: %d %v", c.Name, code, err)
		}
		// Plain HTTP to the TLS port is answered 400 by Go's TLS server,
		// never served.
		if code, err := get(t, nil, "http://"+strings.TrimPrefix(c.URL, "https://")+c.ReadyPath, 5*time.Second); err == nil && code == http.StatusOK {
			t.Errorf("%s served plain HTTP on its TLS port", c.Name)
		}
		var unknown x509.UnknownAuthorityError
		if _, err := get(t, nil, c.URL+c.ReadyPath, 5*time.Second); !errors.As(err, &unknown) {
			t.Errorf("%s with the system's roots: %v, want an unknown authority", c.Name, err)
		}
		kp, err := pki.LoadKeyPair(filepath.Join(ca.Dir, c.Name+".pem"), filepath.Join(ca.Dir, c.Name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if st, err := os.Stat(filepath.Join(ca.Dir, c.Name+".key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s's key: %v, want mode 0600", c.Name, err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
			t.Errorf("%s's certificate does not chain to the CA for 127.0.0.1: %v", c.Name, err)
		}
		certs[c.Name] = kp.Cert
	}
	if code, err := get(t, tc, tb.PortalURL()+"/readyz", 5*time.Second); err != nil || code != http.StatusOK {
		t.Errorf("portal through the fault proxy over https: %d %v", code, err)
	}
	entries, err := os.ReadDir(ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "ca.key" || (strings.HasSuffix(e.Name(), ".key") && !strings.HasPrefix(e.Name(), "portal") && !strings.HasPrefix(e.Name(), "signer-")) {
			t.Errorf("%s in the TLS directory: the CA's key is never written", e.Name())
		}
	}
	return certs
}

// TestLocalTLS: a local topology with TLS passes the lifecycle actions (a
// restarted component serves its certificate again) and checkTLS.
func TestLocalTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a topology and exercises its lifecycle (tens of seconds)")
	}
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindLocal, Binary: testbedtest.Binary(t), Signers: 2, TLS: true, RunID: testbedtest.RunID(t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close(context.Background())
	checkTLS(t, tb)
	exerciseLifecycle(t, tb)
}

// TestDockerTLS: on docker each certificate also names the component's
// network alias and "proxy", the name its peers dial through the fault
// proxy, and the portal signs through TLS signers behind the proxy.
func TestDockerTLS(t *testing.T) {
	testbedtest.RequireDocker(t)
	ctx := context.Background()
	tb, err := testbed.Start(ctx, testbed.Options{Kind: testbed.KindDocker, Binary: testbedtest.Binary(t), Signers: 1, TLS: true, RunID: testbedtest.RunID(t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close(context.Background())
	certs := checkTLS(t, tb)
	for name, c := range certs {
		if !slices.Contains(c.DNSNames, name) || !slices.Contains(c.DNSNames, testbed.Proxy) {
			t.Errorf("%s's certificate names %v: want its alias and %s", name, c.DNSNames, testbed.Proxy)
		}
	}
}

// ClientTLSFromPEM reads the CA a load worker gets in shard.json: none is
// plain HTTP, anything but a PEM certificate is refused.
func TestClientTLSFromPEM(t *testing.T) {
	if tc, err := testbed.ClientTLSFromPEM(nil); tc != nil || err != nil {
		t.Errorf("no CA: %v, %v; want plain HTTP", tc, err)
	}
	for _, bad := range []string{"not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "\x00\xff"} {
		if _, err := testbed.ClientTLSFromPEM([]byte(bad)); err == nil {
			t.Errorf("%q accepted as a CA", bad)
		}
	}
	ca, err := pki.NewTLSCA("ca", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pki.NewTLSServer(ca, "portal", []string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := testbed.ClientTLSFromPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	if err != nil || tc == nil || tc.RootCAs == nil {
		t.Fatalf("a CA certificate: %v, %v", tc, err)
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the pool does not verify the CA's certificates: %v", err)
	}
}
