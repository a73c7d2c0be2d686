package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the writer's statements prepared: the SQLite driver
// would otherwise parse and plan every statement of every write again
// (a third of the writer's CPU under load). A statement is prepared on
// the writer's one connection between transactions (the connection is
// busy during one), the first time it was used; until then it runs
// unprepared. Writer goroutine only.
type stmtCache struct {
	db   *sql.DB
	m    map[string]*sql.Stmt
	want map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// prepareWanted prepares the statements transactions missed; call it with
// no transaction open. A statement that fails to prepare keeps running
// unprepared.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	for q := range c.want {
		if st, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = st
		}
		delete(c.want, q)
	}
}

func (c *stmtCache) close() {
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// cachedTx is a write transaction that runs cached statements.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (t cachedTx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.c.m[q]; st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	t.c.want[q] = true
	return nil
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return sqlResult(st.ExecContext(ctx, args...))
	}
	return sqlResult(t.tx.ExecContext(ctx, q, args...))
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(t.tx.QueryContext(ctx, q, args...))
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	if st := t.stmt(ctx, q); st != nil {
		return sqlRow{st.QueryRowContext(ctx, args...)}
	}
	return sqlRow{t.tx.QueryRowContext(ctx, q, args...)}
}

func (cachedTx) lock() string { return "" }

// readCache is the read pool's counterpart for the hot point lookups
// (idempotency keys on every issuance, certificates, pharmacies):
// database/sql prepares a cached statement once per pooled connection and
// the driver keeps it compiled. Safe for concurrent use. Only the fixed
// statements of this package pass through it; past maxReadStmts it stops
// preparing, so a caller building SQL dynamically cannot grow it.
type readCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxReadStmts = 32

func newReadCache(db *sql.DB) *readCache { return &readCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *readCache) stmt(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st
	}
	if len(c.m) >= maxReadStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil // run it unprepared; the error shows there
	}
	c.m[q] = st
	return st
}

func (c *readCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

func (c *readCache) ExecContext(ctx context.Context, q string, args ...any) (result, error) {
	return sqlResult(c.db.ExecContext(ctx, q, args...)) // the read pool is query_only: this fails, as it should
}

func (c *readCache) QueryContext(ctx context.Context, q string, args ...any) (rows, error) {
	if st := c.stmt(ctx, q); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(c.db.QueryContext(ctx, q, args...))
}

func (c *readCache) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	if st := c.stmt(ctx, q); st != nil {
		return sqlRow{st.QueryRowContext(ctx, args...)}
	}
	return sqlRow{c.db.QueryRowContext(ctx, q, args...)}
}

func (*readCache) lock() string { return "" }
