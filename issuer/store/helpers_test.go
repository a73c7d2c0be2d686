package store

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/golive-dev/golive/internal/pgtest"
)

// TestMain stops the PostgreSQL server the tests started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testDB is one registry under test: SQLite in dir, or a fresh database
// on the test binary's PostgreSQL server with its seal key in dir.
type testDB struct {
	backend string
	dir     string
	dsn     string
}

var backends = []string{BackendSQLite, BackendPostgres}

func newTestDB(t testing.TB, backend string) testDB {
	t.Helper()
	d := testDB{backend: backend, dir: t.TempDir()}
	if backend == BackendPostgres {
		d.dsn = pgtest.NewDatabase(t)
	}
	return d
}

// forEachBackend runs fn once per backend, each with a registry of its
// own: the one store test suite covers SQLite and PostgreSQL alike.
func forEachBackend(t *testing.T, fn func(t *testing.T, db testDB)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, newTestDB(t, b)) })
	}
}

// testWriteTimeout replaces the store's 10 s write bound in tests that
// set none: there it only guards against a hang, and a race-instrumented
// run beside CPU burners has taken longer than 10 s for one commit.
const testWriteTimeout = time.Minute

// openErr opens the registry (again).
func (d testDB) openErr(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = testWriteTimeout
	}
	if d.backend == BackendPostgres {
		return OpenPostgres(ctx, d.dsn, d.dir, opts)
	}
	return Open(ctx, d.dir, opts)
}

// open opens the registry and closes it when the test ends.
func (d testDB) open(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := d.openErr(context.Background(), opts)
	if err != nil {
		t.Fatalf("open %s registry: %v", d.backend, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queryRow reads with SQL of the tests' own (? placeholders).
func queryRow(s *Store, q string, args ...any) scanner {
	return s.scans.QueryRowContext(context.Background(), q, args...)
}

// execSQL runs a statement through the writer, as a write would.
func execSQL(ctx context.Context, s *Store, q string, args ...any) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

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
