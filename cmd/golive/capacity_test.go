package main

import (
	"strings"
	"testing"
)

// TestCapacityUsageErrors: setup mistakes are refused before any testbed
// starts, with exit 2 and a line that says how to fix them.
func TestCapacityUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--system", "mine"}, "want scenario"},
		{[]string{"--system", "forecast", "--forecast", ""}, "needs a --forecast"},
		// launch-day's signer takes 450 ms: the capacity SLO's 200 ms is out of reach.
		{[]string{"--system", "forecast"}, `--slo, e.g. "p99<1.8s"`},
		{[]string{"--signers", "40"}, "want 1 to 32 signers"},
		{[]string{"--scenario", "launch-day"}, "has no capacity section"},
		{[]string{"--portals", "99"}, "want 1 to"},
		{[]string{"--registry", "oracle"}, "want sqlite or postgres"},
		{[]string{"--portals", "2", "--registry", "sqlite"}, "use --registry postgres"},
	} {
		r := golive(t, "", append([]string{"capacity", "--target", "local", "--out", t.TempDir()}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
