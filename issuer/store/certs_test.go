package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestIssueRecordIdempotency(t *testing.T) { forEachBackend(t, testIssueRecordIdempotency) }

func testIssueRecordIdempotency(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.500")
	now := time.Now()
	u := func(n int) string { return fmt.Sprintf("URN:UVCI:01:DE:IDEM%d", n) }
	idem := func(key, hash string) IdemBinding { return IdemBinding{Key: key, RequestHash: hash} }
	badHashes := certFor(p.ID, u(90), now)
	badHashes.HashUCI = badHashes.HashUCI[:8]

	steps := []struct {
		name         string
		run          func() (*CertRecord, error)
		wantErr      error
		wantExisting string // UVCI of the returned existing record; "" for none
		wantRecorded string // UVCI that must be readable afterwards
		wantAbsent   string // UVCI that must not exist afterwards
	}{
		{name: "new key records",
			run: func() (*CertRecord, error) {
				return s.IssueRecord(ctx, certFor(p.ID, u(1), now), idem("a", "ha"), hc1For(u(1)))
			},
			wantRecorded: u(1)},
		{name: "same key, same request: the existing certificate",
			run: func() (*CertRecord, error) {
				return s.IssueRecord(ctx, certFor(p.ID, u(2), now), idem("a", "ha"), hc1For(u(2)))
			},
			wantExisting: u(1), wantAbsent: u(2)},
		{name: "same key, other request: conflict",
			run: func() (*CertRecord, error) {
				return s.IssueRecord(ctx, certFor(p.ID, u(3), now), idem("a", "other"), nil)
			},
			wantErr: ErrIdempotencyConflict, wantAbsent: u(3)},
		{name: "no key records",
			run:          func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(4), now), IdemBinding{}, nil) },
			wantRecorded: u(4)},
		{name: "UVCI recorded twice",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(4), now), IdemBinding{}, nil) },
			wantErr: ErrExists},
		{name: "new key, UVCI of another key",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(1), now), idem("b", "hb"), nil) },
			wantErr: ErrExists},
		{name: "reserve a key",
			run: func() (*CertRecord, error) {
				ex, err := s.ReserveIdempotency(ctx, IdemBinding{PharmacyID: p.ID, Key: "r", RequestHash: "hr", UVCI: u(5)})
				if ex != nil {
					return nil, fmt.Errorf("fresh reservation returned %+v", ex)
				}
				return nil, err
			},
			wantAbsent: u(5)},
		{name: "reserved key, other UVCI",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(6), now), idem("r", "hr"), nil) },
			wantErr: ErrState, wantAbsent: u(6)},
		{name: "reserved key, its UVCI",
			run:          func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(5), now), idem("r", "hr"), nil) },
			wantRecorded: u(5)},
		{name: "new key without request hash",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(11), now), idem("n", ""), nil) },
			wantErr: ErrInvalid, wantAbsent: u(11)},
		{name: "reserved key, its UVCI, no hash",
			run: func() (*CertRecord, error) {
				if _, err := s.ReserveIdempotency(ctx, IdemBinding{PharmacyID: p.ID, Key: "r2", RequestHash: "hr2", UVCI: u(12)}); err != nil {
					return nil, err
				}
				return s.IssueRecord(ctx, certFor(p.ID, u(12), now), idem("r2", ""), nil)
			},
			wantRecorded: u(12)},
		{name: "no hash and another UVCI: conflict",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, certFor(p.ID, u(13), now), idem("r2", ""), nil) },
			wantErr: ErrIdempotencyConflict, wantAbsent: u(13)},
		{name: "key of a pending ticket",
			run: func() (*CertRecord, error) {
				if _, err := s.CreateTicket(ctx, Ticket{ID: "t1", PharmacyID: p.ID, UVCI: u(7), Type: Vaccination},
					idem("d", "hd"), []byte("req")); err != nil {
					return nil, err
				}
				return s.IssueRecord(ctx, certFor(p.ID, u(8), now), idem("d", "hd"), nil)
			},
			wantErr: ErrBoundToTicket, wantAbsent: u(8)},
		{name: "key of a done ticket: its certificate",
			run: func() (*CertRecord, error) {
				if _, err := s.CompleteTicket(ctx, "t1", certFor(p.ID, u(7), now), nil); err != nil {
					return nil, err
				}
				return s.IssueRecord(ctx, certFor(p.ID, u(9), now), idem("d", "hd"), nil)
			},
			wantExisting: u(7), wantAbsent: u(9)},
		{name: "unknown pharmacy",
			run: func() (*CertRecord, error) {
				return s.IssueRecord(ctx, certFor("ph_nope", u(10), now), idem("z", "hz"), nil)
			},
			wantErr: ErrNotFound, wantAbsent: u(10)},
		{name: "short revocation hash",
			run:     func() (*CertRecord, error) { return s.IssueRecord(ctx, badHashes, IdemBinding{}, nil) },
			wantErr: ErrInvalid, wantAbsent: u(90)},
	}
	for _, st := range steps {
		existing, err := st.run()
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		switch {
		case st.wantExisting == "" && existing != nil:
			t.Errorf("%s: unexpected existing %s", st.name, existing.UVCI)
		case st.wantExisting != "" && (existing == nil || existing.UVCI != st.wantExisting):
			t.Errorf("%s: existing = %+v, want %s", st.name, existing, st.wantExisting)
		}
		if st.wantRecorded != "" {
			if c, err := s.Certificate(ctx, st.wantRecorded); err != nil || c.Status != CertValid {
				t.Errorf("%s: %s not recorded: %+v, %v", st.name, st.wantRecorded, c, err)
			}
		}
		if st.wantAbsent != "" {
			if _, err := s.Certificate(ctx, st.wantAbsent); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %s recorded, want absent (%v)", st.name, st.wantAbsent, err)
			}
		}
	}
	// The binding of "r" went from reserved to issued.
	if b, err := s.LookupIdempotency(ctx, p.ID, "r"); err != nil || b.State != IdemIssued || b.UVCI != u(5) {
		t.Errorf("binding r: %+v, %v", b, err)
	}
	if b, err := s.LookupIdempotency(ctx, p.ID, "d"); err != nil || b.State != IdemIssued || b.TicketID != "t1" {
		t.Errorf("binding d: %+v, %v", b, err)
	}
	if _, err := s.LookupIdempotency(ctx, p.ID, "never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestReservation(t *testing.T) { forEachBackend(t, testReservation) }

func testReservation(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now, ReservationTTL: time.Minute})
	p := mustPharmacy(t, s, "3-01.2.100001.550")
	res := IdemBinding{PharmacyID: p.ID, Key: "k", RequestHash: "h", UVCI: "URN:UVCI:01:DE:RES1"}
	if ex, err := s.ReserveIdempotency(ctx, res); err != nil || ex != nil {
		t.Fatalf("reserve: %+v, %v", ex, err)
	}
	again := res
	again.UVCI = "URN:UVCI:01:DE:RES2"
	ex, err := s.ReserveIdempotency(ctx, again)
	if err != nil || ex == nil || ex.UVCI != res.UVCI || ex.State != IdemReserved {
		t.Fatalf("second reserve: %+v, %v; want the first UVCI", ex, err)
	}
	again.RequestHash = "other"
	if _, err := s.ReserveIdempotency(ctx, again); !errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("reserve with another hash: %v", err)
	}
	if err := s.ReleaseReservation(ctx, p.ID, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupIdempotency(ctx, p.ID, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("released key still bound: %v", err)
	}
	// An issued key cannot be released; a stale reservation is purged.
	if _, err := s.IssueRecord(ctx, certFor(p.ID, "URN:UVCI:01:DE:RES3", clock.Now()), IdemBinding{Key: "i", RequestHash: "h"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseReservation(ctx, p.ID, "i"); !errors.Is(err, ErrState) {
		t.Errorf("release of an issued key: %v", err)
	}
	if _, err := s.ReserveIdempotency(ctx, IdemBinding{PharmacyID: p.ID, Key: "stale", RequestHash: "h", UVCI: "URN:UVCI:01:DE:RES4"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	r, err := s.PurgeExpired(ctx, clock.Now())
	if err != nil || r.Reservations != 1 {
		t.Fatalf("purge: %+v, %v; want 1 reservation", r, err)
	}
	if _, err := s.LookupIdempotency(ctx, p.ID, "stale"); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale reservation kept: %v", err)
	}
	if _, err := s.LookupIdempotency(ctx, p.ID, "i"); err != nil {
		t.Errorf("issued binding purged: %v", err)
	}
}

// TestConcurrentIssueRecord: 50 goroutines record certificates with
// overlapping idempotency keys. Every key ends with exactly one UVCI, all
// callers of a key learn the same one, everything acknowledged survives
// Close+Open, and the writer batched.
func TestConcurrentIssueRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"window=2ms", Options{GroupCommitWindow: 2 * time.Millisecond}},
		{"window=0", Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db testDB) { testConcurrentIssueRecord(t, db, tc.opts) })
		})
	}
}

func testConcurrentIssueRecord(t *testing.T, db testDB, opts Options) {
	ctx := context.Background()
	s := db.open(t, opts)
	p := mustPharmacy(t, s, "3-01.2.100001.600")
	const (
		workers = 50
		perWork = 6
		keys    = 17
	)
	before := s.Stats()
	var (
		mu      sync.Mutex
		winners = map[string]map[string]bool{} // key -> UVCIs callers were told
		acked   []string                       // UVCIs recorded by their own call
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perWork {
				key := fmt.Sprintf("key-%02d", (g*perWork+i)%keys)
				uvci := fmt.Sprintf("URN:UVCI:01:DE:C%02dI%02d", g, i)
				existing, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()),
					IdemBinding{Key: key, RequestHash: "hash-" + key}, hc1For(uvci))
				if err != nil {
					t.Errorf("IssueRecord(%s, %s): %v", key, uvci, err)
					return
				}
				won := uvci
				if existing != nil {
					won = existing.UVCI
				}
				mu.Lock()
				if winners[key] == nil {
					winners[key] = map[string]bool{}
				}
				winners[key][won] = true
				if existing == nil {
					acked = append(acked, uvci)
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()

	if len(winners) != keys {
		t.Fatalf("%d keys used, want %d", len(winners), keys)
	}
	for key, set := range winners {
		if len(set) != 1 {
			t.Errorf("key %s: callers were told %d UVCIs: %v", key, len(set), set)
		}
	}
	if len(acked) != keys {
		t.Errorf("%d records acknowledged as new, want one per key (%d)", len(acked), keys)
	}
	st := s.Stats()
	commits, writes := st.Commits-before.Commits, st.Writes-before.Writes
	t.Logf("group commit: %d writes in %d commits (largest batch %d)", writes, commits, st.LargestBatch)
	if writes != workers*perWork {
		t.Errorf("writes = %d, want %d", writes, workers*perWork)
	}
	if commits >= writes {
		t.Errorf("no batching: %d commits for %d writes", commits, writes)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = db.open(t, Options{})
	for _, uvci := range acked {
		if _, err := s.Certificate(ctx, uvci); err != nil {
			t.Errorf("acknowledged %s lost: %v", uvci, err)
		}
		if got, err := s.CertificateHC1(ctx, uvci); err != nil || !bytes.Equal(got, hc1For(uvci)) {
			t.Errorf("HC1 of %s: %q, %v", uvci, got, err)
		}
	}
	all, err := s.CertificatesByPharmacy(ctx, p.ID)
	if err != nil || len(all) != keys {
		t.Errorf("%d certificates stored, want %d (%v)", len(all), keys, err)
	}
}

// TestBatchIsolation: in one batch, a failing write (duplicate UVCI) is
// rolled back alone; the others commit.
func TestBatchIsolation(t *testing.T) { forEachBackend(t, testBatchIsolation) }

func testBatchIsolation(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{GroupCommitWindow: 20 * time.Millisecond})
	p := mustPharmacy(t, s, "3-01.2.100001.650")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uvci := fmt.Sprintf("URN:UVCI:01:DE:ISO%d", i/2) // pairs share a UVCI
			_, errs[i] = s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{}, nil)
		}()
	}
	wg.Wait()
	for pair := range n / 2 {
		a, b := errs[2*pair], errs[2*pair+1]
		ok := (a == nil && errors.Is(b, ErrExists)) || (b == nil && errors.Is(a, ErrExists))
		if !ok {
			t.Errorf("pair %d: %v / %v; want one nil, one ErrExists", pair, a, b)
		}
		if _, err := s.Certificate(ctx, fmt.Sprintf("URN:UVCI:01:DE:ISO%d", pair)); err != nil {
			t.Errorf("pair %d not recorded: %v", pair, err)
		}
	}
	st := s.Stats()
	if st.LargestBatch < 2 {
		t.Errorf("largest batch %d: the test did not exercise batching", st.LargestBatch)
	}
	// On SQLite a failed INSERT undoes itself and the batch goes on; on
	// PostgreSQL it aborts the transaction, and the batch runs again
	// without it.
	if db.backend == BackendSQLite && st.Reruns != 0 {
		t.Errorf("%d reruns: a duplicate UVCI writes nothing and should not undo the batch", st.Reruns)
	}
}

// TestBatchRerun: a write that changed rows and then failed is undone
// alone; the other writes of its batch run again and commit once.
func TestBatchRerun(t *testing.T) { forEachBackend(t, testBatchRerun) }

func testBatchRerun(t *testing.T, db testDB) {
	ctx := context.Background()
	// The window is long and the batch closes at exactly three writes, so
	// the three below share one transaction.
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.670")
	s.Close()
	// One writer: the three writes must share its transaction.
	s = db.open(t, Options{GroupCommitWindow: 5 * time.Second, MaxBatch: 3, Writers: 1})
	boom := errors.New("boom")
	errs := make([]error, 3)
	existing := make([]*CertRecord, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				errs[i] = s.write(ctx, func(ctx context.Context, tx querier) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action) VALUES (0, 'test', 'half-done')`); err != nil {
						return err
					}
					return boom
				})
				return
			}
			uvci := fmt.Sprintf("URN:UVCI:01:DE:RERUN%d", i)
			existing[i], errs[i] = s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()),
				IdemBinding{Key: "same-key", RequestHash: "h"}, nil)
		}()
	}
	wg.Wait()
	if !errors.Is(errs[0], boom) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors %v; want boom, nil, nil", errs)
	}
	if (existing[1] == nil) == (existing[2] == nil) {
		t.Errorf("exactly one of the two writes with one key must be new: %v / %v", existing[1], existing[2])
	}
	if log, err := s.AuditLog(ctx, AuditFilter{Action: "half-done"}); len(log) != 0 || err != nil {
		t.Errorf("the failed write's row was committed (%v)", err)
	}
	if log, _ := s.AuditLog(ctx, AuditFilter{Action: "certificate.issued"}); len(log) != 1 {
		t.Errorf("%d issue events, want 1 (a rerun must not write twice)", len(log))
	}
	if st := s.Stats(); st.Reruns != 1 || st.LargestBatch != 2 {
		t.Errorf("stats %+v; want 1 rerun, a committed batch of 2", st)
	}
}

func TestCanceledWriteIsNotApplied(t *testing.T) { forEachBackend(t, testCanceledWriteIsNotApplied) }

func testCanceledWriteIsNotApplied(t *testing.T, db testDB) {
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.660")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	uvci := "URN:UVCI:01:DE:CANCELED"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := s.Certificate(context.Background(), uvci); !errors.Is(err, ErrNotFound) {
		t.Errorf("canceled write applied: %v", err)
	}
}

func TestRevocation(t *testing.T) { forEachBackend(t, testRevocation) }

func testRevocation(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now})
	bad := mustPharmacy(t, s, "3-01.2.100001.700")
	good := mustPharmacy(t, s, "3-01.2.100001.701")
	t0 := clock.Now()
	issue := func(p Pharmacy, uvci string, requested time.Time, valid time.Duration) CertRecord {
		c := certFor(p.ID, uvci, requested)
		c.ExpiresAt = requested.Add(valid)
		if _, err := s.IssueRecord(ctx, c, IdemBinding{}, nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	early := issue(bad, "URN:UVCI:01:DE:REV1", t0, 365*24*time.Hour)
	late1 := issue(bad, "URN:UVCI:01:DE:REV2", t0.Add(14*time.Hour), 365*24*time.Hour)
	late2 := issue(bad, "URN:UVCI:01:DE:REV3", t0.Add(15*time.Hour), 72*time.Hour) // a test certificate
	other := issue(good, "URN:UVCI:01:DE:REV4", t0.Add(15*time.Hour), 365*24*time.Hour)

	tests := []struct {
		name  string
		since time.Time
		want  int
	}{
		{"off-hours window", t0.Add(13 * time.Hour), 2},
		{"again: nothing left in the window", t0.Add(13 * time.Hour), 0},
		{"everything else", time.Time{}, 1},
	}
	for _, tc := range tests {
		n, err := s.RevokeByPharmacy(ctx, bad.ID, tc.since, "fraud", "admin")
		if err != nil || n != tc.want {
			t.Errorf("%s: revoked %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}
	for _, c := range []CertRecord{early, late1, late2} {
		got, err := s.Certificate(ctx, c.UVCI)
		if err != nil || got.Status != CertRevoked || got.RevokeReason != "fraud" || got.RevokedAt.IsZero() {
			t.Errorf("%s: %+v, %v", c.UVCI, got, err)
		}
	}
	if got, _ := s.Certificate(ctx, other.UVCI); got.Status != CertValid {
		t.Errorf("other pharmacy's certificate revoked")
	}
	if changed, err := s.RevokeCertificate(ctx, other.UVCI, "lost", "admin"); err != nil || !changed {
		t.Errorf("RevokeCertificate: %v, %v", changed, err)
	}
	if changed, err := s.RevokeCertificate(ctx, other.UVCI, "lost", "admin"); err != nil || changed {
		t.Errorf("RevokeCertificate again: %v, %v", changed, err)
	}
	if _, err := s.RevokeCertificate(ctx, "URN:UVCI:01:DE:NOPE", "x", "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeCertificate unknown: %v", err)
	}

	// Four days on, the 3-day test certificate has expired and leaves the list.
	clock.Advance(4 * 24 * time.Hour)
	hashes, err := s.RevokedHashes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []CertRecord{early, late1, other}
	for _, tc := range []struct {
		typ HashType
		get func(CertRecord) []byte
	}{
		{HashSignature, func(c CertRecord) []byte { return c.HashSignature }},
		{HashUCI, func(c CertRecord) []byte { return c.HashUCI }},
		{HashCountryCodeUCI, func(c CertRecord) []byte { return c.HashCountryCodeUCI }},
	} {
		got := hashes[tc.typ]
		if len(got) != len(want) {
			t.Errorf("%s: %d hashes, want %d", tc.typ, len(got), len(want))
			continue
		}
		for _, c := range want {
			if !containsBytes(got, tc.get(c)) {
				t.Errorf("%s: hash of %s missing", tc.typ, c.UVCI)
			}
		}
		if containsBytes(got, tc.get(late2)) {
			t.Errorf("%s: expired %s still listed", tc.typ, late2.UVCI)
		}
	}
	log, err := s.AuditLog(ctx, AuditFilter{Action: "certificate.revoked_by_pharmacy", Subject: bad.ID})
	if err != nil || len(log) != 3 {
		t.Errorf("audit of bulk revocations: %d events, %v", len(log), err)
	}
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

func TestPurgeExpired(t *testing.T) { forEachBackend(t, testPurgeExpired) }

func testPurgeExpired(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now, Retention: 48 * time.Hour})
	p := mustPharmacy(t, s, "3-01.2.100001.800")
	old, fresh := "URN:UVCI:01:DE:OLD", "URN:UVCI:01:DE:FRESH"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, old, clock.Now()), IdemBinding{}, hc1For(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTicket(ctx, Ticket{ID: "stuck", PharmacyID: p.ID, UVCI: "URN:UVCI:01:DE:STUCK", Type: Test},
		IdemBinding{}, []byte("request")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(47 * time.Hour)
	if _, err := s.IssueRecord(ctx, certFor(p.ID, fresh, clock.Now()), IdemBinding{}, hc1For(fresh)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.PurgeExpired(ctx, clock.Now()); err != nil || r != (PurgeResult{}) {
		t.Fatalf("purge before retention: %+v, %v", r, err)
	}
	clock.Advance(2 * time.Hour)
	r, err := s.PurgeExpired(ctx, clock.Now())
	if err != nil || r.HC1s != 1 || r.Tickets != 1 {
		t.Fatalf("purge: %+v, %v; want 1 HC1, 1 ticket", r, err)
	}
	if _, err := s.CertificateHC1(ctx, old); !errors.Is(err, ErrPurged) {
		t.Errorf("old HC1: %v, want ErrPurged", err)
	}
	if c, err := s.Certificate(ctx, old); err != nil || c.HasHC1 {
		t.Errorf("old certificate metadata: %+v, %v", c, err)
	}
	if got, err := s.CertificateHC1(ctx, fresh); err != nil || !bytes.Equal(got, hc1For(fresh)) {
		t.Errorf("fresh HC1: %q, %v", got, err)
	}
	if tk, err := s.Ticket(ctx, "stuck"); err != nil || tk.State != TicketFailed || tk.ErrorCode != "expired" {
		t.Errorf("stuck ticket: %+v, %v", tk, err)
	}
	var sealed []byte
	if err := queryRow(s, "SELECT sealed_request FROM tickets WHERE id = 'stuck'").Scan(&sealed); err != nil || sealed != nil {
		t.Errorf("expired ticket keeps its request: %d bytes, %v", len(sealed), err)
	}
}

// TestPurgeExpiredInChunks: a backlog of expired HC1s is dropped in
// transactions of at most purgeChunk, each with its audit event, and all
// of it in one call; fresh HC1s stay.
func TestPurgeExpiredInChunks(t *testing.T) { forEachBackend(t, testPurgeExpiredInChunks) }

func testPurgeExpiredInChunks(t *testing.T, db testDB) {
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 2
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now, Retention: 48 * time.Hour})
	p := mustPharmacy(t, s, "3-01.2.100001.801")
	for i := range 5 {
		u := fmt.Sprintf("URN:UVCI:01:DE:OLDCHUNK%d", i)
		if _, err := s.IssueRecord(ctx, certFor(p.ID, u, clock.Now()), IdemBinding{}, hc1For(u)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(49 * time.Hour)
	fresh := "URN:UVCI:01:DE:FRESHCHUNK"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, fresh, clock.Now()), IdemBinding{}, hc1For(fresh)); err != nil {
		t.Fatal(err)
	}
	r, err := s.PurgeExpired(ctx, clock.Now())
	if err != nil || r.HC1s != 5 {
		t.Fatalf("purge: %+v, %v; want 5 HC1s", r, err)
	}
	for i := range 5 {
		if _, err := s.CertificateHC1(ctx, fmt.Sprintf("URN:UVCI:01:DE:OLDCHUNK%d", i)); !errors.Is(err, ErrPurged) {
			t.Errorf("old HC1 %d: %v, want ErrPurged", i, err)
		}
	}
	if _, err := s.CertificateHC1(ctx, fresh); err != nil {
		t.Errorf("fresh HC1: %v", err)
	}
	ev, err := s.AuditLog(ctx, AuditFilter{Action: "store.purged"})
	if err != nil || len(ev) != 3 {
		t.Fatalf("purge audit events: %d, %v; want 3 (chunks of 2, 2, 1)", len(ev), err)
	}
}
