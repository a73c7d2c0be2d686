package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/golive-dev/golive/chaos/testbed/testbedtest"
	"github.com/golive-dev/golive/reports/rundir"
	"github.com/golive-dev/golive/scenarios/spec"
)

// miniTLS is the mini outage over https (system.tls): the issuance load,
// the cut-off of the portal's TLS links to its signers through the fault
// proxy, verifications and slowloris connections, all against the run's
// own CA.
var miniTLS = strings.Replace(strings.Replace(miniOutage, "  signers: 2\n", "  signers: 2\n  tls: true\n", 1),
	"faults:\n", `  - name: verify
    kind: verify
    demand:
      - {at: "11:00", rate: 2}
      - {at: "12:00", rate: 2}
    client: {timeout: 10s}
  - name: slowloris
    kind: slow-header
    demand:
      - {shape: step, from: "11:05", until: "11:55", rate: 5}
faults:
`, 1)

// checkTLSRun asserts what a TLS run promises in its run directory: the
// system recorded as https, every request of the load sent to an https
// URL and answered, nothing acknowledged lost.
func checkTLSRun(t *testing.T, sum *Summary, out string) {
	t.Helper()
	if sum.System == nil || !sum.System.TLS || !strings.HasPrefix(sum.System.PortalURL, "https://127.0.0.1:") {
		t.Fatalf("summary system %+v: want tls and an https portal URL", sum.System)
	}
	if sum.Verdict != "pass" {
		t.Errorf("verdict %s: %v", sum.Verdict, sum.Reasons)
	}
	if sum.Consistency.Lost != 0 || sum.Consistency.Duplicates != 0 || sum.Consistency.Acknowledged < 60 {
		t.Errorf("consistency %+v: want certificates acknowledged over https and none lost", sum.Consistency)
	}
	for _, p := range sum.Probes {
		if !p.OK {
			t.Errorf("probe %s over https: %v", p.When, p.Deviations)
		}
	}
	var raw struct {
		System map[string]any `json:"system"`
	}
	readJSON(t, filepath.Join(out, rundir.SummaryFile), &raw)
	if raw.System["tls"] != true {
		t.Errorf("summary.json system %v: want \"tls\": true", raw.System)
	}
	f, err := os.Open(filepath.Join(out, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var https, other, tlsErrors int
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		if strings.HasPrefix(r.URL, "https://") {
			https++
		} else if r.URL != "" {
			other++
		}
		if strings.Contains(r.Error, "x509") || strings.Contains(r.Error, "tls:") {
			tlsErrors++
		}
	}
	if https == 0 || other != 0 || tlsErrors != 0 {
		t.Errorf("results.gob: %d https requests, %d to other URLs, %d TLS errors: want every request over verified https", https, other, tlsErrors)
	}
}

// TestRunTLSLocal runs a short scenario with system.tls on the local
// testbed: certificates are issued over https through the fault proxy,
// the portal's signer links (TLS through the proxy) are cut and come back
// with the backlog drained, slow clients handshake before they dribble,
// and nothing acknowledged is lost.
func TestRunTLSLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a testbed")
	}
	sc, err := spec.Parse([]byte(miniTLS), "mini-tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !sc.System.TLS {
		t.Fatal("the scenario does not ask for TLS")
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "local", Out: out, Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("tls")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkTLSRun(t, sum, out)
	if sum.Requests.Deferred == 0 {
		t.Error("no 202 while the TLS links to the signers were cut")
	}
	if sum.Consistency.TicketsPending != 0 {
		t.Errorf("%d tickets never completed after the cut", sum.Consistency.TicketsPending)
	}
	if len(sum.SlowClients) != 1 {
		t.Fatalf("slow clients %+v", sum.SlowClients)
	}
	if s := sum.SlowClients[0]; s.Opened == 0 || s.DialFailed != 0 || s.MaxHeld == 0 {
		t.Errorf("slowloris over TLS %+v: want connections opened (handshake done) and held", s)
	}
}

// TestRunTLSDocker: --tls on docker with a load worker container, which
// reaches the portal as proxy:9000 and trusts the CA shard.json carries.
func TestRunTLSDocker(t *testing.T) {
	testbedtest.RequireDocker(t)
	src := strings.Replace(miniOutage, "faults:\n  - {kind: partition, target: \"portal->signers\", at: \"11:20\", until: \"11:35\"}\n", "", 1)
	sc, err := spec.Parse([]byte(src), "mini-steady.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), Options{Scenario: sc, Target: "docker", TLS: true, Workers: 1, Out: out,
		Binary: testbedtest.Binary(t), RunID: testbedtest.RunID("tlsdocker")})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkTLSRun(t, sum, out)
	if sum.Workers != 1 || len(sum.WorkerHealth) != 1 || sum.WorkerHealth[0].Requests == 0 {
		t.Errorf("workers %d, health %+v: want one worker that sent the load", sum.Workers, sum.WorkerHealth)
	}
}

// TestTLSAgainstPlainURL: a deployment at an http:// URL cannot be made
// https by the harness; the run says so before anything starts.
func TestTLSAgainstPlainURL(t *testing.T) {
	sc, err := spec.Parse([]byte(miniTLS), "mini-tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Scenario: sc, Target: "url=http://127.0.0.1:1", Out: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("err = %v, want a refusal asking for an https URL", err)
	}
}
