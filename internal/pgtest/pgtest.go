// Package pgtest gives tests a PostgreSQL: one throwaway server per test
// binary (started on first use, stopped by Main), a fresh database per
// test, and dedicated servers for tests that stop or crash theirs.
//
// Tests that need PostgreSQL call Require (directly or through
// NewDatabase/NewServer): without the binaries they skip, or fail when
// GOLIVE_REQUIRE_POSTGRES=1 (CI), the way testbedtest treats Docker.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/golive-dev/golive/internal/pgserver"
)

// RequireEnv set to 1 turns a missing PostgreSQL into a test failure.
const RequireEnv = "GOLIVE_REQUIRE_POSTGRES"

// adminTimeout bounds one administrative statement (CREATE DATABASE).
const adminTimeout = time.Minute

var (
	mainCalled atomic.Bool

	startOnce sync.Once
	startErr  error
	template  *pgserver.Server // initdb'd once, never started: copied by every server
	shared    *pgserver.Server

	adminMu sync.Mutex
	admin   *pgx.Conn

	dbSeq atomic.Int64
)

// Main runs the tests, then stops and removes the servers they started.
// Call it from TestMain of every package that uses pgtest.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	adminMu.Lock()
	if admin != nil {
		_ = admin.Close(context.Background())
	}
	adminMu.Unlock()
	for _, s := range []*pgserver.Server{shared, template} {
		if s != nil {
			if err := s.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "pgtest:", err)
			}
		}
	}
	return code
}

// Require skips t when no PostgreSQL binaries are installed, or fails it
// when GOLIVE_REQUIRE_POSTGRES=1.
func Require(t testing.TB) {
	t.Helper()
	if _, err := pgserver.FindBinDir(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but PostgreSQL is not installed: %v", RequireEnv, err)
		}
		t.Skipf("no PostgreSQL (set %s=1 to fail instead): %v", RequireEnv, err)
	}
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main from this package's TestMain, or the servers outlive the tests")
	}
}

func start() {
	startOnce.Do(func() {
		ctx := context.Background()
		template, startErr = pgserver.Init(ctx, pgserver.Options{})
		if startErr != nil {
			return
		}
		shared, startErr = pgserver.Start(ctx, pgserver.Options{Template: template.DataDir()})
	})
}

// Server is the test binary's shared server, started on first use. Do not
// stop it: other tests use it (NewServer gives one of your own).
func Server(t testing.TB) *pgserver.Server {
	t.Helper()
	Require(t)
	start()
	if startErr != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", startErr)
	}
	return shared
}

// NewDatabase creates an empty database on the shared server and returns
// its connection URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	srv := Server(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := createDatabase(srv, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return srv.DSN(name)
}

func createDatabase(srv *pgserver.Server, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	adminMu.Lock()
	defer adminMu.Unlock()
	if admin == nil || admin.IsClosed() {
		c, err := pgx.Connect(ctx, srv.DSN("postgres"))
		if err != nil {
			return fmt.Errorf("connect to %s: %w", srv.DSN("postgres"), err)
		}
		admin = c
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// NewServer starts a server of the test's own (it may stop, kill and
// restart it) with extra settings; it is removed when the test ends.
// DSN("postgres") names its default database.
func NewServer(t testing.TB, settings map[string]string) *pgserver.Server {
	t.Helper()
	Require(t)
	start()
	if startErr != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", startErr)
	}
	s, err := pgserver.Start(context.Background(), pgserver.Options{Template: template.DataDir(), Settings: settings})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}
