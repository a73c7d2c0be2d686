// Package store is the issuer's durable registry: pharmacies and their
// credentials, idempotency bindings, issued certificates (metadata and
// revocation hashes), deferred-issuance tickets, the audit log and fraud
// events. Two databases hold it: SQLite (modernc.org/sqlite, pure Go; the
// embedded default, one file in the data directory) and PostgreSQL
// (github.com/jackc/pgx/v5; several portals share one registry, and a
// synchronous standby can take over). The registry's rules are written once
// (this package's methods); an engine (sqlite.go, postgres.go) only runs
// the SQL.
//
// Durability: every write goes through writer goroutines that group
// concurrent writes into one transaction (group commit) and acknowledge
// each caller only after COMMIT returned: with SQLite in WAL mode with
// synchronous=FULL; with PostgreSQL under the server's synchronous_commit,
// which with a synchronous standby configured means flushed on the
// standby too. So a nil error means the change survives a crash (and a
// failover). Reads see every acknowledged write.
//
// Personal data: no column holds a holder's name or birth date. Deferred
// requests and issued HC1s are kept only as sealed blobs (AES-256-GCM under
// a key file, the row id as associated data) and are purged after the
// retention period.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Backend names, as Store.Backend reports them.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// File names inside the data directory.
const (
	DBFile      = "registry.db"
	SealKeyFile = "seal.key"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBatch       = 256
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultReservationTTL = 10 * time.Minute
	DefaultTicketLease    = 30 * time.Second
	DefaultBusyTimeout    = 5 * time.Second
	// PostgreSQL: writer goroutines (each its own connection and batch),
	// how long one write transaction may take, and how long a connection
	// attempt may take before the host counts as down.
	DefaultPostgresWriters = 4
	DefaultWriteTimeout    = 10 * time.Second
	DefaultConnectTimeout  = 5 * time.Second
	// maxWriteTries bounds how often a write that lost a race with a
	// concurrent transaction runs again.
	maxWriteTries = 3
)

// Errors callers branch on; returned errors wrap them.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a unique value (Telematik-ID, client id, UVCI, ticket id)
	// is already taken.
	ErrExists = errors.New("store: already exists")
	// ErrIdempotencyConflict: the idempotency key is bound to a request
	// with a different request hash.
	ErrIdempotencyConflict = errors.New("store: idempotency key reused with a different request")
	// ErrBoundToTicket: the idempotency key belongs to a deferred ticket
	// whose certificate is not recorded yet.
	ErrBoundToTicket = errors.New("store: idempotency key is bound to a pending ticket")
	// ErrState: the row is not in a state that allows this change.
	ErrState = errors.New("store: wrong state for this change")
	// ErrInvalid: the argument fails the store's own checks.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrPurged: the sealed blob was dropped after the retention period.
	ErrPurged = errors.New("store: sealed data purged after retention")
	// ErrSeal: a sealed blob or the database's key check does not open
	// with the seal key (wrong key file or tampered row).
	ErrSeal = errors.New("store: sealed data does not open with this seal key")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	ErrClosed       = errors.New("store: closed")
	// ErrUnavailable: the database cannot be reached or cannot take the
	// change now (down, restarting, failing over, a read-only standby,
	// a write that timed out). A write that fails with it may or may not
	// have committed: callers answer 503 and clients retry with their
	// Idempotency-Key, which makes that safe.
	ErrUnavailable = errors.New("store: registry database unavailable")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// SealKey is the path of the 32-byte seal key. Empty: dir/seal.key,
	// created with 32 random bytes (mode 0600) when absent. An explicit
	// path must exist: a missing operator-supplied key is an error, not a
	// reason to make a new one.
	SealKey string
	// SealKeyMaterial is the 32-byte key itself (from an environment
	// variable); it takes precedence over SealKey and no file is read or
	// created.
	SealKeyMaterial []byte
	// Retention is how long sealed HC1s are kept after issuance, and how
	// long an unfinished deferred ticket keeps its sealed request.
	// 0: DefaultRetention.
	Retention time.Duration
	// ReservationTTL: a reserved idempotency key whose certificate was
	// never recorded (the portal crashed mid-issue) is freed after this.
	// 0: DefaultReservationTTL.
	ReservationTTL time.Duration
	// TicketLease is how long a claimed ticket stays with its worker
	// before it is due again. 0: DefaultTicketLease.
	TicketLease time.Duration
	// GroupCommitWindow is how long the writer waits for more writes after
	// the first of a batch (e.g. 2ms). 0 (the default): no waiting; a batch
	// is whatever queued up while the previous transaction committed, which
	// batches as much as the load needs without adding latency when idle
	// (see BenchmarkIssueRecordParallel).
	GroupCommitWindow time.Duration
	// MaxBatch caps writes per transaction. 0: DefaultMaxBatch; 1 turns
	// group commit off (one transaction and fsync per write).
	MaxBatch int
	// BusyTimeout for SQLite locks. 0: DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Writers is how many writer goroutines commit batches at once
	// (PostgreSQL; SQLite has exactly one). 0: DefaultPostgresWriters.
	Writers int
	// WriteTimeout bounds one write transaction, BEGIN to COMMIT; past it
	// the batch fails with ErrUnavailable instead of hanging on a database
	// that does not answer. 0: DefaultWriteTimeout on PostgreSQL, none on
	// SQLite (a local file answers or the machine is broken).
	WriteTimeout time.Duration
	// ConnectTimeout bounds one connection attempt to one PostgreSQL host
	// unless the DSN sets connect_timeout. 0: DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Clock stamps rows. nil: time.Now.
	Clock func() time.Time
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Stats counts the writer's work.
type Stats struct {
	Commits       uint64 // transactions committed
	Writes        uint64 // writes acknowledged as committed
	FailedCommits uint64 // transactions whose COMMIT failed
	Reruns        uint64 // batches rolled back and run again without a write that failed after changing rows
	LargestBatch  int    // most writes in one transaction
}

// Store is the registry. Its methods are safe for concurrent use.
type Store struct {
	opts  Options
	clock func() time.Time
	log   *slog.Logger
	seal  *sealer

	eng   engine
	reads querier // point lookups
	scans querier // lists and counts

	queues     []chan *writeReq // one per writer: writes routed by key (writeKeyed)
	shared     chan *writeReq   // writes any writer takes
	closing    chan struct{}
	writerDone chan struct{} // closed when every writer goroutine returned
	closeOnce  sync.Once
	closeErr   error

	commits, writes, failedCommits, reruns atomic.Uint64
	largestBatch                           atomic.Int64
}

// start finishes Open for either engine: checks the seal key against the
// database and starts the writers. It closes eng when it fails.
func start(ctx context.Context, eng engine, key []byte, opts Options) (*Store, error) {
	sl, err := newSealer(key)
	if err != nil {
		eng.close()
		return nil, err
	}
	s := &Store{
		opts:       opts,
		clock:      opts.Clock,
		log:        opts.Logger,
		seal:       sl,
		eng:        eng,
		reads:      eng.reads(),
		scans:      eng.scans(),
		shared:     make(chan *writeReq),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if err := s.checkSealKey(ctx); err != nil {
		eng.close()
		return nil, err
	}
	var wg sync.WaitGroup
	for range eng.writers() {
		q := make(chan *writeReq)
		s.queues = append(s.queues, q)
		wg.Go(func() { s.writer(q) })
	}
	go func() { wg.Wait(); close(s.writerDone) }()
	return s, nil
}

// OpenRegistry opens the registry the --registry setting names: empty or
// "sqlite" is SQLite in dir; a postgres:// URL or a libpq keyword DSN
// (host=... dbname=...) is PostgreSQL, with the seal key in dir (or
// opts.SealKey).
func OpenRegistry(ctx context.Context, registry, dir string, opts Options) (*Store, error) {
	switch kind, err := RegistryKind(registry); {
	case err != nil:
		return nil, err
	case kind == BackendPostgres:
		return OpenPostgres(ctx, registry, dir, opts)
	}
	return Open(ctx, dir, opts)
}

// RegistryKind says which backend a --registry value names, or why it
// names none.
func RegistryKind(registry string) (string, error) {
	r := strings.TrimSpace(registry)
	switch {
	case r == "" || r == BackendSQLite:
		return BackendSQLite, nil
	case strings.HasPrefix(r, "postgres://"), strings.HasPrefix(r, "postgresql://"):
		return BackendPostgres, nil
	case strings.Contains(r, "=") && !strings.Contains(r, "://"):
		return BackendPostgres, nil // keyword form: host=a,b dbname=registry target_session_attrs=read-write
	}
	return "", fmt.Errorf("store: registry %q: %w: want empty (SQLite in the data directory), a postgres:// URL or a keyword DSN such as \"host=db1,db2 dbname=registry target_session_attrs=read-write\"",
		RedactDSN(registry), ErrInvalid)
}

// Backend is BackendSQLite or BackendPostgres.
func (s *Store) Backend() string { return s.eng.name() }

func withDefaults(o Options) Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.TicketLease <= 0 {
		o.TicketLease = DefaultTicketLease
	}
	if o.GroupCommitWindow < 0 {
		o.GroupCommitWindow = 0
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.Writers <= 0 {
		o.Writers = DefaultPostgresWriters
	}
	if o.WriteTimeout < 0 {
		o.WriteTimeout = 0
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: create data directory: %w", err)
		}
		// MkdirAll applies the umask; make sure of 0700 on the leaf.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("store: chmod data directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("store: data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("store: data directory %s: %w: not a directory", dir, ErrInvalid)
	case fi.Mode().Perm()&0o077 != 0:
		// An existing directory is the operator's; tighten it since it
		// holds the seal key and the registry.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("store: chmod data directory: %w", err)
		}
	}
	return nil
}

// checkSealKey stores a sealed check value on first use and verifies it on
// every later Open, so a wrong key fails at Open, not at the first read.
// Two processes opening a new registry at once store one value between
// them (the second insert does nothing) and both verify it.
func (s *Store) checkSealKey(ctx context.Context) error {
	const purpose, id = "meta", "seal_check"
	plain := []byte("golive issuer registry seal check v1")
	var blob []byte
	err := s.eng.inTx(ctx, func(tx querier) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
			id, s.seal.seal(purpose, id, plain)); err != nil {
			return fmt.Errorf("store: write seal check: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", id).Scan(&blob); err != nil {
			return fmt.Errorf("store: read seal check: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	got, err := s.seal.open(purpose, id, blob)
	if err != nil || string(got) != string(plain) {
		return fmt.Errorf("store: open: the database was sealed with another key: %w", ErrSeal)
	}
	return nil
}

// Close stops accepting writes, commits what is queued and closes the
// database (SQLite: checkpoints the WAL first). Safe to call more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		if err := s.eng.close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// Ping checks that the store is open and the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	var one int
	if err := s.scans.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations LIMIT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:       s.commits.Load(),
		Writes:        s.writes.Load(),
		FailedCommits: s.failedCommits.Load(),
		Reruns:        s.reruns.Load(),
		LargestBatch:  int(s.largestBatch.Load()),
	}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	return sqliteCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) ||
		pgCode(err) == "23505"
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	return sqliteCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) || pgCode(err) == "23503"
}

func sqliteCode(err error, codes ...int) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Code() == c {
			return true
		}
	}
	return false
}

// pgCode is the SQLSTATE of a PostgreSQL error, "" for anything else.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Times are stored as Unix nanoseconds; the zero time as NULL.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
