package signer

import (
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/issuer/dcc"
	"github.com/golive-dev/golive/issuer/hcert"
	"github.com/golive-dev/golive/issuer/pki"
)

var (
	trustMu sync.Mutex
	trust   *pki.TrustList
	cscaKey *pki.KeyPair
)

// testDSC makes a fresh ES256 DSC under one test CSCA and adds it to the
// trust list verifyHC1 checks against.
func testDSC(t *testing.T) *pki.KeyPair {
	t.Helper()
	trustMu.Lock()
	defer trustMu.Unlock()
	now := time.Now()
	if cscaKey == nil {
		c, err := pki.NewCSCA("DE", now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		tl, err := pki.NewTrustList()
		if err != nil {
			t.Fatal(err)
		}
		cscaKey, trust = c, tl
	}
	dsc, err := pki.NewDSC(cscaKey, pki.DSCOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.Add(dsc.Cert); err != nil {
		t.Fatal(err)
	}
	return dsc
}

type verified struct {
	cert                *dcc.Certificate
	issuer              string
	issuedAt, expiresAt time.Time
}

// verifyHC1 checks hc1 the way a verifier app would, at now.
func verifyHC1(t *testing.T, hc1 string, now time.Time) verified {
	t.Helper()
	trustMu.Lock()
	tl := trust
	trustMu.Unlock()
	res, err := hcert.Verify(hc1, tl, hcert.VerifyOptions{Now: now.Add(time.Second)})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !res.Valid {
		t.Fatalf("signed certificate does not verify: %s: %v", res.Reason, res.Err)
	}
	d := res.Decoded
	return verified{cert: d.Payload, issuer: d.Issuer, issuedAt: d.IssuedAt, expiresAt: d.ExpiresAt}
}
