package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migration is one schema step; versions run 1, 2, 3... without gaps.
type migration struct {
	version int
	name    string
	sql     string
}

// The embedded, ordered lists, one per dialect with the same versions: a
// bad file name is a build mistake, so it panics at init rather than at
// some later Open.
var (
	sqliteMigrations   = mustLoadMigrations(migrationFS, "migrations/sqlite")
	postgresMigrations = mustLoadMigrations(migrationFS, "migrations/postgres")
)

func init() {
	if len(sqliteMigrations) != len(postgresMigrations) {
		panic(fmt.Sprintf("store: %d SQLite migrations but %d PostgreSQL ones: every schema version needs both",
			len(sqliteMigrations), len(postgresMigrations)))
	}
}

func mustLoadMigrations(fsys fs.FS, dir string) []migration {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// loadMigrations reads NNNN_name.sql files and checks they number 1..n.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %q: want version %d (no gaps or duplicates)", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction together with its schema_migrations row. A database already
// at a version this binary does not know is refused: running old code
// against a newer schema could corrupt it silently. The engine serializes
// these transactions against other processes migrating the same database
// (several portals starting at once).
func migrate(ctx context.Context, e engine, ms []migration, clock func() time.Time) error {
	var current int
	err := e.inTx(ctx, func(tx querier) error {
		if _, err := tx.ExecContext(ctx, e.migrationsTable()); err != nil {
			return fmt.Errorf("store: migrations table: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("store: schema version: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("store: database is at schema version %d, this binary knows up to %d (was it opened by a newer release?): %w",
			current, len(ms), ErrSchemaTooNew)
	}
	for _, m := range ms[current:] {
		err := e.inTx(ctx, func(tx querier) error {
			// Another process may have applied it since we looked.
			var done int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, clock().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int { return len(sqliteMigrations) }
