package testbed

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestSeedRegistry: a seed's SQLite registry and seal key are copied into
// the run's data directory (the seed keeps its own); for an existing
// PostgreSQL registry only the seal key is; a seed without a registry,
// or a postgres seed without the filled database's DSN, is refused.
func TestSeedRegistry(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	seed := t.TempDir()
	if err := os.MkdirAll(filepath.Join(seed, "registry"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, key := []byte("SQLite format 3\x00 rows"), bytes.Repeat([]byte{7}, 32)
	os.WriteFile(filepath.Join(seed, "registry", "registry.db"), db, 0o600)
	os.WriteFile(filepath.Join(seed, "registry", "seal.key"), key, 0o600)

	data := t.TempDir()
	if err := seedRegistry(ctx, Options{RegistrySeed: seed, Registry: RegistrySQLite, Logger: log}, data); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"registry.db": db, "seal.key": key} {
		got, err := os.ReadFile(filepath.Join(data, "registry", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %q, %v", name, got, err)
		}
		if fi, _ := os.Stat(filepath.Join(data, "registry", name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}

	pg := t.TempDir()
	if err := seedRegistry(ctx, Options{RegistrySeed: seed, Registry: RegistryPostgres, RegistryDSN: "postgres://h/db", Logger: log}, pg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pg, "registry", "registry.db")); !os.IsNotExist(err) {
		t.Fatalf("an existing PostgreSQL registry got a SQLite file too: %v", err)
	}
	if err := seedRegistry(ctx, Options{RegistrySeed: seed, Registry: RegistryPostgres, Logger: log}, t.TempDir()); err == nil {
		t.Fatal("a postgres seed without the filled database's DSN was accepted")
	}
	if err := seedRegistry(ctx, Options{RegistrySeed: t.TempDir(), Registry: RegistrySQLite, Logger: log}, t.TempDir()); err == nil {
		t.Fatal("a seed without a registry was accepted")
	}
}
