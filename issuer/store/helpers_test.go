package store

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2021, 6, 14, 7, 45, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPharmacy(t testing.TB, s *Store, telematikID string) Pharmacy {
	t.Helper()
	p, err := s.CreatePharmacy(context.Background(), Pharmacy{
		TelematikID: telematikID,
		Status:      PharmacyActive,
		Name:        "Apotheke " + telematikID,
	}, "admin")
	if err != nil {
		t.Fatalf("CreatePharmacy(%s): %v", telematikID, err)
	}
	return p
}

func hash16(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return h.Sum(nil)[:RevocationHashLen]
}

// certFor builds a record whose hashes are derived from the UVCI, so two
// records never share hashes by accident.
func certFor(pharmacyID, uvci string, issued time.Time) CertRecord {
	return CertRecord{
		UVCI:               uvci,
		PharmacyID:         pharmacyID,
		Type:               Vaccination,
		KID:                "AAECAwQFBgc=",
		Signer:             "dsc-1",
		IssuedAt:           issued,
		ExpiresAt:          issued.Add(365 * 24 * time.Hour),
		HashSignature:      hash16("sig", uvci),
		HashUCI:            hash16(uvci),
		HashCountryCodeUCI: hash16("DE", uvci),
	}
}

func hc1For(uvci string) []byte { return []byte("HC1:sealed-payload-of-" + uvci) }
