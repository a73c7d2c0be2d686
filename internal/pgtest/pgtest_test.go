package pgtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/golive-dev/golive/internal/pgserver"
	"github.com/golive-dev/golive/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const helperEnv = "PGTEST_REQUIRE_HELPER"

// TestRequireHelper is not a test: TestRequire runs it in a child process
// where no PostgreSQL can be found.
func TestRequireHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestRequire")
	}
	pgtest.Require(t)
	t.Log("REACHED: Require let the test go on")
}

// TestRequire: without PostgreSQL a test that needs it skips, and fails
// under GOLIVE_REQUIRE_POSTGRES=1, as CI sets it.
func TestRequire(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		require  string
		wantFail bool
		want     string
	}{
		{"", false, "SKIP"},
		{"1", true, "GOLIVE_REQUIRE_POSTGRES=1 but PostgreSQL is not installed"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireHelper$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", pgserver.BinDirEnv+"="+empty, pgtest.RequireEnv+"="+tc.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "REACHED") {
			t.Errorf("%s=%q: err %v, output:\n%s\nwant failure %v and %q", pgtest.RequireEnv, tc.require, err, out, tc.wantFail, tc.want)
		}
	}
}

// TestFreshDatabases: each NewDatabase is a database of its own.
func TestFreshDatabases(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b || !strings.HasPrefix(a, "postgres://") {
		t.Fatalf("NewDatabase gave %q and %q", a, b)
	}
}
