package signerclient

import (
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
)

var (
	trustMu sync.Mutex
	trust   *pki.TrustList
)

// testDSCs makes n ES256 DSCs under a fresh CSCA and adds them to the
// trust list verifyHC1 checks against.
func testDSCs(t *testing.T, n int) []*pki.KeyPair {
	t.Helper()
	now := time.Now()
	csca, err := pki.NewCSCA("DE", now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	trustMu.Lock()
	defer trustMu.Unlock()
	if trust == nil {
		if trust, err = pki.NewTrustList(); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]*pki.KeyPair, n)
	for i := range out {
		if out[i], err = pki.NewDSC(csca, pki.DSCOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		if err := trust.Add(out[i].Cert); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// verifyHC1 checks that hc1 verifies now and was signed by the DSC with kid
// (base64).
func verifyHC1(t *testing.T, hc1, kid string) {
	t.Helper()
	trustMu.Lock()
	tl := trust
	trustMu.Unlock()
	res, err := hcert.Verify(hc1, tl, hcert.VerifyOptions{Now: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !res.Valid {
		t.Fatalf("signed certificate does not verify: %s: %v", res.Reason, res.Err)
	}
	if got := base64.StdEncoding.EncodeToString(pki.Kid(res.Signer)); got != kid {
		t.Errorf("signed by kid %s, response says %s", got, kid)
	}
}
