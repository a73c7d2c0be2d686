package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgEngine is the shared registry: a PostgreSQL database several portals
// use at once. Reads go through one pool; writes through a second pool
// of Options.Writers connections, one per writer goroutine, so a burst of
// reads never holds up a commit.
//
// The DSN is pgx's (a URL or libpq keywords), so several hosts with
// target_session_attrs=read-write reach whichever is the primary: after a
// failover, broken connections leave the pools and new ones find the new
// primary. The store sets no session setting that weakens durability: a
// COMMIT returns as the server's synchronous_commit says (with a
// synchronous standby: once the standby has the commit too), and only then
// is the write acknowledged.
type pgEngine struct {
	log          *slog.Logger
	rpool, wpool *pgxpool.Pool
	nWriters     int
	readTimeout  time.Duration
}

// migrationLock is the advisory lock key (any fixed number; "golive" in
// ASCII) that serializes Open's schema transactions across processes.
const migrationLock = 0x676f6c697665

// applicationName tells the server's views (pg_stat_activity) who we are.
const applicationName = "golive-issuer"

// OpenPostgres opens the registry in the PostgreSQL database dsn names
// (created empty by the operator; Open creates the tables), with the seal
// key at opts.SealKey or keyDir/seal.key. Every portal of one registry
// needs the same key: Open checks it against the database. A new key is
// made only for a registry that has no sealed data yet.
func OpenPostgres(ctx context.Context, dsn, keyDir string, opts Options) (*Store, error) {
	opts = withDefaults(opts)
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if keyDir == "" && opts.SealKey == "" && opts.SealKeyMaterial == nil {
		return nil, fmt.Errorf("store: open %s: %w: a seal key directory, file or key is required", RedactDSN(dsn), ErrInvalid)
	}
	eng, err := openPostgres(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if opts.SealKey == "" && opts.SealKeyMaterial == nil {
		if err := ensureDir(keyDir); err != nil {
			eng.close()
			return nil, err
		}
		// Never make a new key for a registry with sealed data: that data
		// would be lost for good. The operator must restore the key.
		if _, kerr := os.Stat(filepath.Join(keyDir, SealKeyFile)); errors.Is(kerr, os.ErrNotExist) {
			var n int
			if err := eng.scans().QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key = 'seal_check'").Scan(&n); err != nil {
				eng.close()
				return nil, fmt.Errorf("store: read seal check: %w", err)
			}
			if n > 0 {
				eng.close()
				return nil, fmt.Errorf("store: the registry in %s holds sealed data but %s is missing; restore the seal key (every portal of one registry shares it): %w",
					RedactDSN(dsn), filepath.Join(keyDir, SealKeyFile), ErrSeal)
			}
		}
	}
	key, err := sealKey(keyDir, opts)
	if err != nil {
		eng.close()
		return nil, err
	}
	return start(ctx, eng, key, opts)
}

// openPostgres connects and migrates.
func openPostgres(ctx context.Context, dsn string, opts Options) (*pgEngine, error) {
	e, err := newPgEngine(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, e, postgresMigrations, opts.Clock); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// newPgEngine makes the pools and checks the server.
func newPgEngine(ctx context.Context, dsn string, opts Options) (*pgEngine, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's message masks the password.
		return nil, fmt.Errorf("store: registry DSN: %w: %v", ErrInvalid, err)
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = applicationName
	}
	wcfg := cfg.Copy()
	wcfg.MaxConns = int32(opts.Writers)
	wcfg.MinConns = 0
	e := &pgEngine{log: opts.Logger, nWriters: opts.Writers, readTimeout: opts.WriteTimeout}
	if e.rpool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("store: registry pool: %w", err)
	}
	if e.wpool, err = pgxpool.NewWithConfig(ctx, wcfg); err != nil {
		e.rpool.Close()
		return nil, fmt.Errorf("store: registry pool: %w", err)
	}
	if err := e.checkServer(ctx, dsn); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// checkServer connects once (so a wrong DSN fails Open, not the first
// request) and refuses settings under which an acknowledged write could
// be lost or could not be made.
func (e *pgEngine) checkServer(ctx context.Context, dsn string) error {
	var syncCommit, standbys, readOnly, fsync, version string
	err := e.wpool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names'),
		current_setting('transaction_read_only'), current_setting('fsync'), current_setting('server_version')`).
		Scan(&syncCommit, &standbys, &readOnly, &fsync, &version)
	if err != nil {
		return fmt.Errorf("store: connect to registry %s: %w", RedactDSN(dsn), pgErr(err))
	}
	switch {
	case syncCommit == "off":
		return fmt.Errorf("store: registry %s has synchronous_commit=off: COMMIT would return before the write is durable, and a 201 must mean committed: %w",
			RedactDSN(dsn), ErrInvalid)
	case readOnly == "on":
		return unavailable(fmt.Errorf("store: registry %s is a read-only standby (list every host and add target_session_attrs=read-write to reach the primary)",
			RedactDSN(dsn)))
	}
	if fsync != "on" {
		e.log.Warn("store: the registry server runs with fsync=off: a crash of its machine can lose acknowledged writes", "registry", RedactDSN(dsn))
	}
	if standbys != "" && syncCommit == "local" {
		e.log.Warn("store: synchronous_commit=local: commits do not wait for the synchronous standby", "registry", RedactDSN(dsn))
	}
	e.log.Info("store: PostgreSQL registry", "registry", RedactDSN(dsn), "server_version", version,
		"synchronous_commit", syncCommit, "synchronous_standby_names", standbys, "writers", e.nWriters)
	return nil
}

func (e *pgEngine) name() string   { return BackendPostgres }
func (e *pgEngine) writers() int   { return e.nWriters }
func (e *pgEngine) reads() querier { return pgPool{p: e.rpool, timeout: e.readTimeout} }
func (e *pgEngine) scans() querier { return pgPool{p: e.rpool, timeout: e.readTimeout} }

func (*pgEngine) migrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`
}

func (e *pgEngine) begin(ctx context.Context) (writeTx, error) {
	tx, err := e.wpool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", pgErr(err))
	}
	return &pgTx{tx: tx}, nil
}

func (e *pgEngine) inTx(ctx context.Context, fn func(tx querier) error) error {
	tx, err := e.wpool.Begin(ctx)
	if err != nil {
		return pgErr(err)
	}
	t := &pgTx{tx: tx}
	defer t.rollback()
	if _, err := t.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(migrationLock)); err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	return t.commit(ctx)
}

func (e *pgEngine) close() error {
	e.rpool.Close()
	e.wpool.Close()
	return nil
}

// pgTx is a batch transaction. It remembers whether a statement failed
// (PostgreSQL then refuses the rest of the transaction) and how many rows
// the successful ones changed.
type pgTx struct {
	tx      pgx.Tx
	changed int64
	failed  bool
}

func (t *pgTx) note(tag pgconn.CommandTag, err error) {
	if err != nil {
		t.failed = true
		return
	}
	if tag.Insert() || tag.Update() || tag.Delete() {
		t.changed += tag.RowsAffected()
	}
}

func (t *pgTx) ExecContext(ctx context.Context, q string, args ...any) (result, error) {
	tag, err := t.tx.Exec(ctx, pgSQL(q), args...)
	t.note(tag, err)
	if err != nil {
		return nil, pgErr(err)
	}
	return pgResult(tag), nil
}

func (t *pgTx) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := t.tx.Query(ctx, pgSQL(q), args...)
	if err != nil {
		t.note(pgconn.CommandTag{}, err)
		return nil, pgErr(err)
	}
	return &pgRows{r: r, tx: t}, nil
}

func (t *pgTx) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	r, err := t.QueryContext(ctx, q, args...)
	return pgRow{r: r, err: err}
}

// lock is FOR NO KEY UPDATE, the lock an UPDATE of non-key columns takes
// (the store never changes a key): it does not block the FOR KEY SHARE
// lock a foreign key check takes, so a pharmacy's status change does not
// hold up the certificates being recorded for it.
func (t *pgTx) lock() string { return " FOR NO KEY UPDATE" }

// execBatch sends stmts as one pipeline: one round trip for all of them.
// The server stops at the first failure (the transaction is aborted), so
// only that statement's error is reported.
func (t *pgTx) execBatch(ctx context.Context, stmts []sqlStmt) error {
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(pgSQL(st.q), st.args...)
	}
	br := t.tx.SendBatch(ctx, b)
	var first error
	for _, st := range stmts {
		tag, err := br.Exec()
		t.note(tag, err)
		if err != nil && first == nil {
			first = st.fail(pgErr(err))
		}
	}
	if err := br.Close(); err != nil {
		t.failed = true
		if first == nil {
			first = pgErr(err)
		}
	}
	return first
}

func (t *pgTx) changes(context.Context) (int64, error) { return t.changed, nil }
func (t *pgTx) aborted() bool                          { return t.failed }

func (t *pgTx) commit(ctx context.Context) error {
	// Commit returns once the server's COMMIT returned: durable as
	// synchronous_commit says. A transaction the server had aborted
	// answers ROLLBACK, which pgx reports as ErrTxCommitRollback.
	return pgErr(t.tx.Commit(ctx))
}

func (t *pgTx) rollback() {
	// A broken connection cannot roll back; the server drops the
	// transaction with the connection.
	_ = t.tx.Rollback(context.Background())
}

// pgPool runs reads on the pool, each bounded by timeout so a database
// that stops answering fails the read instead of hanging it.
type pgPool struct {
	p       *pgxpool.Pool
	timeout time.Duration
}

func (p pgPool) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.timeout)
}

func (p pgPool) ExecContext(ctx context.Context, q string, args ...any) (result, error) {
	ctx, cancel := p.ctx(ctx)
	defer cancel()
	tag, err := p.p.Exec(ctx, pgSQL(q), args...)
	if err != nil {
		return nil, pgErr(err)
	}
	return pgResult(tag), nil
}

func (p pgPool) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	ctx, cancel := p.ctx(ctx)
	r, err := p.p.Query(ctx, pgSQL(q), args...)
	if err != nil {
		cancel()
		return nil, pgErr(err)
	}
	return &pgRows{r: r, cancel: cancel}, nil
}

func (p pgPool) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	r, err := p.QueryContext(ctx, q, args...)
	return pgRow{r: r, err: err}
}

func (pgPool) lock() string { return "" }

type pgResult pgconn.CommandTag

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// pgRows is pgx.Rows with database/sql's shape; closing it reports the
// outcome to its transaction.
type pgRows struct {
	r      pgx.Rows
	tx     *pgTx
	cancel context.CancelFunc
	done   bool
}

func (r *pgRows) Next() bool {
	if r.r.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *pgRows) Scan(dest ...any) error { return r.r.Scan(dest...) }

func (r *pgRows) Err() error { return pgErr(r.r.Err()) }

func (r *pgRows) Close() error {
	r.r.Close()
	r.finish()
	return pgErr(r.r.Err())
}

func (r *pgRows) finish() {
	if r.done {
		return
	}
	r.done = true
	if r.tx != nil {
		r.tx.note(r.r.CommandTag(), r.r.Err())
	}
	if r.cancel != nil {
		r.cancel()
	}
}

// pgRow is QueryRow over pgRows (pgx's own Row would hide the command
// tag a transaction counts changes by).
type pgRow struct {
	r   rows
	err error
}

func (r pgRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.r.Next() {
		if err := r.r.Close(); err != nil {
			return err
		}
		return pgx.ErrNoRows // wraps sql.ErrNoRows, as the callers test
	}
	if err := r.r.Scan(dest...); err != nil {
		r.r.Close()
		return err
	}
	return r.r.Close()
}

// pgSQL rewrites the store's ? placeholders as $1, $2, ... once per
// statement. The store's SQL has no ? inside string literals.
func pgSQL(q string) string {
	if v, ok := pgSQLCache.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	pgSQLCache.Store(q, out)
	return out
}

// pgSQLCache holds the rewritten statements: the store's SQL is a fixed
// set (plus a few filter combinations), so it stays small.
var pgSQLCache sync.Map

// pgErr marks the errors that mean "the database cannot take this now"
// as ErrUnavailable (and the ones a new transaction would not hit as
// errRetry too); everything else (constraint violations, bugs) stays as
// it is. The caller's own context ending is not the database's fault.
func pgErr(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) || isContextErr(err) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch class := pe.Code[:2]; {
		case pe.Code == "40001" || pe.Code == "40P01": // serialization failure, deadlock
			return fmt.Errorf("%w: %w", errRetry, unavailable(err))
		case class == "08", // connection exception
			class == "53",      // insufficient resources (too many connections, disk full)
			class == "58",      // system error (I/O)
			pe.Code == "57P01", // admin shutdown (a fast shutdown, a failover)
			pe.Code == "57P02", // crash shutdown
			pe.Code == "57P03", // cannot connect now (starting up, recovering)
			pe.Code == "57014", // query canceled (statement_timeout)
			pe.Code == "25006": // read-only transaction: we reached a standby
			return unavailable(err)
		}
		return err
	}
	var (
		ce    *pgconn.ConnectError
		ne    net.Error
		retry interface{ SafeToRetry() bool }
	)
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.As(err, &retry) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable(err)
	}
	return err
}

// constraintName is the violated constraint of a PostgreSQL error.
func constraintName(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

var (
	keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	urlPassword     = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)
)

// RedactDSN hides the password of a registry DSN (URL or keywords) for
// logs and messages.
func RedactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return urlPassword.ReplaceAllString(dsn, "${1}xxxxx@")
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
