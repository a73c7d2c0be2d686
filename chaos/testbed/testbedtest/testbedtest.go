// Package testbedtest holds what tests of the testbed and of chaos share:
// a static golive binary built once per test process, the Docker
// requirement switch (GOLIVE_REQUIRE_DOCKER=1 turns a missing daemon into
// a failure) and the after-suite check that nothing was left running.
package testbedtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/internal/pgserver"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
	runSeq    atomic.Int64
)

// Binary returns a static golive executable: $GOLIVE_TESTBED_BINARY when
// set (CI can build it once), else one built with CGO_ENABLED=0 into a
// temporary directory on first use.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GOLIVE_TESTBED_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "golive-testbin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "golive")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "github.com/golive-dev/golive/cmd/golive")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building a static golive: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// RequireDocker skips the test when no Docker daemon answers, or fails it
// when GOLIVE_REQUIRE_DOCKER=1 (CI). Under -short it skips without asking
// Docker (containers take tens of seconds to start on a busy machine),
// unless GOLIVE_REQUIRE_DOCKER=1: a requirement is never skipped.
func RequireDocker(t testing.TB) {
	t.Helper()
	required := os.Getenv("GOLIVE_REQUIRE_DOCKER") == "1"
	if testing.Short() && !required {
		t.Skip("needs Docker: -short skips it (GOLIVE_REQUIRE_DOCKER=1 runs it anyway)")
	}
	if err := testbed.DockerAvailable(context.Background()); err != nil {
		if required {
			t.Fatalf("GOLIVE_REQUIRE_DOCKER=1 but Docker is unreachable: %v", err)
		}
		t.Skipf("no Docker daemon (set GOLIVE_REQUIRE_DOCKER=1 to fail instead): %v", err)
	}
}

// RequirePostgres skips the test without PostgreSQL's binaries, or fails
// it when GOLIVE_REQUIRE_POSTGRES=1 (CI). Testbeds start their own servers
// from the binaries, so this only looks for them (pgtest.Require starts a
// shared server, which a testbed does not use).
func RequirePostgres(t testing.TB) {
	t.Helper()
	if _, err := pgserver.FindBinDir(); err != nil {
		if os.Getenv("GOLIVE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("GOLIVE_REQUIRE_POSTGRES=1 but PostgreSQL is not installed: %v", err)
		}
		t.Skipf("no PostgreSQL (set GOLIVE_REQUIRE_POSTGRES=1 to fail instead): %v", err)
	}
}

// RunPrefix starts the run id of every testbed this test process starts,
// so the leftover check finds exactly its own.
func RunPrefix() string { return fmt.Sprintf("gotest%d-", os.Getpid()) }

// RunID is a fresh run id under RunPrefix.
func RunID(name string) string {
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(name))
	if len(name) > 12 {
		name = name[:12]
	}
	return fmt.Sprintf("%s%d%s", RunPrefix(), runSeq.Add(1), name)
}

// Main runs the tests, then removes the built binary and fails the run if
// any container, network, child process or work directory of this
// process's testbeds is left (removing them too, so one failure does not
// leak into the next run).
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if left := Leftovers(); left != "" {
		fmt.Fprintln(os.Stderr, "FAIL: testbed leftovers after the suite:\n"+left)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Leftovers describes (and removes) what this process's testbeds left;
// "" when nothing.
func Leftovers() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := testbed.CleanOptions{All: true, RunPrefix: RunPrefix(), DryRun: true}
	found, err := testbed.Clean(ctx, o)
	if err != nil {
		return "listing leftovers: " + err.Error()
	}
	if found.Empty() {
		return ""
	}
	o.DryRun = false
	_, _ = testbed.Clean(ctx, o)
	return fmt.Sprintf("  containers: %v\n  networks: %v\n  processes: %v\n  dirs: %v",
		found.Containers, found.Networks, found.Processes, found.Dirs)
}
