package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad worker, --workers and k8s render input: one line, exit 2.
func TestWorkerUsageErrors(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "")
	os.Unsetenv("JOB_COMPLETION_INDEX")
	for _, args := range [][]string{
		{"worker"},
		{"worker", "--shards", t.TempDir()}, // no index, no $JOB_COMPLETION_INDEX
		{"worker", "--dir", "a", "--shards", "b", "--index", "0"},
		{"worker", "--shards", "b", "--index", "-1"},
		{"run", "launch-day", "--workers", "-1"},
		{"run", "launch-day", "--workers", "65"},
		{"run", "launch-day", "--workers-dir", "/tmp/x"},
		{"k8s", "render", "launch-day", "--workers", "3", "--target", "http://p:8080"},               // no image
		{"k8s", "render", "launch-day", "--workers", "0", "--image", "i", "--target", "http://p:80"}, // no workers
		{"k8s", "render", "launch-day", "--workers", "2", "--image", "i", "--target", "portal"},      // not a URL
	} {
		r := golive(t, "", args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 2 || strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "golive: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, r.code, msg)
		}
	}
}

// A worker whose directory holds no shard says so and exits non-zero.
func TestWorkerWithoutShard(t *testing.T) {
	r := golive(t, "", "worker", "--dir", filepath.Join(t.TempDir(), "worker-1"))
	if r.code == 0 || !strings.Contains(r.stderr, "shard.json") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestK8sRenderWritesFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ld.yaml")
	mustOK(t, golive(t, "", "k8s", "render", "launch-day", "--workers", "3", "--image", "golive:dev",
		"--target", "http://portal:8080", "--out", out), "k8s render")
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "completionMode: Indexed") || !strings.Contains(string(b), `"--workers","3"`) {
		t.Fatalf("%v\n%.400s", err, b)
	}
}
