package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPharmacyActivity(t *testing.T) { forEachBackend(t, testPharmacyActivity) }

func testPharmacyActivity(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now})
	t0 := clock.Now()

	quiet := mustPharmacy(t, s, "3-01.2.0000000001.1")   // active, never issued
	busy := mustPharmacy(t, s, "3-01.2.0000000002.1")    // issued twice
	waiting := mustPharmacy(t, s, "3-01.2.0000000003.1") // issued, then two requests deferred
	failed := mustPharmacy(t, s, "3-01.2.0000000004.1")  // deferred requests failed
	cut := mustPharmacy(t, s, "3-01.2.0000000005.1")     // suspended
	if _, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "3-01.2.0000000006.1", Name: "pending"}, "anonymous"); err != nil {
		t.Fatal(err)
	}

	record := func(p Pharmacy, uvci string, issued time.Time) {
		t.Helper()
		if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, issued), IdemBinding{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ticket := func(p Pharmacy, id string) {
		t.Helper()
		if _, err := s.CreateTicket(ctx, Ticket{ID: id, PharmacyID: p.ID, UVCI: "URN:UVCI:" + id, Type: Vaccination},
			IdemBinding{}, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	record(busy, "U1", t0.Add(time.Minute))
	record(busy, "U2", t0.Add(3*time.Minute)) // the newest, recorded before an older one
	record(busy, "U0", t0.Add(2*time.Minute))
	record(waiting, "U3", t0.Add(time.Minute))
	clock.Advance(10 * time.Minute)
	ticket(waiting, "tk1")
	clock.Advance(time.Minute)
	ticket(waiting, "tk2")
	ticket(failed, "tk3")
	ticket(failed, "tk4")
	ticket(failed, "tk5")
	clock.Advance(time.Minute)
	if err := s.FailTicket(ctx, "tk3", "expired"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := s.FailTicket(ctx, "tk4", "expired"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailTicket(ctx, "tk5", "rejected_by_signer:invalid"); err != nil {
		t.Fatal(err)
	}
	// A deferred request signed after a newer direct issuance: the last
	// success is the drain's, though the direct certificate was requested
	// later.
	drained := mustPharmacy(t, s, "3-01.2.0000000007.1")
	ticket(drained, "tkD")
	clock.Advance(time.Minute)
	record(drained, "U9", clock.Now())
	clock.Advance(time.Minute)
	drainedAt := clock.Now()
	if _, err := s.CompleteTicket(ctx, "tkD", certFor(drained.ID, "URN:UVCI:tkD", drainedAt), nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := s.SetPharmacyStatus(ctx, cut.ID, PharmacySuspended, "admin"); err != nil {
		t.Fatal(err)
	}
	suspendedAt := clock.Now()

	got, err := s.PharmacyActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]PharmacyActivity{}
	for i, a := range got {
		byID[a.ID] = a
		if i > 0 && got[i-1].ID >= a.ID {
			t.Errorf("not ordered by ID: %s before %s", got[i-1].ID, a.ID)
		}
	}
	if len(got) != 6 {
		t.Fatalf("got %d pharmacies, want the 6 activated ones (not the pending application): %+v", len(got), got)
	}
	if a := byID[drained.ID]; !a.LastIssuedAt.Equal(drainedAt) || a.PendingTickets != 0 {
		t.Errorf("drained: last issued %v, want %v (%+v)", a.LastIssuedAt, drainedAt, a)
	}
	if a := byID[quiet.ID]; !a.LastIssuedAt.IsZero() || a.PendingTickets != 0 || a.LastFailures != nil || a.Status != PharmacyActive {
		t.Errorf("quiet: %+v", a)
	}
	if a := byID[busy.ID]; !a.LastIssuedAt.Equal(t0.Add(3*time.Minute)) || a.Name != busy.Name {
		t.Errorf("busy: last issued %v, want %v (%+v)", a.LastIssuedAt, t0.Add(3*time.Minute), a)
	}
	a := byID[waiting.ID]
	if a.PendingTickets != 2 || !a.OldestPendingAt.Equal(t0.Add(10*time.Minute)) || !a.LastIssuedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("waiting: %+v", a)
	}
	a = byID[failed.ID]
	if a.PendingTickets != 0 || len(a.LastFailures) != 2 ||
		!a.LastFailures["expired"].Equal(t0.Add(13*time.Minute)) ||
		!a.LastFailures["rejected_by_signer:invalid"].Equal(t0.Add(13*time.Minute)) {
		t.Errorf("failed: %+v", a)
	}
	if a := byID[cut.ID]; a.Status != PharmacySuspended || !a.UpdatedAt.Equal(suspendedAt) {
		t.Errorf("cut: %+v, want suspended at %v", a, suspendedAt)
	}

	// A claimed ticket (signing) still counts as waiting.
	if _, err := s.ClaimTickets(ctx, 1, clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err = s.PharmacyActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if a.ID == waiting.ID && (a.PendingTickets != 2 || !a.OldestPendingAt.Equal(t0.Add(10*time.Minute))) {
			t.Errorf("waiting after a claim: %+v", a)
		}
	}
}

// BenchmarkPharmacyActivity is the finder's refresh against a registry of
// 2 000 pharmacies with 100 000 certificates and 500 waiting requests:
// what every refresh_interval costs the registry's read pool.
func BenchmarkPharmacyActivity(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, b.TempDir(), Options{})
	const pharmacies, certs, tickets = 2000, 100000, 500
	ids := make([]string, pharmacies)
	for i := range ids {
		ids[i] = mustPharmacy(b, s, fmt.Sprintf("3-01.2.%010d.1", i)).ID
	}
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for n := seq.Add(1); n <= certs; n = seq.Add(1) {
				uvci := fmt.Sprintf("URN:UVCI:01:DE:ACT%010d", n)
				if _, err := s.IssueRecord(ctx, certFor(ids[n%pharmacies], uvci, time.Now()), IdemBinding{}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range tickets {
		id := fmt.Sprintf("tk%d", i)
		if _, err := s.CreateTicket(ctx, Ticket{ID: id, PharmacyID: ids[i], UVCI: "URN:UVCI:" + id, Type: Vaccination},
			IdemBinding{}, []byte(`{}`)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		got, err := s.PharmacyActivity(ctx)
		if err != nil || len(got) != pharmacies {
			b.Fatalf("%d pharmacies, %v", len(got), err)
		}
	}
}
