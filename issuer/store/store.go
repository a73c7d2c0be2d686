// Package store is the issuer's durable registry: pharmacies and their
// credentials, idempotency bindings, issued certificates (metadata and
// revocation hashes), deferred-issuance tickets, the audit log and fraud
// events, in one SQLite database (modernc.org/sqlite, pure Go).
//
// Durability: every write goes through one writer goroutine that groups
// concurrent writes into one transaction (group commit) and acknowledges
// each caller only after COMMIT returned with synchronous=FULL in WAL mode,
// so a nil error means the change survives a crash. Reads use a separate
// read-only connection pool and see every acknowledged write.
//
// Personal data: no column holds a holder's name or birth date. Deferred
// requests and issued HC1s are kept only as sealed blobs (AES-256-GCM under
// a key file in the data directory, the row id as associated data) and are
// purged after the retention period.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

	wdb   *sql.DB // exactly one connection, used only by the writer goroutine
	stmts *stmtCache
	rdb   *sql.DB // read-only pool
	reads *readCache

	reqs       chan *writeReq
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	commits, writes, failedCommits, reruns atomic.Uint64
	largestBatch                           atomic.Int64
}

// Open opens or creates dir/registry.db (dir 0700, files 0600), runs the
// migrations, checks the seal key against the database and starts the
// writer.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	opts = withDefaults(opts)
	if dir == "" || strings.ContainsRune(dir, '?') {
		return nil, fmt.Errorf("store: open %q: %w: data directory must be a plain path", dir, ErrInvalid)
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, DBFile)
	if opts.SealKey == "" && opts.SealKeyMaterial == nil {
		// Never make a new key for an existing registry: its sealed data
		// would be lost for good. The operator must restore the key.
		_, kerr := os.Stat(filepath.Join(dir, SealKeyFile))
		if fi, err := os.Stat(dbPath); errors.Is(kerr, os.ErrNotExist) && err == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("store: %s exists but %s is missing; restore the seal key: %w", DBFile, SealKeyFile, ErrSeal)
		}
	}
	key, err := sealKey(dir, opts)
	if err != nil {
		return nil, err
	}
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	// Create the file ourselves: SQLite would use 0644, and gives its -wal
	// and -shm files the main file's mode.
	if err := ensureFile(dbPath); err != nil {
		return nil, err
	}

	busy := opts.BusyTimeout.Milliseconds()
	wdsn := fmt.Sprintf("%s?_txlock=immediate"+
		"&_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"+
		"&_pragma=foreign_keys(1)&_pragma=secure_delete(1)&_pragma=temp_store(MEMORY)", dbPath, busy)
	wdb, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: open writer: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	s := &Store{
		opts:       opts,
		clock:      opts.Clock,
		log:        opts.Logger,
		seal:       sl,
		wdb:        wdb,
		stmts:      newStmtCache(wdb),
		reqs:       make(chan *writeReq),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	fail := func(err error) (*Store, error) {
		_ = wdb.Close()
		if s.rdb != nil {
			_ = s.rdb.Close()
		}
		return nil, err
	}
	if err := wdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", dbPath, err))
	}
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("store: %s not in WAL mode (%q): %v", dbPath, mode, err))
	}
	if err := migrate(ctx, wdb, migrations, s.clock); err != nil {
		return fail(err)
	}
	if err := s.checkSealKey(ctx); err != nil {
		return fail(err)
	}
	if err := tightenModes(dbPath); err != nil {
		return fail(err)
	}

	rdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=query_only(1)", dbPath, busy)
	s.rdb, err = sql.Open("sqlite", rdsn)
	if err != nil {
		return fail(fmt.Errorf("store: open readers: %w", err))
	}
	s.rdb.SetMaxOpenConns(8)
	s.rdb.SetMaxIdleConns(8)
	if err := s.rdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: open readers: %w", err))
	}
	s.reads = newReadCache(s.rdb)

	go s.writer()
	return s, nil
}

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

func ensureFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	return tightenModes(path)
}

// tightenModes makes the database and its WAL/SHM files 0600 (a database
// copied in from elsewhere may be world-readable).
func tightenModes(dbPath string) error {
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: stat %s: %w", p, err)
		}
		if fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("store: chmod %s: %w", p, err)
			}
		}
	}
	return nil
}

// checkSealKey stores a sealed check value on first use and verifies it on
// every later Open, so a wrong key fails at Open, not at the first read.
func (s *Store) checkSealKey(ctx context.Context) error {
	const purpose, id = "meta", "seal_check"
	plain := []byte("golive issuer registry seal check v1")
	var blob []byte
	err := s.wdb.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", id).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		sealed := s.seal.seal(purpose, id, plain)
		if _, err := s.wdb.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", id, sealed); err != nil {
			return fmt.Errorf("store: write seal check: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read seal check: %w", err)
	}
	got, err := s.seal.open(purpose, id, blob)
	if err != nil || string(got) != string(plain) {
		return fmt.Errorf("store: open: the database was sealed with another key: %w", ErrSeal)
	}
	return nil
}

// Close stops accepting writes, commits what is queued, checkpoints the WAL
// and closes the database. Safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		s.stmts.close() // the writer is gone: nothing uses them any more
		var errs []error
		if _, err := s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			s.log.Warn("store: checkpoint on close", "err", err)
		}
		if s.reads != nil {
			s.reads.close()
		}
		if s.rdb != nil {
			if err := s.rdb.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.wdb.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
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
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations LIMIT 1").Scan(&one); err != nil {
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

// querier is what both the read pool and a write transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// isConstraint reports whether err is one of the SQLite constraint codes.
func isConstraint(err error, codes ...int) bool {
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

func isUnique(err error) bool {
	return isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func isForeignKey(err error) bool {
	return isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY)
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
