package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestTicketLifecycle(t *testing.T) { forEachBackend(t, testTicketLifecycle) }

func testTicketLifecycle(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	lease := 30 * time.Second
	s := db.open(t, Options{Clock: clock.Now, TicketLease: lease})
	p := mustPharmacy(t, s, "3-01.2.100001.900")
	uvci := "URN:UVCI:01:DE:TICKET1"
	req := []byte(`{"request":"one"}`)
	tk := Ticket{ID: "t-1", PharmacyID: p.ID, UVCI: uvci, Type: Vaccination}
	if ex, err := s.CreateTicket(ctx, tk, IdemBinding{Key: "k1", RequestHash: "h1"}, req); err != nil || ex != nil {
		t.Fatalf("CreateTicket: %+v, %v", ex, err)
	}
	// Same key again: the existing binding, no second ticket.
	dup := tk
	dup.ID, dup.UVCI = "t-dup", "URN:UVCI:01:DE:TICKETDUP"
	ex, err := s.CreateTicket(ctx, dup, IdemBinding{Key: "k1", RequestHash: "h1"}, req)
	if err != nil || ex == nil || ex.TicketID != "t-1" || ex.UVCI != uvci || ex.State != IdemDeferred {
		t.Fatalf("CreateTicket again: %+v, %v", ex, err)
	}
	if _, err := s.Ticket(ctx, "t-dup"); !errors.Is(err, ErrNotFound) {
		t.Errorf("duplicate ticket created: %v", err)
	}
	if _, err := s.CreateTicket(ctx, dup, IdemBinding{Key: "k1", RequestHash: "other"}, req); !errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("CreateTicket with another request: %v", err)
	}
	if n, _ := s.PendingTicketCount(ctx); n != 1 {
		t.Errorf("pending = %d, want 1", n)
	}

	claim := func(at time.Time) []Ticket {
		t.Helper()
		got, err := s.ClaimTickets(ctx, 10, at)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		name         string
		at           time.Duration // after creation
		wantClaimed  int
		wantAttempts int
	}{
		{"due at once", 0, 1, 1},
		{"leased: not due", lease - time.Second, 0, 0},
		{"worker crashed: lease over, due again", lease + time.Second, 1, 2},
	}
	t0 := clock.Now()
	for _, st := range steps {
		got := claim(t0.Add(st.at))
		if len(got) != st.wantClaimed {
			t.Fatalf("%s: claimed %d, want %d", st.name, len(got), st.wantClaimed)
		}
		if st.wantClaimed == 1 {
			if got[0].State != TicketSigning || got[0].Attempts != st.wantAttempts || !bytes.Equal(got[0].Request, req) {
				t.Errorf("%s: %+v", st.name, got[0])
			}
			if want := t0.Add(st.at + lease); !got[0].NextAttemptAt.Equal(want) {
				t.Errorf("%s: lease until %v, want %v", st.name, got[0].NextAttemptAt, want)
			}
		}
	}

	// Reschedule: due only when the retry time comes.
	retry := t0.Add(10 * time.Minute)
	if err := s.RescheduleTicket(ctx, "t-1", retry, "signer_unavailable"); err != nil {
		t.Fatal(err)
	}
	if got := claim(retry.Add(-time.Second)); len(got) != 0 {
		t.Errorf("claimed before its retry time")
	}
	if got := claim(retry); len(got) != 1 || got[0].Attempts != 3 {
		t.Fatalf("claim at retry time: %+v", got)
	}

	// Complete exactly once, even from two workers at the same time.
	rec := certFor(p.ID, uvci, clock.Now())
	results := make([]bool, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.CompleteTicket(ctx, "t-1", rec, hc1For(uvci))
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || results[0] == results[1] {
		t.Fatalf("two completions: alreadyDone %v, errs %v; want exactly one false", results, errs)
	}
	if done, err := s.CompleteTicket(ctx, "t-1", rec, hc1For(uvci)); err != nil || !done {
		t.Errorf("third completion: %v, %v", done, err)
	}
	var n int
	if err := queryRow(s, "SELECT COUNT(*) FROM certificates WHERE uvci = ?", uvci).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d certificates for the ticket, want 1", n)
	}
	got, err := s.Ticket(ctx, "t-1")
	if err != nil || got.State != TicketDone || got.CompletedAt.IsZero() {
		t.Errorf("ticket after completion: %+v, %v", got, err)
	}
	var sealed []byte
	if err := queryRow(s, "SELECT sealed_request FROM tickets WHERE id = 't-1'").Scan(&sealed); err != nil || sealed != nil {
		t.Errorf("done ticket keeps its request (%d bytes, %v)", len(sealed), err)
	}
	if got := claim(clock.Now().Add(time.Hour)); len(got) != 0 {
		t.Errorf("done ticket claimed again")
	}
	if hc1, err := s.CertificateHC1(ctx, uvci); err != nil || !bytes.Equal(hc1, hc1For(uvci)) {
		t.Errorf("ticket HC1: %q, %v", hc1, err)
	}
	if c, _ := s.Certificate(ctx, uvci); !c.RequestedAt.Equal(t0) {
		t.Errorf("requested_at %v, want the ticket's creation %v", c.RequestedAt, t0)
	}
	if err := s.RescheduleTicket(ctx, "t-1", retry, ""); !errors.Is(err, ErrState) {
		t.Errorf("reschedule of a done ticket: %v", err)
	}
	if err := s.FailTicket(ctx, "t-1", "x"); !errors.Is(err, ErrState) {
		t.Errorf("fail of a done ticket: %v", err)
	}
	if n, _ := s.PendingTicketCount(ctx); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
}

func TestTicketFailureAndMismatch(t *testing.T) { forEachBackend(t, testTicketFailureAndMismatch) }

func testTicketFailureAndMismatch(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.910")
	other := mustPharmacy(t, s, "3-01.2.100001.911")
	mk := func(id, uvci string) {
		if _, err := s.CreateTicket(ctx, Ticket{ID: id, PharmacyID: p.ID, UVCI: uvci, Type: Test}, IdemBinding{}, []byte("r")); err != nil {
			t.Fatal(err)
		}
	}
	mk("t-a", "URN:UVCI:01:DE:TA")
	mk("t-b", "URN:UVCI:01:DE:TB")
	if _, err := s.CreateTicket(ctx, Ticket{ID: "t-a", PharmacyID: p.ID, UVCI: "URN:UVCI:01:DE:TC", Type: Test}, IdemBinding{}, []byte("r")); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate ticket id: %v", err)
	}
	now := time.Now()
	recTest := func(pharmacy, uvci string) CertRecord {
		c := certFor(pharmacy, uvci, now)
		c.Type = Test
		return c
	}
	tests := []struct {
		name    string
		ticket  string
		rec     CertRecord
		wantErr error
	}{
		{"wrong UVCI", "t-a", recTest(p.ID, "URN:UVCI:01:DE:TB"), ErrInvalid},
		{"wrong pharmacy", "t-a", recTest(other.ID, "URN:UVCI:01:DE:TA"), ErrInvalid},
		{"wrong type", "t-a", certFor(p.ID, "URN:UVCI:01:DE:TA", now), ErrInvalid},
		{"unknown ticket", "t-zz", recTest(p.ID, "URN:UVCI:01:DE:TZ"), ErrNotFound},
	}
	for _, tc := range tests {
		if _, err := s.CompleteTicket(ctx, tc.ticket, tc.rec, nil); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if err := s.FailTicket(ctx, "t-b", "payload_invalid"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailTicket(ctx, "t-b", "payload_invalid"); err != nil {
		t.Errorf("failing twice: %v", err)
	}
	if _, err := s.CompleteTicket(ctx, "t-b", recTest(p.ID, "URN:UVCI:01:DE:TB"), nil); !errors.Is(err, ErrState) {
		t.Errorf("completing a failed ticket: %v", err)
	}
	if tk, _ := s.Ticket(ctx, "t-b"); tk.State != TicketFailed || tk.ErrorCode != "payload_invalid" {
		t.Errorf("failed ticket: %+v", tk)
	}
	// An empty pharmacy and type are taken from the ticket.
	rec := recTest("", "URN:UVCI:01:DE:TA")
	rec.Type = ""
	if done, err := s.CompleteTicket(ctx, "t-a", rec, nil); err != nil || done {
		t.Fatalf("complete t-a: %v, %v", done, err)
	}
	if c, err := s.Certificate(ctx, "URN:UVCI:01:DE:TA"); err != nil || c.PharmacyID != p.ID || c.Type != Test {
		t.Errorf("certificate of t-a: %+v, %v", c, err)
	}
}

func TestTicketFromReservation(t *testing.T) { forEachBackend(t, testTicketFromReservation) }

func testTicketFromReservation(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.920")
	uvci := "URN:UVCI:01:DE:RESERVED"
	if _, err := s.ReserveIdempotency(ctx, IdemBinding{PharmacyID: p.ID, Key: "k", RequestHash: "h", UVCI: uvci}); err != nil {
		t.Fatal(err)
	}
	// The signer is down: the portal defers; the ticket takes the reserved UVCI.
	if ex, err := s.CreateTicket(ctx, Ticket{ID: "t-r", PharmacyID: p.ID, Type: Recovery},
		IdemBinding{Key: "k", RequestHash: "h"}, []byte("r")); err != nil || ex != nil {
		t.Fatalf("CreateTicket: %+v, %v", ex, err)
	}
	tk, err := s.Ticket(ctx, "t-r")
	if err != nil || tk.UVCI != uvci || tk.IdemKey != "k" {
		t.Fatalf("ticket: %+v, %v", tk, err)
	}
	b, err := s.LookupIdempotency(ctx, p.ID, "k")
	if err != nil || b.State != IdemDeferred || b.TicketID != "t-r" || b.UVCI != uvci {
		t.Errorf("binding: %+v, %v", b, err)
	}
	if _, err := s.CreateTicket(ctx, Ticket{ID: "t-x", PharmacyID: p.ID, UVCI: "URN:UVCI:01:DE:X", Type: Recovery},
		IdemBinding{Key: "k2", RequestHash: "h"}, []byte("r")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReserveIdempotency(ctx, IdemBinding{PharmacyID: p.ID, Key: "k3", RequestHash: "h", UVCI: "URN:UVCI:01:DE:K3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTicket(ctx, Ticket{ID: "t-y", PharmacyID: p.ID, UVCI: "URN:UVCI:01:DE:OTHER", Type: Recovery},
		IdemBinding{Key: "k3", RequestHash: "h"}, []byte("r")); !errors.Is(err, ErrState) {
		t.Errorf("ticket with another UVCI than reserved: %v", err)
	}
}

func TestClaimSkipsUnreadableRequest(t *testing.T) {
	forEachBackend(t, testClaimSkipsUnreadableRequest)
}

func testClaimSkipsUnreadableRequest(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{Logger: slog.New(slog.DiscardHandler)})
	p := mustPharmacy(t, s, "3-01.2.100001.930")
	for i := range 3 {
		if _, err := s.CreateTicket(ctx, Ticket{ID: fmt.Sprintf("t%d", i), PharmacyID: p.ID,
			UVCI: fmt.Sprintf("URN:UVCI:01:DE:U%d", i), Type: Test}, IdemBinding{}, []byte("r")); err != nil {
			t.Fatal(err)
		}
	}
	if err := execSQL(ctx, s, `UPDATE tickets SET sealed_request = ? WHERE id = 't1'`, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimTickets(ctx, 10, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID == "t1" || got[1].ID == "t1" {
		t.Errorf("claimed %+v, want t0 and t2", got)
	}
	if tk, _ := s.Ticket(ctx, "t1"); tk.State != TicketFailed || tk.ErrorCode != "request_unreadable" {
		t.Errorf("t1: %+v", tk)
	}
}
