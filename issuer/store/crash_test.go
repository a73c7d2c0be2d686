package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	crashDirEnv   = "STORE_CRASH_HELPER_DIR"
	crashDSNEnv   = "STORE_CRASH_HELPER_DSN" // set: the registry is this PostgreSQL database
	crashRoundEnv = "STORE_CRASH_HELPER_ROUND"
	crashPharmacy = "ph_crash"
)

// TestCrashHelper is not a test: the crash test re-executes the test
// binary with this test selected and the environment set. It records
// certificates from several goroutines and prints "ACK <uvci>" after each
// acknowledged write, until it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	round := os.Getenv(crashRoundEnv)
	db := testDB{backend: BackendSQLite, dir: dir, dsn: os.Getenv(crashDSNEnv)}
	if db.dsn != "" {
		db.backend = BackendPostgres
	}
	s, err := db.openErr(context.Background(), Options{GroupCommitWindow: time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	deadline := time.Now().Add(15 * time.Second) // in case the parent never kills us
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				uvci := fmt.Sprintf("URN:UVCI:01:DE:CRASH%sG%dN%d", round, g, i)
				_, err := s.IssueRecord(context.Background(), certFor(crashPharmacy, uvci, time.Now()),
					IdemBinding{Key: uvci, RequestHash: "h"}, hc1For(uvci))
				if err != nil {
					fmt.Fprintln(os.Stderr, "issue:", err)
					os.Exit(3)
				}
				out.Lock()
				os.Stdout.WriteString("ACK " + uvci + "\n") // one write(2) per line: nothing buffered in the process
				out.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrashSafety kills a writing process with SIGKILL at a random moment,
// several times, and checks that every write it acknowledged is there
// after reopening.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	forEachBackend(t, testCrashSafety)
}

func testCrashSafety(t *testing.T, db testDB) {
	ctx := context.Background()
	s := db.open(t, Options{})
	if _, err := s.CreatePharmacy(ctx, Pharmacy{ID: crashPharmacy, TelematikID: "3-01.2.100001.9999", Status: PharmacyActive}, "admin"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	const rounds = 6
	total := 0
	for round := range rounds {
		acked := runCrashRound(t, db, round)
		total += len(acked)
		s, err := db.openErr(ctx, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if db.backend == BackendSQLite {
			var check string
			if err := queryRow(s, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
				t.Errorf("round %d: integrity_check %q, %v", round, check, err)
			}
		}
		for _, uvci := range acked {
			if _, err := s.Certificate(ctx, uvci); err != nil {
				t.Errorf("round %d: acknowledged %s lost: %v", round, uvci, err)
				continue
			}
			if hc1, err := s.CertificateHC1(ctx, uvci); err != nil || !bytes.Equal(hc1, hc1For(uvci)) {
				t.Errorf("round %d: HC1 of %s: %q, %v", round, uvci, hc1, err)
			}
		}
		s.Close()
		t.Logf("round %d: %d acknowledged writes survived SIGKILL", round, len(acked))
	}
	if total == 0 {
		t.Fatal("no writes acknowledged: the test checked nothing")
	}
}

func runCrashRound(t *testing.T, db testDB, round int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+db.dir, crashDSNEnv+"="+db.dsn, fmt.Sprintf("%s=%d", crashRoundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var acked []string
	collect := func(line string) {
		if uvci, ok := strings.CutPrefix(line, "ACK "); ok {
			acked = append(acked, uvci)
		}
	}
	// Wait for the first acknowledgement, then kill at a random moment.
	first := time.After(15 * time.Second)
	for len(acked) == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: helper exited early: %s", round, stderr.String())
			}
			collect(line)
		case <-first:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: no acknowledgement within 15s: %s", round, stderr.String())
		}
	}
	kill := time.After(time.Duration(20+rand.IntN(400)) * time.Millisecond)
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			collect(line)
		case <-kill:
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatalf("kill: %v", err)
			}
			kill = nil
		}
	}
	err = cmd.Wait()
	if kill != nil {
		t.Fatalf("round %d: helper exited by itself (%v): %s", round, err, stderr.String())
	}
	return acked
}
