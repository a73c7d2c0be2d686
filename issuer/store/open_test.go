package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
)

func TestFileModes(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // before Open
	}{
		{"fresh directory", func(t *testing.T, dir string) {}},
		{"existing loose directory and database", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, DBFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, DBFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			tc.setup(t, dir)
			s := openStore(t, dir, Options{})
			p := mustPharmacy(t, s, "3-01.2.100001.123")
			if _, err := s.IssueRecord(context.Background(), certFor(p.ID, "URN:UVCI:01:DE:MODE1", time.Now()),
				IdemBinding{Key: "k1", RequestHash: "h1"}, hc1For("URN:UVCI:01:DE:MODE1")); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{
				dir:                               0o700,
				filepath.Join(dir, DBFile):        0o600,
				filepath.Join(dir, SealKeyFile):   0o600,
				filepath.Join(dir, DBFile+"-wal"): 0o600,
				filepath.Join(dir, DBFile+"-shm"): 0o600,
			}
			for path, mode := range want {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatalf("stat %s: %v", path, err) // WAL and SHM exist while the store is open
				}
				if got := fi.Mode().Perm(); got != mode {
					t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, mode)
				}
			}
			if key, err := os.ReadFile(filepath.Join(dir, SealKeyFile)); err != nil || len(key) != sealKeySize {
				t.Errorf("seal key: %d bytes, err %v; want %d", len(key), err, sealKeySize)
			}
		})
	}
}

func TestOpenSettings(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	e := s.eng.(*sqliteEngine)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	} {
		var got string
		if err := e.wdb.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	// The read pool must refuse writes.
	if _, err := e.rdb.Exec(`INSERT INTO meta (key, value) VALUES ('x', x'00')`); err == nil {
		t.Error("read pool accepted a write")
	}
}

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    []int
		wantErr bool
	}{
		{"ordered", map[string]string{"0002_b.sql": "B", "0001_a.sql": "A", "README": "x"}, []int{1, 2}, false},
		{"gap", map[string]string{"0001_a.sql": "A", "0003_c.sql": "C"}, nil, true},
		{"duplicate", map[string]string{"0001_a.sql": "A", "1_again.sql": "A"}, nil, true},
		{"bad name", map[string]string{"init.sql": "A"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range tc.files {
				fsys["m/"+name] = &fstest.MapFile{Data: []byte(body)}
			}
			ms, err := loadMigrations(fsys, "m")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if tc.want != nil && !equalInts(got, tc.want) {
				t.Errorf("versions %v, want %v", got, tc.want)
			}
		})
	}
	if len(sqliteMigrations) == 0 || SchemaVersion() != len(sqliteMigrations) || len(postgresMigrations) != len(sqliteMigrations) {
		t.Errorf("embedded migrations: %d SQLite, %d PostgreSQL", len(sqliteMigrations), len(postgresMigrations))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMigrateSteps(t *testing.T) { forEachBackend(t, testMigrateSteps) }

func testMigrateSteps(t *testing.T, db testDB) {
	ctx := context.Background()
	var (
		e   engine
		err error
	)
	opts := withDefaults(Options{})
	if db.backend == BackendPostgres {
		e, err = newPgEngine(ctx, db.dsn, opts)
	} else {
		e, err = newSQLiteEngine(ctx, filepath.Join(db.dir, "m.db"), opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	q := e.scans()
	// No IF NOT EXISTS: running a migration twice would fail.
	m1 := migration{1, "0001_a.sql", "CREATE TABLE a (x INTEGER)"}
	m2 := migration{2, "0002_b.sql", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (42)"}
	clock := newTestClock()
	steps := []struct {
		name        string
		ms          []migration
		wantVersion int
		wantErr     error
	}{
		{"first", []migration{m1}, 1, nil},
		{"again is a no-op", []migration{m1}, 1, nil},
		{"only the new one", []migration{m1, m2}, 2, nil},
		{"up to date", []migration{m1, m2}, 2, nil},
		{"older binary refused", []migration{m1}, 2, ErrSchemaTooNew},
	}
	var firstApplied int64
	for _, st := range steps {
		clock.Advance(time.Minute)
		err := migrate(ctx, e, st.ms, clock.Now)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		var v, n int
		if err := q.QueryRowContext(ctx, "SELECT MAX(version), COUNT(*) FROM schema_migrations").Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		if v != st.wantVersion || n != st.wantVersion {
			t.Errorf("%s: version %d with %d rows, want %d", st.name, v, n, st.wantVersion)
		}
		var applied int64
		if err := q.QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if firstApplied == 0 {
			firstApplied = applied
		} else if applied != firstApplied {
			t.Errorf("%s: migration 1 re-applied", st.name)
		}
	}
	var y int
	if err := q.QueryRowContext(ctx, "SELECT y FROM b").Scan(&y); err != nil || y != 42 {
		t.Errorf("migration 2 effect: %d, %v", y, err)
	}
}

func TestReopenAndNewerSchema(t *testing.T) { forEachBackend(t, testReopenAndNewerSchema) }

func testReopenAndNewerSchema(t *testing.T, db testDB) {
	ctx := context.Background()
	s, err := db.openErr(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var applied int64
	if err := queryRow(s, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = db.openErr(ctx, Options{Clock: func() time.Time { return time.Unix(1e9, 0) }})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var n int
	var again int64
	if err := queryRow(s, "SELECT COUNT(*), MIN(applied_at) FROM schema_migrations").Scan(&n, &again); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || again != applied {
		t.Errorf("after reopen: %d migrations applied at %d; want %d at %d", n, again, SchemaVersion(), applied)
	}
	// Pretend a newer release migrated the database.
	if err := execSQL(ctx, s, "INSERT INTO schema_migrations VALUES (?, 'future.sql', 0)", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = db.openErr(ctx, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestSealKeyFiles(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { testSealKeyFiles(t, b) })
	}
}

func testSealKeyFiles(t *testing.T, backend string) {
	ctx := context.Background()
	writeKey := func(t *testing.T, data []byte, mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := bytes.Repeat([]byte{7}, sealKeySize)
	tests := []struct {
		name    string
		keyPath func(t *testing.T) string
		wantErr error // nil: Open works
	}{
		{"raw key", func(t *testing.T) string { return writeKey(t, key, 0o600) }, nil},
		{"hex key", func(t *testing.T) string { return writeKey(t, []byte(hex.EncodeToString(key)+"\n"), 0o400) }, nil},
		{"short key", func(t *testing.T) string { return writeKey(t, key[:16], 0o600) }, ErrInvalid},
		{"readable by others", func(t *testing.T) string { return writeKey(t, key, 0o644) }, ErrInvalid},
		{"missing explicit key", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.keyPath(t)
			s, err := newTestDB(t, backend).openErr(ctx, Options{SealKey: path})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open: %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				s.Close()
			}
			if tc.wantErr == os.ErrNotExist {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a missing explicit key was created")
				}
			}
		})
	}
}

func TestWrongSealKey(t *testing.T) { forEachBackend(t, testWrongSealKey) }

func testWrongSealKey(t *testing.T, db testDB) {
	ctx := context.Background()
	dir := db.dir
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.200")
	uvci := "URN:UVCI:01:DE:WRONGKEY"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{}, hc1For(uvci)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{1}, sealKeySize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.openErr(ctx, Options{SealKey: other}); !errors.Is(err, ErrSeal) {
		t.Fatalf("Open with another key: %v, want ErrSeal", err)
	}
	// A lost default key is not silently replaced.
	keyPath := filepath.Join(dir, SealKeyFile)
	saved, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if _, err := db.openErr(ctx, Options{}); !errors.Is(err, ErrSeal) {
		t.Fatalf("Open without the key file: %v, want ErrSeal", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new key was created for an existing registry")
	}
	if err := os.WriteFile(keyPath, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	// The right key still works and the HC1 opens.
	s = db.open(t, Options{})
	got, err := s.CertificateHC1(ctx, uvci)
	if err != nil || !bytes.Equal(got, hc1For(uvci)) {
		t.Fatalf("HC1 after reopen: %q, %v", got, err)
	}
}

// TestSealedBlobsStayOffDisk greps the files that hold the registry (the
// SQLite data directory; the PostgreSQL database's files and the WAL) for
// a holder's data, which must exist only sealed.
func TestSealedBlobsStayOffDisk(t *testing.T) { forEachBackend(t, testSealedBlobsStayOffDisk) }

func testSealedBlobsStayOffDisk(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	files := func() []string {
		var out []string
		if db.backend == BackendSQLite {
			entries, _ := os.ReadDir(db.dir)
			for _, e := range entries {
				out = append(out, filepath.Join(db.dir, e.Name()))
			}
			return out
		}
		var oid uint32
		if err := queryRow(s, "SELECT oid FROM pg_database WHERE datname = current_database()").Scan(&oid); err != nil {
			t.Fatal(err)
		}
		data := pgtest.Server(t).DataDir()
		for _, d := range []string{filepath.Join(data, "base", fmt.Sprint(oid)), filepath.Join(data, "pg_wal")} {
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Type().IsRegular() {
					out = append(out, filepath.Join(d, e.Name()))
				}
			}
		}
		return out
	}()
	const (
		holder      = "Gößinger-Zwölfmeier"
		holderICAO  = "GOESSINGER<ZWOELFMEIER"
		birthDate   = "1964-08-12"
		pharmacyTag = "Adler-Apotheke Quxbaz" // stored in plain: the grep must find it
	)
	p, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "3-01.2.100001.300", Name: pharmacyTag, Status: PharmacyActive}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	personal := []byte(`{"nam":{"fn":"` + holder + `","fnt":"` + holderICAO + `"},"dob":"` + birthDate + `"}`)
	uvci := "URN:UVCI:01:DE:SEALED1"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{Key: "k", RequestHash: "h"},
		append([]byte("HC1:"), personal...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTicket(ctx, Ticket{ID: "t-sealed", PharmacyID: p.ID, UVCI: "URN:UVCI:01:DE:SEALED2", Type: Test},
		IdemBinding{Key: "k2", RequestHash: "h2"}, personal); err != nil {
		t.Fatal(err)
	}
	grep := func(stage string) {
		t.Helper()
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) { // a WAL segment may be recycled meanwhile
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte(pharmacyTag)) {
			t.Fatalf("%s: control string not found on disk: the grep proves nothing", stage)
		}
		for _, secret := range []string{holder, holderICAO, birthDate} {
			if bytes.Contains(all, []byte(secret)) {
				t.Errorf("%s: %q found in the data directory", stage, secret)
			}
		}
	}
	grep("open") // data still in the WAL
	if db.backend == BackendPostgres {
		if err := execSQL(ctx, s, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	grep("closed") // checkpointed into the main file(s)

	s = db.open(t, Options{})
	got, err := s.CertificateHC1(ctx, uvci)
	if err != nil || !bytes.Contains(got, []byte(holder)) {
		t.Fatalf("HC1 does not round-trip: %q, %v", got, err)
	}
	claimed, err := s.ClaimTickets(ctx, 10, time.Now())
	if err != nil || len(claimed) != 1 || !bytes.Equal(claimed[0].Request, personal) {
		t.Fatalf("ticket request does not round-trip: %+v, %v", claimed, err)
	}
}

func TestSealedBlobBoundToRow(t *testing.T) { forEachBackend(t, testSealedBlobBoundToRow) }

func testSealedBlobBoundToRow(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	p := mustPharmacy(t, s, "3-01.2.100001.400")
	a, b := "URN:UVCI:01:DE:ROWA", "URN:UVCI:01:DE:ROWB"
	for _, u := range []string{a, b} {
		if _, err := s.IssueRecord(ctx, certFor(p.ID, u, time.Now()), IdemBinding{}, hc1For(u)); err != nil {
			t.Fatal(err)
		}
	}
	// Copy A's sealed HC1 onto B: the associated data (the row id) differs.
	if err := execSQL(ctx, s, `UPDATE certificates SET sealed_hc1 = (SELECT sealed_hc1 FROM certificates WHERE uvci = ?)
			WHERE uvci = ?`, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CertificateHC1(ctx, b); !errors.Is(err, ErrSeal) {
		t.Errorf("moved blob: %v, want ErrSeal", err)
	}
	if got, err := s.CertificateHC1(ctx, a); err != nil || !bytes.Equal(got, hc1For(a)) {
		t.Errorf("original blob: %q, %v", got, err)
	}
}

func TestClosedStore(t *testing.T) { forEachBackend(t, testClosedStore) }

func testClosedStore(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "x"}, "admin"); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v, want ErrClosed", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
}

// A key given as bytes (the operator's $GOLIVE_SEAL_KEY) seals and opens
// across restarts, leaves no key file in the data directory, and a
// different key is refused.
func TestSealKeyMaterial(t *testing.T) { forEachBackend(t, testSealKeyMaterial) }

func testSealKeyMaterial(t *testing.T, db testDB) {
	ctx := context.Background()
	dir := db.dir
	key := bytes.Repeat([]byte{9}, SealKeySize)
	s := db.open(t, Options{SealKeyMaterial: key})
	p := mustPharmacy(t, s, "3-01.2.100001.201")
	uvci := "URN:UVCI:01:DE:ENVKEY"
	if _, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{}, hc1For(uvci)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, SealKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was written to the data directory: %v", err)
	}
	if _, err := db.openErr(ctx, Options{SealKeyMaterial: bytes.Repeat([]byte{8}, SealKeySize)}); !errors.Is(err, ErrSeal) {
		t.Fatalf("Open with another key: %v, want ErrSeal", err)
	}
	if _, err := newTestDB(t, db.backend).openErr(ctx, Options{SealKeyMaterial: key[:31]}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with a short key: %v, want ErrInvalid", err)
	}
	s = db.open(t, Options{SealKeyMaterial: key})
	got, err := s.CertificateHC1(ctx, uvci)
	if err != nil || !bytes.Equal(got, hc1For(uvci)) {
		t.Fatalf("HC1 after restart: %v", err)
	}
}
