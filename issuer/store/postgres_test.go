package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/golive-dev/golive/internal/pgtest"
)

// TestPostgresServerCrash kills the PostgreSQL server (every process, no
// checkpoint) under concurrent writes. While it is down every write and
// read fails with ErrUnavailable (never a driver error a caller would
// turn into a 500); after a restart the same Store writes again without
// being reopened; and every write acknowledged before the crash is there.
func TestPostgresServerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server of its own")
	}
	srv := pgtest.NewServer(t, nil)
	db := testDB{backend: BackendPostgres, dir: t.TempDir(), dsn: srv.DSN("postgres")}
	ctx := context.Background()
	s := db.open(t, Options{WriteTimeout: 5 * time.Second})
	p := mustPharmacy(t, s, "3-01.2.100001.1500")

	var (
		mu      sync.Mutex
		acked   []string
		errs    []error
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		crashed = make(chan struct{})
	)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				uvci := fmt.Sprintf("URN:UVCI:01:DE:PGCRASH%dN%d", g, i)
				_, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{Key: uvci, RequestHash: "h"}, hc1For(uvci))
				mu.Lock()
				if err == nil {
					acked = append(acked, uvci)
				} else {
					errs = append(errs, err)
				}
				mu.Unlock()
				select {
				case <-crashed:
					if err != nil {
						time.Sleep(20 * time.Millisecond) // a client backing off
					}
				default:
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor("the first acknowledged writes", func() bool { return count() >= 50 })
	srv.Kill()
	close(crashed)
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()

	// Down: reads and writes fail as unavailable.
	waitFor("writes to fail", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) >= 8 })
	if _, err := s.LookupIdempotency(ctx, p.ID, "nope"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("read while the server is down: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping while the server is down: %v, want ErrUnavailable", err)
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("writes after the restart", func() bool { return count() >= ackedBefore+50 })
	close(stop)
	wg.Wait()

	for _, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("a write failed with %v; want ErrUnavailable (503, retry)", err)
		}
	}
	for _, uvci := range acked {
		if hc1, err := s.CertificateHC1(ctx, uvci); err != nil || !bytes.Equal(hc1, hc1For(uvci)) {
			t.Errorf("acknowledged %s after the crash: %q, %v", uvci, hc1, err)
		}
	}
	t.Logf("%d writes acknowledged (%d before the crash), %d failed as unavailable", len(acked), ackedBefore, len(errs))
}

// TestTwoPortalsOneRegistry: two Stores (two portals) on one database
// record certificates with the same idempotency keys at once. Each key
// ends with exactly one UVCI and every caller learns that one: the loser
// of a race reruns its write and finds the winner's binding.
func TestTwoPortalsOneRegistry(t *testing.T) {
	db := newTestDB(t, BackendPostgres)
	ctx := context.Background()
	portals := []*Store{db.open(t, Options{}), db.open(t, Options{})}
	p := mustPharmacy(t, portals[0], "3-01.2.100001.1600")
	const (
		workers = 24
		perWork = 5
		keys    = 7
	)
	var (
		mu      sync.Mutex
		winners = map[string]map[string]bool{}
		fresh   int
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for g := range workers {
		wg.Go(func() {
			<-start
			s := portals[g%2]
			for i := range perWork {
				key := fmt.Sprintf("key-%d", (g+i)%keys)
				uvci := fmt.Sprintf("URN:UVCI:01:DE:TWO%02dI%d", g, i)
				existing, err := s.IssueRecord(ctx, certFor(p.ID, uvci, time.Now()), IdemBinding{Key: key, RequestHash: "h-" + key}, nil)
				if err != nil {
					t.Errorf("portal %d: IssueRecord(%s): %v", g%2, key, err)
					return
				}
				won := uvci
				if existing != nil {
					won = existing.UVCI
				}
				mu.Lock()
				if winners[key] == nil {
					winners[key] = map[string]bool{}
				}
				winners[key][won] = true
				if existing == nil {
					fresh++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	for key, set := range winners {
		if len(set) != 1 {
			t.Errorf("key %s: callers were told %d UVCIs: %v", key, len(set), set)
		}
	}
	t.Logf("reruns after a lost race: %d + %d", portals[0].Stats().Reruns, portals[1].Stats().Reruns)
	all, err := portals[1].CertificatesByPharmacy(ctx, p.ID)
	if err != nil || len(all) != keys || fresh != keys {
		t.Errorf("%d certificates stored, %d acknowledged as new; want %d each (%v)", len(all), fresh, keys, err)
	}
}

// TestPostgresDSNs: a multi-host DSN whose first host is down reaches the
// second (how portals find a primary after a failover), and settings that
// would acknowledge a write before it is durable, or on a read-only
// standby, are refused at Open.
func TestPostgresDSNs(t *testing.T) {
	srv := pgtest.Server(t)
	dsn := pgtest.NewDatabase(t)
	dbname := strings.TrimPrefix(mustParseURL(t, dsn).Path, "/")
	dead := deadPort(t)
	ctx := context.Background()
	keyDir := t.TempDir() // one registry, one seal key
	// options=-c name=value, escaped the way libpq URLs want (%20, %3D).
	withOpts := func(o string) string {
		return dsn + "&options=" + strings.NewReplacer(" ", "%20", "=", "%3D").Replace(o)
	}
	tests := []struct {
		name    string
		dsn     string
		wantErr error
	}{
		{"keyword DSN, first host down", fmt.Sprintf("host=127.0.0.1,%s port=%d,%d user=golive dbname=%s sslmode=disable target_session_attrs=read-write connect_timeout=5",
			srv.Host(), dead, srv.Port(), dbname), nil},
		{"URL, first host down", fmt.Sprintf("postgres://golive@127.0.0.1:%d,%s:%d/%s?sslmode=disable&target_session_attrs=read-write",
			dead, srv.Host(), srv.Port(), dbname), nil},
		{"synchronous_commit=off", withOpts("-c synchronous_commit=off"), ErrInvalid},
		{"read-only session", withOpts("-c default_transaction_read_only=on"), ErrUnavailable},
		{"nothing listening", fmt.Sprintf("postgres://golive@127.0.0.1:%d/x?sslmode=disable&connect_timeout=5", dead), ErrUnavailable},
		{"not a DSN", "host='unterminated", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenPostgres(ctx, tc.dsn, keyDir, Options{})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenPostgres: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "cannot parse") && tc.name != "not a DSN" {
					t.Fatalf("the test's DSN does not parse: %v", err)
				}
				return
			}
			defer s.Close()
			if _, err := s.CreatePharmacy(ctx, Pharmacy{TelematikID: "3-01.2.100001.17" + fmt.Sprint(len(tc.name))}, "admin"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// deadPort is a loopback port nothing listens on.
func deadPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestPgSQL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"},
		{"UPDATE t SET s = 'what?' WHERE id = ?", "UPDATE t SET s = 'what?' WHERE id = $1"},
		{"INSERT INTO t VALUES (?, 'it''s', ?)", "INSERT INTO t VALUES ($1, 'it''s', $2)"},
	}
	for _, tc := range tests {
		if got := pgSQL(tc.in); got != tc.want {
			t.Errorf("pgSQL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRegistryKindAndRedact(t *testing.T) {
	kinds := []struct {
		in, want string
		bad      bool
	}{
		{"", BackendSQLite, false},
		{"sqlite", BackendSQLite, false},
		{"postgres://u:pw@db1:5432,db2:5432/registry?target_session_attrs=read-write", BackendPostgres, false},
		{"postgresql://db/registry", BackendPostgres, false},
		{"host=db1,db2 dbname=registry target_session_attrs=read-write", BackendPostgres, false},
		{"mysql://db/registry", "", true},
		{"/var/lib/registry.db", "", true},
	}
	for _, tc := range kinds {
		got, err := RegistryKind(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("RegistryKind(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("RegistryKind(%q): %v, want ErrInvalid", tc.in, err)
		}
	}
	for _, dsn := range []string{
		"postgres://golive:s3cret-pw@db1:5432,db2:5432/registry?sslmode=disable",
		"postgres://golive@db/registry?password=s3cret-pw",
		"host=db1 password=s3cret-pw dbname=registry",
		"host=db1 password='s3cret-pw with space' dbname=registry",
	} {
		if got := RedactDSN(dsn); strings.Contains(got, "s3cret") || !strings.Contains(got, "registry") {
			t.Errorf("RedactDSN(%q) = %q", dsn, got)
		}
	}
}

// TestPgErrClassification: what counts as "unavailable" (503, retry) and
// what stays a plain error (constraint violations, bugs: not a database
// outage).
func TestPgErrClassification(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		unavail, retry bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true, false},
		{"connection closed", pgconn.ErrConnClosed, true, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true, false},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true, false},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false, false},
		{"caller gave up", context.Canceled, false, false},
		{"scan into wrong type", errors.New("can't scan into dest[0]"), false, false},
	}
	for _, tc := range tests {
		got := pgErr(tc.err)
		if errors.Is(got, ErrUnavailable) != tc.unavail || errors.Is(got, errRetry) != tc.retry {
			t.Errorf("%s: %v: unavailable %v, retry %v; want %v, %v", tc.name, got,
				errors.Is(got, ErrUnavailable), errors.Is(got, errRetry), tc.unavail, tc.retry)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: the driver error is not kept: %v", tc.name, got)
		}
	}
}

// TestTwoPortalsRedeemOneToken: a refresh token presented to two portals
// at once is redeemed by one; the other sees the replay it is, and the
// family is revoked (the row lock serializes the two transactions).
func TestTwoPortalsRedeemOneToken(t *testing.T) {
	db := newTestDB(t, BackendPostgres)
	ctx := context.Background()
	portals := []*Store{db.open(t, Options{}), db.open(t, Options{})}
	now := time.Now()
	exp := now.Add(time.Hour)
	for round := range 10 {
		fam := fmt.Sprintf("f%d", round)
		tok := fam + "-login"
		if err := portals[0].AddRefreshToken(ctx, RefreshToken{Hash: tok, Family: fam, Subject: "ph-1", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		prevs := make([]RefreshToken, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range portals {
			wg.Go(func() {
				prevs[i], errs[i] = s.RedeemRefreshToken(ctx, tok, now, RefreshToken{Hash: fmt.Sprintf("%s-next%d", fam, i), ExpiresAt: exp})
			})
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || prevs[0].Used == prevs[1].Used {
			t.Fatalf("round %d: redemptions %+v, errors %v; want one live, one replay", round, prevs, errs)
		}
		winner := 0
		if prevs[0].Used {
			winner = 1
		}
		next, err := portals[0].RedeemRefreshToken(ctx, fmt.Sprintf("%s-next%d", fam, winner), now, RefreshToken{Hash: fam + "-x", ExpiresAt: exp})
		if err != nil || !next.Revoked {
			t.Fatalf("round %d: the winner's successor after the replay: %+v %v; want revoked", round, next, err)
		}
	}
}
