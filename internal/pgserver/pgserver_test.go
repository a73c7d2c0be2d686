package pgserver_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/golive-dev/golive/internal/pgserver"
	"github.com/golive-dev/golive/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestLifecycle: a server answers SQL, keeps a committed row through a
// crash (SIGKILL of every process, then recovery), refuses connections
// while down, and leaves nothing behind after Close.
func TestLifecycle(t *testing.T) {
	s := pgtest.NewServer(t, map[string]string{"application_name": "golive-pgserver-test"})
	ctx := context.Background()
	if !s.Running() {
		t.Fatal("not running after start")
	}
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var fsync, sync string
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &sync); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || sync != "on" {
		t.Errorf("fsync=%s synchronous_commit=%s; both must be on to test durability", fsync, sync)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())), time.Second); err == nil {
		c.Close()
		t.Fatal("port still accepts connections after Kill")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("restart after crash: %v", err)
	}
	conn, err = pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("committed row after crash recovery: %d, %v", x, err)
	}
	if err := s.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
	conn.Close(ctx)
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close", dir)
	}
}

func TestFindBinDirOverride(t *testing.T) {
	t.Setenv(pgserver.BinDirEnv, t.TempDir())
	if _, err := pgserver.FindBinDir(); err == nil {
		t.Fatal("an empty directory was accepted as the PostgreSQL bin directory")
	}
}
