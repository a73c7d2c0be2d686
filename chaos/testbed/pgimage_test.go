package testbed_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/internal/pgserver"
)

// TestPGImage: the PostgreSQL image is built from the machine's binaries
// without pulling anything, carries the testbed label and its content
// hash, and a second call finds it instead of building again.
func TestPGImage(t *testing.T) {
	testbedtest.RequireDocker(t)
	bin, err := pgserver.FindBinDir()
	if err != nil {
		if os.Getenv("GOLIVE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("GOLIVE_REQUIRE_POSTGRES=1 but PostgreSQL is not installed: %v", err)
		}
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	ctx := context.Background()
	start := time.Now()
	tag, err := testbed.EnsurePGImage(ctx, bin, 101, 104, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if !strings.HasPrefix(tag, testbed.PGImageRepo+":") {
		t.Errorf("tag %q", tag)
	}
	start = time.Now()
	again, err := testbed.EnsurePGImage(ctx, bin, 101, 104, nil)
	if err != nil || again != tag {
		t.Fatalf("second call: %q, %v; want %q", again, err, tag)
	}
	t.Logf("image %s: first call %v, second %v", tag, first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	info, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config == nil || info.Config.Labels[testbed.LabelTestbed] != "1" || len(info.Config.Labels["dev.golive.postgres.sha256"]) != 64 {
		t.Errorf("labels %v", info.Config)
	}
}
