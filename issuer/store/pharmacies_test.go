package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPharmacies(t *testing.T) { forEachBackend(t, testPharmacies) }

func testPharmacies(t *testing.T, db testDB) {
	ctx := context.Background()
	clock := newTestClock()
	s := db.open(t, Options{Clock: clock.Now})
	in := Pharmacy{
		TelematikID: "3-01.2.100001.1000", RegisterID: "R-1000", Name: "Adler-Apotheke",
		Street: "Hauptstr. 1", PostalCode: "10115", City: "Berlin", Email: "info@adler.example",
		RegisterVerified: true, DocumentsSHA256: "ab12",
		Credentials: Credentials{ActivationCodeHash: "code-hash", ActivationExpiresAt: clock.Now().Add(72 * time.Hour)},
	}
	p, err := s.CreatePharmacy(ctx, in, "anonymous")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.Status != PharmacyPending {
		t.Fatalf("created %+v", p)
	}
	got, err := s.Pharmacy(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Errorf("read back\n%+v\nwant\n%+v", got, p)
	}
	if byTI, err := s.PharmacyByTelematikID(ctx, in.TelematikID); err != nil || byTI.ID != p.ID {
		t.Errorf("by Telematik-ID: %+v, %v", byTI, err)
	}

	dupTI := in
	if _, err := s.CreatePharmacy(ctx, dupTI, "anonymous"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate Telematik-ID: %v", err)
	}
	for want := 1; want <= 2; want++ {
		if n, err := s.ActivationFailed(ctx, p.ID); err != nil || n != want {
			t.Errorf("ActivationFailed: %d, %v; want %d", n, err, want)
		}
	}
	if _, err := s.ActivationFailed(ctx, "ph_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActivationFailed unknown: %v", err)
	}

	creds := Credentials{ClientID: "client-1", SecretHash: "secret-hash", PasswordHash: "pw-hash", ActivationCodeHash: "ignored"}
	if err := s.Activate(ctx, p.ID, creds, "pharmacy:"+p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(ctx, p.ID, creds, "pharmacy:"+p.ID); !errors.Is(err, ErrState) {
		t.Errorf("second activation: %v", err)
	}
	act, err := s.PharmacyByClientID(ctx, "client-1")
	if err != nil {
		t.Fatal(err)
	}
	if act.Status != PharmacyActive || act.Credentials.SecretHash != "secret-hash" ||
		act.Credentials.ActivationCodeHash != "" || act.ActivationAttempts != 0 || !act.Credentials.ActivationExpiresAt.IsZero() {
		t.Errorf("after activation: %+v", act)
	}
	if _, err := s.PharmacyByClientID(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty client id: %v", err)
	}

	second, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "3-01.2.100001.1001"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCredentials(ctx, second.ID, Credentials{ClientID: "client-1"}, "admin"); !errors.Is(err, ErrExists) {
		t.Errorf("taken client id: %v", err)
	}
	if err := s.SetCredentials(ctx, "ph_nope", Credentials{ClientID: "client-9"}, "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("credentials of unknown pharmacy: %v", err)
	}

	statusSteps := []struct {
		status  PharmacyStatus
		wantErr error
	}{
		{PharmacySuspended, nil},
		{PharmacySuspended, nil}, // no change, no audit event
		{PharmacyActive, nil},
		{"closed", ErrInvalid},
	}
	for _, st := range statusSteps {
		clock.Advance(time.Minute)
		if err := s.SetPharmacyStatus(ctx, p.ID, st.status, "admin"); !errors.Is(err, st.wantErr) {
			t.Errorf("status %s: %v, want %v", st.status, err, st.wantErr)
		}
	}
	log, err := s.AuditLog(ctx, AuditFilter{Action: "pharmacy.status", Subject: p.ID})
	if err != nil || len(log) != 2 {
		t.Fatalf("status audit: %d events, %v; want 2", len(log), err)
	}
	var d map[string]string
	if err := json.Unmarshal(log[0].Detail, &d); err != nil || d["from"] != "active" || d["to"] != "suspended" {
		t.Errorf("audit detail %s", log[0].Detail)
	}
	if log[0].Actor != "admin" || !log[1].At.After(log[0].At) {
		t.Errorf("audit events %+v", log)
	}
	if err := s.SetPharmacyStatus(ctx, "ph_nope", PharmacyActive, "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of unknown pharmacy: %v", err)
	}
}

func TestAuditLog(t *testing.T) { forEachBackend(t, testAuditLog) }

func testAuditLog(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	tests := []struct {
		name    string
		e       Event
		wantErr error
	}{
		{"ok", Event{Actor: "admin", Action: "admin.login", Detail: json.RawMessage(`{"ip":"127.0.0.1"}`)}, nil},
		{"empty detail", Event{Actor: "system", Action: "store.started"}, nil},
		{"not JSON", Event{Actor: "admin", Action: "x", Detail: json.RawMessage(`suspended`)}, ErrInvalid},
		{"not an object", Event{Actor: "admin", Action: "x", Detail: json.RawMessage(`[1]`)}, ErrInvalid},
		{"no actor", Event{Action: "x"}, ErrInvalid},
	}
	for _, tc := range tests {
		if err := s.Audit(ctx, tc.e); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	all, err := s.AuditLog(ctx, AuditFilter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("audit log: %+v, %v", all, err)
	}
	if string(all[1].Detail) != "{}" || all[0].ID >= all[1].ID {
		t.Errorf("events %+v", all)
	}
	page, err := s.AuditLog(ctx, AuditFilter{AfterID: all[0].ID, Limit: 5})
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("page after %d: %+v, %v", all[0].ID, page, err)
	}
	// Append-only: the schema refuses changes even through the writer.
	for _, stmt := range []string{"UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"} {
		err := s.write(ctx, func(ctx context.Context, tx querier) error {
			_, err := tx.ExecContext(ctx, stmt)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refusal", stmt, err)
		}
	}
	if again, _ := s.AuditLog(ctx, AuditFilter{}); len(again) != 2 || again[0].Actor != "admin" {
		t.Errorf("audit log changed: %+v", again)
	}
}

func TestFraudEvents(t *testing.T) { forEachBackend(t, testFraudEvents) }

func testFraudEvents(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	a := mustPharmacy(t, s, "3-01.2.100001.1100")
	b := mustPharmacy(t, s, "3-01.2.100001.1101")
	var ids []int64
	for _, e := range []FraudEvent{
		{PharmacyID: a.ID, Kind: "off_hours", Detail: json.RawMessage(`{"count":12,"limit":5}`)},
		{PharmacyID: b.ID, Kind: "volume"},
		{PharmacyID: a.ID, Kind: "volume"},
	} {
		id, err := s.RecordFraudEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.RecordFraudEvent(ctx, FraudEvent{PharmacyID: "ph_nope", Kind: "volume"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown pharmacy: %v", err)
	}
	tests := []struct {
		name string
		f    FraudFilter
		want []int64
	}{
		{"all", FraudFilter{}, ids},
		{"pharmacy a", FraudFilter{PharmacyID: a.ID}, []int64{ids[0], ids[2]}},
		{"after the first", FraudFilter{AfterID: ids[0]}, ids[1:]},
		{"limit", FraudFilter{Limit: 1}, ids[:1]},
	}
	for _, tc := range tests {
		got, err := s.FraudEvents(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		if len(gotIDs) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, gotIDs, tc.want)
			continue
		}
		for i := range gotIDs {
			if gotIDs[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, gotIDs, tc.want)
			}
		}
	}
	got, _ := s.FraudEvents(ctx, FraudFilter{PharmacyID: a.ID, Limit: 1})
	if len(got) != 1 || got[0].Kind != "off_hours" || string(got[0].Detail) != `{"count":12,"limit":5}` {
		t.Errorf("event %+v", got)
	}
}

func TestWriterSurvivesPanic(t *testing.T) { forEachBackend(t, testWriterSurvivesPanic) }

func testWriterSurvivesPanic(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	err := s.write(ctx, func(ctx context.Context, tx querier) error { panic("bug") })
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("panicking write: %v", err)
	}
	if err := s.Audit(ctx, Event{Actor: "system", Action: "after.panic"}); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
}
