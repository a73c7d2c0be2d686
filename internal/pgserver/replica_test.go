package pgserver_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/golive-dev/golive/internal/pgserver"
	"github.com/golive-dev/golive/internal/pgtest"
)

// TestStandbyPromote: a standby made by Standby streams synchronously (a
// commit on the primary waits for it and the row is there), and after
// the primary is killed Promote makes it a primary that takes writes.
func TestStandbyPromote(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	pgtest.Require(t)
	ctx := context.Background()
	o := pgserver.Options{Password: "s3cret", Settings: map[string]string{"jit": "off"}}
	primary, err := pgserver.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	ci := fmt.Sprintf("host=127.0.0.1 port=%d user=%s", primary.Port(), pgserver.Superuser)
	standby, err := pgserver.Standby(ctx, o, ci, ci)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	if err := standby.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := primary.SetConf(map[string]string{"synchronous_standby_names": "*"}); err != nil {
		t.Fatal(err)
	}
	if err := primary.Reload(); err != nil {
		t.Fatal(err)
	}
	pc, err := pgx.Connect(ctx, primary.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	// The reload lands asynchronously.
	var state string
	for deadline := time.Now().Add(time.Minute); ; {
		err := pc.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication").Scan(&state)
		if err == nil && state == "sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby not synchronous: %q %v", state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := pc.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if st, err := standby.ClusterState(ctx); err != nil || st != pgserver.StateRecovery {
		t.Fatalf("standby state %q %v", st, err)
	}
	primary.Kill()
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		st, err := standby.ClusterState(ctx)
		if err == nil && st == pgserver.StateProduction {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(standby.LogFile())
			t.Fatalf("not promoted: %q %v\n%s", st, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sc, err := pgx.Connect(ctx, standby.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close(ctx)
	var x int
	if err := sc.QueryRow(ctx, "INSERT INTO t VALUES (8) RETURNING (SELECT sum(x) FROM t)").Scan(&x); err != nil || x != 7 {
		t.Fatalf("after the promotion: %d %v (want the acknowledged 7 there and a write taken)", x, err)
	}
}
