package store

import (
	"context"
	"errors"
	"fmt"
)

// engine is one database behind the Store: SQLite (sqlite.go) or
// PostgreSQL (postgres.go). The registry's rules (idempotency, tickets,
// audit, sealing) are written once against it; an engine only runs SQL,
// with ? placeholders, and says what its errors mean.
type engine interface {
	name() string
	// reads runs the hot point lookups (idempotency keys, certificates,
	// pharmacies); scans the lists and counts.
	reads() querier
	scans() querier
	// begin opens a write transaction for a batch of the writer.
	begin(ctx context.Context) (writeTx, error)
	// writers is how many writer goroutines may run batches at once.
	writers() int
	// inTx runs fn in one transaction outside the writer (migrations and
	// the seal check at Open), serialized against other processes opening
	// the same database.
	inTx(ctx context.Context, fn func(tx querier) error) error
	// migrationsTable is the DDL of schema_migrations in this dialect.
	migrationsTable() string
	// close releases the engine; the writers have stopped.
	close() error
}

// querier is what the read pools and a write transaction offer. Queries
// use ? placeholders.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (result, error)
	QueryContext(ctx context.Context, query string, args ...any) (rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) scanner
	// lock is the suffix that makes a SELECT lock the rows it read until
	// the transaction ends: " FOR NO KEY UPDATE" in a PostgreSQL write
	// transaction (other writers run concurrently), "" elsewhere (SQLite
	// has one writer; a read needs no lock).
	lock() string
}

type result interface {
	RowsAffected() (int64, error)
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

type scanner interface{ Scan(dest ...any) error }

// writeTx is a batch's transaction.
type writeTx interface {
	querier
	// changes counts the rows changed in this transaction so far, so the
	// writer can tell whether a failed write left anything behind.
	changes(ctx context.Context) (int64, error)
	// aborted: a statement failed and the database refuses the rest of
	// the transaction (PostgreSQL); it must be rolled back.
	aborted() bool
	commit(ctx context.Context) error
	rollback()
}

// errRetry marks a write that lost a race with a concurrent transaction
// (another writer or another portal bound the same idempotency key first,
// a deadlock): run in a new transaction it sees the winner's rows.
var errRetry = errors.New("store: concurrent write; retrying")

// unavailable marks err as a database that cannot be reached or cannot
// take the change now: callers answer 503 and clients retry.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// isContextErr: the caller's own context ended; not the database's fault.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
