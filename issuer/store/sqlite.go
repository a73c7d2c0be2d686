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

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteEngine is the embedded registry: one file in WAL mode with
// synchronous=FULL, exactly one writer connection (SQLite allows one
// writer at a time anyway) and a read-only pool.
type sqliteEngine struct {
	path  string
	log   *slog.Logger
	wdb   *sql.DB // exactly one connection, used only by the writer goroutine
	stmts *stmtCache
	rdb   *sql.DB // read-only pool
	cache *readCache
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
	eng, err := openSQLite(ctx, dbPath, opts)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, eng, key, opts)
	if err != nil {
		return nil, err
	}
	if err := tightenModes(dbPath); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens the database file and migrates it.
func openSQLite(ctx context.Context, dbPath string, opts Options) (*sqliteEngine, error) {
	e, err := newSQLiteEngine(ctx, dbPath, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, e, sqliteMigrations, opts.Clock); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// newSQLiteEngine opens the database file's connections.
func newSQLiteEngine(ctx context.Context, dbPath string, opts Options) (*sqliteEngine, error) {
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
	e := &sqliteEngine{path: dbPath, log: opts.Logger, wdb: wdb, stmts: newStmtCache(wdb)}
	fail := func(err error) (*sqliteEngine, error) {
		e.close()
		return nil, err
	}
	if err := wdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: open %s: %w", dbPath, err))
	}
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("store: %s not in WAL mode (%q): %v", dbPath, mode, err))
	}
	rdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=query_only(1)", dbPath, busy)
	e.rdb, err = sql.Open("sqlite", rdsn)
	if err != nil {
		return fail(fmt.Errorf("store: open readers: %w", err))
	}
	e.rdb.SetMaxOpenConns(8)
	e.rdb.SetMaxIdleConns(8)
	if err := e.rdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store: open readers: %w", err))
	}
	e.cache = newReadCache(e.rdb)
	return e, nil
}

func (e *sqliteEngine) name() string   { return BackendSQLite }
func (e *sqliteEngine) reads() querier { return e.cache }
func (e *sqliteEngine) scans() querier { return sqlQuerier{e.rdb} }
func (e *sqliteEngine) writers() int   { return 1 }
func (*sqliteEngine) migrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`
}

func (e *sqliteEngine) begin(ctx context.Context) (writeTx, error) {
	tx, err := e.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", sqliteErr(err))
	}
	return &sqliteTx{cachedTx: cachedTx{tx: tx, c: e.stmts}, tx: tx, stmts: e.stmts}, nil
}

func (e *sqliteEngine) inTx(ctx context.Context, fn func(tx querier) error) error {
	// BEGIN IMMEDIATE (_txlock) takes the write lock at once: another
	// process opening the same file waits instead of racing.
	tx, err := e.wdb.BeginTx(ctx, nil)
	if err != nil {
		return sqliteErr(err)
	}
	defer tx.Rollback()
	if err := fn(sqlQuerier{tx}); err != nil {
		return err
	}
	return sqliteErr(tx.Commit())
}

func (e *sqliteEngine) close() error {
	var errs []error
	if e.stmts != nil {
		e.stmts.close() // the writer is gone: nothing uses them any more
	}
	if e.rdb != nil {
		// Checkpoint while the file is still open so the WAL is folded
		// back into registry.db.
		if _, err := e.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			e.log.Warn("store: checkpoint on close", "err", err)
		}
	}
	if e.cache != nil {
		e.cache.close()
	}
	if e.rdb != nil {
		if err := e.rdb.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.wdb.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sqliteTx is a batch transaction on the writer connection.
type sqliteTx struct {
	cachedTx
	tx    *sql.Tx
	stmts *stmtCache
}

func (t *sqliteTx) changes(ctx context.Context) (int64, error) {
	var n int64
	err := t.QueryRowContext(ctx, "SELECT total_changes()").Scan(&n)
	return n, err
}

// aborted is always false: a failed SQLite statement undoes itself and
// the transaction goes on.
func (t *sqliteTx) aborted() bool { return false }

func (t *sqliteTx) commit(ctx context.Context) error {
	err := t.tx.Commit()
	// Statements the cache missed are prepared once the transaction has
	// ended and the connection is free again.
	t.stmts.prepareWanted(ctx)
	return sqliteErr(err)
}

func (t *sqliteTx) rollback() {
	_ = t.tx.Rollback()
	t.stmts.prepareWanted(context.Background())
}

// sqlQuerier adapts database/sql (a pool or a transaction) to querier.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlQuerier) ExecContext(ctx context.Context, q string, args ...any) (result, error) {
	return sqlResult(s.q.ExecContext(ctx, q, args...))
}

func (s sqlQuerier) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	return sqlRows(s.q.QueryContext(ctx, q, args...))
}

func (s sqlQuerier) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	return sqlRow{s.q.QueryRowContext(ctx, q, args...)}
}

func (sqlQuerier) lock() string { return "" }

func sqlResult(r sql.Result, err error) (result, error) {
	if err != nil {
		return nil, sqliteErr(err)
	}
	return r, nil
}

func sqlRows(r *sql.Rows, err error) (rows, error) {
	if err != nil {
		return nil, sqliteErr(err)
	}
	return sqlRowsErr{r}, nil
}

type sqlRowsErr struct{ *sql.Rows }

func (r sqlRowsErr) Err() error { return sqliteErr(r.Rows.Err()) }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error { return sqliteErr(r.r.Scan(dest...)) }

// sqliteErr marks the errors that mean "not now" (the file is locked past
// busy_timeout, the disk failed or is full) as ErrUnavailable.
func sqliteErr(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
		return unavailable(err)
	}
	return err
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
