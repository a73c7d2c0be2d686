package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/golive-dev/golive/chaos/testbed"
	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// steadyCost is a short steady issuance with no faults.
const steadyCost = `
name: steady-cost
description: Steady issuance, to price a request in CPU.
clock: {date: 2021-06-15, start: "11:00", end: "12:00", timescale: 360}
system:
  profile: hardened
  signers: 2
  hsm: {slots: 10, latency: 1ms}
traffic:
  - name: issue
    kind: issue
    pharmacies: 8
    demand:
      - {at: "11:00", rate: 20}
      - {at: "12:00", rate: 20}
    client: {timeout: 10s, poll_tickets: true}
thresholds:
  - lost == 0
checks: [consistency]
`

// TestRunCostLocal: summary.json's cost holds every component's CPU per
// request, and agrees with a second reading of the same processes taken
// by the test itself from another kernel counter (the sum of
// /proc/PID/task/*/schedstat's on-CPU nanoseconds, where the engine reads
// /proc/PID/stat's ticks), at the moments the load starts and the
// consistency check begins.
func TestRunCostLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(steadyCost), "steady-cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	runID := testbedtest.RunID("cost")
	var mu sync.Mutex
	var before, after map[string]float64
	progress := func(line string) {
		switch {
		case strings.HasPrefix(line, "replaying "):
			m := childCPU(t, runID)
			mu.Lock()
			before = m
			mu.Unlock()
		case strings.HasPrefix(line, "checking consistency"):
			m := childCPU(t, runID)
			mu.Lock()
			after = m
			mu.Unlock()
		}
	}
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t),
		RunID: runID, Progress: progress})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got, err := rundir.ReadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Cost
	if c == nil {
		t.Fatal("summary.json has no cost")
	}
	if c.Source != rundir.CostSourceProc || c.Requests != sum.Requests.Total || c.Delivered != sum.Goodput.Count || c.Delivered < 100 {
		t.Fatalf("cost source %q over %d requests, %d delivered; summary: %d requests, goodput count %d",
			c.Source, c.Requests, c.Delivered, sum.Requests.Total, sum.Goodput.Count)
	}
	want := []string{testbed.Portal, testbed.SignerName(1), testbed.SignerName(2), testbed.Proxy}
	if names := c.Names(); strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("components %v, want %v", names, want)
	}
	var sys float64
	for _, name := range want {
		cc := c.Components[name]
		sys += cc.CPUSeconds
		if cc.CPUMsPerDelivered == nil {
			t.Fatalf("%s: no CPU per delivered certificate", name)
		}
		if d := cc.CPUMsPerRequest*float64(c.Requests) - cc.CPUSeconds*1000; math.Abs(d) > 1e-6 {
			t.Errorf("%s: %v ms/request x %d requests != %v s", name, cc.CPUMsPerRequest, c.Requests, cc.CPUSeconds)
		}
		t.Logf("%s: %.3f s, %.3f ms/request, %.3f ms/certificate", name, cc.CPUSeconds, cc.CPUMsPerRequest, *cc.CPUMsPerDelivered)
	}
	for _, name := range want[:3] {
		if c.Components[name].CPUSeconds <= 0 {
			t.Errorf("%s used no CPU over %d requests", name, c.Requests)
		}
	}
	if math.Abs(c.System.CPUSeconds-sys) > 1e-9 || c.Signers == nil ||
		math.Abs(c.Signers.CPUSeconds-c.Components["signer-1"].CPUSeconds-c.Components["signer-2"].CPUSeconds) > 1e-9 {
		t.Errorf("sums: system %v (components %v), signers %+v", c.System.CPUSeconds, sys, c.Signers)
	}

	// The second way: the test's own readings of the same processes.
	mu.Lock()
	defer mu.Unlock()
	if before == nil || after == nil {
		t.Fatalf("the test's own readings are missing: before %v, after %v", before, after)
	}
	for _, name := range want {
		second := after[name] - before[name]
		first := c.Components[name].CPUSeconds
		t.Logf("%s: summary.json %.3f s, the test's schedstat reading %.3f s", name, first, second)
		// Two readings of 10 ms ticks each, the after-probe's one
		// issuance and the moments between the readings.
		if tol := 0.05 + 0.1*second; math.Abs(first-second) > tol {
			t.Errorf("%s: summary.json %.3f s, /proc/PID/task/*/schedstat %.3f s (tolerance %.3f s)", name, first, second, tol)
		}
	}
}

// childCPU reads the on-CPU time of the run's child processes (found by
// their GOLIVE_TESTBED_RUN environment) from every thread's schedstat,
// keyed by component name.
func childCPU(t *testing.T, runID string) map[string]float64 {
	out := map[string]float64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Errorf("reading /proc: %v", err)
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !strings.Contains(string(env), "\x00"+testbed.EnvRun+"="+runID+"\x00") &&
			!strings.HasPrefix(string(env), testbed.EnvRun+"="+runID+"\x00") {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		name := componentOf(strings.Split(string(cmd), "\x00"))
		if name == "" {
			continue
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if fs := strings.Fields(string(b)); len(fs) > 0 {
				ns, _ := strconv.ParseFloat(fs[0], 64)
				out[name] += ns / 1e9
			}
		}
	}
	return out
}

// componentOf names a child process from its golive serve arguments.
func componentOf(args []string) string {
	role, index := "", ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--role":
			role = args[i+1]
		case "--signer-index":
			index = args[i+1]
		}
	}
	if role == "signer" {
		return "signer-" + index
	}
	return role
}

// TestRunCostDocker: on docker, summary.json's cost comes from each
// container's cgroup and covers the same components.
func TestRunCostDocker(t *testing.T) {
	testbedtest.RequireDocker(t)
	sc, err := spec.Parse([]byte(steadyCost), "steady-cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "docker", Out: out, Binary: testbedtest.Binary(t),
		RunID: testbedtest.RunID("costdocker")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got, err := rundir.ReadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Cost
	if c == nil || c.Source != rundir.CostSourceCgroup || c.Requests != sum.Requests.Total || c.Delivered < 100 {
		t.Fatalf("cost %+v (summary: %d requests)", c, sum.Requests.Total)
	}
	want := []string{testbed.Portal, testbed.SignerName(1), testbed.SignerName(2), testbed.Proxy}
	if names := c.Names(); strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("components %v, want %v", names, want)
	}
	for _, name := range want[:3] {
		cc := c.Components[name]
		if cc.CPUSeconds <= 0 || cc.CPUMsPerDelivered == nil || *cc.CPUMsPerDelivered <= 0 {
			t.Errorf("%s: %+v", name, cc)
		}
		t.Logf("%s: %.3f s, %.3f ms/request", name, cc.CPUSeconds, cc.CPUMsPerRequest)
	}
}
