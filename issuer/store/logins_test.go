package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRenewActivation(t *testing.T) { forEachBackend(t, testRenewActivation) }

func testRenewActivation(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now})
	p, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "3-01.2.100001.1000", Name: "Adler-Apotheke",
		Credentials: Credentials{ActivationCodeHash: "first", ActivationExpiresAt: clock.Now().Add(time.Hour),
			ActivationSentAt: clock.Now()}}, "anonymous")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivationFailed(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	app := p
	app.Name, app.DocumentsSHA256 = "Adler-Apotheke am Markt", "newdocs"
	if err := s.RenewActivation(ctx, p.ID, ActivationRenewal{CodeHash: "second", ExpiresAt: clock.Now().Add(time.Hour),
		KeepPrevious: true, Application: &app, Reason: "reapplied"}, "anonymous"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pharmacy(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Credentials
	if c.ActivationCodeHash != "second" || c.PrevActivationCodeHash != "first" || !c.PrevActivationExpiresAt.Equal(p.Credentials.ActivationExpiresAt) ||
		!c.ActivationSentAt.Equal(clock.Now()) || got.ActivationAttempts != 0 || got.Name != app.Name || got.DocumentsSHA256 != "newdocs" {
		t.Fatalf("after a renewal keeping the previous code: %+v", got)
	}
	// A reset voids every earlier code.
	if err := s.RenewActivation(ctx, p.ID, ActivationRenewal{CodeHash: "third", ExpiresAt: clock.Now().Add(time.Hour)}, "admin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pharmacy(ctx, p.ID); got.Credentials.ActivationCodeHash != "third" || got.Credentials.PrevActivationCodeHash != "" {
		t.Fatalf("after a reset: %+v", got.Credentials)
	}
	if err := s.Activate(ctx, p.ID, Credentials{ClientID: "c1", SecretHash: "s"}, "pharmacy"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Pharmacy(ctx, p.ID); got.Credentials.ActivationCodeHash != "" || !got.Credentials.ActivationSentAt.IsZero() {
		t.Fatalf("activation left code material: %+v", got.Credentials)
	}
	err = s.RenewActivation(ctx, p.ID, ActivationRenewal{CodeHash: "x", ExpiresAt: clock.Now().Add(time.Hour)}, "anonymous")
	var se *StateError
	if !errors.As(err, &se) || !errors.Is(err, ErrState) || se.Status != PharmacyActive {
		t.Fatalf("renewing an active account: %v", err)
	}
}

func TestLoginFailureCounts(t *testing.T) { forEachBackend(t, testLoginFailureCounts) }

func testLoginFailureCounts(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now})
	day1 := time.Date(2021, 6, 14, 23, 0, 0, 0, time.UTC)
	for i := range 3 {
		at := day1.Add(time.Duration(i) * time.Minute)
		if err := s.CountLoginFailures(ctx, []LoginFailures{
			{Subject: "P1", Failures: 10, Throttled: 2, FirstAt: at, LastAt: at.Add(time.Second)},
			{Subject: "unknown", Failures: 1, LastAt: at},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CountLoginFailures(ctx, []LoginFailures{{Subject: "P1", Failures: 1, LastAt: day1.Add(2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.LoginFailureCounts(ctx, "P1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Day != "2021-06-15" || rows[0].Failures != 1 ||
		rows[1].Day != "2021-06-14" || rows[1].Failures != 30 || rows[1].Throttled != 6 ||
		!rows[1].FirstAt.Equal(day1) || !rows[1].LastAt.Equal(day1.Add(2*time.Minute+time.Second)) {
		t.Fatalf("rows %+v", rows)
	}
	all, err := s.LoginFailureCounts(ctx, "", 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("all rows: %+v, %v", all, err)
	}
	if err := s.CountLoginFailures(ctx, []LoginFailures{{Subject: "", LastAt: day1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("row without subject: %v", err)
	}
}
