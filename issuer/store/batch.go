package store

import (
	"context"
	"fmt"
)

// sqlStmt is one statement of a write and what its failure means.
type sqlStmt struct {
	q    string
	args []any
	fail func(err error) error // maps the statement's error for the caller
}

// batcher is a write transaction that sends several statements at once.
type batcher interface {
	execBatch(ctx context.Context, stmts []sqlStmt) error
}

// execAll runs stmts in order and returns the first failure, mapped by
// its statement. A write's statements after its checks (a certificate, its
// binding and its audit event) do not depend on each other's results:
// PostgreSQL gets them in one round trip (a pgx pipeline) instead of one
// each; SQLite, in this process, runs them one by one.
func execAll(ctx context.Context, q querier, stmts ...sqlStmt) error {
	if b, ok := q.(batcher); ok && len(stmts) > 1 {
		return b.execBatch(ctx, stmts)
	}
	for _, st := range stmts {
		if _, err := q.ExecContext(ctx, st.q, st.args...); err != nil {
			return st.fail(err)
		}
	}
	return nil
}

// wrapping is the fail of a statement whose errors need no mapping.
func wrapping(format string, args ...any) func(error) error {
	what := fmt.Sprintf(format, args...)
	return func(err error) error { return fmt.Errorf("%s: %w", what, err) }
}
